//! Per-user sign-in in Slack: `/crm connect` (a button that opens Salesforce's sign-in),
//! `/crm disconnect`, the connect button on every "not connected" answer, and the OAuth
//! callback page `crmbot serve` answers at `CALLBACK_PATH` on its one listener (HTTP mode
//! and Socket Mode alike).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::app::SlackApp;
use crate::flow::signin::{Disconnected, PersonError};

/// Where Salesforce sends people back (the connected app's callback URL ends with it).
pub const CALLBACK_PATH: &str = "/salesforce/oauth/callback";

/// The action id of the connect button (a link button: Slack still sends a click).
pub const CONNECT_ACTION: &str = "crm_connect";

/// Words and a button opening a new sign-in for `user` of `team`; `None` when per-user
/// sign-in is off.
pub fn connect_blocks(app: &SlackApp, team: &str, user: &str, words: &str) -> Option<Value> {
    let signin = app.actions.clients().signin()?;
    let url = signin.start(team, user);
    Some(json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": words}},
        {"type": "actions", "block_id": "crm_connect", "elements": [
            {"type": "button", "action_id": CONNECT_ACTION, "style": "primary",
             "text": {"type": "plain_text", "text": "Connect Salesforce"}, "url": url}
        ]},
        {"type": "context", "elements": [{"type": "mrkdwn",
            "text": "The link works once, for 10 minutes. crmbot keeps only a sealed refresh token; `/crm disconnect` revokes it."}]}
    ]))
}

/// The answer to `/crm connect`.
pub fn connect_now(app: &SlackApp, team: &str, user: &str) -> Value {
    let Some(signin) = app.actions.clients().signin() else {
        return json!({"response_type": "ephemeral",
            "text": "crmbot acts in Salesforce as its own integration user here, so there is nothing to connect (an admin can turn on per-user sign-in: salesforce.identity = \"user\")."});
    };
    let words = match signin.connected_as(user) {
        Some(sf_user) => format!(
            "You are connected to Salesforce (as User {sf_user}). To sign in again, for instance as someone else, use the button; `/crm disconnect` ends it."
        ),
        None => "Connect your Salesforce account: crmbot will then check, write and answer in Salesforce as you, with your permissions.".to_string(),
    };
    let text = format!("{words} Open this link to sign in to Salesforce.");
    match connect_blocks(app, team, user, &words) {
        Some(blocks) => json!({"response_type": "ephemeral", "text": text, "blocks": blocks}),
        None => json!({"response_type": "ephemeral", "text": text}),
    }
}

/// `/crm disconnect`: revokes in Salesforce and forgets, then says so at `response_url`
/// (a revoke can take longer than Slack waits for the command's answer).
pub fn disconnect(app: &SlackApp, user: String, response_url: String) -> Value {
    let Some(signin) = app.actions.clients().signin().cloned() else {
        return json!({"response_type": "ephemeral",
            "text": "Per-user sign-in is off here (salesforce.identity = \"integration\"); crmbot holds no Salesforce sign-in of yours."});
    };
    let web = app.web.clone();
    let job = async move {
        let words = match signin.disconnect(&user).await {
            Ok(Disconnected::Revoked) => {
                info!(%user, "Salesforce disconnected");
                "Disconnected: crmbot revoked your Salesforce sign-in and deleted its token. Run `/crm connect` to connect again.".to_string()
            }
            Ok(Disconnected::NotConnected) => {
                "You were not connected to Salesforce; crmbot holds nothing of yours.".to_string()
            }
            Ok(Disconnected::ForgottenOnly(why)) => format!(
                "crmbot deleted your Salesforce token, but could not revoke it in Salesforce ({why}). To be sure, revoke crmbot under Settings → Connected Apps OAuth Usage in Salesforce."
            ),
            Err(e) => format!(":x: {e}"),
        };
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": words});
        if let Err(e) = web.respond(&response_url, &body).await {
            warn!(error = %e, "disconnect answer not delivered");
        }
    };
    match app.jobs.decide(move || job) {
        Ok(_) => json!({"response_type": "ephemeral", "text": "Disconnecting from Salesforce…"}),
        Err(refused) => json!({"response_type": "ephemeral", "text": refused.message()}),
    }
}

/// The words and blocks for someone `e` stops (not connected, sign-in ended); blocks carry
/// the connect button when connecting would help.
pub fn not_connected(
    app: &SlackApp,
    team: &str,
    user: &str,
    e: &PersonError,
    tail: &str,
) -> (String, Option<Value>) {
    let words = format!("{e}{tail}");
    let blocks = e
        .wants_connect()
        .then(|| connect_blocks(app, team, user, &words))
        .flatten();
    (words, blocks)
}

/// `GET /salesforce/oauth/callback?code=…&state=…`: finishes the sign-in, tells the person
/// in Slack, and shows a plain page.
pub async fn callback(
    State(app): State<SlackApp>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(signin) = app.actions.clients().signin().cloned() else {
        return page(
            StatusCode::NOT_FOUND,
            "Per-user sign-in is off",
            "This crmbot acts in Salesforce as its integration user; there is nothing to connect.",
        );
    };
    match signin.finish(&params).await {
        Ok(connected) => {
            let text = format!(
                ":white_check_mark: You are connected to Salesforce (as User {}). crmbot now checks, writes and answers as you, with your Salesforce permissions. `/crm disconnect` ends it.",
                connected.sf_user
            );
            if let Err(e) = app
                .web
                .post_message(&connected.user, None, &text, None)
                .await
            {
                warn!(error = %e, "the connected message was not delivered");
            }
            page(
                StatusCode::OK,
                "Connected",
                "crmbot is connected to your Salesforce account. You can close this tab and go back to Slack.",
            )
        }
        Err(e) => {
            warn!(error = %e, "Salesforce sign-in refused");
            page(StatusCode::BAD_REQUEST, "Not connected", &e.to_string())
        }
    }
}

fn page(status: StatusCode, title: &str, words: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>crmbot: {t}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 36em; margin: 4em auto\">\
         <h1>{t}</h1><p>{w}</p></body></html>",
        t = escape(title),
        w = escape(words)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
