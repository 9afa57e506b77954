//! Notes that are already in Slack: "Log to CRM" on a message drafts from it — from the whole
//! thread when the message is in one — and "Log a meeting" opens a modal with a notes box and
//! where to post the card. Both end where `/crm log` ends: a draft, a card, a person approving.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::{Instrument, warn};

use super::app::SlackApp;
use super::commands::{LogJob, refuse_log_now};
use super::gate::certainly_out;
use super::interactions::Reply;
use super::web::ThreadMessage;
use crate::flow::action::Place;

/// The message shortcut's callback id (manifest.yaml).
pub const LOG_MESSAGE: &str = "crm_log_message";
/// The global shortcut's callback id, also its modal's.
pub const LOG_MEETING: &str = "crm_log_meeting";
/// Messages of one thread read at most: one conversations.replies call.
pub const THREAD_MESSAGES: usize = 200;
/// Slack caps a plain_text_input at 3,000 characters.
const MODAL_MAX_CHARS: usize = 3_000;

fn text_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |cur, p| &cur[*p])
        .as_str()
        .unwrap_or("")
}

/// "Log to CRM" on a message: acknowledged at once; reading and drafting run as a job.
pub fn log_message(app: &SlackApp, user: &str, payload: &Value) -> Reply {
    let message = &payload["message"];
    let job = FromMessage {
        app: app.clone(),
        user: user.to_string(),
        channel: text_at(payload, &["channel", "id"]).to_string(),
        ts: text_at(message, &["ts"]).to_string(),
        thread_ts: Some(text_at(message, &["thread_ts"]).to_string()).filter(|t| !t.is_empty()),
        in_thread: message["reply_count"].as_u64().unwrap_or(0) > 0,
        message: ThreadMessage {
            user: Some(text_at(message, &["user"]).to_string()).filter(|u| !u.is_empty()),
            bot_id: None,
            text: text_at(message, &["text"]).to_string(),
            ts: text_at(message, &["ts"]).to_string(),
        },
        response_url: text_at(payload, &["response_url"]).to_string(),
    };
    if job.channel.is_empty() || job.ts.is_empty() {
        return Reply::Empty;
    }
    let span = tracing::info_span!("log_message", channel = %job.channel);
    let url = job.response_url.clone();
    if let Err(refused) = app.jobs.draft(user, move || job.run().instrument(span)) {
        let web = app.web.clone();
        app.jobs.notice(move || async move {
            let body = json!({"response_type": "ephemeral", "text": refused.message()});
            if let Err(e) = web.respond(&url, &body).await {
                warn!(error = %e, "busy notice not delivered");
            }
        });
    }
    Reply::Empty
}

struct FromMessage {
    app: SlackApp,
    user: String,
    channel: String,
    ts: String,
    /// The thread the message is a reply in (or the parent of).
    thread_ts: Option<String>,
    /// The message has replies: it starts a thread.
    in_thread: bool,
    message: ThreadMessage,
    response_url: String,
}

