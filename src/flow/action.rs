//! The pending action: one `/crm log` from draft to Salesforce, as stored in sled. It holds
//! everything the card shows and everything the write needs, so a restart loses nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::people::Owner;
use super::policy::ApprovalRecord;
use super::proposal::Proposal;
use crate::domain::action::ActionState;
use crate::domain::policy::Assessment;

/// Where the card lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub channel: String,
    /// The thread the command was run in, if any; the card goes there.
    pub thread_ts: Option<String>,
    /// A link to the Slack message or thread the notes came from ("Log to CRM").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAction {
    /// Short random id; with the record index, also the idempotency key of each create.
    pub id: String,
    /// 1 for the model's draft, +1 for every edit.
    pub revision: u32,
    pub state: ActionState,
    /// Slack user id of the person who ran `/crm log`.
    pub requester: String,
    pub place: Place,
    /// The card's message ts, once posted.
    pub card_ts: Option<String>,
    pub notes: String,
    pub proposal: Proposal,
    /// Whether approval also logs the meeting as a Task.
    pub meeting_task: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Who approved or rejected, and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Edits, newest last: who and when.
    pub edits: Vec<Edit>,
    /// What the write created or updated (Done).
    pub written: Vec<Written>,
    /// Why the last write failed (Failed).
    pub error: Option<WriteFailure>,
    /// Write attempts so far.
    pub attempts: u32,
    /// The last write attempt: when it began and how to recognise it in Salesforce. Stored
    /// (durably) before the request leaves, so a restart knows what to look for.
    #[serde(default)]
    pub attempt: Option<Attempt>,
    /// The policy's reading of the current revision (its tier, the approvals it wants),
    /// refreshed on every decision; the card explains it.
    #[serde(default)]
    pub assessment: Option<Assessment>,
    /// Approvals given, each to one revision (an edit leaves the earlier ones behind).
    #[serde(default)]
    pub approvals: Vec<ApprovalRecord>,
    /// Whose Salesforce User owns what this action creates (`salesforce.owner`): decided
    /// by code when drafted (requester) or approved (approver); `None`: the integration
    /// user, by choice.
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The undo of the write, once someone asked for it (Undoing, Undone, UndoUnknown, or
    /// Done again after Salesforce refused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<UndoReport>,
}

/// An undo of a write: who asked, and what came of it, record by record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoReport {
    pub by: String,
    pub at: DateTime<Utc>,
    /// Records restored or deleted (or found so already, after an undo nobody could prove).
    #[serde(default)]
    pub undone: Vec<UndoLine>,
    /// Records left alone, each with why (changed in Salesforce since, already deleted).
    #[serde(default)]
    pub left: Vec<UndoLine>,
    /// Why Salesforce refused the undo: nothing was undone.
    #[serde(default)]
    pub error: Option<String>,
    /// Why nobody can tell whether the undo landed (UndoUnknown).
    #[serde(default)]
    pub doubt: Option<String>,
}

/// One record of an undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoLine {
    pub label: String,
    pub name: String,
    pub id: String,
    pub url: String,
    /// What was done, or why not, in words ("deleted", "Stage and Amount restored").
    pub what: String,
}

/// One write attempt, as a later check needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When crmbot began the attempt (its own clock).
    pub started_at: DateTime<Utc>,
    /// The revision approved.
    pub revision: u32,
    /// Records created with a lower `CreatedDate` (Salesforce's clock, with a margin for
    /// skew) cannot be this attempt's.
    pub created_since: DateTime<Utc>,
    /// Every record the write creates carries the org's idempotency key, so sending it again
    /// cannot create a second record.
    pub retry_safe: bool,
    /// How to find each record of the write in Salesforce.
    pub probes: Vec<Probe>,
    /// Why the outcome is unknown (Unknown only), in words for the card.
    #[serde(default)]
    pub doubt: Option<String>,
    /// Checks made so far, and the last one.
    #[serde(default)]
    pub checks: u32,
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
}

