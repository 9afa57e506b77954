//! The mapping of Slack members to Salesforce Users ("Who owns what crmbot writes"): how
//! many people of the workspace map to an active User and who does not, read with
//! `users.list` (at most `MAX_MEMBERS`) and one User query per hundred of them, so an admin
//! fixes the table or the emails before a rep's records land on the integration user.

use std::sync::Arc;

use super::{CHECK_TIMEOUT, Check, SALESFORCE, timed};
use crate::config::{Config, OwnerChoice, PeopleSettings, UnmappedChoice};
use crate::flow::people::{Mapping, People};
use crate::flow::policy::NoGroups;
use crate::salesforce::SalesforceClient;
use crate::slack::web::SlackWeb;

/// Slack members read at most.
const MAX_MEMBERS: usize = 2_000;
/// Unmapped members named at most (the rest are counted).
const NAMED: usize = 10;
pub(super) const NAME: &str = "people";

pub(super) async fn check(config: &Config, org: Option<&SalesforceClient>) -> Check {
    let Some(sf) = org else {
        return Check::skipped(SALESFORCE, NAME, "Salesforce could not be read");
    };
    let Some(token) = &config.slack.bot_token else {
        return Check::skipped(SALESFORCE, NAME, "SLACK_BOT_TOKEN is not set");
    };
    let web = match SlackWeb::new(config.slack.api_url.as_str(), token, config.slack.timeout) {
        Ok(w) => w,
        Err(e) => return Check::skipped(SALESFORCE, NAME, e.to_string()),
    };
    match timed(CHECK_TIMEOUT * 3, mapping(config, &web, sf)).await {
        Ok(check) => check,
        Err(late) => Check::warning(
            SALESFORCE,
            NAME,
            format!("reading the mapping: {late}"),
            "run `crmbot doctor` again",
        ),
    }
}

async fn mapping(config: &Config, web: &SlackWeb, sf: &SalesforceClient) -> Check {
    let members = match web.members(MAX_MEMBERS).await {
        Ok(m) => m,
        Err(e) => {
            return Check::warning(
                SALESFORCE,
                NAME,
                format!("users.list: {e}"),
                "add the users:read and users:read.email scopes (manifest.yaml) and reinstall the app",
            );
        }
    };
    let settings = PeopleSettings::from_settings(&config.salesforce);
    let people = People::new(sf.clone(), settings.clone(), Arc::new(NoGroups));
    let pairs: Vec<(String, Option<String>)> = members
        .iter()
        .map(|(id, _, email)| (id.clone(), email.clone()))
        .collect();
    let mapped = match people.map_many(&pairs).await {
        Ok(m) => m,
        Err(e) => {
            return Check::warning(
                SALESFORCE,
                NAME,
                format!("the User query failed: {e}"),
                "give crmbot's integration user read access to User",
            );
        }
    };
    let missing: Vec<String> = members
        .iter()
        .zip(&mapped)
        .filter_map(|((id, handle, _), m)| match m {
            Mapping::User(_) => None,
            Mapping::Unmapped(why) => Some(format!("@{handle} ({id}): {why}")),
        })
        .collect();
    let total = members.len();
    let capped = if total >= MAX_MEMBERS {
        format!(" (the first {MAX_MEMBERS} read)")
    } else {
        String::new()
    };
    let owner = match settings.owner {
        OwnerChoice::Requester => "the requester's",
        OwnerChoice::Approver => "the approver's",
        OwnerChoice::Integration => "the integration user's (salesforce.owner)",
    };
    let summary = format!(
        "{} of {total} Slack members{capped} map to an active Salesforce user; creates are {owner}",
        total - missing.len()
    );
    if missing.is_empty() {
        return Check::ok(SALESFORCE, NAME, summary);
    }
    let mut named: Vec<String> = missing.iter().take(NAMED).cloned().collect();
    if missing.len() > NAMED {
        named.push(format!("and {} more", missing.len() - NAMED));
    }
    let then = match settings.unmapped {
        UnmappedChoice::Integration => "their records go to the integration user",
        UnmappedChoice::Refuse => {
            "their drafts cannot be approved (salesforce.unmapped = \"refuse\")"
        }
    };
    Check::warning(
        SALESFORCE,
        NAME,
        format!("{summary}; not mapped: {}", named.join("; ")),
        format!(
            "{then}: add them to [salesforce.users] in crmbot.toml, or give them a Salesforce user with their Slack email"
        ),
    )
}
