//! The burst benchmark: the real `crmbot serve` in-process against the local Salesforce
//! sandbox, a stub model (an OpenAI-compatible server answering at once) and a fake Slack
//! Web API / response_url, all on 127.0.0.1. Nothing to configure:
//!
//! ```text
//! cargo bench --bench burst                     # the full run (~1.5 min)
//! BENCH_QUICK=1 cargo bench --bench burst       # short phases, for a quick look
//! ```
//!
//! Knobs (environment): `BENCH_ACK_SECS` (1- and 16-connection phases, default 5),
//! `BENCH_BURST_SECS` (the 64-connection burst, default 20), `BENCH_DRAFTS` (drafts and
//! approvals of the unloaded phases, default 200), `BENCH_APPROVE_WAIT` and
//! `BENCH_DRAIN_SECS` (most seconds waited for the Approve and for the backlog, 60 each).
//!
//! crmbot runs on its own runtime (threads `crmbot-*`), the fakes and the load on others,
//! so "CPU per draft" counts crmbot's threads (and sled's) only. RSS is the whole process.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{any, post};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

use crmbot::config::{Config, LlmProvider};
use crmbot::sandbox::{self, RunningSandbox, SandboxOptions};

const SECRET: &str = "bench-signing-secret";
const CHANNEL: &str = "C0SALES";
/// Approves every card (`slack.approvers`).
const APPROVER: &str = "U0APPROVER";
const NOTES: &str = "We spoke with Daniel Reed from Apex Corp. He wants a demo next week for the enterprise plan. His email is daniel@apex.example.";
const REPLY: &str = r#"{"records": [{"object": "Lead", "lookup": null, "link": null, "fields": {"FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp", "Email": "daniel@apex.example", "Phone": null, "LeadSource": null, "Status": null, "Description": "Wants a demo of the enterprise plan next week"}}]}"#;
/// The draft approved during the backlog: a name of its own, so its write is recognised.
const NOTES_A: &str = "We spoke with Zelda Quinn from Quasar Ltd. She wants a trial next month. Her email is zelda@quasar.example.";
const REPLY_A: &str = r#"{"records": [{"object": "Lead", "lookup": null, "link": null, "fields": {"FirstName": "Zelda", "LastName": "Quinn", "Company": "Quasar Ltd", "Email": "zelda@quasar.example", "Phone": null, "LeadSource": null, "Status": null, "Description": "Wants a trial next month"}}]}"#;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

// ---------------------------------------------------------------- fakes

/// What the fake Slack saw: counts, and the last cards posted (id, ts).
#[derive(Default)]
struct SlackSeen {
    cards: AtomicU64,
    updates: AtomicU64,
    ephemerals: AtomicU64,
    hooks: AtomicU64,
    recent: Mutex<VecDeque<(String, String)>>,
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
struct SfSeen {
    requests: AtomicU64,
    writes: AtomicU64,
    quinn_written: AtomicBool,
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

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds of this process's threads whose name starts with one of `prefixes`.
fn cpu_secs(prefixes: &[&str]) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut total = 0.0;
    for task in dir.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|p| comm.trim().starts_with(p)) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += (utime + stime) / tick;
    }
    total
}

const CRMBOT_THREADS: &[&str] = &["crmbot", "sled"];

fn sign(ts: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn command_body(user: &str, text: &str, hook: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy")
        .append_pair("team_id", "T1")
        .append_pair("channel_id", CHANNEL)
        .append_pair("user_id", user)
        .append_pair("user_name", "dana")
        .append_pair("command", "/crm")
        .append_pair("text", text)
        .append_pair("api_app_id", "A1")
        .append_pair("response_url", hook)
        .append_pair("trigger_id", "111.222.trigger")
        .finish()
}

fn approve_body(user: &str, id: &str, ts: &str, hook: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": false},
        "trigger_id": "111.222.trigger",
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": CHANNEL, "name": "sales"},
        "response_url": hook,
        "actions": [{"type": "button", "action_id": "crm_approve", "block_id": format!("pa:{id}:1"),
                     "text": {"type": "plain_text", "text": "Approve"}, "value": id,
                     "action_ts": "1700000001.000200"}]
    });
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// One keep-alive connection to crmbot.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn post_signed(client: &reqwest::Client, url: &str, body: String) -> (u16, String) {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = sign(&ts, &body);
    match client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// One phase of signed `/crm log` commands on `conns` connections for `secs`.
