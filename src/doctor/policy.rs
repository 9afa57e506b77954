//! The policy's Slack side: which workspace (and Enterprise Grid org) the bot token belongs
//! to — the one whose requests crmbot answers unless `policy.team_ids` says otherwise — and
//! whether every user group the policy names exists. A group that does not exist grants
//! nothing, so a draft in its tier could never be approved: the doctor says so first.

use super::{Check, SLACK};
use crate::config::Config;
use crate::domain::policy::Who;
use crate::slack::web::{BotIdentity, SlackError, SlackWeb};

/// The ids requests are checked against, and whether the configured ones include the bot's.
pub(super) fn workspace(config: &Config, me: &BotIdentity) -> Check {
    let name = "workspace";
    let p = config.effective_policy();
    let org = me
        .enterprise_id
        .as_ref()
        .map_or(String::new(), |e| format!(", Enterprise Grid org {e}"));
    let ids = format!("team id {}{org}", me.team_id);
    if p.team_ids.is_empty() && p.enterprise_id.is_none() {
        return Check::ok(
            SLACK,
            name,
            format!("{ids}; crmbot answers requests from this workspace only"),
        );
    }
    let ours = p.team_ids.contains(&me.team_id)
        || (p.enterprise_id.is_some() && p.enterprise_id == me.enterprise_id);
    let allowed = format!(
        "policy.team_ids = [{}]{}",
        p.team_ids.join(", "),
        p.enterprise_id
            .as_ref()
            .map_or(String::new(), |e| format!(", policy.enterprise_id = {e}"))
    );
    if ours {
        Check::ok(SLACK, name, format!("{ids}; answered ({allowed})"))
    } else {
        Check::problem(
            SLACK,
            name,
            format!("{ids}, but {allowed}: requests from the bot's own workspace would be refused"),
            format!("add {} to policy.team_ids in crmbot.toml", me.team_id),
        )
    }
}

/// Every group the policy names must exist in the workspace (`usergroups.list`).
pub(super) async fn groups(config: &Config, web: &SlackWeb) -> Check {
    let name = "user groups";
    let p = config.effective_policy();
    let mut named: Vec<String> = p
        .log
        .iter()
        .chain(&p.ask)
        .chain(&p.approvers)
        .chain(&p.answers.unrestricted)
        .chain(p.tiers.iter().flat_map(|t| &t.approvers))
        .filter_map(|w| match w {
            Who::Group(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    named.sort();
    named.dedup();
    if named.is_empty() {
        return Check::skipped(SLACK, name, "the policy names no user group");
    }
    let groups = match web.user_groups().await {
        Ok(g) => g,
        Err(SlackError::Api { code }) if code == "missing_scope" => {
            return Check::problem(
                SLACK,
                name,
                "the policy names user groups, but the bot token lacks usergroups:read",
                "reinstall the app from manifest.yaml (it asks for usergroups:read) and set the new SLACK_BOT_TOKEN if it changed",
            );
        }
        Err(e) => {
            return Check::problem(
                SLACK,
                name,
                format!("usergroups.list failed: {e}"),
                "check the bot token's usergroups:read scope and run `crmbot doctor` again",
            );
        }
    };
    let live: Vec<_> = groups
        .iter()
        .filter(|g| g.date_delete.unwrap_or(0) == 0)
        .collect();
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| {
            !live
                .iter()
                .any(|g| g.id == **n || format!("@{}", g.handle).eq_ignore_ascii_case(n.as_str()))
        })
        .collect();
    if missing.is_empty() {
        Check::ok(
            SLACK,
            name,
            format!("{} found: {}", named.len(), named.join(", ")),
        )
    } else {
        Check::problem(
            SLACK,
            name,
            format!(
                "Slack has no user group {}; it would grant nothing",
                missing
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "fix the handle or id in [policy] of crmbot.toml (user groups are listed under People → User groups in Slack)",
        )
    }
}
