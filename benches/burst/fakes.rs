//! The services crmbot talks to, played on 127.0.0.1 in the benchmark's process: the local
//! Salesforce sandbox, a fake Slack Web API / response_url, and a stub OpenAI-compatible
//! model that answers at once. They stand in for other machines.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{any, post};
use serde_json::{Value, json};

use crmbot::sandbox::{self, RunningSandbox, SandboxOptions};

const REPLY: &str = r#"{"records": [{"object": "Lead", "lookup": null, "link": null, "fields": {"FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp", "Email": "daniel@apex.example", "Phone": null, "LeadSource": null, "Status": null, "Description": "Wants a demo of the enterprise plan next week"}}]}"#;
/// The draft approved during the backlog: a name of its own, so its write is recognised.
const REPLY_A: &str = r#"{"records": [{"object": "Lead", "lookup": null, "link": null, "fields": {"FirstName": "Zelda", "LastName": "Quinn", "Company": "Quasar Ltd", "Email": "zelda@quasar.example", "Phone": null, "LeadSource": null, "Status": null, "Description": "Wants a trial next month"}}]}"#;

/// What the fake Slack saw: counts, and the last cards posted (id, ts).
#[derive(Default)]
pub struct SlackSeen {
    pub cards: AtomicU64,
    updates: AtomicU64,
    ephemerals: AtomicU64,
    hooks: AtomicU64,
    pub recent: Mutex<VecDeque<(String, String)>>,
    ts: AtomicU64,
}

async fn slack_api(
    State(seen): State<Arc<SlackSeen>>,
    Path(method): Path<String>,
    body: Bytes,
) -> axum::Json<Value> {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ts = format!("1700000000.{:06}", seen.ts.fetch_add(1, Ordering::Relaxed));
    axum::Json(match method.as_str() {
        "auth.test" => json!({"ok": true, "url": "https://acme.slack.com/", "team": "Acme",
            "user": "crmbot", "team_id": "T1", "user_id": "U0BOT", "bot_id": "B0BOT"}),
        "chat.postMessage" => {
            if let Some(id) = card_action(&parsed["blocks"]) {
                let mut recent = seen.recent.lock().expect("recent");
                if recent.len() == 10_000 {
                    recent.pop_front();
                }
                recent.push_back((id, ts.clone()));
            }
            seen.cards.fetch_add(1, Ordering::Relaxed);
            json!({"ok": true, "channel": parsed["channel"], "ts": ts})
        }
        "chat.update" => {
            seen.updates.fetch_add(1, Ordering::Relaxed);
            json!({"ok": true, "channel": parsed["channel"], "ts": parsed["ts"]})
        }
        "chat.postEphemeral" => {
            seen.ephemerals.fetch_add(1, Ordering::Relaxed);
            json!({"ok": true, "message_ts": ts})
        }
        "users.info" => json!({"ok": true, "user": {"id": parsed["user"], "name": "dana",
            "real_name": "Dana Scully", "profile": {"real_name": "Dana Scully", "email": "dana@acme.example"}}}),
        _ => json!({"ok": true}),
    })
}

async fn slack_hook(State(seen): State<Arc<SlackSeen>>) -> &'static str {
    seen.hooks.fetch_add(1, Ordering::Relaxed);
    "ok"
}

fn card_action(blocks: &Value) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        (b["type"] == "actions").then(|| b["elements"][0]["value"].as_str().map(str::to_string))?
    })
}

/// An OpenAI-compatible model that answers at once: the Quinn draft for Quinn's notes,
/// Daniel Reed's for everything else.
async fn model(body: Bytes) -> axum::Json<Value> {
    let text = String::from_utf8_lossy(&body);
    let content = if text.contains("crm_probe") {
        "{\"ok\": true, \"n\": 7}"
    } else if text.contains("Zelda Quinn") {
        REPLY_A
    } else {
        REPLY
    };
    axum::Json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "stub",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content, "refusal": null}}],
        "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908}
    }))
}

/// Samples the sandbox's request log (and empties it, so it does not grow): requests and
/// composite writes seen so far.
#[derive(Default)]
pub struct SfSeen {
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub quinn_written: AtomicBool,
}

fn sample_sandbox(sandbox: &RunningSandbox, seen: &SfSeen) {
    let requests = sandbox.requests();
    sandbox.reset_requests();
    seen.requests
        .fetch_add(requests.len() as u64, Ordering::Relaxed);
    for r in &requests {
        let write = r.method == "POST"
            && r.path.ends_with("/composite")
            && r.json().is_some_and(|b| {
                b["compositeRequest"]
                    .as_array()
                    .is_some_and(|subs| subs.iter().any(|s| s["method"] != "GET"))
            });
        if write {
            seen.writes.fetch_add(1, Ordering::Relaxed);
            if r.body.contains("Quinn") {
                seen.quinn_written.store(true, Ordering::Relaxed);
            }
        }
    }
}

// ---------------------------------------------------------------- measuring

/// The fakes, running on `rt`.
pub struct Fakes {
    pub sandbox: Arc<RunningSandbox>,
    pub slack_url: String,
    pub model_url: String,
    pub slack: Arc<SlackSeen>,
    pub sf: Arc<SfSeen>,
}

pub fn start(rt: &tokio::runtime::Runtime) -> Fakes {
    let slack_seen = Arc::new(SlackSeen::default());
    let sf_seen = Arc::new(SfSeen::default());
    let (sandbox, slack_url, model_url) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let sandbox = sandbox::start(
            listener,
            SandboxOptions {
                today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25),
                ..SandboxOptions::default()
            },
        )
        .await
        .expect("sandbox");
        let slack = axum::Router::new()
            .route("/api/{method}", any(slack_api))
            .route("/hooks/{id}", post(slack_hook))
            .with_state(slack_seen.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let slack_url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, slack).await });
        let m = axum::Router::new().route("/v1/chat/completions", post(model));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let model_url = format!("http://{}/v1", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, m).await });
        (sandbox, slack_url, model_url)
    });
    let sandbox = Arc::new(sandbox);
    {
        let (sandbox, seen) = (sandbox.clone(), sf_seen.clone());
        rt.spawn(async move {
            loop {
                sample_sandbox(&sandbox, &seen);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    Fakes {
        sandbox,
        slack_url,
        model_url,
        slack: slack_seen,
        sf: sf_seen,
    }
}
