//! Socket Mode against a local WebSocket server that plays Slack's side: crmbot opens the
//! connection with its app token (apps.connections.open at the fake Web API), gets `hello`,
//! receives a slash-command envelope, acknowledges it with the same envelope id and its
//! ephemeral answer, and posts the card through the Web API — the same flow as HTTP.

mod common;
mod slack_support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::{fixture_draft, start_stub_model};
use slack_support::*;

#[tokio::test]
async fn a_slash_command_over_socket_mode_is_acknowledged_and_its_card_posted() {
    let (notes, reply) = fixture_draft("seed-lead");
    // The hook is never used: the ack carries the answer.
    let (ws_url, mut acked) = socket_slack(vec![command_envelope(
        "env-1",
        "T1",
        &format!("log {notes}"),
    )])
    .await;
    let model = start_stub_model(&reply).await;
    let bot = Bot::start_full(model, Some(&ws_url), |c| {
        c.slack.app_token = Some(SecretString::from("xapp-test"));
    })
    .await;

    let ack = tokio::time::timeout(Duration::from_secs(10), acked.recv())
        .await
        .expect("an ack within 10 s")
        .expect("an ack");
    assert_eq!(ack["envelope_id"], "env-1");
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("Drafting"),
        "{ack}"
    );
    let calls = bot
        .wait_for("the card", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    assert!(calls.iter().any(|c| c.method == "apps.connections.open"));
    let card = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .unwrap();
    assert_eq!(card.body["channel"], CHANNEL);
    assert!(card_text(&card.body["blocks"]).contains("New Lead: Daniel Reed"));
}

/// A local WebSocket that plays Slack's side: `hello`, then each envelope in turn; every
/// acknowledgement crmbot sends comes out of the receiver.
async fn socket_slack(
    envelopes: Vec<Value>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/link", listener.local_addr().unwrap());
    let (acks, acked) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let hello = json!({"type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake", "build_number": 1, "approximate_connection_time": 3600},
            "connection_info": {"app_id": "A1"}});
        ws.send(Message::Text(hello.to_string().into()))
            .await
            .unwrap();
        for envelope in envelopes {
            ws.send(Message::Text(envelope.to_string().into()))
                .await
                .unwrap();
        }
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(text) = msg
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                let _ = acks.send(v);
            }
        }
    });
    (ws_url, acked)
}

fn command_envelope(id: &str, team: &str, text: &str) -> Value {
    json!({
        "envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
        "payload": {"token": "legacy", "team_id": team, "team_domain": "acme", "channel_id": CHANNEL,
                    "channel_name": "sales", "user_id": REQUESTER, "user_name": "dana", "command": "/crm",
                    "text": text, "api_app_id": "A1", "is_enterprise_install": "false",
                    "response_url": "http://127.0.0.1:9/hooks/socket", "trigger_id": "1.2.3"}
    })
}

fn mention_envelope(id: &str, team: &str, text: &str) -> Value {
    json!({
        "envelope_id": id, "type": "events_api", "accepts_response_payload": false,
        "retry_attempt": 0, "retry_reason": "",
        "payload": {"token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
                    "event_id": format!("Ev{id}"), "event_time": 1700000000,
                    "event": {"type": "app_mention", "user": REQUESTER, "text": format!("<@{BOT_USER}>{text}"),
                              "ts": "1700000100.000100", "channel": CHANNEL, "event_ts": "1700000100.000100"}}
    })
}

fn click_envelope(id: &str, team: &str) -> Value {
    json!({
        "envelope_id": id, "type": "interactive", "accepts_response_payload": true,
        "payload": {
            "type": "block_actions",
            "user": {"id": REQUESTER, "username": "dana", "name": "dana", "team_id": team},
            "api_app_id": "A1", "token": "legacy",
            "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": CHANNEL, "is_ephemeral": false},
            "trigger_id": "111.222.trigger",
            "team": {"id": team, "domain": "acme"},
            "channel": {"id": CHANNEL, "name": "sales"},
            "response_url": "http://127.0.0.1:9/hooks/click",
            "actions": [{"type": "button", "action_id": "crm_approve", "block_id": "pa:nosuchdraft:1",
                         "text": {"type": "plain_text", "text": "Approve"}, "value": "nosuchdraft",
                         "action_ts": "1700000001.000200"}]
        }
    })
}

