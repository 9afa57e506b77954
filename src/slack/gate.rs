//! Which Slack workspace crmbot answers, and who may log or ask, checked before any work:
//! a request signed with the right secret can still come from another workspace (an app
//! distributed to several, a shared signing secret, a replay), and it must do nothing — a
//! 200 with a short refusal and a log line, no model call, no Salesforce call, no write.
//! By default the workspace is the one `auth.test` names for the bot token.

use serde_json::Value;
use tracing::warn;

use super::app::SlackApp;
use super::web::BotIdentity;
use crate::config::PolicySettings;
use crate::domain::policy::Who;
use crate::flow::storage::{AuditEntry, AuditKind};

/// What a request from another workspace is told.
pub const FOREIGN: &str = "crmbot is not set up for this Slack workspace; nothing was done.";

/// The workspaces (and Enterprise Grid org) crmbot answers.
#[derive(Debug, Clone, Default)]
pub struct Workspaces {
    teams: Vec<String>,
    enterprise: Option<String>,
}

impl Workspaces {
    /// `policy.team_ids` (else the bot token's own workspace) and `policy.enterprise_id`.
    pub fn new(policy: &PolicySettings, bot: &BotIdentity) -> Workspaces {
        let teams = if policy.team_ids.is_empty() {
            vec![bot.team_id.clone()]
        } else {
            policy.team_ids.clone()
        };
        if teams.iter().all(String::is_empty) && policy.enterprise_id.is_none() {
            warn!(
                "auth.test named no team id and policy.team_ids is empty: every request will be refused"
            );
        }
        Workspaces {
            teams: teams.into_iter().filter(|t| !t.is_empty()).collect(),
            enterprise: policy.enterprise_id.clone(),
        }
    }

    /// True when a request from this team (or Enterprise Grid org) may be answered; a log
    /// line says why not otherwise.
    pub fn admit(&self, kind: &str, team: Option<&str>, enterprise: Option<&str>) -> bool {
        let by_team = team.is_some_and(|t| self.teams.iter().any(|x| x == t));
        let by_org = self.enterprise.is_some() && enterprise == self.enterprise.as_deref();
        if !(by_team || by_org) {
            warn!(
                kind,
                team = team.unwrap_or("-"),
                enterprise = enterprise.unwrap_or("-"),
                "request from another Slack workspace refused; nothing done"
            );
        }
        by_team || by_org
    }

    /// The team and enterprise ids of an interaction payload or an event envelope.
    pub fn ids(payload: &Value) -> (Option<&str>, Option<&str>) {
        let first = |paths: &[&[&str]]| {
            paths.iter().find_map(|path| {
                let mut cur = payload;
                for p in *path {
                    cur = cur.get(*p)?;
                }
                cur.as_str().filter(|s| !s.is_empty())
            })
        };
        let team = first(&[&["team_id"], &["team", "id"], &["user", "team_id"]]);
        let enterprise = first(&[
            &["enterprise_id"],
            &["enterprise", "id"],
            &["team", "enterprise_id"],
        ])
        .or_else(|| {
            payload["authorizations"][0]["enterprise_id"]
                .as_str()
                .filter(|s| !s.is_empty())
        });
        (team, enterprise)
    }
}

/// True when the policy's list certainly leaves `user` out: not named, and no user group
/// to ask about (the answer can then be given at once, before any job starts).
pub fn certainly_out(list: &[Who], user: &str) -> bool {
    let named = list.iter().any(|w| match w {
        Who::Everyone => true,
        Who::User(u) => u == user,
        Who::Group(_) => false,
    });
    !named && !list.iter().any(Who::is_group)
}

/// Audits a request the policy refused (who, what, the rule) under a fresh id.
pub fn audit_refusal(app: &SlackApp, what: &str, user: &str, rule: &str, reason: &str) {
    let id = format!("{what}-{}", crate::flow::action::new_id());
    let entry = AuditEntry {
        action_id: id,
        kind: AuditKind::Refused,
        actor: Some(user.to_string()),
        summary: format!("{what} by {user} refused by the policy ({rule})"),
        detail: serde_json::json!({"rule": rule, "reason": reason}),
    };
    if let Err(e) = app.store.audit.append(entry) {
        warn!(error = %e, "audit record could not be stored");
    }
}
