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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/link", listener.local_addr().unwrap());
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let hook = "http://127.0.0.1:9/hooks/socket"; // never used: the ack carries the answer
    let envelope = json!({
        "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": true,
        "payload": {"token": "legacy", "team_id": "T1", "team_domain": "acme", "channel_id": CHANNEL,
                    "channel_name": "sales", "user_id": REQUESTER, "user_name": "dana", "command": "/crm",
                    "text": format!("log {notes}"), "api_app_id": "A1", "is_enterprise_install": "false",
                    "response_url": hook, "trigger_id": "1.2.3"}
    });
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let hello = json!({"type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake", "build_number": 1, "approximate_connection_time": 3600},
            "connection_info": {"app_id": "A1"}});
        ws.send(Message::Text(hello.to_string().into()))
            .await
            .unwrap();
        ws.send(Message::Text(envelope.to_string().into()))
            .await
            .unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(text) = msg
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                let _ = acks.send(v);
            }
        }
    });
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
