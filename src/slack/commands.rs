//! `/crm`: `log <notes>` drafts a card, `help` (or nothing) explains, `ask` points at what is
//! coming. The HTTP answer is immediate and ephemeral; drafting runs as a job and posts the
//! card in the channel (in the thread when Slack says where).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tracing::{debug, info, instrument, warn};

use super::app::SlackApp;
use super::cards::{cut, esc, render_card};
use super::gate::{FOREIGN, audit_refusal, certainly_out};
use super::lanes::Taken;
use super::verify::verify;
use crate::domain::notes::Notes;
use crate::flow::action::Place;

pub const USAGE: &str = "*crmbot* turns meeting notes into Salesforce records; you approve before anything is written.\n\
• `/crm log <notes>` — draft records from your notes, e.g. `/crm log Met Daniel Reed (Apex Corp), wants a demo next week, daniel@apex.example`\n\
• `/crm ask <question>` — ask about your pipeline, e.g. `/crm ask open deals over $20k closing this month?` (or mention @crmbot, or DM it)\n\
• `/crm connect` / `/crm disconnect` — sign in to Salesforce as yourself, or end it (when per-user sign-in is on)\n\
• `/crm help` — this message";

/// Answers Slack's request: 401 when the signature fails, otherwise within milliseconds.
pub(super) fn unauthorized(kind: &str, e: &super::verify::VerifyError) -> Response {
    super::refused::refused(kind, e);
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid request"})),
    )
        .into_response()
}

#[instrument(skip_all, fields(kind = "command", user = tracing::field::Empty, channel = tracing::field::Empty))]
pub async fn handle(State(app): State<SlackApp>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verify(&app.signing_secret, &headers, &body) {
        Ok(b) => b,
        Err(e) => return unauthorized("command", &e),
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if form.contains_key("ssl_check") {
        return StatusCode::OK.into_response();
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (team, enterprise) = (get("team_id"), get("enterprise_id"));
    let present = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    if !app.workspaces.admit(
        "command",
        present(&team).as_deref(),
        present(&enterprise).as_deref(),
    ) {
        return Json(ephemeral(FOREIGN)).into_response();
    }
    let command = Command {
        team,
        user: get("user_id"),
        channel: get("channel_id"),
        text: get("text"),
        response_url: get("response_url"),
        thread_ts: form.get("thread_ts").filter(|t| !t.is_empty()).cloned(),
    };
    if command.user.is_empty() || command.channel.is_empty() {
        return (StatusCode::BAD_REQUEST, "missing user_id or channel_id").into_response();
    }
    Json(dispatch(&app, command)).into_response()
}

/// A slash command, from HTTP or Socket Mode.
pub struct Command {
    /// The workspace (a sign-in begun here is bound to it).
    pub team: String,
    pub user: String,
    pub channel: String,
    pub text: String,
    pub response_url: String,
    pub thread_ts: Option<String>,
}

fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "text": text})
}

/// Answers `/crm …` at once (an ephemeral message) and starts the slow work as a job.
pub fn dispatch(app: &SlackApp, command: Command) -> Value {
    let span = tracing::Span::current();
    span.record("user", command.user.as_str());
    span.record("channel", command.channel.as_str());
    let Command {
        team,
        user,
        channel,
        text,
        response_url,
        thread_ts,
    } = command;
    let text = text.trim();
    let (verb, rest) = match text.split_once(char::is_whitespace) {
        Some((v, r)) => (v, r.trim()),
        None => (text, ""),
    };
    let verb = verb.to_ascii_lowercase();
    if matches!(verb.as_str(), "log" | "ask")
        && !rest.is_empty()
        && let Err(wait) = app.limit.check(&user)
    {
        return ephemeral(&app.limit.message(wait));
    }
    match verb.as_str() {
        "" | "help" => ephemeral(USAGE),
        "connect" => super::signin::connect_now(app, &team, &user),
        "disconnect" => super::signin::disconnect(app, user, response_url),
        "ask" if rest.is_empty() => ephemeral(&format!("What would you like to know?\n\n{USAGE}")),
        "ask" if certainly_out(&app.actions.access().policy.ask, &user) => {
            refuse_ask_now(app, &user)
        }
        "ask" => {
            let job = super::ask::AskJob {
                app: app.clone(),
                user,
                question: rest.to_string(),
                reply: super::ask::Reply::ResponseUrl {
                    url: response_url,
                    channel,
                },
                follow_up: false,
            };
            match app.jobs.question(move || job.run()) {
                Ok(_) => ephemeral(":mag: Looking that up…"),
                Err(refused) => ephemeral(&refused.message()),
            }
        }
        "log" if rest.is_empty() => {
            ephemeral(&format!("There are no notes to draft from.\n\n{USAGE}"))
        }
        "log" if certainly_out(&app.actions.access().policy.log, &user) => {
            refuse_log_now(app, &user)
        }
        "log" => {
            let chars = rest.chars().count();
            if chars > app.max_notes_chars {
                return ephemeral(&format!(
                    "Your notes are {chars} characters long; crmbot takes at most {}. Split them into shorter logs (one per meeting works best). Nothing was stored.",
                    app.max_notes_chars
                ));
            }
            let job = LogJob {
                app: app.clone(),
                user,
                place: Place {
                    channel,
                    thread_ts,
                    source: None,
                },
                notes: rest.to_string(),
                response_url,
            };
            let user = job.user.clone();
            match app.jobs.draft(&user, move || job.run()) {
                Ok(Taken { ahead: 0 }) => ephemeral(
                    ":hourglass_flowing_sand: Drafting from your notes… the card will appear here in a few seconds.",
                ),
                Ok(Taken { ahead }) => ephemeral(&format!(
                    ":hourglass_flowing_sand: Queued behind {ahead} other draft(s); the card will appear here when they are done."
                )),
                Err(refused) => ephemeral(&refused.message()),
            }
        }
        other => ephemeral(&format!(
            "I don't know `{}`.\n\n{USAGE}",
            esc(&cut(other, 40))
        )),
    }
}

