//! The Slack side of the write-path tests: a fake Slack Web API that records what crmbot
//! sends (chat.*, views.open, response_url posts), requests signed the way Slack signs them,
//! and a harness that runs the real `crmbot serve` against the fake, a stub model and the
//! local Salesforce sandbox, all on 127.0.0.1:0.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{StubModel, start_stub_model};
use crmbot::config::Config;
use crmbot::sandbox::{self, RunningSandbox, SandboxOptions};
use crmbot::server::Running;

pub const SECRET: &str = "test-signing-secret";
pub const REQUESTER: &str = "U0REQ";
pub const CHANNEL: &str = "C0SALES";
pub const BOT_USER: &str = "U0BOT";

/// One call crmbot made to Slack.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The message ts the fake answered with (chat.postMessage).
    pub ts: String,
}

#[derive(Clone, Default)]
struct FakeState {
    calls: Arc<Mutex<Vec<Call>>>,
    /// method -> errors to answer, in order (`ratelimited` answers 429).
    faults: Arc<Mutex<HashMap<String, Vec<String>>>>,
    ts: Arc<AtomicU64>,
    /// users.info: Slack user id -> profile email.
    emails: Arc<Mutex<HashMap<String, String>>>,
    /// users.info: Slack user id -> profile real name.
    names: Arc<Mutex<HashMap<String, String>>>,
    /// What apps.connections.open hands out (Socket Mode).
    socket_url: Arc<Mutex<Option<String>>>,
    groups: Arc<Mutex<Vec<Group>>>,
    /// conversations.replies: (channel, thread ts) -> the thread's messages, parent first.
    threads: Arc<Mutex<Threads>>,
}

/// (channel, thread ts) -> the thread's messages.
type Threads = HashMap<(String, String), Vec<Value>>;

/// A user group the fake knows.
#[derive(Clone)]
struct Group {
    id: String,
    handle: String,
    members: Vec<String>,
}