#[tokio::test]
async fn socket_mode_requests_from_another_workspace_do_nothing() {
    let (notes, reply) = fixture_draft("seed-lead");
    // Another workspace's command, mention and click; then our own, which do something, so
    // the refusals are known to have reached crmbot's code.
    let (ws_url, mut acked) = socket_slack(vec![
        command_envelope("x-1", "T0OTHER", &format!("log {notes}")),
        mention_envelope("x-2", "T0OTHER", ""),
        click_envelope("x-3", "T0OTHER"),
        command_envelope("o-1", "T1", "help"),
        mention_envelope("o-2", "T1", ""),
        click_envelope("o-3", "T1"),
    ])
    .await;
    let model = start_stub_model(&reply).await;
    let bot = Bot::start_full(model, Some(&ws_url), |c| {
        c.slack.app_token = Some(SecretString::from("xapp-test"));
    })
    .await;

    let mut acks = Vec::new();
    while acks.len() < 6 {
        let ack = tokio::time::timeout(Duration::from_secs(10), acked.recv())
            .await
            .expect("six acks within 10 s")
            .expect("an ack");
        acks.push(ack);
    }
    let ack = |id: &str| acks.iter().find(|a| a["envelope_id"] == id).cloned();
    let refused = ack("x-1").expect("the foreign command is acknowledged");
    assert!(
        refused["payload"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("not set up for this Slack workspace"),
        "{refused}"
    );
    assert!(
        ack("o-1").expect("help")["payload"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("/crm log")
    );
    // Ours: the mention is greeted, the click on a missing draft is answered.
    bot.wait_for("our own mention and click answered", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
            && c.iter().any(|c| c.method == "chat.postEphemeral")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls: Vec<_> = bot
        .slack
        .calls()
        .into_iter()
        .filter(|c| !matches!(c.method.as_str(), "auth.test" | "apps.connections.open"))
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "only our own requests were answered: {calls:#?}"
    );
    assert!(
        bot.model.requests.lock().unwrap().is_empty(),
        "no model call"
    );
    let app = &bot.running.as_ref().unwrap().app;
    assert!(app.actions.all().unwrap().is_empty(), "nothing drafted");
}

#[tokio::test]
async fn per_user_sign_in_works_over_socket_mode_with_the_callback_on_the_same_listener() {
    let callback = "https://crmbot.example.com/salesforce/oauth/callback";
    let (ws_url, mut acked) = socket_slack(vec![command_envelope("env-c", "T1", "connect")]).await;
    let model = start_stub_model("{}").await;
    let bot = Bot::start_full(model, Some(&ws_url), |c| {
        c.slack.app_token = Some(SecretString::from("xapp-test"));
        c.salesforce.identity = crmbot::config::Identity::User;
        c.salesforce.client_id = Some("sandbox-client-id".into());
        c.salesforce.callback_url = Some(callback.parse().unwrap());
        c.secret_key = Some(SecretString::from(hex::encode([9u8; 32])));
    })
    .await;
    let ack = tokio::time::timeout(Duration::from_secs(10), acked.recv())
        .await
        .expect("an ack within 10 s")
        .expect("an ack");
    assert_eq!(ack["envelope_id"], "env-c");
    let url = ack["payload"]["blocks"]
        .as_array()
        .and_then(|blocks| {
            blocks.iter().find_map(|b| {
                b["elements"]
                    .as_array()?
                    .iter()
                    .find_map(|e| e["url"].as_str().map(str::to_string))
            })
        })
        .unwrap_or_else(|| panic!("the connect button in the ack: {ack}"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{url}&login_hint=dana.lee@crmbot.sandbox"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(callback), "{location}");
    let query = url::Url::parse(&location)
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    // The one public URL Socket Mode then needs: crmbot's listener, at the callback path.
    let page = http
        .get(bot.url(&format!("/salesforce/oauth/callback?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(bot.sandbox.live_refresh_tokens(), 1);
}
