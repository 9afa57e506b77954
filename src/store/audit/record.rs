//! What the audit log stores: the caller's [`AuditEntry`], the stored [`AuditRecord`] around
//! it, the kinds of event, and the [`AuditFilter`] for listing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditError, record_hash};

/// What happened to a pending action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A draft was made from notes (detail: notes, prompt, raw model reply, validated draft).
    Drafted,
    /// A person changed the draft (a new revision).
    Edited,
    /// Someone clicked Approve (whether or not they may).
    ApproveRequested,
    /// An approval the policy counted, with more still wanted (detail: the rule, who
    /// approved so far, what is still needed).
    ApprovalRecorded,
    /// The request about to be sent to Salesforce.
    WriteRequest,
    /// Salesforce accepted the write (detail: the response, record ids).
    Written,
    /// Salesforce refused the write or could not be reached.
    WriteFailed,
    /// Nobody can tell yet whether the write landed (killed mid-request, a timeout, a 5xx,
    /// an unreadable answer); crmbot checks Salesforce before anything else happens.
    WriteUnknown,
    /// A person rejected the draft.
    Rejected,
    /// The draft timed out.
    Expired,
    /// A write whose outcome was unknown was found in Salesforce (or proven absent).
    Reconciled,
    /// A request was refused (e.g. an approval by someone who may not approve; detail: the
    /// policy rule).
    Refused,
    /// A question was answered (detail: who asked, the plan, the SOQL, how many rows — never
    /// the rows).
    Asked,
    /// A prompt's text, stored once (detail: `sha256`, `text`); "drafted" records name it
    /// by its SHA-256 instead of carrying a copy. Belongs to no action.
    Prompt,
    /// Someone clicked Undo and may (detail: what crmbot found in Salesforce, what it will
    /// restore or delete, what it leaves alone and why). Stored before the undo is sent.
    UndoRequested,
    /// Salesforce undid the write (detail: its answer, what was undone and left alone).
    Undone,
    /// Salesforce refused the undo, or nobody can tell whether it landed (detail: why).
    UndoFailed,
}

impl AuditKind {
    pub const ALL: [AuditKind; 17] = [
        AuditKind::Drafted,
        AuditKind::Edited,
        AuditKind::ApproveRequested,
        AuditKind::ApprovalRecorded,
        AuditKind::WriteRequest,
        AuditKind::Written,
        AuditKind::WriteFailed,
        AuditKind::WriteUnknown,
        AuditKind::Rejected,
        AuditKind::Expired,
        AuditKind::Reconciled,
        AuditKind::Refused,
        AuditKind::Asked,
        AuditKind::Prompt,
        AuditKind::UndoRequested,
        AuditKind::Undone,
        AuditKind::UndoFailed,
    ];

    /// The name as stored and hashed (`write_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Drafted => "drafted",
            AuditKind::Edited => "edited",
            AuditKind::ApproveRequested => "approve_requested",
            AuditKind::ApprovalRecorded => "approval_recorded",
            AuditKind::WriteRequest => "write_request",
            AuditKind::Written => "written",
            AuditKind::WriteFailed => "write_failed",
            AuditKind::WriteUnknown => "write_unknown",
            AuditKind::Rejected => "rejected",
            AuditKind::Expired => "expired",
            AuditKind::Reconciled => "reconciled",
            AuditKind::Refused => "refused",
            AuditKind::Asked => "asked",
            AuditKind::Prompt => "prompt",
            AuditKind::UndoRequested => "undo_requested",
            AuditKind::Undone => "undone",
            AuditKind::UndoFailed => "undo_failed",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller records; [`AuditLog::append`](super::AuditLog::append) adds the sequence number, time and hashes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// The pending action's id.
    pub action_id: String,
    pub kind: AuditKind,
    /// Slack user id of whoever caused the event; `None` for system events such as expiry.
    pub actor: Option<String>,
    /// One line for people, e.g. "Created Lead Daniel Reed (00Q...)".
    pub summary: String,
    /// Everything else: notes, prompt, raw model reply, validated payload, Salesforce request
    /// and response. Never secrets.
    pub detail: Value,
}

impl AuditEntry {
    /// An entry without actor or detail.
    pub fn new(action_id: impl Into<String>, kind: AuditKind, summary: impl Into<String>) -> Self {
        AuditEntry {
            action_id: action_id.into(),
            kind,
            actor: None,
            summary: summary.into(),
            detail: Value::Null,
        }
    }

    /// Sets the actor (a Slack user id).
    pub fn by(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored record: the entry plus its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// 1, 2, 3... without gaps.
    pub seq: u64,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// The previous record's `hash` ([`GENESIS_HASH`](super::GENESIS_HASH) for record 1).
    pub prev_hash: String,
    /// See [`record_hash`]; for a keyed record, [`keyed_hash`](super::keyed_hash).
    pub hash: String,
    /// Sealed with the chain key (HMAC) rather than plain SHA-256.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyed: bool,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl AuditRecord {
    /// The hash this record should carry, from its other fields (plain records).
    pub fn computed_hash(&self) -> Result<String, AuditError> {
        Ok(record_hash(
            self.seq,
            &self.at,
            &self.prev_hash,
            &self.entry,
        )?)
    }

    /// The hash this record should carry: keyed records need the key (`None` without it).
    pub fn expected_hash(&self, key: Option<&[u8]>) -> Result<Option<String>, AuditError> {
        match (self.keyed, key) {
            (false, _) => self.computed_hash().map(Some),
            (true, Some(key)) => Ok(Some(super::keyed_hash(
                key,
                self.seq,
                &self.at,
                &self.prev_hash,
                &self.entry,
            )?)),
            (true, None) => Ok(None),
        }
    }
}

/// Which records [`AuditLog::list`](super::AuditLog::list) returns. Every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Records appended at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records whose actor is this Slack user id.
    pub user: Option<String>,
    /// Records of this pending action.
    pub action_id: Option<String>,
    /// At most this many: the most recent matches (still returned oldest first).
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// Whether `record` passes `since`, `user` and `action_id` (`limit` is not per record).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.since.is_none_or(|t| record.at >= t)
            && self
                .user
                .as_deref()
                .is_none_or(|u| record.entry.actor.as_deref() == Some(u))
            && self
                .action_id
                .as_deref()
                .is_none_or(|a| record.entry.action_id == a)
    }
}
