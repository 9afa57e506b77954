//! The approval policy as pure rules, so every front end and the audit agree on who may do
//! what: who may log and ask, which risk tier a draft falls in (by object, field and the
//! change it makes), which approvals it still needs, and whether it may be written without
//! a click. Slack user groups are asked of the caller through a closure, never looked up
//! here.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod judge;
#[cfg(test)]
mod tests;

pub use judge::{Given, Refusal, Verdict, eligible, judge, may_decide, still_needed};

/// Someone a rule names: everyone in the workspace, one Slack user, or a Slack user group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Who {
    Everyone,
    /// A Slack user id (`U012ABC`, `W012ABC`).
    User(String),
    /// A Slack user group, by id (`S012ABC`) or by handle (`@sales-managers`).
    Group(String),
}

impl Who {
    /// `everyone`, a user id (`U…`/`W…`), a group id (`S…`) or a group handle (`@handle`).
    pub fn parse(text: &str) -> Result<Who, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("everyone") {
            return Ok(Who::Everyone);
        }
        if let Some(handle) = t.strip_prefix('@') {
            let ok = !handle.is_empty()
                && handle
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
            return if ok {
                Ok(Who::Group(format!("@{}", handle.to_lowercase())))
            } else {
                Err(format!(
                    "'{t}' is not a user group handle such as @sales-managers"
                ))
            };
        }
        // Loose on purpose: a stored draft names its requester this way, and a draft that
        // cannot be read back cannot be approved.
        let id_like = t.len() >= 2
            && t.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        match t.chars().next() {
            Some('U' | 'W') if id_like => Ok(Who::User(t.to_string())),
            Some('S') if id_like => Ok(Who::Group(t.to_string())),
            _ => Err(format!(
                "'{t}' is not \"everyone\", a Slack user id (U…), a user group id (S…) or a group handle (@sales-managers)"
            )),
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, Who::Group(_))
    }
}

impl TryFrom<String> for Who {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Who::parse(&s)
    }
}

impl From<Who> for String {
    fn from(w: Who) -> String {
        w.to_string()
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Everyone => f.write_str("everyone"),
            Who::User(u) => f.write_str(u),
            Who::Group(g) => f.write_str(g),
        }
    }
}

/// Whether `user` is named by `list`; `member(group)` answers for groups.
pub fn names(list: &[Who], user: &str, member: &dyn Fn(&str) -> bool) -> bool {
    list.iter().any(|w| match w {
        Who::Everyone => true,
        Who::User(u) => u == user,
        Who::Group(g) => member(g),
    })
}

/// Which changes a tier is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Changes {
    #[default]
    Any,
    Creates,
    Updates,
}

/// A risk tier: the changes it is about, and the approvals they need.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Shown on the card and in the audit (`closing a deal`); unique.
    pub name: String,
    pub object: String,
    /// `None`: any record of the object.
    pub field: Option<String>,
    /// The new value is one of these (picklists: `Closed Won`), compared without case.
    pub to: Vec<String>,
    pub changes: Changes,
    /// The number moves by more than this (absolute)...
    pub over: Option<f64>,
    /// ... or by more than this percentage of the old value (from nothing: always).
    pub over_percent: Option<f64>,
    pub approvers: Vec<Who>,
    /// Distinct approvers needed.
    pub approvals: u32,
    /// Whether the requester, when among the approvers, counts as one.
    pub self_approve: bool,
}

/// Whether the requester may approve their own draft: by kind of change, then per object,
/// then per field (`Object.Field`), the most specific setting winning.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfApproval {
    pub create: bool,
    pub update: bool,
    pub objects: BTreeMap<String, bool>,
    pub fields: BTreeMap<String, bool>,
}

impl Default for SelfApproval {
    fn default() -> Self {
        SelfApproval {
            create: true,
            update: true,
            objects: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }
}

/// The whole policy, as rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub log: Vec<Who>,
    pub ask: Vec<Who>,
    /// May approve anyone's draft in the standard tier (and decide on any draft).
    pub approvers: Vec<Who>,
    pub self_approve: SelfApproval,
    pub tiers: Vec<Tier>,
    /// A draft of Tasks only, every value from the notes, is written without a click.
    pub auto_approve_tasks: bool,
    pub undo: UndoRule,
}

