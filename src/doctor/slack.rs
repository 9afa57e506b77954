//! Slack: `auth.test` through the same `SlackWeb` client `serve` uses (so SLACK_API_URL and
//! the TLS set-up are exercised too), its error codes explained, and the granted scopes
//! compared with the ones manifest.yaml asks for. A scope missing because the app was
//! installed from an older manifest fails only when someone first uses the feature that
//! needs it ("my deals" needs users:read.email); the doctor finds it up front.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{CHECK_TIMEOUT, Check, SLACK, timed};
use crate::config::Config;
use crate::slack::web::{BotIdentity, SlackError, SlackWeb};

/// The app manifest, compiled in: the scopes it asks for are the ones crmbot needs.
const MANIFEST: &str = include_str!("../../manifest.yaml");

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let Some(token) = &config.slack.bot_token else {
        return vec![
            Check::skipped(SLACK, "auth.test", "SLACK_BOT_TOKEN is not set"),
            Check::skipped(SLACK, "scopes", "SLACK_BOT_TOKEN is not set"),
        ];
    };
    let api_url = config.slack.api_url.as_str().trim_end_matches('/');
    let (auth, me) = match timed(CHECK_TIMEOUT, auth_test(api_url, token)).await {
        Ok(found) => found,
        Err(late) => (
            Check::problem(
                SLACK,
                "auth.test",
                format!("Slack at {api_url}: {late}"),
                "check the network (proxy, firewall) and SLACK_API_URL",
            ),
            None,
        ),
    };
    let scopes = if auth.status == super::Status::Ok {
        match timed(CHECK_TIMEOUT, scopes(api_url, token)).await {
            Ok(check) => check,
            Err(late) => Check::warning(
                SLACK,
                "scopes",
                format!("could not read the granted scopes: {late}"),
                "run `crmbot doctor` again",
            ),
        }
    } else {
        Check::skipped(SLACK, "scopes", "auth.test failed")
    };
    let mut checks = vec![auth, scopes];
    match me {
        Some((web, me)) => {
            checks.push(super::policy::workspace(config, &me));
            checks.push(
                match timed(CHECK_TIMEOUT, super::policy::groups(config, &web)).await {
                    Ok(check) => check,
                    Err(late) => Check::warning(
                        SLACK,
                        "user groups",
                        format!("usergroups.list: {late}"),
                        "run `crmbot doctor` again",
                    ),
                },
            );
        }
        None => {
            checks.push(Check::skipped(SLACK, "workspace", "auth.test failed"));
            checks.push(Check::skipped(SLACK, "user groups", "auth.test failed"));
        }
    }
    checks
}

/// auth.test, and — when it works — the client and who the bot is, for the checks after.
async fn auth_test(
    api_url: &str,
    token: &SecretString,
) -> (Check, Option<(SlackWeb, BotIdentity)>) {
    let name = "auth.test";
    let web = match SlackWeb::new(api_url, token, CHECK_TIMEOUT) {
        Ok(web) => web,
        Err(e) => {
            return (
                Check::problem(SLACK, name, e.to_string(), "check SLACK_API_URL"),
                None,
            );
        }
    };
    let check = match web.auth_test().await {
        Ok(me) => {
            let bot = me.user.clone().unwrap_or_else(|| me.user_id.clone());
            let org = me
                .enterprise_id
                .as_ref()
                .map_or(String::new(), |e| format!(", enterprise {e}"));
            let check = Check::ok(
                SLACK,
                name,
                format!("team {} ({}){org}, bot @{bot}", me.team, me.team_id),
            );
            return (check, Some((web, me)));
        }
        Err(SlackError::Api { code }) => {
            let (detail, fix) = explain(&code);
            Check::problem(SLACK, name, format!("Slack answered {code}: {detail}"), fix)
        }
        Err(SlackError::RateLimited) => Check::warning(
            SLACK,
            name,
            "Slack is rate limiting this token right now",
            "run `crmbot doctor` again in a minute",
        ),
        Err(e) => Check::problem(
            SLACK,
            name,
            e.to_string(),
            "check the network (proxy, firewall) and SLACK_API_URL (default https://slack.com/api)",
        ),
    };
    (check, None)
}

