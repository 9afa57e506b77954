//! Shared test parts: the local Salesforce sandbox and a stub OpenAI-compatible model, both
//! real HTTP servers on 127.0.0.1:0.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use crmbot::sandbox::{self, RunningSandbox, SandboxOptions};

/// Starts the sandbox with its demo seed in memory.
pub async fn start_sandbox() -> RunningSandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox");
    sandbox::start(listener, SandboxOptions::default())
        .await
        .expect("start sandbox")
}

/// A stub OpenAI-compatible `/v1/chat/completions` that answers every call with the same
/// content and records the request bodies.
pub struct StubModel {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Value>>>,
    /// Open (true) by default; closed, structured calls wait until it opens again.
    gate: tokio::sync::watch::Sender<bool>,
}

impl StubModel {
    /// A model served elsewhere (a test's own stub): `hold` and `release` do nothing to it.
    pub fn external(base_url: String, requests: Arc<Mutex<Vec<Value>>>) -> StubModel {
        StubModel {
            base_url,
            requests,
            gate: tokio::sync::watch::channel(true).0,
        }
    }

    /// From now on the model holds every drafting call until `release`.
    pub fn hold(&self) {
        self.gate.send_replace(false);
    }

    /// Answers the held calls and every later one.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }
}

#[derive(Clone)]
struct StubState {
    content: String,
    /// The answer to calls that ask for plain text (no response_format): summaries.
    text: String,
    requests: Arc<Mutex<Vec<Value>>>,
    gate: tokio::sync::watch::Receiver<bool>,
}

pub async fn start_stub_model(content: &str) -> StubModel {
    start_stub_model_with(content, "Summary from the stub model.").await
}

/// A stub that answers structured calls with `content` and plain-text calls with `text`.
pub async fn start_stub_model_with(content: &str, text: &str) -> StubModel {
    let (gate, open) = tokio::sync::watch::channel(true);
    let state = StubState {
        content: content.to_string(),
        text: text.to_string(),
        requests: Arc::default(),
        gate: open,
    };
    let requests = state.requests.clone();
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(complete))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stub model");
    let addr = listener.local_addr().expect("stub model address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    StubModel {
        base_url: format!("http://{addr}/v1"),
        requests,
        gate,
    }
}

async fn complete(State(state): State<StubState>, Json(body): Json<Value>) -> Json<Value> {
    // crmbot's start-up probe (serve, demo, doctor) is answered but not counted.
    if body["response_format"]["json_schema"]["name"] == "crm_probe" {
        return Json(json!({
            "id": "chatcmpl-probe", "object": "chat.completion", "model": "stub",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "{\"ok\": true, \"n\": 7}"}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 9, "total_tokens": 309}
        }));
    }
    let _ = state.gate.clone().wait_for(|open| *open).await;
    let content = if body.get("response_format").is_some() {
        state.content.clone()
    } else {
        state.text.clone()
    };
    state.requests.lock().expect("stub lock").push(body);
    Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "stub",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content, "refusal": null}}],
        "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908}
    }))
}

/// The gold draft of a case in tests/fixtures/drafts.json (a copy of shared/fixtures), as the model's reply text.
pub fn fixture_draft(id: &str) -> (String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/drafts.json");
    let text = std::fs::read_to_string(path).expect("tests/fixtures/drafts.json");
    let all: Value = serde_json::from_str(&text).expect("drafts.json parses");
    let case = all["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no fixture case {id}"));
    (
        case["note"].as_str().expect("note").to_string(),
        case["gold"].to_string(),
    )
}

/// A Slack Web API that answers only auth.test (ok, team Acme); its base URL names `host`
/// (`localhost` or `127.0.0.1`) and ends in `/api`.
pub async fn start_auth_test_slack(host: &str) -> String {
    let app = axum::Router::new().route(
        "/api/auth.test",
        axum::routing::any(|| async {
            Json(
                json!({"ok": true, "url": "https://acme.slack.com/", "team": "Acme",
                        "user": "crmbot", "team_id": "T1", "user_id": "U0BOT"}),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake slack");
    let port = listener.local_addr().expect("fake slack address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{host}:{port}/api")
}
