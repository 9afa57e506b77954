//! Clicks on the card (Approve, Edit, Reject) and the Edit modal's submission; the
//! shortcuts go to `shortcut`. A click is
//! acknowledged at once; the decision runs as a job and answers on the card, or, for a
//! refusal, in an ephemeral message to the person who clicked. The modal's answer is
//! synchronous because Slack shows inline errors only in the HTTP response.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tracing::{Instrument, info_span, instrument, warn};

use super::app::SlackApp;
use super::cards::render_card;
use super::commands::unauthorized;
use super::gate::{FOREIGN, Workspaces};
use super::modal::{ModalMeta, read_values, render_modal};
use super::shortcut;
use super::verify::verify;
use crate::flow::action::PendingAction;
use crate::flow::actions::{Approval, Outcome};
use crate::flow::edit::{apply_choice, apply_edit, edit_form};
use crate::flow::policy::{given, still_words};

#[instrument(skip_all, fields(kind = "interaction", user = tracing::field::Empty))]
pub async fn handle(State(app): State<SlackApp>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verify(&app.signing_secret, &headers, &body) {
        Ok(b) => b,
        Err(e) => return unauthorized("interaction", &e),
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some(payload) = form
        .get("payload")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return (StatusCode::BAD_REQUEST, "no payload").into_response();
    };
    match on_payload(&app, &payload).await {
        Reply::Empty => StatusCode::OK.into_response(),
        Reply::Foreign => (StatusCode::OK, FOREIGN).into_response(),
        Reply::ViewErrors(errors) => {
            Json(json!({"response_action": "errors", "errors": errors})).into_response()
        }
    }
}

/// What Slack gets back for an interaction.
pub enum Reply {
    Empty,
    /// From a workspace crmbot does not answer: nothing was done.
    Foreign,
    /// Inline errors of the Edit modal, by block id.
    ViewErrors(serde_json::Map<String, Value>),
}

/// Handles an interaction payload, from HTTP or Socket Mode.
pub async fn on_payload(app: &SlackApp, payload: &Value) -> Reply {
    let s = |v: &Value, path: &[&str]| -> String {
        let mut cur = v;
        for p in path {
            cur = &cur[*p];
        }
        cur.as_str().unwrap_or("").to_string()
    };
    let user = s(payload, &["user", "id"]);
    tracing::Span::current().record("user", user.as_str());
    let (team, enterprise) = Workspaces::ids(payload);
    if !app.workspaces.admit("interaction", team, enterprise) {
        return Reply::Foreign;
    }
    match payload["type"].as_str() {
        Some("block_actions") => {
            let Some(action) = payload["actions"].get(0) else {
                return Reply::Empty;
            };
            // A select on the card carries its action in the block id: choose:<id>:<revision>:…
            let block = s(action, &["block_id"]);
            let chosen = block.strip_prefix("choose:").and_then(|rest| {
                let mut parts = rest.split(':');
                let id = parts.next()?.to_string();
                let revision = parts.next()?.parse::<u32>().ok()?;
                let value = action["selected_option"]["value"].as_str()?.to_string();
                Some((id, revision, value))
            });
            // The card's buttons sit in block `pa:<id>:<revision>`: the revision the person saw.
            let seen = block
                .strip_prefix("pa:")
                .and_then(|rest| rest.split(':').nth(1))
                .and_then(|r| r.parse::<u32>().ok());
            let click = Click {
                app: app.clone(),
                team: team.unwrap_or(&app.bot.team_id).to_string(),
                user,
                seen,
                action_id: chosen
                    .as_ref()
                    .map_or_else(|| s(action, &["value"]), |(id, _, _)| id.clone()),
                channel: {
                    let c = s(payload, &["channel", "id"]);
                    if c.is_empty() {
                        s(payload, &["container", "channel_id"])
                    } else {
                        c
                    }
                },
                trigger_id: s(payload, &["trigger_id"]),
                // An ephemeral message cannot be updated: never taken for the card.
                card_ts: (payload["container"]["type"] == "message"
                    && payload["container"]["is_ephemeral"] != true)
                    .then(|| s(payload, &["container", "message_ts"]))
                    .filter(|ts| !ts.is_empty()),
                found_card: false,
            };
            let span = info_span!("action", id = %click.action_id);
            let (web, channel, who) = (app.web.clone(), click.channel.clone(), click.user.clone());
            let taken = match action["action_id"].as_str() {
                Some("crm_approve") => Some(
                    app.jobs
                        .decide(move || click.located().approve().instrument(span)),
                ),
                Some("crm_reject") => Some(
                    app.jobs
                        .decide(move || click.located().reject().instrument(span)),
                ),
                Some("crm_undo") => Some(
                    app.jobs
                        .decide(move || click.located().undo().instrument(span)),
                ),
                // views.open must follow the trigger within 3 seconds: the decisions lane,
                // which never waits behind drafts.
                Some("crm_edit") => Some(
                    app.jobs
                        .decide(move || click.located().edit().instrument(span)),
                ),
                Some("crm_choose") => chosen.map(|(_, revision, value)| {
                    app.jobs
                        .decide(move || click.located().choose(revision, value).instrument(span))
                }),
                _ => None,
            };
            // A click the decisions lane has no room for: the card is unchanged; say so.
            if let Some(Err(refused)) = taken {
                app.jobs.notice(move || async move {
                    if let Err(e) = web
                        .post_ephemeral(&channel, &who, None, &refused.message())
                        .await
                    {
                        warn!(error = %e, "busy notice not delivered");
                    }
                });
            }
            Reply::Empty
        }
        Some("view_submission") if payload["view"]["callback_id"] == "crm_edit" => {
            submit_edit(app, &user, &payload["view"]).await
        }
        Some("view_submission") if payload["view"]["callback_id"] == shortcut::LOG_MEETING => {
            shortcut::submit_meeting(app, &user, &payload["view"])
        }
        Some("message_action") if payload["callback_id"] == shortcut::LOG_MESSAGE => {
            shortcut::log_message(app, &user, payload)
        }
        Some("shortcut") if payload["callback_id"] == shortcut::LOG_MEETING => {
            shortcut::open_meeting(app, payload)
        }
        _ => Reply::Empty,
    }
}