/// How to find one record of a write after the fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub object: String,
    pub label: String,
    pub name: String,
    /// `created` or `updated`.
    pub outcome: String,
    pub find: Find,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Find {
    /// A created record carrying the idempotency key: proof by itself.
    Key { field: String, value: String },
    /// A created record without a key: one created since the attempt began with these
    /// values (and, when set, whose `confirm.0` field contains `confirm.1`).
    Values {
        values: serde_json::Map<String, serde_json::Value>,
        #[serde(default)]
        confirm: Option<(String, String)>,
    },
    /// An updated record: it holds these values.
    Id {
        id: String,
        values: serde_json::Map<String, serde_json::Value>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edit {
    pub by: String,
    pub at: DateTime<Utc>,
    pub revision: u32,
}

/// One record the write created or updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub object: String,
    /// The object's label (`Lead`, `Opportunity`).
    pub label: String,
    /// `created` or `updated`.
    pub outcome: String,
    pub id: String,
    /// A human name for the record (`Daniel Reed`).
    pub name: String,
    pub url: String,
}

/// Salesforce's answer to a failed write, for the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteFailure {
    pub message: String,
    /// Salesforce's error code (`REQUIRED_FIELD_MISSING`), when it gave one.
    pub code: Option<String>,
    pub fields: Vec<String>,
    /// The record the error is about (`Lead Daniel Reed`), when known.
    pub record: Option<String>,
    /// True when Salesforce may simply be busy: approving again is worth a try.
    pub transient: bool,
}

impl PendingAction {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.state,
            ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed
        ) && now >= self.expires_at
    }
}

/// The idempotency key of record `index` of action `id` (`m` for the meeting Task).
pub fn record_key(id: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("{id}-{i}"),
        None => format!("{id}-m"),
    }
}

/// The line the meeting Task's Description ends with: where the record came from, in words
/// a person can follow back to the card and the audit.
pub fn provenance(id: &str) -> String {
    format!("Logged from Slack by crmbot (draft {id}).")
}

/// A new action id: 12 lowercase hex characters (48 random bits).
pub fn new_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..12].to_string()
}

/// `created` -> `Created`, for sentences.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The few fields of a stored action the timers look at, read without the rest (notes,
/// proposal, audit of edits). Every tick scans the open actions; read whole, a backlog of a
/// few thousand waiting drafts cost tens of MB at once, which the allocator kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Glance {
    pub id: String,
    pub state: ActionState,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default)]
    attempt: Option<GlanceAttempt>,
    #[serde(default)]
    undo: Option<GlanceUndo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GlanceAttempt {
    started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GlanceUndo {
    at: DateTime<Utc>,
}

impl Glance {
    /// As [`PendingAction::is_expired`].
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.state,
            ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed
        ) && now >= self.expires_at
    }

    /// When the claim of a write or an undo under way was made; `None` when neither is.
    pub fn claimed_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            ActionState::Writing => Some(
                self.attempt
                    .as_ref()
                    .map_or(self.decided_at.unwrap_or(self.updated_at), |t| t.started_at),
            ),
            ActionState::Undoing => Some(self.undo.as_ref().map_or(self.updated_at, |u| u.at)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::flow::testing::action;

    fn glance(a: &PendingAction) -> Glance {
        serde_json::from_value(serde_json::to_value(a).unwrap()).unwrap()
    }

    #[test]
    fn a_glance_reads_what_the_timers_need_as_the_whole_action_says_it() {
        let now = Utc::now();
        let mut a = action(vec![], true);
        a.expires_at = now - Duration::minutes(1);
        assert!(a.is_expired(now));
        assert!(glance(&a).is_expired(now));
        assert_eq!(glance(&a).claimed_at(), None);

        a.state = ActionState::Writing;
        a.decided_at = Some(now - Duration::minutes(3));
        assert_eq!(glance(&a).claimed_at(), a.decided_at, "no attempt recorded");
        a.attempt = Some(Attempt {
            started_at: now - Duration::minutes(2),
            revision: 1,
            created_since: now,
            retry_safe: true,
            probes: vec![],
            doubt: None,
            checks: 0,
            checked_at: None,
        });
        assert!(!glance(&a).is_expired(now));
        assert_eq!(glance(&a).claimed_at(), Some(now - Duration::minutes(2)));
        assert_eq!(glance(&a).id, a.id);
    }
}
