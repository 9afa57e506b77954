//! Slack's Web API through slack-morphism's client, pointed at `slack.api_url` so tests talk
//! to a local fake, through a proxy when the environment names one. Every call has a time
//! budget (`slack.timeout` an attempt, `CALL_BUDGET` in all); a 429 is waited out
//! (Retry-After) and tried again a few times within it; `{"ok":false,"error":...}` comes
//! back as `SlackError::Api` with Slack's code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tracing::warn;

use super::http::{SlackHttpClient, client};
use crate::net::root_cause;

/// Retries of a call Slack rate-limited.
const RATE_LIMIT_RETRIES: u32 = 3;
/// People whose names are kept (for an hour) at most.
const NAMES_CACHED: u64 = 10_000;
/// Longest wait for one Retry-After.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(20);
/// The most one call takes, rate-limit waits and retries included: a hung Slack must not
/// hold a worker (and with it approvals and new drafts) for longer.
pub const CALL_BUDGET: Duration = Duration::from_secs(60);

mod shapes;

pub use shapes::{BotIdentity, Posted, SlackError, ThreadMessage, UserGroup};
use shapes::{GroupUsers, Permalink, Replies, UserGroups};

/// Runs one Web API call within its time budget, waiting out rate limits (a macro: the
/// session borrows the client, which closures returning futures cannot express while
/// staying `Send`).
macro_rules! call {
    ($web:expr, $method:expr, |$s:ident| $call:expr) => {{
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let $s = $web.client.open_session(&$web.token);
            let left = CALL_BUDGET.saturating_sub(started.elapsed());
            let outcome = tokio::time::timeout($web.timeout.min(left), async { $call }).await;
            let e = match outcome {
                Ok(Ok(v)) => break Ok(v),
                Ok(Err(e)) => e,
                Err(_) => {
                    let e = SlackError::Timeout {
                        method: $method.to_string(),
                        secs: $web.timeout.as_secs(),
                    };
                    warn!(method = $method, error = %e, "Slack call failed");
                    break Err(e);
                }
            };
            if let Some(wait) = SlackWeb::rate_limited($method, attempt, &e)
                && started.elapsed() + wait < CALL_BUDGET
            {
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            let e = SlackError::from_client(e, &$web.api_url);
            warn!(method = $method, error = %e, "Slack call failed");
            break Err(e);
        }
    }};
}

#[derive(Clone)]
pub struct SlackWeb {
    client: Arc<SlackHttpClient>,
    token: SlackApiToken,
    http: reqwest::Client,
    api_url: String,
    /// The time budget of one attempt (`slack.timeout`).
    timeout: Duration,
    /// Slack user id -> name, for signing free text added in Salesforce.
    names: moka::future::Cache<String, String>,
    /// Slack user id -> profile, for a minute: a draft asks for the person's email (to map
    /// them) and their name (to sign free text), and one users.info answers both.
    profiles: moka::future::Cache<String, Profile>,
}

/// What crmbot reads of a Slack profile.
#[derive(Clone, Debug, Default)]
struct Profile {
    name: Option<String>,
    email: Option<String>,
}

/// How long a profile read serves both questions.
const PROFILE_TTL: Duration = Duration::from_secs(60);