struct Click {
    app: SlackApp,
    /// The workspace clicked in (a connect button begun here is bound to it).
    team: String,
    user: String,
    /// The revision on the clicked card, when it says.
    seen: Option<u32>,
    action_id: String,
    channel: String,
    trigger_id: String,
    /// The message the click came from, when it came from a message (not App Home).
    card_ts: Option<String>,
    /// The action had lost its card and this click found it (`located`).
    found_card: bool,
}

impl Click {
    /// A card's ts is stored once chat.postMessage has answered, so a click can come
    /// first, and a process can die in between: then no redraw could reach the card. The
    /// click says where its card is, so an action without one remembers it here.
    fn located(mut self) -> Self {
        if let Some(ts) = &self.card_ts
            && let Ok(Some(a)) = self.app.actions.get(&self.action_id)
            && a.card_ts.is_none()
            && a.place.channel == self.channel
        {
            match self.app.actions.set_card(&a.id, ts) {
                Ok(_) => self.found_card = true,
                Err(e) => warn!(action = %a.id, error = %e, "card ts from the click not stored"),
            }
        }
        self
    }

    async fn approve(self) {
        // A card that does not say which revision it shows cannot approve one.
        let Some(seen) = self.seen else {
            if let Ok(Some(a)) = self.app.actions.get(&self.action_id) {
                show(&self.app, &a).await;
            }
            return self
                .tell("This card is out of date; nothing was written. Check the card again and approve from there.")
                .await;
        };
        let begun = match self
            .app
            .actions
            .begin_approve(&self.action_id, &self.user, Some(seen))
            .await
        {
            Ok(b) => b,
            Err(e) => return self.tell(&format!(":x: {e}")).await,
        };
        let outcome = match begun {
            Approval::Refused(outcome) => outcome,
            Approval::NotConnected(e) => {
                let team = self.team.clone();
                let (words, blocks) = super::signin::not_connected(
                    &self.app,
                    &team,
                    &self.user,
                    &e,
                    " Nothing was written; approve again once connected.",
                );
                return self.tell_blocks(&words, blocks.as_ref()).await;
            }
            Approval::Partly(action) => {
                show(&self.app, &action).await;
                let still = still_needed_words(&action);
                return self
                    .tell(&format!(
                        "Your approval is recorded. Nothing is written yet: this draft still needs {still}."
                    ))
                    .await;
            }
            Approval::Writing(action, plan) => {
                show(&self.app, &action).await;
                match self.app.actions.complete_approve(*action, plan).await {
                    Ok(o) => o,
                    Err(e) => return self.tell(&format!(":x: {e}")).await,
                }
            }
        };
        self.settle(outcome).await;
    }