/// When a write may be undone, and by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct UndoRule {
    /// How long after the approval Undo is offered; zero: never.
    pub window: std::time::Duration,
    /// The person whose approval wrote it.
    pub approver: bool,
    /// The person who logged it.
    pub requester: bool,
    /// Anyone else it names.
    pub also: Vec<Who>,
}

impl Default for UndoRule {
    fn default() -> Self {
        UndoRule {
            window: std::time::Duration::from_secs(15 * 60),
            approver: true,
            requester: true,
            also: vec![],
        }
    }
}

impl UndoRule {
    /// Whether `user` may undo a write `requester` logged and `approvers` approved.
    pub fn allows(
        &self,
        user: &str,
        requester: &str,
        approvers: &[&str],
        member: &dyn Fn(&str) -> bool,
    ) -> bool {
        (self.requester && user == requester)
            || (self.approver && approvers.contains(&user))
            || names(&self.also, user, member)
    }

    /// The window in words ("15 minute(s)").
    pub fn window_words(&self) -> String {
        let secs = self.window.as_secs();
        if secs.is_multiple_of(60) {
            format!("{} minute(s)", secs / 60)
        } else {
            format!("{secs} second(s)")
        }
    }

    /// Who may undo, in words for a refusal.
    pub fn who(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.approver {
            parts.push("whoever approved it".into());
        }
        if self.requester {
            parts.push("whoever logged it".into());
        }
        parts.extend(self.also.iter().map(|w| w.to_string()));
        match parts.len() {
            0 => "nobody".into(),
            _ => parts.join(", "),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            log: vec![Who::Everyone],
            ask: vec![Who::Everyone],
            approvers: vec![],
            self_approve: SelfApproval::default(),
            tiers: vec![],
            auto_approve_tasks: false,
            undo: UndoRule::default(),
        }
    }
}

/// One value a draft sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    /// The current value (updates; `None` on a create or when empty).
    pub old: Option<Value>,
    pub new: Value,
}

/// One record of a draft, as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFacts {
    pub object: String,
    pub create: bool,
    /// The values it writes (an update: only those that change).
    pub changes: Vec<Change>,
    /// Every value it writes was found in the notes.
    pub grounded: bool,
}

/// What must happen before a draft is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// `standard`, or the tier's name.
    pub rule: String,
    /// Why it applies, in words (`Opportunity StageName to Closed Won`).
    pub because: Option<String>,
    pub approvers: Vec<Who>,
    pub approvals: u32,
    /// Whether the requester counts.
    pub self_approve: bool,
    /// The setting that lets the requester in or keeps them out.
    #[serde(default)]
    pub self_rule: Option<String>,
}

/// The policy's reading of one revision of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub requirements: Vec<Requirement>,
    /// `Some(rule)`: written without a click under this rule.
    #[serde(default)]
    pub auto: Option<String>,
}

impl Assessment {
    /// True when no risk tier applies.
    pub fn is_standard(&self) -> bool {
        self.requirements.iter().all(|r| r.rule == STANDARD)
    }
}

/// The rule name of a draft no tier applies to.
pub const STANDARD: &str = "standard";
/// The rule that writes Task-only grounded drafts without a click.
pub const AUTO_TASKS: &str = "auto_approve.tasks";

impl Policy {
    /// The requirements of a draft by `requester` with these records.
    pub fn assess(&self, requester: &str, records: &[RecordFacts], blocked: bool) -> Assessment {
        let mut requirements: Vec<Requirement> = Vec::new();
        for tier in &self.tiers {
            let hit = records.iter().find_map(|r| tier.matches(r));
            if let Some(because) = hit {
                requirements.push(Requirement {
                    rule: tier.name.clone(),
                    because: Some(because),
                    approvers: tier.approvers.clone(),
                    approvals: tier.approvals.max(1),
                    self_approve: tier.self_approve,
                    self_rule: Some(format!("tier \"{}\" self_approve", tier.name)),
                });
            }
        }
        let auto = (self.auto_approve_tasks
            && requirements.is_empty()
            && !blocked
            && !records.is_empty()
            && records
                .iter()
                .all(|r| r.object == "Task" && r.create && r.grounded))
        .then(|| AUTO_TASKS.to_string());
        if requirements.is_empty() {
            let (allowed, setting) = self.self_approve.settle(records);
            let mut approvers = self.approvers.clone();
            if allowed {
                approvers.push(Who::User(requester.to_string()));
            }
            requirements.push(Requirement {
                rule: STANDARD.into(),
                because: None,
                approvers,
                approvals: 1,
                self_approve: allowed,
                self_rule: Some(setting),
            });
        }
        Assessment { requirements, auto }
    }
}