impl SlackWeb {
    /// A client for `api_url`; each call attempt gets `timeout`.
    pub fn new(
        api_url: &str,
        bot_token: &SecretString,
        timeout: Duration,
    ) -> Result<SlackWeb, SlackError> {
        let api_url = api_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| SlackError::Transport {
                url: api_url.clone(),
                cause: root_cause(&e),
            })?;
        Ok(SlackWeb {
            client: Arc::new(client(&api_url, timeout)),
            token: SlackApiToken::new(bot_token.expose_secret().to_string().into()),
            http,
            api_url,
            timeout,
            names: moka::future::Cache::builder()
                .max_capacity(NAMES_CACHED)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            profiles: moka::future::Cache::builder()
                .max_capacity(NAMES_CACHED)
                .time_to_live(PROFILE_TTL)
                .build(),
        })
    }

    fn rate_limited(method: &str, attempt: u32, e: &SlackClientError) -> Option<Duration> {
        match e {
            SlackClientError::RateLimitError(r) if attempt < RATE_LIMIT_RETRIES => {
                let wait = r
                    .retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_AFTER);
                warn!(method, ?wait, attempt, "Slack rate limit; waiting");
                Some(wait)
            }
            _ => None,
        }
    }

    /// The slack-morphism client (Socket Mode listens through it).
    pub fn client(&self) -> Arc<SlackHttpClient> {
        self.client.clone()
    }

    /// auth.test, read with the enterprise id (slack-morphism's answer type has none).
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        let none: Vec<(&str, Option<&String>)> = vec![];
        call!(self, "auth.test", |s| s
            .http_session_api
            .http_get::<BotIdentity, _, _>("auth.test", &none, None)
            .await)
    }

    /// The workspace's user groups (needs usergroups:read).
    pub async fn user_groups(&self) -> Result<Vec<UserGroup>, SlackError> {
        let none: Vec<(&str, Option<&String>)> = vec![];
        let groups = call!(self, "usergroups.list", |s| s
            .http_session_api
            .http_get::<UserGroups, _, _>("usergroups.list", &none, None)
            .await)?;
        Ok(groups.usergroups)
    }

    /// The members of a user group, by id (needs usergroups:read).
    pub async fn user_group_members(&self, id: &str) -> Result<Vec<String>, SlackError> {
        let id = id.to_string();
        let params = vec![("usergroup", Some(&id))];
        let users = call!(self, "usergroups.users.list", |s| s
            .http_session_api
            .http_get::<GroupUsers, _, _>("usergroups.users.list", &params, None)
            .await)?;
        Ok(users.users)
    }

    /// The first `limit` messages of the thread started by `thread_ts` (the parent first;
    /// needs channels:history, groups:history, mpim:history or im:history by channel kind).
    pub async fn thread(
        &self,
        channel: &str,
        thread_ts: &str,
        limit: usize,
    ) -> Result<Vec<ThreadMessage>, SlackError> {
        let (channel, ts, limit) = (
            channel.to_string(),
            thread_ts.to_string(),
            limit.to_string(),
        );
        let params = vec![
            ("channel", Some(&channel)),
            ("ts", Some(&ts)),
            ("limit", Some(&limit)),
        ];
        let replies = call!(self, "conversations.replies", |s| s
            .http_session_api
            .http_get::<Replies, _, _>("conversations.replies", &params, None)
            .await)?;
        Ok(replies.messages)
    }

    /// Publishes `view` as `user`'s App Home tab.
    pub async fn publish_home(&self, user: &str, view: &Value) -> Result<(), SlackError> {
        let view: SlackView =
            serde_json::from_value(view.clone()).map_err(|e| SlackError::Shape(e.to_string()))?;
        let request = SlackApiViewsPublishRequest::new(user.into(), view);
        call!(self, "views.publish", |s| s.views_publish(&request).await)?;
        Ok(())
    }

    /// A link to a message, for a card that came from it.
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        let (channel, ts) = (channel.to_string(), ts.to_string());
        let params = vec![("channel", Some(&channel)), ("message_ts", Some(&ts))];
        let link = call!(self, "chat.getPermalink", |s| s
            .http_session_api
            .http_get::<Permalink, _, _>("chat.getPermalink", &params, None)
            .await)?;
        Ok(link.permalink)
    }

    /// A person's name as their Slack profile gives it (real name, else display name), to
    /// sign what crmbot writes for them. Cached for an hour; `Slack user U…` when Slack
    /// cannot say.
    pub async fn user_name(&self, user: &str) -> String {
        if let Some(name) = self.names.get(user).await {
            return name;
        }
        let found = self.profile(user).await.ok().and_then(|p| p.name);
        match found {
            Some(name) => {
                self.names.insert(user.to_string(), name.clone()).await;
                name
            }
            None => format!("Slack user {user}"),
        }
    }

    /// Up to `max` people of the workspace (users.list, 200 a page): (id, handle, profile
    /// email); bots, apps and deactivated accounts left out.
    pub async fn members(
        &self,
        max: usize,
    ) -> Result<Vec<(String, String, Option<String>)>, SlackError> {
        let mut out = Vec::new();
        let mut cursor: Option<SlackCursorId> = None;
        loop {
            let request = SlackApiUsersListRequest::new()
                .with_limit(200)
                .opt_cursor(cursor.clone());
            let page = call!(self, "users.list", |s| s.users_list(&request).await)?;
            for u in page.members {
                let bot = u.flags.is_bot.unwrap_or(false) || u.flags.is_app_user.unwrap_or(false);
                if bot || u.deleted.unwrap_or(false) || u.id.to_string() == "USLACKBOT" {
                    continue;
                }
                let email = u
                    .profile
                    .as_ref()
                    .and_then(|p| p.email.as_ref())
                    .map(|e| e.to_string());
                out.push((u.id.to_string(), u.name.unwrap_or_default(), email));
                if out.len() >= max {
                    return Ok(out);
                }
            }
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.to_string().is_empty());
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// The email on a user's Slack profile (needs users:read.email).
    pub async fn user_email(&self, user: &str) -> Result<Option<String>, SlackError> {
        Ok(self.profile(user).await?.email)
    }

    /// users.info, or its answer of the last minute. A failed call is not remembered.
    async fn profile(&self, user: &str) -> Result<Profile, SlackError> {
        if let Some(p) = self.profiles.get(user).await {
            return Ok(p);
        }
        let request = SlackApiUsersInfoRequest::new(user.into());
        let info = call!(self, "users.info", |s| s.users_info(&request).await)?;
        let profile = info
            .user
            .profile
            .map_or_else(Profile::default, |p| Profile {
                name: p
                    .real_name
                    .filter(|n| !n.trim().is_empty())
                    .or(p.display_name)
                    .filter(|n| !n.trim().is_empty()),
                email: p.email.map(|e| e.to_string()),
            });
        self.profiles
            .insert(user.to_string(), profile.clone())
            .await;
        Ok(profile)
    }

    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<Posted, SlackError> {
        let content = content(text, blocks)?;
        let request = SlackApiChatPostMessageRequest::new(channel.into(), content)
            .opt_thread_ts(thread_ts.map(Into::into));
        let posted = call!(self, "chat.postMessage", |s| s
            .chat_post_message(&request)
            .await)?;
        Ok(Posted {
            channel: posted.channel.to_string(),
            ts: posted.ts.to_string(),
        })
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<(), SlackError> {
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), content(text, blocks)?, ts.into());
        call!(self, "chat.update", |s| s.chat_update(&request).await)?;
        Ok(())
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), SlackError> {
        let request = SlackApiChatPostEphemeralRequest::new(
            channel.into(),
            user.into(),
            SlackMessageContent::new().with_text(defuse(text)),
        )
        .opt_thread_ts(thread_ts.map(Into::into));
        call!(self, "chat.postEphemeral", |s| s
            .chat_post_ephemeral(&request)
            .await)?;
        Ok(())
    }

    /// An ephemeral message with blocks (an answer only its asker sees).
    pub async fn post_ephemeral_blocks(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<(), SlackError> {
        let request = SlackApiChatPostEphemeralRequest::new(
            channel.into(),
            user.into(),
            content(text, blocks)?,
        )
        .opt_thread_ts(thread_ts.map(Into::into));
        call!(self, "chat.postEphemeral", |s| s
            .chat_post_ephemeral(&request)
            .await)?;
        Ok(())
    }

    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let view: SlackView =
            serde_json::from_value(view.clone()).map_err(|e| SlackError::Shape(e.to_string()))?;
        let request = SlackApiViewsOpenRequest::new(trigger_id.into(), view);
        call!(self, "views.open", |s| s.views_open(&request).await)?;
        Ok(())
    }

    /// Posts to a `response_url` (absolute, from the payload). Plain JSON: slack-morphism's
    /// webhook request cannot say `response_type`.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        let mut body = body.clone();
        if let Some(text) = body["text"].as_str() {
            body["text"] = Value::String(defuse(text));
        }
        let answer = self
            .http
            .post(response_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => SlackError::Timeout {
                    method: "response_url".into(),
                    secs: self.timeout.as_secs(),
                },
                false => SlackError::Transport {
                    url: "the response_url Slack gave".into(),
                    cause: root_cause(&e),
                },
            })?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(SlackError::Api {
                code: format!("HTTP {}", answer.status().as_u16()),
            })
        }
    }
}