pub struct FakeSlack {
    pub base_url: String,
    state: FakeState,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = FakeState::default();
        let app = axum::Router::new()
            .route("/api/{method}", any(api))
            .route("/hooks/{id}", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake slack");
        let addr = listener.local_addr().expect("fake slack address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeSlack {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls").clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The next call to `method` answers `{"ok":false,"error":error}` (or 429 for
    /// `ratelimited`; `hang` never answers).
    pub fn fail_next(&self, method: &str, error: &str) {
        self.state
            .faults
            .lock()
            .expect("faults")
            .entry(method.to_string())
            .or_default()
            .push(error.to_string());
    }

    /// apps.connections.open answers this WebSocket URL.
    pub fn set_socket_url(&self, url: &str) {
        *self.state.socket_url.lock().expect("socket url") = Some(url.to_string());
    }

    /// users.info answers this email for `user`.
    pub fn set_email(&self, user: &str, email: &str) {
        self.state
            .emails
            .lock()
            .expect("emails")
            .insert(user.to_string(), email.to_string());
    }

    /// A user group `@handle` with id `id` and these members (usergroups.list,
    /// usergroups.users.list).
    pub fn set_usergroup(&self, id: &str, handle: &str, members: &[&str]) {
        self.state.groups.lock().expect("groups").push(Group {
            id: id.to_string(),
            handle: handle.to_string(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
    }

    /// conversations.replies answers these messages for the thread `ts` in `channel`.
    pub fn set_thread(&self, channel: &str, ts: &str, messages: Vec<Value>) {
        self.state
            .threads
            .lock()
            .expect("threads")
            .insert((channel.to_string(), ts.to_string()), messages);
    }

    /// users.info answers this real name for `user`.
    pub fn set_name(&self, user: &str, name: &str) {
        self.state
            .names
            .lock()
            .expect("names")
            .insert(user.to_string(), name.to_string());
    }

    pub fn response_url(&self) -> String {
        format!("{}/hooks/r{}", self.base_url, rand_id())
    }
}

fn rand_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::SeqCst)
}

async fn api(
    State(state): State<FakeState>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let parsed: Value = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else if body.is_empty() {
        json!(query)
    } else {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        json!(form)
    };
    let fault = state
        .faults
        .lock()
        .expect("faults")
        .get_mut(&method)
        .and_then(|v| (!v.is_empty()).then(|| v.remove(0)));
    let ts = format!(
        "1700000000.{:06}",
        state.ts.fetch_add(1, Ordering::SeqCst) + 100
    );
    state.calls.lock().expect("calls").push(Call {
        method: method.clone(),
        body: parsed.clone(),
        ts: ts.clone(),
    });
    if let Some(error) = fault {
        if error == "hang" {
            // A Slack that never answers (crmbot must give up on its own).
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        if error == "ratelimited" {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
        return axum::Json(json!({"ok": false, "error": error})).into_response();
    }
    let answer = match method.as_str() {
        "auth.test" => json!({"ok": true, "url": "https://acme.slack.com/", "team": "Acme",
            "user": "crmbot", "team_id": "T1", "user_id": BOT_USER, "bot_id": "B0BOT"}),
        "chat.postMessage" => json!({"ok": true, "channel": parsed["channel"], "ts": ts,
            "message": {"type": "message", "ts": ts, "text": parsed["text"], "user": BOT_USER, "bot_id": "B0BOT"}}),
        "chat.update" => json!({"ok": true, "channel": parsed["channel"], "ts": parsed["ts"],
            "text": parsed["text"], "message": {"text": parsed["text"]}}),
        "chat.postEphemeral" => json!({"ok": true, "message_ts": ts}),
        "apps.connections.open" => match state.socket_url.lock().expect("socket url").clone() {
            Some(url) => json!({"ok": true, "url": url}),
            None => json!({"ok": false, "error": "invalid_auth"}),
        },
        "users.info" => {
            let user = parsed["user"].as_str().unwrap_or("").to_string();
            let email = state.emails.lock().expect("emails").get(&user).cloned();
            let name = state.names.lock().expect("names").get(&user).cloned();
            if email.is_none() && name.is_none() {
                json!({"ok": false, "error": "user_not_found"})
            } else {
                json!({"ok": true, "user": {"id": user, "team_id": "T1", "name": "x",
                "real_name": name.clone().unwrap_or_else(|| "X".into()),
                "profile": {"email": email, "real_name": name.unwrap_or_else(|| "X".into())}}})
            }
        }
        "usergroups.list" => {
            let groups: Vec<Value> = state
                .groups
                .lock()
                .expect("groups")
                .iter()
                .map(|g| {
                    json!({"id": g.id, "team_id": "T1", "is_usergroup": true, "name": g.handle,
                           "handle": g.handle, "is_external": false, "date_create": 1700000000,
                           "date_update": 1700000000, "date_delete": 0, "created_by": "U0ADMIN",
                           "prefs": {"channels": [], "groups": []}, "user_count": g.members.len()})
                })
                .collect();
            json!({"ok": true, "usergroups": groups})
        }
        "usergroups.users.list" => {
            let id = parsed["usergroup"].as_str().unwrap_or("").to_string();
            let groups = state.groups.lock().expect("groups");
            match groups.iter().find(|g| g.id == id) {
                Some(g) => json!({"ok": true, "users": g.members}),
                None => json!({"ok": false, "error": "no_such_subteam"}),
            }
        }
        "conversations.replies" => {
            let key = (
                parsed["channel"].as_str().unwrap_or("").to_string(),
                parsed["ts"].as_str().unwrap_or("").to_string(),
            );
            match state.threads.lock().expect("threads").get(&key) {
                Some(messages) => json!({"ok": true, "messages": messages, "has_more": false}),
                None => json!({"ok": false, "error": "thread_not_found"}),
            }
        }
        "chat.getPermalink" => json!({"ok": true, "channel": parsed["channel"],
            "permalink": format!("https://acme.slack.com/archives/{}/p{}",
                parsed["channel"].as_str().unwrap_or(""),
                parsed["message_ts"].as_str().unwrap_or("").replace('.', ""))}),
        "views.publish" => {
            let mut view = parsed["view"].clone();
            if let Some(v) = view.as_object_mut() {
                v.insert("id".into(), json!("V0HOME"));
                v.insert("team_id".into(), json!("T1"));
                v.insert("hash".into(), json!("1700000000.home"));
            }
            json!({"ok": true, "view": view})
        }
        "views.open" => {
            let mut view = parsed["view"].clone();
            if let Some(v) = view.as_object_mut() {
                v.insert("id".into(), json!("V0EDIT"));
                v.insert("team_id".into(), json!("T1"));
                v.insert("hash".into(), json!("1700000000.hash"));
            }
            json!({"ok": true, "view": view})
        }
        _ => json!({"ok": true}),
    };
    axum::Json(answer).into_response()
}

async fn hook(State(state): State<FakeState>, Path(id): Path<String>, body: Bytes) -> &'static str {
    state.calls.lock().expect("calls").push(Call {
        method: "response_url".into(),
        body: serde_json::from_slice(&body).unwrap_or(json!({"hook": id})),
        ts: String::new(),
    });
    "ok"
}

/// `v0=` + hex(HMAC-SHA256(secret, "v0:{ts}:{body}")), as Slack signs.
pub fn sign(secret: &str, ts: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now_ts() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// crmbot serve + fake Slack + stub model + sandbox.
pub struct Bot {
    pub running: Option<Running>,
    pub slack: FakeSlack,
    pub sandbox: RunningSandbox,
    pub model: StubModel,
    pub config: Config,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Bot {
    /// Starts everything; the model answers every call with `reply`.
    pub async fn start(reply: &str) -> Bot {
        Bot::start_with(reply, |_| {}).await
    }

    pub async fn start_with(reply: &str, tune: impl FnOnce(&mut Config)) -> Bot {
        Bot::start_with_model(start_stub_model(reply).await, tune).await
    }

    /// Starts everything with this stub model.
    pub async fn start_with_model(model: StubModel, tune: impl FnOnce(&mut Config)) -> Bot {
        Bot::start_full(model, None, tune).await
    }

    /// Starts everything; `socket_url` is what the fake's apps.connections.open answers.
    pub async fn start_full(
        model: StubModel,
        socket_url: Option<&str>,
        tune: impl FnOnce(&mut Config),
    ) -> Bot {
        Bot::start_custom(model, socket_url, |_| {}, tune).await
    }

    /// Starts everything, the sandbox's options tuned first (faults, dropped fields).
    pub async fn start_custom(
        model: StubModel,
        socket_url: Option<&str>,
        sandbox_tune: impl FnOnce(&mut SandboxOptions),
        tune: impl FnOnce(&mut Config),
    ) -> Bot {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let mut options = SandboxOptions {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25),
            ..SandboxOptions::default()
        };
        sandbox_tune(&mut options);
        let sandbox = sandbox::start(listener, options).await.expect("sandbox");
        let slack = FakeSlack::start().await;
        if let Some(url) = socket_url {
            slack.set_socket_url(url);
        }
        let data = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: data.path().join("db"),
            ..Config::default()
        };
        config.slack.signing_secret = Some(SecretString::from(SECRET));
        config.slack.bot_token = Some(SecretString::from("xoxb-test"));
        config.slack.api_url = format!("{}/api", slack.base_url).parse().expect("url");
        config.salesforce.instance_url = Some(sandbox.base_url().parse().expect("sf url"));
        config.salesforce.access_token = Some(SecretString::from(sandbox::DEFAULT_TOKEN));
        config.llm.provider = Some(crmbot::config::LlmProvider::Openai);
        config.llm.base_url = Some(model.base_url.parse().expect("model url"));
        config.llm.api_key = Some(SecretString::from("sk-test"));
        config.llm.model = Some("stub".into());
        tune(&mut config);
        let mut bot = Bot {
            running: None,
            slack,
            sandbox,
            model,
            config,
            data,
            http: reqwest::Client::new(),
        };
        bot.boot().await;
        bot
    }

    async fn boot(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind crmbot");
        self.running = Some(
            crmbot::server::start(&self.config, listener)
                .await
                .expect("crmbot serve starts"),
        );
    }

    /// Starts the server again after `running.take().shutdown()`.
    pub async fn restart_stopped(&mut self) {
        self.boot().await;
    }

    /// Waits for the card of the `/crm log` already sent.
    pub async fn log_wait_existing(&self) -> (String, String, Value) {
        let calls = self
            .wait_for("the card", |c| {
                c.iter().any(|c| c.method == "chat.postMessage")
            })
            .await;
        let card = calls
            .iter()
            .rfind(|c| c.method == "chat.postMessage")
            .expect("card")
            .clone();
        let id = action_id(&card.body["blocks"]).expect("the card has buttons");
        (id, card.ts, card.body["blocks"].clone())
    }

    /// Stops the server (gracefully) and starts it again on the same database.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.boot().await;
    }

    pub fn url(&self, path: &str) -> String {
        let addr = self.running.as_ref().expect("running").addr;
        format!("http://{addr}{path}")
    }

    /// POSTs `body` to `path`, signed with `secret` at `ts` (None: unsigned).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        signature: Option<(&str, &str)>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some((secret, ts)) = signature {
            req = req
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sign(secret, ts, body));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request to crmbot")
    }

    async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post_raw(path, content_type, body, Some((SECRET, &now_ts())), extra)
            .await
    }