impl SelfApproval {
    /// The setting that keeps the requester from approving these records, if any.
    pub fn forbids(&self, records: &[RecordFacts]) -> Option<String> {
        match self.settle(records) {
            (false, rule) => Some(rule),
            (true, _) => None,
        }
    }

    /// Whether the requester may approve these records, and the setting(s) that say so: the
    /// first that forbids, or every one that allows.
    pub fn settle(&self, records: &[RecordFacts]) -> (bool, String) {
        let mut allowing: Vec<String> = Vec::new();
        for r in records {
            let decided: Vec<(bool, String)> = if r.changes.is_empty() {
                vec![self.by_kind(r.create)]
            } else {
                r.changes
                    .iter()
                    .map(|c| {
                        let key = format!("{}.{}", r.object, c.field);
                        if let Some(v) = lookup(&self.fields, &key) {
                            (v, format!("self_approve.fields.\"{key}\""))
                        } else if let Some(v) = lookup(&self.objects, &r.object) {
                            (v, format!("self_approve.objects.{}", r.object))
                        } else {
                            self.by_kind(r.create)
                        }
                    })
                    .collect()
            };
            for (allowed, rule) in decided {
                if !allowed {
                    return (false, rule);
                }
                if !allowing.contains(&rule) {
                    allowing.push(rule);
                }
            }
        }
        if allowing.is_empty() {
            allowing.push("self_approve.create".into());
        }
        (true, allowing.join(", "))
    }

    fn by_kind(&self, create: bool) -> (bool, String) {
        if create {
            (self.create, "self_approve.create".into())
        } else {
            (self.update, "self_approve.update".into())
        }
    }
}

fn lookup(map: &BTreeMap<String, bool>, key: &str) -> Option<bool> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| *v)
}

impl Tier {
    /// `Some(words)` when the record makes a change this tier is about.
    pub fn matches(&self, r: &RecordFacts) -> Option<String> {
        if !r.object.eq_ignore_ascii_case(&self.object) {
            return None;
        }
        match self.changes {
            Changes::Creates if !r.create => return None,
            Changes::Updates if r.create => return None,
            _ => {}
        }
        let verb = if r.create { "new" } else { "changing" };
        let Some(field) = &self.field else {
            return Some(format!("{verb} {}", r.object));
        };
        let c = r
            .changes
            .iter()
            .find(|c| c.field.eq_ignore_ascii_case(field))?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !self.to.is_empty() {
            let new = text(&c.new);
            if !self.to.iter().any(|t| t.eq_ignore_ascii_case(new.trim())) {
                return None;
            }
        }
        if self.over.is_some() || self.over_percent.is_some() {
            let new = c.new.as_f64()?;
            let old = c.old.as_ref().and_then(Value::as_f64).unwrap_or(0.0);
            let delta = (new - old).abs();
            let by_amount = self.over.is_some_and(|o| delta > o);
            let by_share = self.over_percent.is_some_and(|p| {
                if old == 0.0 {
                    delta > 0.0
                } else {
                    delta / old.abs() * 100.0 > p
                }
            });
            if !(by_amount || by_share) {
                return None;
            }
        }
        let from = c
            .old
            .as_ref()
            .filter(|o| !o.is_null())
            .map_or(String::new(), |o| format!(" from {}", text(o)));
        Some(format!(
            "{} {}{from} to {}",
            r.object,
            c.field,
            text(&c.new)
        ))
    }
}