impl FromMessage {
    async fn run(self) {
        let app = &self.app;
        let root = self
            .thread_ts
            .clone()
            .or_else(|| self.in_thread.then(|| self.ts.clone()));
        let place = Place {
            channel: self.channel.clone(),
            thread_ts: Some(root.clone().unwrap_or_else(|| self.ts.clone())),
            source: None,
        };
        let mut job = LogJob {
            app: app.clone(),
            user: self.user.clone(),
            place,
            notes: String::new(),
            response_url: self.response_url.clone(),
        };
        if let Err(wait) = app.limit.check(&self.user) {
            job.tell(&app.limit.message(wait)).await;
            return;
        }
        if certainly_out(&app.actions.access().policy.log, &self.user) {
            let refusal = refuse_log_now(app, &self.user);
            job.tell(refusal["text"].as_str().unwrap_or("")).await;
            return;
        }
        let messages = match &root {
            Some(root) => match app.web.thread(&self.channel, root, THREAD_MESSAGES).await {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, "thread not read");
                    job.tell(&format!(
                        ":x: crmbot could not read this conversation ({e}). Invite crmbot to the channel (`/invite @crmbot`) and try again. Nothing was stored."
                    ))
                    .await;
                    return;
                }
            },
            None => vec![self.message.clone()],
        };
        let mut names = HashMap::new();
        for m in &messages {
            if let Some(u) = &m.user
                && !names.contains_key(u)
            {
                names.insert(u.clone(), app.web.user_name(u).await);
            }
        }
        let lines: Vec<Line> = messages
            .iter()
            .filter(|m| m.bot_id.is_none())
            .map(|m| Line {
                author: m
                    .user
                    .as_ref()
                    .and_then(|u| names.get(u))
                    .cloned()
                    .unwrap_or_else(|| "Someone".into()),
                at: slack_time(&m.ts),
                text: plain(&m.text, &names),
            })
            .filter(|l| !l.text.trim().is_empty())
            .collect();
        let (notes, left_out) = thread_notes(&lines, app.max_notes_chars);
        if notes.is_empty() {
            job.tell("That message has no text to draft from. Nothing was stored.")
                .await;
            return;
        }
        if left_out > 0 {
            job.tell(&format!(
                ":scissors: The conversation is longer than crmbot reads at once ({} characters): the last {left_out} message(s) were left out of the draft.",
                app.max_notes_chars
            ))
            .await;
        }
        job.place.source = app.web.permalink(&self.channel, &self.ts).await.ok();
        job.notes = notes;
        job.run().await;
    }
}

/// One message as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub author: String,
    pub at: Option<DateTime<Utc>>,
    pub text: String,
}

/// The notes of a conversation, oldest first, each message with its author and time, within
/// `max_chars`; and how many messages did not fit (whole messages are left out, never cut).
pub fn thread_notes(lines: &[Line], max_chars: usize) -> (String, usize) {
    let mut notes = String::new();
    let mut used = 0;
    for (i, l) in lines.iter().enumerate() {
        let when = l.at.map_or_else(String::new, |t| {
            format!(", {}", t.format("%Y-%m-%d %H:%M UTC"))
        });
        let entry = if lines.len() == 1 {
            l.text.trim().to_string()
        } else {
            format!("{}{when}: {}", l.author, l.text.trim())
        };
        let chars = entry.chars().count() + usize::from(i > 0);
        if used + chars > max_chars {
            return (notes, lines.len() - i);
        }
        if i > 0 {
            notes.push('\n');
        }
        notes.push_str(&entry);
        used += chars;
    }
    (notes, 0)
}

fn slack_time(ts: &str) -> Option<DateTime<Utc>> {
    let secs = ts.split('.').next()?.parse::<i64>().ok()?;
    DateTime::from_timestamp(secs, 0)
}

/// Slack's message markup as a person reads it: `<mailto:a@b.c|a@b.c>` → `a@b.c`,
/// `<https://x|label>` → `label`, `<@U1>` → `@Name`, entities decoded.
pub fn plain(text: &str, names: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + len];
        let shown = match inner.split_once('|') {
            Some((_, label)) => label.to_string(),
            None if inner.starts_with('@') => {
                let id = &inner[1..];
                format!("@{}", names.get(id).map_or(id, String::as_str))
            }
            None if inner.starts_with('!') => String::new(),
            None => inner.trim_start_matches("mailto:").to_string(),
        };
        out.push_str(&shown);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// "Log a meeting": the modal opens at once (Slack's trigger lasts 3 seconds).
pub fn open_meeting(app: &SlackApp, payload: &Value) -> Reply {
    let trigger = text_at(payload, &["trigger_id"]).to_string();
    let view = meeting_modal(app.max_notes_chars.min(MODAL_MAX_CHARS));
    let web = app.web.clone();
    tokio::spawn(async move {
        if let Err(e) = web.open_view(&trigger, &view).await {
            warn!(error = %e, "the Log a meeting modal did not open");
        }
    });
    Reply::Empty
}