#[derive(Default)]
struct AckPhase {
    conns: usize,
    sent: u64,
    accepted: u64,
    busy: u64,
    other: u64,
    secs: f64,
    micros: Vec<u32>,
}

impl AckPhase {
    fn pct(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let i = ((self.micros.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.micros[i]) / 1000.0
    }
}

async fn ack_phase(base: &str, conns: usize, secs: f64, users: u64) -> AckPhase {
    let url = format!("{base}/slack/commands");
    let hook = format!("{}/hooks/bench", HOOK_BASE.lock().expect("hook").clone());
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (url, hook, counter) = (url.clone(), hook.clone(), counter.clone());
            tokio::spawn(async move {
                let client = client();
                let mut out = AckPhase::default();
                while Instant::now() < stop {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let user = format!("U{:05}", n % users);
                    let body = command_body(&user, &format!("log {NOTES}"), &hook);
                    let t = Instant::now();
                    let (status, text) = post_signed(&client, &url, body).await;
                    out.micros
                        .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    out.sent += 1;
                    if status == 200
                        && (text.contains("Drafting") || text.contains("Queued behind"))
                    {
                        out.accepted += 1;
                    } else if status == 200 && text.contains("busy") {
                        out.busy += 1;
                    } else {
                        out.other += 1;
                    }
                }
                out
            })
        })
        .collect();
    let mut phase = AckPhase {
        conns,
        ..AckPhase::default()
    };
    for t in tasks {
        let part = t.await.expect("load task");
        phase.sent += part.sent;
        phase.accepted += part.accepted;
        phase.busy += part.busy;
        phase.other += part.other;
        phase.micros.extend(part.micros);
    }
    phase.secs = started.elapsed().as_secs_f64();
    phase.micros.sort_unstable();
    phase
}

static HOOK_BASE: Mutex<String> = Mutex::new(String::new());

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done().then(|| started.elapsed())
}