    /// `/crm <text>` from `user`; returns the HTTP status and the JSON answer (if any).
    pub async fn command(&self, user: &str, text: &str) -> (u16, Value) {
        self.command_from("T1", user, text).await
    }

    /// `/crm <text>` from `user` of the workspace `team`.
    pub async fn command_from(&self, team: &str, user: &str, text: &str) -> (u16, Value) {
        let body = command_body_from(team, user, text, &self.slack.response_url());
        let res = self
            .post_signed(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                &body,
                &[],
            )
            .await;
        let status = res.status().as_u16();
        let json = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// A button click on the card (`crm_approve`, `crm_edit`, `crm_reject`), as Slack sends
    /// it: from the card as last drawn at `message_ts` (its buttons' block carries the
    /// revision shown).
    pub async fn click(&self, user: &str, action_id: &str, value: &str, message_ts: &str) -> u16 {
        let block = self
            .card_buttons_block(message_ts)
            .unwrap_or_else(|| format!("pa:{value}"));
        self.click_block(user, action_id, value, message_ts, &block)
            .await
    }

    /// A button click from a block named `block_id` (e.g. an older card's `pa:<id>:1`).
    pub async fn click_block(
        &self,
        user: &str,
        action_id: &str,
        value: &str,
        message_ts: &str,
        block_id: &str,
    ) -> u16 {
        let action = json!({"type": "button", "action_id": action_id, "block_id": block_id,
                            "text": {"type": "plain_text", "text": "x"}, "value": value,
                            "action_ts": "1700000001.000200"});
        self.block_action(user, message_ts, action).await
    }

    /// Composite requests Salesforce received that write (a composite of queries only is a
    /// check, not a write).
    pub fn composite_writes(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/composite"))
            .filter(|r| {
                r.json().is_some_and(|b| {
                    b["compositeRequest"]
                        .as_array()
                        .is_some_and(|subs| subs.iter().any(|s| s["method"] != "GET"))
                })
            })
            .count()
    }

    /// Waits for an ephemeral message containing `needle`.
    pub async fn wait_ephemeral(&self, needle: &str) -> Vec<Call> {
        self.wait_for(needle, |c| {
            c.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.body["text"].as_str().unwrap_or("").contains(needle)
            })
        })
        .await
    }

    /// The block id of the buttons on the card at `ts`, as last posted or updated.
    pub fn card_buttons_block(&self, ts: &str) -> Option<String> {
        let calls = self.slack.calls();
        let card = calls.iter().rev().find(|c| {
            (c.method == "chat.update" && c.body["ts"] == ts)
                || (c.method == "chat.postMessage" && c.ts == ts)
        })?;
        card.body["blocks"].as_array()?.iter().find_map(|b| {
            let id = b["block_id"].as_str()?;
            (b["type"] == "actions" && id.starts_with("pa:")).then(|| id.to_string())
        })
    }

    /// A choice in a select on the card: `block_id` and the chosen option's value.
    pub async fn select(&self, user: &str, block_id: &str, value: &str, message_ts: &str) -> u16 {
        let action = json!({"type": "static_select", "action_id": "crm_choose", "block_id": block_id,
                            "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
                            "action_ts": "1700000001.000300"});
        self.block_action(user, message_ts, action).await
    }

    /// A block_actions payload for `action` on the card at `message_ts`, signed and posted.
    async fn block_action(&self, user: &str, message_ts: &str, action: Value) -> u16 {
        let payload = self.block_actions_payload("T1", user, message_ts, action);
        self.interact(&payload).await.0
    }

    /// An interaction payload, signed and posted: the HTTP status and body.
    pub async fn interact(&self, payload: &Value) -> (u16, String) {
        let res = self
            .post_signed(
                "/slack/interactivity",
                "application/x-www-form-urlencoded",
                &form_payload(payload),
                &[],
            )
            .await;
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    /// A click on Approve (`crm_approve`) from a user of the workspace `team`, as Slack
    /// sends it; the HTTP status and body.
    pub async fn click_from(
        &self,
        team: &str,
        user: &str,
        value: &str,
        message_ts: &str,
    ) -> (u16, String) {
        let block = self
            .card_buttons_block(message_ts)
            .unwrap_or_else(|| format!("pa:{value}"));
        let action = json!({"type": "button", "action_id": "crm_approve", "block_id": block,
                            "text": {"type": "plain_text", "text": "x"}, "value": value,
                            "action_ts": "1700000001.000200"});
        let payload = self.block_actions_payload(team, user, message_ts, action);
        self.interact(&payload).await
    }

    /// The block_actions payload Slack sends for `action`.
    pub fn block_actions_payload(
        &self,
        team: &str,
        user: &str,
        message_ts: &str,
        action: Value,
    ) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": user, "username": user, "name": user, "team_id": team},
            "api_app_id": "A1", "token": "legacy",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL, "is_ephemeral": false},
            "trigger_id": "111.222.trigger",
            "team": {"id": team, "domain": "acme"},
            "channel": {"id": CHANNEL, "name": "sales"},
            "response_url": self.slack.response_url(),
            "actions": [action]
        })
    }

    /// Submits the Edit modal `view` (as views.open received it) with `values` by block id.
    pub async fn submit(&self, user: &str, view: &Value, values: Value) -> (u16, Value) {
        let mut view = view.clone();
        view["state"] = json!({"values": values});
        view["id"] = json!("V0EDIT");
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user, "username": user, "name": user, "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": "111.333.trigger",
            "view": view, "response_urls": []
        });
        let (status, text) = self.interact(&payload).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An Events API delivery; `retry` adds Slack's retry headers.
    pub async fn event(&self, envelope: &Value, retry: Option<u32>) -> u16 {
        let n = retry.map(|r| r.to_string());
        let mut extra = vec![];
        if let Some(n) = &n {
            extra.push(("x-slack-retry-num", n.as_str()));
            extra.push(("x-slack-retry-reason", "http_timeout"));
        }
        self.post_signed(
            "/slack/events",
            "application/json",
            &envelope.to_string(),
            &extra,
        )
        .await
        .status()
        .as_u16()
    }

    /// Polls the fake Slack until `done` holds (10 s at most).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        for _ in 0..200 {
            let calls = self.slack.calls();
            if done(&calls) {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; Slack saw: {:#?}",
            self.slack.calls()
        );
    }

    /// Creates a record straight in the sandbox (as if someone had entered it in
    /// Salesforce); returns its id.
    pub async fn create_record(&self, object: &str, fields: Value) -> String {
        let url = format!(
            "{}/services/data/v62.0/sobjects/{object}",
            self.sandbox.base_url().trim_end_matches('/')
        );
        let created: Value = self
            .http
            .post(url)
            .bearer_auth(sandbox::DEFAULT_TOKEN)
            .json(&fields)
            .send()
            .await
            .expect("sandbox create")
            .json()
            .await
            .expect("sandbox answer");
        created["id"].as_str().expect("created").to_string()
    }

    /// The body of the first ephemeral message crmbot sent (waiting for it).
    pub async fn first_ephemeral(&self) -> Value {
        let calls = self
            .wait_for("an ephemeral message", |c| {
                c.iter().any(|c| c.method == "chat.postEphemeral")
            })
            .await;
        calls
            .into_iter()
            .find(|c| c.method == "chat.postEphemeral")
            .map(|c| c.body)
            .unwrap_or(Value::Null)
    }

    /// `/crm log` and wait for the card; returns (action id, card ts, the posted blocks).
    pub async fn log(&self, notes: &str) -> (String, String, Value) {
        self.log_as(REQUESTER, notes).await
    }

    /// `/crm log` by `user`, and wait for the card.
    pub async fn log_as(&self, user: &str, notes: &str) -> (String, String, Value) {
        let before = self.slack.calls_to("chat.postMessage").len();
        let (status, answer) = self.command(user, &format!("log {notes}")).await;
        assert_eq!(status, 200, "{answer}");
        self.card_after(before).await
    }

    /// Waits for the card posted after the first `before` ones; (action id, ts, blocks).
    async fn card_after(&self, before: usize) -> (String, String, Value) {
        let calls = self
            .wait_for("the card", |c| {
                c.iter().filter(|c| c.method == "chat.postMessage").count() > before
            })
            .await;
        let card = calls
            .iter()
            .rfind(|c| c.method == "chat.postMessage")
            .expect("card")
            .clone();
        let id = action_id(&card.body["blocks"]).expect("the card has buttons");
        (id, card.ts, card.body["blocks"].clone())
    }
}

