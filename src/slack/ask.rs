//! A question from Slack (a mention, a DM, `/crm ask`): answered in its thread, with the
//! accepted plan kept per thread so a follow-up ("only the ones in EMEA?") refines it. The
//! policy says who may ask, what the answer may show and who sees it (`/crm ask`: the asker
//! only by default); every question is audited (the plan, the SOQL, the row count).

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::answers::render_answer;
use super::app::SlackApp;
use super::gate::audit_refusal;
use super::web::SlackWeb;
use crate::config::SlashAnswers;
use crate::flow::ask::{Answer, AskError, AskRequest, Asker};
use crate::flow::asked::audit_question;
use crate::flow::policy::AnswerScope;

struct SlackAsker {
    web: SlackWeb,
    user: String,
}

impl Asker for SlackAsker {
    fn key(&self) -> String {
        self.user.clone()
    }

    fn email(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            match self.web.user_email(&self.user).await {
                Ok(email) => email,
                Err(e) => {
                    warn!(error = %e, "users.info failed; \"$me\" cannot be resolved");
                    None
                }
            }
        })
    }
}

/// Where the answer goes.
pub enum Reply {
    /// A message in this thread of this channel (`only_asker`: an ephemeral one).
    Thread {
        channel: String,
        thread_ts: String,
        only_asker: bool,
    },
    /// The slash command's response_url (in the channel or to the asker only, as
    /// `policy.answers.slash_command` says).
    ResponseUrl { url: String, channel: String },
}

pub struct AskJob {
    pub app: SlackApp,
    pub user: String,
    pub question: String,
    pub reply: Reply,
    /// A reply in a thread without a mention: answered only when it is a question about
    /// the CRM (people talking among themselves there hear nothing from crmbot).
    pub follow_up: bool,
}

impl AskJob {
    pub async fn run(self) {
        let app = &self.app;
        if let Err(words) = app.actions.access().may_ask(&self.user).await {
            if self.follow_up {
                return;
            }
            audit_refusal(app, "ask", &self.user, "policy.ask", &words);
            self.tell_asker(&words).await;
            return;
        }
        let thread_key = match &self.reply {
            Reply::Thread {
                channel, thread_ts, ..
            } => Some(format!("{channel}:{thread_ts}")),
            Reply::ResponseUrl { .. } => None,
        };
        let threads = app.store.thread_plans().ok();
        let previous = match (&threads, &thread_key) {
            (Some(t), Some(k)) => t.get(k),
            _ => None,
        };
        let asker = SlackAsker {
            web: app.web.clone(),
            user: self.user.clone(),
        };
        // In user mode the query runs as the asker: no sign-in, no query.
        let sf = match app.actions.clients().of(&self.user).await {
            Ok(sf) => sf,
            Err(e) => {
                if self.follow_up {
                    return;
                }
                let (words, blocks) =
                    super::signin::not_connected(app, &app.bot.team_id, &self.user, &e, "");
                self.send_private(&words, blocks.as_ref()).await;
                return;
            }
        };
        let scope = self.scope().await;
        let req = AskRequest {
            client: Some(&sf),
            question: &self.question,
            today: Utc::now().date_naive(),
            previous: previous.as_ref(),
            asker: &asker,
            scope: scope.as_ref(),
        };
        let answer = match app.asking.ask(&req).await {
            Ok(a) => a,
            Err(AskError::Salesforce(e)) if e.is_revoked_grant() => {
                if let Some(lapsed) = app.actions.clients().lapsed(&self.user, &e).await {
                    let (words, blocks) = super::signin::not_connected(
                        app,
                        &app.bot.team_id,
                        &self.user,
                        &lapsed,
                        "",
                    );
                    self.send_private(&words, blocks.as_ref()).await;
                }
                return;
            }
            Err(e) => {
                warn!(error = %e, "question failed");
                self.send(&format!(":x: {e}"), None).await;
                return;
            }
        };
        if self.follow_up && matches!(answer, Answer::NotAQuestion) {
            debug!("a thread reply that is not a question; left alone");
            return;
        }
        audit_question(
            &app.store,
            &self.user,
            &self.question,
            &answer,
            self.audience(),
        );
        if let (Answer::Rows(r), Some(t), Some(k)) = (&answer, &threads, &thread_key) {
            t.remember(k, &r.plan_json);
        }
        if let (Answer::NoRows { plan_json, .. }, Some(t), Some(k)) =
            (&answer, &threads, &thread_key)
        {
            t.remember(k, plan_json);
        }
        match render_answer(&app.templates, &self.question, &answer) {
            Ok(card) => self.send(&card.text, Some(&card.blocks)).await,
            Err(e) => {
                warn!(error = %e, "answer template failed");
                self.send(":x: The answer could not be drawn (template error).", None)
                    .await;
            }
        }
    }