/// What an `auth.test` error code means, and what to do.
fn explain(code: &str) -> (&'static str, &'static str) {
    let reinstall = "copy the Bot User OAuth Token (xoxb-…) again from OAuth & Permissions of your Slack app into SLACK_BOT_TOKEN; reinstall the app from manifest.yaml if it is not there";
    match code {
        "invalid_auth" => (
            "the token is not valid (mistyped, cut, or from another workspace)",
            reinstall,
        ),
        "not_authed" => ("no token reached Slack", "set SLACK_BOT_TOKEN"),
        "token_revoked" => (
            "the token was revoked (the app was uninstalled or the token regenerated)",
            reinstall,
        ),
        "token_expired" => (
            "the token expired: the app uses token rotation, which crmbot does not support",
            "turn off token rotation for the app (OAuth & Permissions), reinstall it and set the new SLACK_BOT_TOKEN",
        ),
        "account_inactive" => (
            "the bot user or the workspace is deactivated",
            "reinstall the app from manifest.yaml and set the new SLACK_BOT_TOKEN",
        ),
        "team_access_not_granted" | "no_permission" => (
            "the token has no access to this workspace",
            "install the app to this workspace and set its SLACK_BOT_TOKEN",
        ),
        "ekm_access_denied" => (
            "your workspace administrators suspended access (EKM)",
            "ask your Slack administrators",
        ),
        "org_login_required" => (
            "the workspace is being migrated to an Enterprise Grid org",
            "wait until the migration ends, then run `crmbot doctor` again",
        ),
        "invalid_arguments" | "invalid_arg_name" | "method_not_supported_for_channel_type" => (
            "the server at SLACK_API_URL does not speak Slack's Web API as expected",
            "unset SLACK_API_URL (default https://slack.com/api) or fix it",
        ),
        _ => (
            "see https://api.slack.com/methods/auth.test for this code",
            "check SLACK_BOT_TOKEN and SLACK_API_URL",
        ),
    }
}

/// Compares the scopes Slack granted this token with the ones manifest.yaml asks for.
///
/// Slack sends the granted scopes in the `x-oauth-scopes` header of every Web API answer,
/// and only there. slack-morphism gives callers the decoded body, never the headers, so
/// this one call is a plain POST to `{api_url}/auth.test` with the bearer token.
async fn scopes(api_url: &str, token: &SecretString) -> Check {
    let name = "scopes";
    let unreadable = |why: String| {
        Check::warning(
            SLACK,
            name,
            format!("could not read the granted scopes ({why})"),
            format!(
                "check in the app's OAuth & Permissions page that the bot has {}",
                wanted_scopes().join(", ")
            ),
        )
    };
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(e) => return unreadable(e.to_string()),
    };
    let answer = http
        .post(format!("{api_url}/auth.test"))
        .bearer_auth(token.expose_secret())
        .send()
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return unreadable(e.without_url().to_string()),
    };
    let Some(header) = answer
        .headers()
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
    else {
        return unreadable("Slack sent no x-oauth-scopes header".into());
    };
    let granted: Vec<&str> = header.split(',').map(str::trim).collect();
    let wanted = wanted_scopes();
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !granted.contains(w))
        .collect();
    if missing.is_empty() {
        Check::ok(
            SLACK,
            name,
            format!("all {} scopes of manifest.yaml granted", wanted.len()),
        )
    } else {
        Check::problem(
            SLACK,
            name,
            format!("the bot token lacks {}", missing.join(", ")),
            "reinstall the app from manifest.yaml (paste it under App Manifest, then OAuth & Permissions → Reinstall to Workspace) and set the new SLACK_BOT_TOKEN if it changed",
        )
    }
}

/// The bot scopes of manifest.yaml: the `- scope` lines under `    bot:`.
pub(crate) fn wanted_scopes() -> Vec<&'static str> {
    parse_bot_scopes(MANIFEST)
}

fn parse_bot_scopes(manifest: &str) -> Vec<&str> {
    let mut scopes = Vec::new();
    let mut in_bot = false;
    for line in manifest.lines() {
        if line.trim_end() == "    bot:" {
            in_bot = true;
            continue;
        }
        if !in_bot {
            continue;
        }
        let item = line.trim_start();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        match item.strip_prefix("- ") {
            Some(item) => {
                let scope = item.split('#').next().unwrap_or_default().trim();
                if !scope.is_empty() {
                    scopes.push(scope);
                }
            }
            None => break,
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_scopes_are_read_without_comments() {
        assert_eq!(
            wanted_scopes(),
            [
                "app_mentions:read",
                "channels:history",
                "chat:write",
                "commands",
                "groups:history",
                "im:history",
                "mpim:history",
                "usergroups:read",
                "users:read",
                "users:read.email"
            ]
        );
        let other = "oauth_config:\n  scopes:\n    bot:\n      - a:b\n      - c   # why\n    user:\n      - d\n";
        assert_eq!(parse_bot_scopes(other), ["a:b", "c"]);
    }

    #[test]
    fn every_explanation_names_a_fix() {
        for code in [
            "invalid_auth",
            "token_revoked",
            "not_authed",
            "something_new",
        ] {
            let (detail, fix) = explain(code);
            assert!(!detail.is_empty() && !fix.is_empty(), "{code}");
        }
        assert!(explain("token_revoked").0.contains("revoked"));
    }
}