/// `/crm log` by someone the policy leaves out: told at once, audited, nothing drafted.
pub(super) fn refuse_log_now(app: &SlackApp, user: &str) -> Value {
    let words = "You can't log to Salesforce with crmbot: the policy does not let you (policy.log). Nothing was drafted; ask your crmbot admin.";
    audit_refusal(app, "log", user, "policy.log", words);
    ephemeral(words)
}

/// `/crm ask` by someone the policy leaves out.
fn refuse_ask_now(app: &SlackApp, user: &str) -> Value {
    let words = "You can't ask crmbot about Salesforce: the policy does not let you (policy.ask). Ask your crmbot admin.";
    audit_refusal(app, "ask", user, "policy.ask", words);
    ephemeral(words)
}

/// Drafting from notes and posting the card: `/crm log`, and the shortcuts.
pub(super) struct LogJob {
    pub(super) app: SlackApp,
    pub(super) user: String,
    pub(super) place: Place,
    pub(super) notes: String,
    /// Where to answer the person privately; empty: chat.postEphemeral in the place.
    pub(super) response_url: String,
}

impl LogJob {
    pub(super) async fn run(self) {
        let app = &self.app;
        debug!(notes = %self.notes, "log");
        if let Err(words) = app.actions.access().may_log(&self.user).await {
            audit_refusal(app, "log", &self.user, "policy.log", &words);
            self.tell(&words).await;
            return;
        }
        // In user mode the duplicate checks run as the person: no sign-in, no draft.
        let sf = match app.actions.clients().of(&self.user).await {
            Ok(sf) => sf,
            Err(e) => {
                let (words, blocks) = super::signin::not_connected(
                    app,
                    &app.bot.team_id,
                    &self.user,
                    &e,
                    " Nothing was drafted; your notes are kept below to log again.",
                );
                let text = format!(
                    "{words}\n```{}```",
                    esc(&cut(&self.notes.replace("```", "'''"), 2_500))
                );
                self.tell_blocks(&text, blocks.as_ref()).await;
                return;
            }
        };
        let today = Utc::now().date_naive();
        let notes = Notes::new(self.notes.clone());
        let drafting = app.actions.drafting();
        let author = app.web.user_name(&self.user).await;
        let (proposal, owner) = futures::join!(
            drafting.draft_as(&notes, today, &author, &sf),
            app.actions.draft_owner(&self.user)
        );
        let proposal = match proposal {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "drafting failed");
                self.tell(&format!(
                    ":x: {e}\nNothing was stored. Your notes, to try again:\n```{}```",
                    esc(&cut(&self.notes.replace("```", "'''"), 2_500))
                ))
                .await;
                return;
            }
        };
        let (proposal, trace) = proposal;
        let action = match app.actions.create(
            &self.user,
            self.place.clone(),
            &self.notes,
            proposal,
            trace,
            owner,
        ) {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "cannot store the draft");
                self.tell(":x: crmbot could not store the draft (database error). Nothing was written; try again in a moment.").await;
                return;
            }
        };
        let span = tracing::info_span!("action", id = %action.id);
        let _enter = span.enter();
        let card = match render_card(&app.templates, &action, Utc::now(), &app.card) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "card template failed");
                self.tell(&format!(
                    ":x: The draft is stored ({}), but its card could not be drawn: {e}",
                    action.id
                ))
                .await;
                return;
            }
        };
        match app
            .web
            .post_message(
                &self.place.channel,
                self.place.thread_ts.as_deref(),
                &card.text,
                Some(&card.blocks),
            )
            .await
        {
            Ok(posted) => {
                if let Err(e) = app.actions.set_card(&action.id, &posted.ts) {
                    warn!(error = %e, "card ts not stored");
                }
                info!(action = %action.id, "card posted");
                if action.assessment.as_ref().is_some_and(|x| x.auto.is_some()) {
                    super::interactions::auto_approve(app, &action.id).await;
                }
            }
            Err(e) => {
                self.tell(&format!(
                    ":x: The draft is ready but crmbot could not post it in this channel ({e}). Invite crmbot to the channel (`/invite @crmbot`) and run `/crm log` again. Nothing was written."
                ))
                .await;
            }
        }
    }

    /// An ephemeral message to the person who ran the command.
    pub(super) async fn tell(&self, text: &str) {
        self.tell_blocks(text, None).await;
    }

    /// `tell`, with blocks (a connect button).
    pub(super) async fn tell_blocks(&self, text: &str, blocks: Option<&Value>) {
        let mut body =
            json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        if let Some(b) = blocks {
            body["blocks"] = b.clone();
        }
        let sent = if self.response_url.is_empty() {
            Err(super::web::SlackError::Shape("no response_url".into()))
        } else {
            self.app.web.respond(&self.response_url, &body).await
        };
        if let Err(e) = sent {
            warn!(error = %e, "response_url failed; trying chat.postEphemeral");
            let _ = self
                .app
                .web
                .post_ephemeral_blocks(
                    &self.place.channel,
                    &self.user,
                    self.place.thread_ts.as_deref(),
                    text,
                    blocks,
                )
                .await;
        }
    }
}
