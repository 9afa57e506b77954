//! Checks a loaded configuration for values that parse but cannot work (naming the key), and
//! prints the effective configuration with secrets masked.

use secrecy::ExposeSecret;

use super::{Config, ConfigError, ask};

/// The most of the notes a card quotes (a context element holds 3,000 characters, escaped).
const MAX_EXCERPT_CHARS: usize = 1_500;

/// What a Slack token is, from its public prefix (never more of it): "a bot token
/// (xoxb-…)", "a user token (xoxp-…)", ...
pub fn slack_token_kind(token: &str) -> String {
    let prefix = token
        .split_once('-')
        .map(|(p, _)| p)
        .filter(|p| p.len() <= 5 && p.chars().all(|c| c.is_ascii_alphabetic()));
    match prefix {
        Some("xoxb") => "a bot token (xoxb-…)".into(),
        Some("xoxp") => "a user token (xoxp-…)".into(),
        Some("xapp") => "an app-level token (xapp-…)".into(),
        Some(p) if p.starts_with("xox") => format!("a {p}- token"),
        _ => "not a Slack token".into(),
    }
}

impl Config {
    /// What `crmbot serve` needs from Slack, all of it at once: each entry names the
    /// variable and where to find the value.
    pub fn slack_problems(&self) -> Vec<String> {
        let slack = &self.slack;
        let mut problems = Vec::new();
        if slack.signing_secret.is_none() && slack.app_token.is_none() {
            problems.push(
                "SLACK_SIGNING_SECRET is not set: the Signing Secret under Basic Information of your Slack app (or set SLACK_APP_TOKEN to use Socket Mode instead)".into(),
            );
        }
        match slack.bot_token.as_ref().map(|t| t.expose_secret()) {
            None => problems.push(
                "SLACK_BOT_TOKEN is not set: the Bot User OAuth Token (xoxb-…) under OAuth & Permissions of your Slack app".into(),
            ),
            Some(t) if !t.starts_with("xoxb-") => problems.push(format!(
                "SLACK_BOT_TOKEN is {}; crmbot needs the Bot User OAuth Token (xoxb-…) under OAuth & Permissions",
                slack_token_kind(t)
            )),
            Some(_) => {}
        }
        if let Some(t) = slack.app_token.as_ref().map(|t| t.expose_secret())
            && !t.starts_with("xapp-")
        {
            problems.push(format!(
                "SLACK_APP_TOKEN is {}; Socket Mode needs an app-level token (xapp-…) with connections:write (Basic Information → App-Level Tokens), or unset it",
                slack_token_kind(t)
            ));
        }
        problems
    }

    /// Checks that hold for every command.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let v = &self.salesforce.api_version;
        let ok = v
            .strip_prefix('v')
            .and_then(|n| n.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.chars().all(|c| c.is_ascii_digit())
                    && b.chars().all(|c| c.is_ascii_digit())
            });
        if !ok {
            return Err(ConfigError::Invalid {
                key: "salesforce.api_version".into(),
                message: format!("'{v}' is not a REST version such as v62.0"),
            });
        }
        if self.objects.is_empty() {
            return Err(ConfigError::Invalid {
                key: "objects".into(),
                message: "no object is enabled; crmbot would have nothing to draft".into(),
            });
        }
        for (name, o) in &self.objects {
            if o.fields.is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("objects.{name}.fields"),
                    message: "an enabled object needs at least one field".into(),
                });
            }
        }
        if self.ask.max_limit == 0
            || self.ask.max_limit > ask::LIMIT_CEILING
            || self.ask.default_limit == 0
            || self.ask.default_limit > self.ask.max_limit
        {
            return Err(ConfigError::Invalid {
                key: "ask".into(),
                message: format!(
                    "need 1 <= default_limit <= max_limit <= {}",
                    ask::LIMIT_CEILING
                ),
            });
        }
        let server = &self.server;
        if server.max_connections == 0
            || server.max_body_bytes == 0
            || server.header_timeout.is_zero()
            || server.request_timeout.is_zero()
        {
            return Err(ConfigError::Invalid {
                key: "server".into(),
                message: "header_timeout, request_timeout, max_connections and max_body_bytes must be above 0".into(),
            });
        }
        if self.slack.timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: "slack.timeout".into(),
                message: "must be at least 1 second".into(),
            });
        }
        if self.slack.notes_excerpt_chars > MAX_EXCERPT_CHARS {
            return Err(ConfigError::Invalid {
                key: "slack.notes_excerpt_chars".into(),
                message: format!(
                    "{} is more than a card can quote; use 0 to {MAX_EXCERPT_CHARS}",
                    self.slack.notes_excerpt_chars
                ),
            });
        }
        if self.drafting.max_records == 0 || self.drafting.max_notes_chars == 0 {
            return Err(ConfigError::Invalid {
                key: "drafting".into(),
                message: "max_records and max_notes_chars must be above 0".into(),
            });
        }
        self.check_policy()
    }

    /// The effective configuration as TOML, secrets masked (`crmbot config`).
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.policy = self.effective_policy();
        let body = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"));
        format!(
            "# crmbot's effective configuration: defaults, then crmbot.toml, then the environment.\n\
             # Secrets show as \"********\" when set and \"\" when not; optional keys that are\n\
             # not set (instance_url, model, ...) are left out.\n\
             # Model in effect: {}\n{body}\n{}",
            self.llm.describe(),
            self.policy_in_words()
        )
    }
}