fn meeting_modal(max_chars: usize) -> Value {
    json!({
        "type": "modal",
        "callback_id": LOG_MEETING,
        "title": {"type": "plain_text", "text": "Log a meeting"},
        "submit": {"type": "plain_text", "text": "Draft"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "notes",
             "label": {"type": "plain_text", "text": "Meeting notes"},
             "hint": {"type": "plain_text", "text": "crmbot drafts the records; nothing is written before you approve the card."},
             "element": {"type": "plain_text_input", "action_id": "notes", "multiline": true,
                         "max_length": max_chars,
                         "placeholder": {"type": "plain_text", "text": "Met Daniel Reed (Apex Corp), wants a demo next week, daniel@apex.example"}}},
            {"type": "input", "block_id": "channel", "optional": true,
             "label": {"type": "plain_text", "text": "Post the card in"},
             "hint": {"type": "plain_text", "text": "Leave it empty to get the card in your messages with crmbot."},
             "element": {"type": "conversations_select", "action_id": "channel",
                         "filter": {"include": ["public", "private"], "exclude_bot_users": true}}}
        ]
    })
}

/// The modal's submission: inline errors, or a drafting job and the modal closed.
pub fn submit_meeting(app: &SlackApp, user: &str, view: &Value) -> Reply {
    let values = &view["state"]["values"];
    let notes = text_at(values, &["notes", "notes", "value"])
        .trim()
        .to_string();
    let channel = text_at(values, &["channel", "channel", "selected_conversation"]).to_string();
    let refuse = |words: String| {
        let mut errors = serde_json::Map::new();
        errors.insert("notes".into(), Value::String(words));
        Reply::ViewErrors(errors)
    };
    if notes.is_empty() {
        return refuse("There are no notes to draft from.".into());
    }
    if notes.chars().count() > app.max_notes_chars {
        return refuse(format!(
            "crmbot takes at most {} characters.",
            app.max_notes_chars
        ));
    }
    if let Err(wait) = app.limit.check(user) {
        return refuse(app.limit.message(wait));
    }
    if certainly_out(&app.actions.access().policy.log, user) {
        let refusal = refuse_log_now(app, user);
        return refuse(refusal["text"].as_str().unwrap_or("").to_string());
    }
    let job = LogJob {
        app: app.clone(),
        user: user.to_string(),
        // No channel: the card comes in the person's messages with crmbot.
        place: Place {
            channel: if channel.is_empty() {
                user.to_string()
            } else {
                channel
            },
            thread_ts: None,
            source: None,
        },
        notes,
        response_url: String::new(),
    };
    let span = tracing::info_span!("log_meeting");
    match app.jobs.draft(user, move || job.run().instrument(span)) {
        Ok(_) => Reply::Empty,
        Err(refused) => refuse(refused.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(author: &str, text: &str) -> Line {
        Line {
            author: author.into(),
            at: DateTime::from_timestamp(1_764_510_300, 0),
            text: text.into(),
        }
    }

    #[test]
    fn a_thread_reads_as_authored_lines_and_is_cut_between_messages() {
        let lines = [
            line("Dana Lee", "Met Priya at Globex."),
            line("Sam Ortiz", "She wants a quote by Friday."),
            line("Dana Lee", "Budget 40k."),
        ];
        let (all, left) = thread_notes(&lines, 10_000);
        assert_eq!(left, 0);
        assert_eq!(
            all,
            "Dana Lee, 2025-11-30 13:45 UTC: Met Priya at Globex.\n\
             Sam Ortiz, 2025-11-30 13:45 UTC: She wants a quote by Friday.\n\
             Dana Lee, 2025-11-30 13:45 UTC: Budget 40k."
        );
        let (cut, left) = thread_notes(&lines, 130);
        assert_eq!(left, 1, "{cut}");
        assert!(cut.ends_with("quote by Friday."));
        let (one, _) = thread_notes(&lines[..1], 100);
        assert_eq!(
            one, "Met Priya at Globex.",
            "a lone message is just its text"
        );
    }

    #[test]
    fn slack_markup_reads_as_a_person_sees_it() {
        let names = HashMap::from([("U1".to_string(), "Dana Lee".to_string())]);
        assert_eq!(
            plain(
                "<@U1> met <mailto:priya@globex.example|priya@globex.example> &amp; <https://globex.example|Globex> <!here> <@U9>",
                &names
            ),
            "@Dana Lee met priya@globex.example & Globex  @U9"
        );
        assert_eq!(plain("a < b", &names), "a < b");
    }
}
