//! `[policy]`: who may do what, written once by an admin. Who may log, ask and approve; when
//! the requester may approve their own draft; the risk tiers that want a named group or two
//! distinct approvers; auto-approval; what answers may show and to whom; which Slack
//! workspace crmbot answers at all. Checked at start-up against the allowed objects, and
//! turned into the pure rules of `domain::policy`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

mod words;
use crate::domain::policy::{Changes, Policy, SelfApproval, Tier, UndoRule, Who};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Slack workspaces (team ids, `T…`) crmbot answers. Empty: the one the bot token
    /// belongs to (as `auth.test` says).
    pub team_ids: Vec<String>,
    /// An Enterprise Grid org (`E…`) all of whose workspaces crmbot answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enterprise_id: Option<String>,
    /// Who may `/crm log`.
    pub log: Vec<Who>,
    /// Who may ask (`/crm ask`, mentions, DMs).
    pub ask: Vec<Who>,
    /// Who may approve, edit or reject anyone's draft outside the risk tiers.
    pub approvers: Vec<Who>,
    pub self_approve: SelfApproveSettings,
    /// Risk tiers. Given here, they replace the default ones whole (`tiers = []`: none).
    pub tiers: Vec<TierSettings>,
    pub auto_approve: AutoApproveSettings,
    pub answers: AnswerSettings,
    pub undo: UndoSettings,
    /// Seconds a user group's members are trusted before Slack is asked again.
    #[serde(with = "super::secs")]
    pub group_ttl: Duration,
}

/// When the requester may approve their own draft (outside the risk tiers).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SelfApproveSettings {
    /// Drafts that create records.
    pub create: bool,
    /// Drafts that change existing records.
    pub update: bool,
    /// Per object (`Account = false`), over `create` and `update`.
    pub objects: BTreeMap<String, bool>,
    /// Per field (`"Opportunity.Amount" = false`), over everything else.
    pub fields: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierSettings {
    /// Shown on the card and in the audit.
    pub name: String,
    pub object: String,
    /// Without it: any record of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The new value is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// `any`, `creates` or `updates`.
    #[serde(default)]
    pub changes: Changes,
    /// A number moving by more than this...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<f64>,
    /// ... or by more than this percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_percent: Option<f64>,
    /// Empty: `[policy].approvers`, or everyone when none are set.
    #[serde(default)]
    pub approvers: Vec<Who>,
    /// Distinct approvers needed.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Whether the requester, when among the approvers, counts as one.
    #[serde(default)]
    pub self_approve: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AutoApproveSettings {
    /// A draft of Tasks only, every value found in the notes, is written without a click.
    pub tasks: bool,
}

/// Undo of a write: for how long the card offers it, and to whom.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UndoSettings {
    /// Seconds after the approval (default 900, 15 minutes); 0 turns Undo off.
    #[serde(with = "super::secs")]
    pub window: Duration,
    /// The person whose approval wrote it may undo it.
    pub approver: bool,
    /// The person who logged it may undo it.
    pub requester: bool,
    /// Anyone else who may, e.g. `["@revops"]`.
    pub also: Vec<Who>,
}

impl Default for UndoSettings {
    fn default() -> Self {
        let rule = crate::domain::policy::UndoRule::default();
        UndoSettings {
            window: rule.window,
            approver: rule.approver,
            requester: rule.requester,
            also: rule.also,
        }
    }
}

/// Where `/crm ask` answers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashAnswers {
    /// Only the asker sees it.
    Asker,
    /// Everyone in the channel.
    Channel,
}

/// Where answers to mentions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionAnswers {
    /// In the mention's thread, for everyone in the channel.
    Thread,
    /// In the thread, seen by the asker only.
    Asker,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerSettings {
    pub slash_command: SlashAnswers,
    pub mentions: MentionAnswers,
    /// Objects answers may show. Empty: every object of `[ask.objects]`.
    pub objects: Vec<String>,
    /// Objects (`Lead`) or fields (`Opportunity.Amount`) answers never show, filter or sort on.
    pub hide: Vec<String>,
    /// These see everything `[ask.objects]` allows, `objects` and `hide` notwithstanding.
    pub unrestricted: Vec<Who>,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            slash_command: SlashAnswers::Asker,
            mentions: MentionAnswers::Thread,
            objects: vec![],
            hide: vec![],
            unrestricted: vec![],
        }
    }
}