// ---------------------------------------------------------------- the run

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benchmarks; this one has nothing to list.
        return;
    }
    let q = quick();
    let ack_secs = env_secs("BENCH_ACK_SECS", if q { 2 } else { 5 }) as f64;
    let burst_secs = env_secs("BENCH_BURST_SECS", if q { 5 } else { 20 }) as f64;
    let drafts = env_secs("BENCH_DRAFTS", if q { 50 } else { 200 });
    let approve_wait = Duration::from_secs(env_secs("BENCH_APPROVE_WAIT", if q { 20 } else { 60 }));
    let drain_wait = Duration::from_secs(env_secs("BENCH_DRAIN_SECS", if q { 20 } else { 60 }));

    // Log as `serve` does (INFO, formatted), into nothing: formatting is part of the cost.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::sink)
        .try_init();

    let fakes = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fakes")
        .enable_all()
        .build()
        .expect("fakes runtime");
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("load runtime");
    let bot = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("crmbot")
        .enable_all()
        .build()
        .expect("crmbot runtime");

    let slack_seen = Arc::new(SlackSeen::default());
    let sf_seen = Arc::new(SfSeen::default());
    let (sandbox, slack_url, model_url) = fakes.block_on(async {
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
    *HOOK_BASE.lock().expect("hook") = slack_url.clone();
    let sandbox = Arc::new(sandbox);
    {
        let (sandbox, seen) = (sandbox.clone(), sf_seen.clone());
        fakes.spawn(async move {
            loop {
                sample_sandbox(&sandbox, &seen);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: data.path().join("db"),
        ..Config::default()
    };
    config.slack.signing_secret = Some(SecretString::from(SECRET));
    config.slack.bot_token = Some(SecretString::from("xoxb-bench"));
    config.slack.api_url = format!("{slack_url}/api").parse().expect("url");
    config.slack.user_rate_limit = 0;
    config.slack.approvers = vec![APPROVER.to_string()];
    config.salesforce.instance_url = Some(sandbox.base_url().parse().expect("sf url"));
    config.salesforce.access_token = Some(SecretString::from(sandbox::DEFAULT_TOKEN));
    config.llm.provider = Some(LlmProvider::Openai);
    config.llm.base_url = Some(model_url.parse().expect("model url"));
    config.llm.api_key = Some(SecretString::from("sk-bench"));
    config.llm.model = Some("stub".into());

    let started = Instant::now();
    let running = bot.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        crmbot::server::start(&config, listener)
            .await
            .expect("crmbot serve starts")
    });
    let start_secs = started.elapsed().as_secs_f64();
    let base = format!("http://{}", running.addr);
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = rss_mb();

    // Unloaded drafts: `drafts` of them on 4 connections, each waited for.
    let cards = |s: &SlackSeen| s.cards.load(Ordering::Relaxed);
    let sf_before = sf_seen.requests.load(Ordering::Relaxed);
    let cpu0 = cpu_secs(CRMBOT_THREADS);
    let t = Instant::now();
    let cards0 = cards(&slack_seen);
    load.block_on(async {
        let per = drafts.div_ceil(4);
        let tasks: Vec<_> = (0..4)
            .map(|c| {
                let base = base.clone();
                let hook = format!("{slack_url}/hooks/unloaded");
                tokio::spawn(async move {
                    let client = client();
                    for i in 0..per {
                        let body =
                            command_body(&format!("UW{c}{i}"), &format!("log {NOTES}"), &hook);
                        post_signed(&client, &format!("{base}/slack/commands"), body).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    let target = cards0 + drafts.div_ceil(4) * 4;
    load.block_on(wait_until(Duration::from_secs(120), || {
        cards(&slack_seen) >= target
    }));
    let unloaded_secs = t.elapsed().as_secs_f64();
    let drafted = cards(&slack_seen) - cards0;
    let cpu_per_draft_ms = (cpu_secs(CRMBOT_THREADS) - cpu0) * 1000.0 / drafted.max(1) as f64;
    std::thread::sleep(Duration::from_millis(50));
    let sf_per_draft =
        (sf_seen.requests.load(Ordering::Relaxed) - sf_before) as f64 / drafted.max(1) as f64;

    // Approvals: every card just drafted, approved on 8 connections.
    let to_approve: Vec<(String, String)> = {
        let recent = slack_seen.recent.lock().expect("recent");
        recent
            .iter()
            .rev()
            .take(drafted as usize)
            .cloned()
            .collect()
    };
    let writes0 = sf_seen.writes.load(Ordering::Relaxed);
    let sf_before = sf_seen.requests.load(Ordering::Relaxed);
    let t = Instant::now();
    load.block_on(async {
        let chunks: Vec<Vec<(String, String)>> = to_approve
            .chunks(to_approve.len().div_ceil(8).max(1))
            .map(<[_]>::to_vec)
            .collect();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (base, hook) = (base.clone(), format!("{slack_url}/hooks/approve"));
                tokio::spawn(async move {
                    let client = client();
                    for (id, ts) in chunk {
                        let url = format!("{base}/slack/interactivity");
                        post_signed(&client, &url, approve_body(APPROVER, &id, &ts, &hook)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    let approvals = to_approve.len() as u64;
    load.block_on(wait_until(Duration::from_secs(120), || {
        sf_seen.writes.load(Ordering::Relaxed) >= writes0 + approvals
    }));
    let approve_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(50));
    let written = sf_seen.writes.load(Ordering::Relaxed) - writes0;
    let sf_per_approval =
        (sf_seen.requests.load(Ordering::Relaxed) - sf_before) as f64 / written.max(1) as f64;

    // The draft approved during the backlog.
    let before_a = cards(&slack_seen);
    load.block_on(async {
        let body = command_body(
            "UQUINN",
            &format!("log {NOTES_A}"),
            &format!("{slack_url}/hooks/a"),
        );
        post_signed(&client(), &format!("{base}/slack/commands"), body).await;
    });
    load.block_on(wait_until(Duration::from_secs(30), || {
        cards(&slack_seen) > before_a
    }));
    let card_a = slack_seen
        .recent
        .lock()
        .expect("recent")
        .back()
        .cloned()
        .expect("Quinn's card");

    // Acks at 1 and 16 connections, then the burst at 64.
    let users = 5_000;
    let p1 = load.block_on(ack_phase(&base, 1, ack_secs, users));
    let p16 = load.block_on(ack_phase(&base, 16, ack_secs, users));
    let rss_before_burst = rss_mb();
    let cards_burst0 = cards(&slack_seen);
    let cpu_burst0 = cpu_secs(CRMBOT_THREADS);
    let burst_started = Instant::now();
    let p64 = load.block_on(ack_phase(&base, 64, burst_secs, users));
    let rss_after_burst = rss_mb();

    // Approve Quinn's draft now, behind whatever the burst left.
    let clicked = Instant::now();
    load.block_on(async {
        let body = approve_body(
            "UQUINN",
            &card_a.0,
            &card_a.1,
            &format!("{slack_url}/hooks/a"),
        );
        post_signed(&client(), &format!("{base}/slack/interactivity"), body).await;
    });
    let approve_latency = load.block_on(wait_until(approve_wait, || {
        sf_seen.quinn_written.load(Ordering::Relaxed)
    }));
    let _ = clicked;

    // The backlog: cards still coming, for at most `drain_wait`.
    let accepted_total = p1.accepted + p16.accepted + p64.accepted;
    let expected_cards = cards_burst0 + p64.accepted;
    let drain_started = Instant::now();
    let mut last = (cards(&slack_seen), Instant::now());
    load.block_on(wait_until(drain_wait, || {
        let now = cards(&slack_seen);
        if now != last.0 {
            last = (now, Instant::now());
        }
        now >= expected_cards || last.1.elapsed() > Duration::from_secs(3)
    }));
    let burst_cards = cards(&slack_seen) - cards_burst0;
    let burst_window = burst_started.elapsed().as_secs_f64();
    let burst_cpu_per_draft_ms =
        (cpu_secs(CRMBOT_THREADS) - cpu_burst0) * 1000.0 / burst_cards.max(1) as f64;
    let still_queued = expected_cards.saturating_sub(cards(&slack_seen));
    std::thread::sleep(Duration::from_secs(1));
    let rss_after_drain = rss_mb();
    let _ = drain_started;

    let row = |p: &AckPhase| {
        format!(
            "| acks, {:>2} connection(s) | {:>7.0} ack/s | p50 {:.2} ms, p99 {:.2} ms | {} accepted, {} busy, {} other |",
            p.conns,
            p.sent as f64 / p.secs,
            p.pct(0.50),
            p.pct(0.99),
            p.accepted,
            p.busy,
            p.other
        )
    };
    println!();
    println!(
        "crmbot burst benchmark ({})",
        if q { "quick" } else { "full" }
    );
    println!();
    println!("| measure | value | detail | |");
    println!("|---|---|---|---|");
    println!("| start-up | {start_secs:.2} s | sandbox, stub model, fake Slack in-process | |");
    println!(
        "| drafts/s, unloaded | {:.0} | {drafted} drafts on 4 connections in {unloaded_secs:.2} s | |",
        drafted as f64 / unloaded_secs
    );
    println!("| CPU per draft, unloaded | {cpu_per_draft_ms:.2} ms | crmbot's threads | |");
    println!("| Salesforce requests per draft | {sf_per_draft:.2} | | |");
    println!(
        "| approvals/s | {:.0} | {written} of {approvals} written in {approve_secs:.2} s, 8 connections | |",
        written as f64 / approve_secs
    );
    println!("| Salesforce requests per approval | {sf_per_approval:.2} | | |");
    println!("{}", row(&p1));
    println!("{}", row(&p16));
    println!("{} ({burst_secs:.0} s burst)", row(&p64));
    println!(
        "| Approve after the burst, written in | {} | limit {} s | |",
        approve_latency.map_or_else(
            || format!("> {} s (not written)", approve_wait.as_secs()),
            |d| format!("{:.3} s", d.as_secs_f64())
        ),
        approve_wait.as_secs()
    );
    println!(
        "| drafts/s under the burst | {:.0} | {burst_cards} cards in {burst_window:.1} s; {still_queued} accepted drafts still queued at the end | |",
        burst_cards as f64 / burst_window
    );
    println!(
        "| CPU per draft, burst | {burst_cpu_per_draft_ms:.2} ms | crmbot's threads, acks included | |"
    );
    println!(
        "| RSS | idle {rss_idle:.1} MB | before burst {rss_before_burst:.1} MB, after {rss_after_burst:.1} MB, after drain window {rss_after_drain:.1} MB | |"
    );
    println!("| accepted /crm log in all ack phases | {accepted_total} | | |");
    println!();
    // Leave at once: a backlog may still be queued, and shutdown would wait for it. The
    // database folder goes first (exit skips the TempDir's own clean-up).
    let _ = std::fs::remove_dir_all(data.path());
    std::process::exit(0);
}