    async fn reject(self) {
        match self.app.actions.reject(&self.action_id, &self.user).await {
            Ok(outcome) => self.settle(outcome).await,
            Err(e) => self.tell(&format!(":x: {e}")).await,
        }
    }

    async fn undo(self) {
        match self.app.actions.undo(&self.action_id, &self.user).await {
            Ok(outcome) => self.settle(outcome).await,
            Err(e) => self.tell(&format!(":x: {e}")).await,
        }
    }

    async fn edit(self) {
        let action = match self.app.actions.may_edit(&self.action_id, &self.user).await {
            Ok(Ok(a)) => a,
            Ok(Err(reason)) => return self.tell(&reason).await,
            Err(e) => return self.tell(&format!(":x: {e}")).await,
        };
        let schema = match self.app.actions.drafting().schema().await {
            Ok((schema, _)) => schema,
            Err(e) => return self.tell(&format!(":x: Cannot open the editor: {e}")).await,
        };
        let form = edit_form(&action.proposal, action.revision, &schema);
        let meta = ModalMeta {
            pa: action.id.clone(),
            v: action.revision,
            channel: self.channel.clone(),
        };
        let view = match render_modal(&self.app.templates, &form, &meta) {
            Ok(v) => v,
            Err(e) => return self.tell(&format!(":x: Cannot open the editor: {e}")).await,
        };
        if let Err(e) = self.app.web.open_view(&self.trigger_id, &view).await {
            self.tell(&format!(
                ":x: Slack did not open the editor ({e}); click Edit again."
            ))
            .await;
        }
    }

    /// A choice made on the card (`<form key>=<value>`): a new revision with only that
    /// choice changed.
    async fn choose(self, revision: u32, choice: String) {
        let Some((key, value)) = choice.split_once('=') else {
            return;
        };
        let action = match self.app.actions.may_edit(&self.action_id, &self.user).await {
            Ok(Ok(a)) => a,
            Ok(Err(reason)) => return self.tell(&reason).await,
            Err(e) => return self.tell(&format!(":x: {e}")).await,
        };
        if action.revision != revision {
            return self
                .tell("This card changed since you chose; choose again on the new card.")
                .await;
        }
        let instance = self
            .app
            .actions
            .drafting()
            .salesforce()
            .instance_url()
            .to_string();
        let schema = match self.app.actions.drafting().schema().await {
            Ok((schema, _)) => schema,
            Err(e) => {
                return self
                    .tell(&format!(":x: Cannot apply the choice: {e}"))
                    .await;
            }
        };
        let author = self.app.web.user_name(&self.user).await;
        let rule = self.app.actions.drafting().free_text_rule(&author);
        match apply_choice(&action.proposal, key, value, &instance, &schema, &rule) {
            Ok(p) => match self
                .app
                .actions
                .save_edit(&self.action_id, &self.user, revision, p)
                .await
            {
                Ok(outcome) => self.settle(outcome).await,
                Err(e) => self.tell(&format!(":x: {e}")).await,
            },
            Err(errors) => {
                let all: Vec<String> = errors.into_values().collect();
                self.tell(&format!(":x: {}", all.join("; "))).await
            }
        }
    }

    async fn settle(&self, outcome: Outcome) {
        match outcome {
            Outcome::Changed(action) => {
                show(&self.app, &action).await;
                if self.user != action.requester {
                    super::home::refresh(&self.app, &self.user).await;
                }
            }
            Outcome::Refused { reason, action } => {
                // A click on an older card, or on one crmbot had lost: the card shows
                // what there is now.
                if let Some(a) = &action
                    && (self.found_card || self.seen.is_some_and(|seen| a.revision != seen))
                {
                    show(&self.app, a).await;
                }
                // A draft found expired by a click is marked so, and its card says it.
                if action.is_some_and(|a| a.is_expired(Utc::now()))
                    && let Ok(expired) = self.app.actions.expire_due(Utc::now())
                {
                    for a in &expired {
                        show(&self.app, a).await;
                    }
                }
                self.tell(&reason).await
            }
        }
    }

    async fn tell(&self, text: &str) {
        self.tell_blocks(text, None).await;
    }

    async fn tell_blocks(&self, text: &str, blocks: Option<&Value>) {
        // A click in App Home has no channel: the answer goes to the person's messages.
        let sent = if self.channel.is_empty() {
            self.app
                .web
                .post_message(&self.user, None, text, blocks)
                .await
                .map(|_| ())
        } else {
            self.app
                .web
                .post_ephemeral_blocks(&self.channel, &self.user, None, text, blocks)
                .await
        };
        if let Err(e) = sent {
            warn!(error = %e, "ephemeral reply failed");
        }
    }
}