impl Default for SelfApproveSettings {
    fn default() -> Self {
        SelfApproveSettings {
            create: true,
            update: true,
            objects: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            team_ids: vec![],
            enterprise_id: None,
            log: vec![Who::Everyone],
            ask: vec![Who::Everyone],
            approvers: vec![],
            self_approve: SelfApproveSettings::default(),
            tiers: vec![TierSettings {
                name: "closing a deal".into(),
                object: "Opportunity".into(),
                field: Some("StageName".into()),
                to: vec!["Closed Won".into(), "Closed Lost".into()],
                changes: Changes::Any,
                over: None,
                over_percent: None,
                approvers: vec![],
                approvals: 1,
                self_approve: false,
            }],
            auto_approve: AutoApproveSettings::default(),
            answers: AnswerSettings::default(),
            undo: UndoSettings::default(),
            group_ttl: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// The policy as it applies: `slack.approvers` (the older key) joined to
    /// `policy.approvers`, and each tier without approvers given those (or everyone).
    pub fn effective_policy(&self) -> PolicySettings {
        let mut p = self.policy.clone();
        for a in &self.slack.approvers {
            if let Ok(who) = Who::parse(a)
                && !p.approvers.contains(&who)
            {
                p.approvers.push(who);
            }
        }
        // The built-in tier stands aside when its object is not allowed.
        let builtin = PolicySettings::default().tiers;
        p.tiers
            .retain(|t| self.objects.contains_key(&t.object) || !builtin.contains(t));
        let fallback = if p.approvers.is_empty() {
            vec![Who::Everyone]
        } else {
            p.approvers.clone()
        };
        for t in &mut p.tiers {
            if t.approvers.is_empty() {
                t.approvers = fallback.clone();
            }
        }
        p
    }

    /// The pure rules of the effective policy.
    pub fn policy_rules(&self) -> Policy {
        let p = self.effective_policy();
        Policy {
            log: p.log,
            ask: p.ask,
            approvers: p.approvers,
            self_approve: SelfApproval {
                create: p.self_approve.create,
                update: p.self_approve.update,
                objects: p.self_approve.objects,
                fields: p.self_approve.fields,
            },
            tiers: p
                .tiers
                .into_iter()
                .map(|t| Tier {
                    name: t.name,
                    object: t.object,
                    field: t.field,
                    to: t.to,
                    changes: t.changes,
                    over: t.over,
                    over_percent: t.over_percent,
                    approvers: t.approvers,
                    approvals: t.approvals,
                    self_approve: t.self_approve,
                })
                .collect(),
            auto_approve_tasks: p.auto_approve.tasks,
            undo: UndoRule {
                window: p.undo.window,
                approver: p.undo.approver,
                requester: p.undo.requester,
                also: p.undo.also,
            },
        }
    }

    /// Checks `[policy]` against the allowed objects: every name must mean something, and
    /// no draft may be left without anyone who can approve it.
    pub(super) fn check_policy(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        for a in &self.slack.approvers {
            if let Err(e) = Who::parse(a) {
                return invalid("slack.approvers".into(), e);
            }
        }
        let p = self.effective_policy();
        for t in &p.team_ids {
            if !t.starts_with('T') || t.len() < 3 {
                return invalid(
                    "policy.team_ids".into(),
                    format!("'{t}' is not a Slack team id (T…)"),
                );
            }
        }
        if let Some(e) = &p.enterprise_id
            && (!e.starts_with('E') || e.len() < 3)
        {
            return invalid(
                "policy.enterprise_id".into(),
                format!("'{e}' is not an Enterprise Grid id (E…)"),
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, t) in p.tiers.iter().enumerate() {
            let key = |k: &str| format!("policy.tiers[{i}] (\"{}\").{k}", t.name);
            if t.name.trim().is_empty() {
                return invalid(
                    format!("policy.tiers[{i}].name"),
                    "every tier needs a name; the card shows it".into(),
                );
            }
            if names.iter().any(|n| n.eq_ignore_ascii_case(&t.name)) || t.name == "standard" {
                return invalid(key("name"), format!("'{}' is used twice", t.name));
            }
            names.push(&t.name);
            self.check_field(&t.object, t.field.as_deref(), &key("object"))?;
            if t.field.is_none()
                && (!t.to.is_empty() || t.over.is_some() || t.over_percent.is_some())
            {
                return invalid(
                    key("field"),
                    "`to`, `over` and `over_percent` are about a field: name it".into(),
                );
            }
            if t.over.is_some_and(|o| o < 0.0) || t.over_percent.is_some_and(|o| o < 0.0) {
                return invalid(key("over"), "must be 0 or more".into());
            }
            if !(1..=10).contains(&t.approvals) {
                return invalid(key("approvals"), "must be 1 to 10".into());
            }
            let only_people = t.approvers.iter().all(|w| matches!(w, Who::User(_)));
            if only_people && (t.approvers.len() as u32) < t.approvals {
                return invalid(
                    key("approvals"),
                    format!(
                        "{} distinct approvers are needed but only {} people are named",
                        t.approvals,
                        t.approvers.len()
                    ),
                );
            }
        }
        let s = &p.self_approve;
        for object in s.objects.keys() {
            self.check_field(object, None, "policy.self_approve.objects")?;
        }
        for path in s.fields.keys() {
            let Some((object, field)) = path.split_once('.') else {
                return invalid(
                    "policy.self_approve.fields".into(),
                    format!("'{path}' is not Object.Field (e.g. \"Opportunity.Amount\")"),
                );
            };
            self.check_field(object, Some(field), "policy.self_approve.fields")?;
        }
        let restricted = !s.create
            || !s.update
            || s.objects.values().any(|v| !v)
            || s.fields.values().any(|v| !v);
        if restricted && p.approvers.is_empty() {
            return invalid(
                "policy.approvers".into(),
                "policy.self_approve keeps requesters from approving some drafts, so someone else must: name approvers (user ids, @user-groups or \"everyone\")".into(),
            );
        }
        let a = &p.answers;
        for object in &a.objects {
            if !self.ask.objects.contains_key(object) {
                return invalid(
                    "policy.answers.objects".into(),
                    format!(
                        "'{object}' is not a queryable object ([ask.objects] has {})",
                        self.ask
                            .objects
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        for h in &a.hide {
            let (object, field) = h
                .split_once('.')
                .map_or((h.as_str(), None), |(o, f)| (o, Some(f)));
            let known = self
                .ask
                .objects
                .get(object)
                .is_some_and(|o| field.is_none_or(|f| o.fields.iter().any(|x| x == f)));
            if !known {
                return invalid(
                    "policy.answers.hide".into(),
                    format!("'{h}' is not a queryable object or Object.Field of [ask.objects]"),
                );
            }
        }
        if p.group_ttl < Duration::from_secs(10) {
            return invalid("policy.group_ttl".into(), "at least 10 seconds".into());
        }
        Ok(())
    }

    /// `object` must be allowed (and `field` one of its fields).
    fn check_field(&self, object: &str, field: Option<&str>, key: &str) -> Result<(), ConfigError> {
        let Some(o) = self.objects.get(object) else {
            return Err(ConfigError::Invalid {
                key: key.into(),
                message: format!(
                    "'{object}' is not an allowed object (allowed: {})",
                    self.objects.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        if let Some(f) = field
            && !o.fields.iter().any(|x| x == f)
        {
            return Err(ConfigError::Invalid {
                key: key.into(),
                message: format!(
                    "'{f}' is not a field crmbot may write on {object} (objects.{object}.fields: {})",
                    o.fields.join(", ")
                ),
            });
        }
        Ok(())
    }
}