/// The state of action `id`, as stored.
pub fn state_of(bot: &Bot, id: &str) -> String {
    let app = &bot.running.as_ref().expect("running").app;
    app.actions
        .get(id)
        .expect("store")
        .expect("action")
        .state
        .as_str()
        .to_string()
}

/// Waits for the `n`-th post to a response_url (1-based) and returns its body.
pub async fn nth_response(bot: &Bot, n: usize) -> Value {
    let calls = bot
        .wait_for("an answer at the response_url", |c| {
            c.iter().filter(|c| c.method == "response_url").count() >= n
        })
        .await;
    calls
        .iter()
        .filter(|c| c.method == "response_url")
        .nth(n - 1)
        .expect("response_url")
        .body
        .clone()
}

/// `[policy]` as an admin writes it in crmbot.toml.
pub fn policy(toml: &str) -> crmbot::config::PolicySettings {
    Config::from_toml(toml).expect("policy parses").policy
}

/// Waits for the `n`-th ephemeral message (1-based) and returns it.
pub async fn nth_ephemeral(bot: &Bot, n: usize) -> Value {
    let calls = bot
        .wait_for("an ephemeral message", |c| {
            c.iter()
                .filter(|c| c.method == "chat.postEphemeral")
                .count()
                >= n
        })
        .await;
    calls
        .iter()
        .filter(|c| c.method == "chat.postEphemeral")
        .nth(n - 1)
        .expect("ephemeral")
        .body
        .clone()
}