/// Disarms `<!channel>`, `<!here>`, `<!everyone>` and user-group mentions in a message's
/// text. crmbot never sends one itself, so one found here came from someone's notes or a
/// record; escaping every text is the callers' job, this is the last line.
pub fn defuse(text: &str) -> String {
    static BROADCAST: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)<(!(?:channel|here|everyone|group|subteam\^))")
            .expect("static regex")
    });
    BROADCAST.replace_all(text, "&lt;$1").into_owned()
}

fn content(text: &str, blocks: Option<&Value>) -> Result<SlackMessageContent, SlackError> {
    let mut content = SlackMessageContent::new().with_text(defuse(text));
    if let Some(blocks) = blocks {
        let blocks = <Vec<SlackBlock> as serde::Deserialize>::deserialize(blocks)
            .map_err(|e| SlackError::Shape(format!("blocks do not fit Block Kit: {e}")))?;
        content = content.with_blocks(blocks);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn broadcasts_are_disarmed_and_crmbots_own_mentions_kept() {
        assert_eq!(
            defuse("hi <!channel> and <!HERE|here> <!subteam^S1>"),
            "hi &lt;!channel> and &lt;!HERE|here> &lt;!subteam^S1>"
        );
        let own = "Only <@U0REQ> can approve; expires <!date^1700000000^{date}|x>";
        assert_eq!(defuse(own), own);
    }
}
