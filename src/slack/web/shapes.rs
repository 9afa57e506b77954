//! What the Web API answers, as crmbot reads it: the errors (with a hint per Slack error
//! code) and the shapes of the answers slack-morphism has no type for.

use slack_morphism::errors::SlackClientError;

use super::RATE_LIMIT_RETRIES;
use crate::net::root_cause;

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack answered {code}{}", hint(.code))]
    Api { code: String },
    #[error("Slack is rate limiting crmbot; tried {RATE_LIMIT_RETRIES} times")]
    RateLimited,
    #[error(
        "cannot reach Slack at {url} ({cause}); check SLACK_API_URL, the network and any proxy (HTTPS_PROXY, NO_PROXY)"
    )]
    Transport { url: String, cause: String },
    #[error("Slack did not answer {method} within {secs} s (slack.timeout)")]
    Timeout { method: String, secs: u64 },
    #[error("Slack message: {0}")]
    Shape(String),
}

/// What to do about the codes a misconfiguration causes.
fn hint(code: &str) -> &'static str {
    match code {
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            " (check SLACK_BOT_TOKEN: the Bot User OAuth Token of this workspace's app)"
        }
        "missing_scope" => " (reinstall the app from manifest.yaml to grant its scopes)",
        "channel_not_found" | "not_in_channel" => " (invite the bot: /invite @crmbot)",
        _ => "",
    }
}

impl SlackError {
    /// A slack-morphism error, with `url` and the root cause for a failed connection
    /// (rather than the library's `Some(hyper_util::...)` debug text).
    pub fn from_client(e: SlackClientError, url: &str) -> SlackError {
        let cause = |e: &SlackClientError| match e {
            SlackClientError::HttpProtocolError(p) => p
                .cause
                .as_deref()
                .map_or_else(|| "no answer".to_string(), |c| root_cause(c)),
            SlackClientError::SystemError(s) => match (&s.message, s.cause.as_deref()) {
                (_, Some(c)) => root_cause(c),
                (Some(m), None) => m.clone(),
                (None, None) => "system error".into(),
            },
            SlackClientError::HttpError(h) => format!("HTTP {}", h.status_code),
            SlackClientError::EndOfStream(_) => "the connection closed early".into(),
            other => other.to_string(),
        };
        match e {
            SlackClientError::ApiError(api) => SlackError::Api { code: api.code },
            SlackClientError::RateLimitError(_) => SlackError::RateLimited,
            SlackClientError::ProtocolError(p) => SlackError::Shape(format!(
                "Slack's answer could not be read: {}",
                p.json_error
            )),
            other => SlackError::Transport {
                url: url.to_string(),
                cause: cause(&other),
            },
        }
    }
}

/// Who the bot is (from auth.test), to ignore its own messages; the names are for
/// `crmbot doctor`; the ids say which workspace's requests crmbot answers.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BotIdentity {
    pub user_id: String,
    pub bot_id: Option<String>,
    /// The workspace's name.
    pub team: String,
    /// The bot user's name.
    pub user: Option<String>,
    /// The workspace's id (`T…`).
    #[serde(default)]
    pub team_id: String,
    /// The Enterprise Grid org's id (`E…`), when the workspace is in one.
    #[serde(default)]
    pub enterprise_id: Option<String>,
}

/// A Slack user group, as usergroups.list describes it (the fields crmbot reads).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct UserGroup {
    pub id: String,
    pub handle: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub date_delete: Option<i64>,
}

#[derive(serde::Deserialize)]
pub(super) struct UserGroups {
    pub(super) usergroups: Vec<UserGroup>,
}

#[derive(serde::Deserialize)]
pub(super) struct GroupUsers {
    pub(super) users: Vec<String>,
}

/// One message of a thread, as conversations.replies gives it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ThreadMessage {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub text: String,
    pub ts: String,
}

#[derive(serde::Deserialize)]
pub(super) struct Replies {
    #[serde(default)]
    pub(super) messages: Vec<ThreadMessage>,
}

#[derive(serde::Deserialize)]
pub(super) struct Permalink {
    pub(super) permalink: String,
}

/// A message the bot posted.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}
