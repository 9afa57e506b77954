//! Builders for proposals and actions in unit tests.

use chrono::{NaiveDate, Utc};
use serde_json::Value;

use super::action::{PendingAction, Place};
use super::proposal::{
    LlmSummary, Proposal, ProposedField, ProposedLink, ProposedRecord, SalesforceSummary,
};
use crate::domain::action::ActionState;

pub fn field(name: &str, value: Value) -> ProposedField {
    ProposedField {
        name: name.into(),
        label: name.into(),
        display: value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string),
        value,
        old: None,
        include: true,
        changed: true,
        added: None,
        evidence: None,
    }
}

pub fn record(object: &str, action: &str, fields: Vec<ProposedField>) -> ProposedRecord {
    ProposedRecord {
        object: object.into(),
        label: object.into(),
        action: action.into(),
        id: None,
        url: None,
        name: None,
        matched_by: None,
        fields,
        links: vec![],
        candidates: vec![],
        issues: vec![],
        blocked: false,
    }
}

pub fn link(
    field: &str,
    object: &str,
    status: &str,
    id: Option<&str>,
    record: Option<usize>,
) -> ProposedLink {
    ProposedLink {
        field: field.into(),
        object: object.into(),
        status: status.into(),
        id: id.map(str::to_string),
        record,
        lookup: None,
        candidates: vec![],
    }
}

pub fn action(records: Vec<ProposedRecord>, meeting_task: bool) -> PendingAction {
    let now = Utc::now();
    PendingAction {
        id: "abc123def456".into(),
        revision: 1,
        state: ActionState::Drafted,
        requester: "U1".into(),
        place: Place {
            channel: "C1".into(),
            thread_ts: None,
            source: None,
        },
        card_ts: None,
        notes: "Met Priya at Globex about the renewal.\nMore lines.".into(),
        proposal: Proposal {
            version: 1,
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            records,
            issues: vec![],
            blocked: false,
            llm: LlmSummary::new("rules".into(), &[]),
            salesforce: SalesforceSummary::default(),
        },
        meeting_task,
        created_at: now,
        updated_at: now,
        expires_at: now,
        decided_by: None,
        decided_at: None,
        edits: vec![],
        written: vec![],
        error: None,
        attempts: 0,
        attempt: None,
        assessment: None,
        approvals: vec![],
        owner: None,
        undo: None,
    }
}