    /// What this asker's answers may show: `None` for everything `[ask.objects]` allows.
    async fn scope(&self) -> Option<AnswerScope> {
        let answers = &self.app.answers;
        if answers.objects.is_empty() && answers.hide.is_empty() {
            return None;
        }
        let access = self.app.actions.access();
        let member = access
            .membership(&self.user, &[&answers.unrestricted])
            .await;
        (!member.named_by(&answers.unrestricted)).then(|| AnswerScope::from_settings(answers))
    }

    /// Who sees the answer, for the audit.
    fn audience(&self) -> &'static str {
        match &self.reply {
            Reply::Thread {
                only_asker: true, ..
            } => "the asker (in the thread)",
            Reply::Thread { .. } => "the thread",
            Reply::ResponseUrl { .. } if self.in_channel() => "the channel",
            Reply::ResponseUrl { .. } => "the asker",
        }
    }

    fn in_channel(&self) -> bool {
        self.app.answers.slash_command == SlashAnswers::Channel
    }

    /// A message only the asker sees, wherever they asked.
    async fn tell_asker(&self, text: &str) {
        let web = &self.app.web;
        let sent = match &self.reply {
            Reply::Thread {
                channel, thread_ts, ..
            } => {
                web.post_ephemeral(channel, &self.user, Some(thread_ts), text)
                    .await
            }
            Reply::ResponseUrl { url, .. } => {
                web.respond(url, &json!({"response_type": "ephemeral", "text": text}))
                    .await
            }
        };
        if let Err(e) = sent {
            warn!(error = %e, "refusal not delivered");
        }
    }

    /// A reply only the asker sees (in the thread, or at the response_url), with blocks.
    async fn send_private(&self, text: &str, blocks: Option<&Value>) {
        let web = &self.app.web;
        let sent = match &self.reply {
            Reply::Thread {
                channel, thread_ts, ..
            } => {
                web.post_ephemeral_blocks(channel, &self.user, Some(thread_ts), text, blocks)
                    .await
            }
            Reply::ResponseUrl { url, .. } => {
                let mut body = json!({"response_type": "ephemeral", "text": text});
                if let Some(b) = blocks {
                    body["blocks"] = b.clone();
                }
                web.respond(url, &body).await
            }
        };
        if let Err(e) = sent {
            warn!(error = %e, "reply not delivered");
        }
    }

    async fn send(&self, text: &str, blocks: Option<&Value>) {
        let web = &self.app.web;
        let sent = match &self.reply {
            Reply::Thread {
                channel,
                thread_ts,
                only_asker: true,
            } => {
                web.post_ephemeral_blocks(channel, &self.user, Some(thread_ts), text, blocks)
                    .await
            }
            Reply::Thread {
                channel, thread_ts, ..
            } => web
                .post_message(channel, Some(thread_ts), text, blocks)
                .await
                .map(|_| ()),
            Reply::ResponseUrl { url, channel } => {
                let visibility = if self.in_channel() {
                    "in_channel"
                } else {
                    "ephemeral"
                };
                let mut body = json!({"response_type": visibility, "text": text});
                if let Some(b) = blocks {
                    body["blocks"] = b.clone();
                }
                let r = web.respond(url, &body).await;
                if r.is_err() {
                    let _ = web.post_ephemeral(channel, &self.user, None, text).await;
                }
                r
            }
        };
        if let Err(e) = sent {
            warn!(error = %e, "answer not delivered");
        }
    }
}

/// True when crmbot answered a question in this thread and keeps its plan: a reply there is
/// a follow-up even without a mention.
pub fn answered_in(store: &crate::flow::storage::Store, channel: &str, thread_ts: &str) -> bool {
    store
        .thread_plans()
        .ok()
        .and_then(|t| t.get(&format!("{channel}:{thread_ts}")))
        .is_some()
}

/// The question of a mention: the text without the bot's `<@U…>`.
pub fn strip_mention(text: &str, bot_user: &str) -> String {
    text.replace(&format!("<@{bot_user}>"), " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
