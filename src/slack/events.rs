//! The Events API: url_verification, and mentions and DMs, which are questions answered in
//! their thread; a reply without a mention in a thread crmbot answered in is a follow-up.
//! Every other channel message is ignored. Each event id is handled once, however often
//! Slack delivers it; the bot's own messages and edited/joined/bot messages are ignored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tracing::{debug, instrument, warn};

use super::app::SlackApp;
use super::ask::{AskJob, Reply, answered_in, strip_mention};
use super::commands::unauthorized;
use super::gate::Workspaces;
use super::verify::verify;
use crate::config::MentionAnswers;

pub const HELLO: &str = "Hi! Ask me about your pipeline (_open deals over $20k closing this month?_), or log a meeting with `/crm log <notes>`: nothing is written until you approve.";

#[instrument(skip_all, fields(kind = "event", event_id = tracing::field::Empty, retry = tracing::field::Empty))]
pub async fn handle(State(app): State<SlackApp>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verify(&app.signing_secret, &headers, &body) {
        Ok(b) => b,
        Err(e) => return unauthorized("event", &e),
    };
    let Ok(envelope) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    match envelope["type"].as_str() {
        Some("url_verification") => {
            Json(json!({"challenge": envelope["challenge"]})).into_response()
        }
        Some("event_callback") => {
            if let Some(retry) = headers
                .get("x-slack-retry-num")
                .and_then(|v| v.to_str().ok())
            {
                tracing::Span::current().record("retry", retry);
            }
            on_callback(&app, &envelope);
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// An event_callback envelope, from HTTP or Socket Mode: handled once per event id.
pub fn on_callback(app: &SlackApp, envelope: &Value) {
    let event_id = envelope["event_id"].as_str().unwrap_or("");
    tracing::Span::current().record("event_id", event_id);
    let (team, enterprise) = Workspaces::ids(envelope);
    if !app.workspaces.admit("event", team, enterprise) {
        return;
    }
    match app.store.first_sight(event_id, Utc::now().timestamp()) {
        Ok(true) => {}
        Ok(false) => {
            debug!("event already handled");
            return;
        }
        Err(e) => warn!(error = %e, "cannot record the event id; handling it anyway"),
    }
    on_event(app, &envelope["event"]);
}

fn on_event(app: &SlackApp, event: &Value) {
    let kind = event["type"].as_str().unwrap_or("");
    let user = event["user"].as_str().unwrap_or("");
    if kind == "app_home_opened" {
        if event["tab"] == "home" && !user.is_empty() {
            let (app, user) = (app.clone(), user.to_string());
            app.jobs
                .clone()
                .notice(move || async move { super::home::opened(&app, &user).await });
        }
        return;
    }
    let own = user == app.bot.user_id
        || event.get("bot_id").is_some_and(|b| !b.is_null())
        || event.get("subtype").is_some_and(|s| !s.is_null());
    let dm = kind == "message" && event["channel_type"] == "im";
    if own || user.is_empty() {
        return;
    }
    let channel = event["channel"].as_str().unwrap_or("").to_string();
    // A mention in a thread also arrives as app_mention: the message copy is not answered.
    let follow_up = kind == "message"
        && !dm
        && event["thread_ts"].as_str().is_some_and(|t| {
            !event["text"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("<@{}>", app.bot.user_id))
                && answered_in(&app.store, &channel, t)
        });
    if !(kind == "app_mention" || dm || follow_up) {
        return;
    }
    let thread_ts = event["thread_ts"]
        .as_str()
        .or_else(|| event["ts"].as_str())
        .unwrap_or("")
        .to_string();
    let question = strip_mention(event["text"].as_str().unwrap_or(""), &app.bot.user_id);
    if let Err(wait) = app.limit.check(user) {
        if follow_up {
            return;
        }
        let (web, user, text) = (app.web.clone(), user.to_string(), app.limit.message(wait));
        app.jobs.notice(move || async move {
            if let Err(e) = web
                .post_ephemeral(&channel, &user, Some(&thread_ts), &text)
                .await
            {
                warn!(error = %e, "rate limit notice not delivered");
            }
        });
        return;
    }
    if question.is_empty() && follow_up {
        return;
    }
    if question.is_empty() {
        let web = app.web.clone();
        app.jobs.notice(move || async move {
            if let Err(e) = web
                .post_message(&channel, Some(&thread_ts), HELLO, None)
                .await
            {
                warn!(error = %e, "reply to a mention failed");
            }
        });
        return;
    }
    let job = AskJob {
        app: app.clone(),
        user: user.to_string(),
        question,
        reply: Reply::Thread {
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
            only_asker: !dm && app.answers.mentions == MentionAnswers::Asker,
        },
        follow_up,
    };
    if let Err(refused) = app.jobs.question(move || job.run()) {
        // A busy crmbot says so to someone who asked it, not to people talking in a thread.
        if follow_up {
            return;
        }
        let (web, user) = (app.web.clone(), user.to_string());
        app.jobs.notice(move || async move {
            let text = refused.message();
            if let Err(e) = web
                .post_ephemeral(&channel, &user, Some(&thread_ts), &text)
                .await
            {
                warn!(error = %e, "busy notice not delivered");
            }
        });
    }
}