/// Waits for a chat.update whose card text contains `needle`; returns its body.
pub async fn wait_for_update(bot: &Bot, what: &str, needle: &str) -> Value {
    let matches =
        |c: &Call| c.method == "chat.update" && card_text(&c.body["blocks"]).contains(needle);
    let calls = bot.wait_for(what, |calls| calls.iter().any(matches)).await;
    calls
        .iter()
        .rev()
        .find(|c| matches(c))
        .map(|c| c.body.clone())
        .expect("update")
}

pub fn command_body(user: &str, text: &str, response_url: &str) -> String {
    command_body_from("T1", user, text, response_url)
}

/// A slash command's form body from a user of the workspace `team`.
pub fn command_body_from(team: &str, user: &str, text: &str, response_url: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy")
        .append_pair("team_id", team)
        .append_pair("team_domain", "acme")
        .append_pair("channel_id", CHANNEL)
        .append_pair("channel_name", "sales")
        .append_pair("user_id", user)
        .append_pair("user_name", "dana")
        .append_pair("command", "/crm")
        .append_pair("text", text)
        .append_pair("api_app_id", "A1")
        .append_pair("response_url", response_url)
        .append_pair("trigger_id", "111.222.trigger")
        .finish()
}

pub fn form_payload(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// The pending-action id carried by the card's buttons.
pub fn action_id(blocks: &Value) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        (b["type"] == "actions").then(|| b["elements"][0]["value"].as_str().map(str::to_string))?
    })
}

/// Every text on a card, joined, for assertions on what a person reads.
pub fn card_text(blocks: &Value) -> String {
    let mut out = Vec::new();
    collect_text(blocks, &mut out);
    out.join("\n")
}

fn collect_text(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("text") {
                out.push(t.clone());
            }
            for (k, x) in m {
                if k != "text" || !x.is_string() {
                    collect_text(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}