/// What a partly approved draft still needs, in words.
fn still_needed_words(a: &PendingAction) -> String {
    let given = given(a);
    let still: Vec<String> = a
        .assessment
        .iter()
        .flat_map(|x| &x.requirements)
        .filter_map(|r| still_words(r, &given, &a.requester))
        .collect();
    still.join(" and ")
}

/// Writes a draft the policy lets through without a click (`auto_approve`), redrawing its
/// card as it goes; a refusal or a failure leaves the card for a person to approve.
pub async fn auto_approve(app: &SlackApp, id: &str) {
    let begun = match app.actions.begin_auto(id).await {
        Ok(b) => b,
        Err(e) => return warn!(action = %id, error = %e, "auto-approval failed"),
    };
    let outcome = match begun {
        Approval::Writing(action, plan) => {
            show(app, &action).await;
            match app.actions.complete_approve(*action, plan).await {
                Ok(o) => o,
                Err(e) => return warn!(action = %id, error = %e, "auto-approved write failed"),
            }
        }
        Approval::Refused(o) => o,
        Approval::NotConnected(e) => Outcome::Refused {
            reason: e.to_string(),
            action: None,
        },
        Approval::Partly(a) => Outcome::Changed(a),
    };
    match outcome {
        Outcome::Changed(a) => show(app, &a).await,
        Outcome::Refused { reason, action } => {
            warn!(action = %id, %reason, "auto-approval refused; the card waits for a person");
            if let Some(a) = action {
                show(app, &a).await;
            }
        }
    }
}

/// Redraws the card of an action where it was posted.
pub async fn show(app: &SlackApp, action: &PendingAction) {
    super::home::refresh(app, &action.requester).await;
    let Some(ts) = &action.card_ts else {
        return;
    };
    match render_card(&app.templates, action, Utc::now(), &app.card) {
        Ok(card) => {
            if let Err(e) = app
                .web
                .update_message(&action.place.channel, ts, &card.text, Some(&card.blocks))
                .await
            {
                warn!(action = %action.id, error = %e, "card update failed");
            }
        }
        Err(e) => warn!(action = %action.id, error = %e, "card template failed"),
    }
}

/// view_submission: inline errors in the response, or a new revision and a redrawn card.
async fn submit_edit(app: &SlackApp, user: &str, view: &Value) -> Reply {
    let meta: Option<ModalMeta> = view["private_metadata"]
        .as_str()
        .and_then(|m| serde_json::from_str(m).ok());
    let Some(meta) = meta else {
        return Reply::Empty;
    };
    let span = info_span!("action", id = %meta.pa);
    async {
        let first_block = view["blocks"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["type"] == "input"))
            .and_then(|b| b["block_id"].as_str())
            .unwrap_or("")
            .to_string();
        let errors = |map: Value| Reply::ViewErrors(map.as_object().cloned().unwrap_or_default());
        let action = match app.actions.get(&meta.pa) {
            Ok(Some(a)) => a,
            _ => return errors(json!({first_block: "This draft no longer exists."})),
        };
        let schema = match app.actions.drafting().schema().await {
            Ok((schema, _)) => schema,
            Err(e) => return errors(json!({first_block: format!("Salesforce: {e}")})),
        };
        let form = edit_form(&action.proposal, meta.v, &schema);
        let values = read_values(&form, &view["state"]["values"]);
        let instance = app
            .actions
            .drafting()
            .salesforce()
            .instance_url()
            .to_string();
        let author = app.web.user_name(user).await;
        let rule = app.actions.drafting().free_text_rule(&author);
        let proposal = match apply_edit(&action.proposal, &schema, &values, &instance, &rule) {
            Ok(p) => p,
            Err(problems) => {
                let map: serde_json::Map<String, Value> = problems
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(super::cards::cut(&v, 1_900))))
                    .collect();
                return errors(Value::Object(map));
            }
        };
        match app
            .actions
            .save_edit(&meta.pa, user, meta.v, proposal)
            .await
        {
            Ok(Outcome::Changed(updated)) => {
                // The edit is saved; redrawing its card is one Slack call, a notice.
                let app = app.clone();
                app.jobs
                    .clone()
                    .notice(move || async move { show(&app, &updated).await });
                Reply::Empty
            }
            Ok(Outcome::Refused { reason, .. }) => errors(json!({first_block: reason})),
            Err(e) => errors(json!({first_block: e.to_string()})),
        }
    }
    .instrument(span)
    .await
}
