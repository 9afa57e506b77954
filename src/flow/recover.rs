//! After the database lost its tail (a crash at the wrong moment, an older copy restored),
//! `crmbot audit recover` puts the missing audit records back from the mirror; this module
//! then brings the actions in line with them. The audit is the story of every action, so
//! replaying the restored records says what state each was really in. An approval with no
//! recorded outcome becomes Unknown: crmbot looks for its write in Salesforce at start-up,
//! and never sends it again blindly.

use chrono::Duration;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::action::{Attempt, Edit, PendingAction, Place, WriteFailure, Written};
use super::policy::ApprovalRecord;
use super::proposal::Proposal;
use crate::domain::action::ActionState;
use crate::flow::storage::{AuditKind, AuditRecord, Store, StoreError, Update};

/// One action the replay changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub id: String,
    /// The state it had in the database (`None`: the database had lost it entirely).
    pub before: Option<ActionState>,
    pub after: ActionState,
}

/// Applies `restored` (in order) to the actions they are about. `expire_after_days` dates
/// drafts the database had lost whole.
pub fn apply(
    store: &Store,
    restored: &[AuditRecord],
    expire_after_days: u32,
) -> Result<Vec<Recovered>, StoreError> {
    let actions = super::actions::action_records(store)?;
    let mut ids: Vec<&str> = restored
        .iter()
        .map(|r| r.entry.action_id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    ids.dedup();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for id in ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let story: Vec<&AuditRecord> = restored
            .iter()
            .filter(|r| r.entry.action_id == id)
            .collect();
        let before = actions.get(id)?;
        let Some(after) = replay(before.clone(), &story, expire_after_days) else {
            continue;
        };
        let state = after.state;
        match &before {
            Some(_) => {
                // The closure always sets, so there is no refusal to handle.
                let _ = actions.update(id, |_| Ok::<_, ()>(Update::Set(after.clone(), ())))?;
            }
            None => actions.insert_new(id, &after)?,
        }
        out.push(Recovered {
            id: id.to_string(),
            before: before.map(|b| b.state),
            after: state,
        });
    }
    Ok(out)
}

/// The action as these records leave it; `None` when they say nothing it can be built from.
pub fn replay(
    mut action: Option<PendingAction>,
    story: &[&AuditRecord],
    expire_after_days: u32,
) -> Option<PendingAction> {
    for record in story {
        let d = &record.entry.detail;
        let actor = record.entry.actor.clone();
        let at = record.at;
        if record.entry.kind == AuditKind::Drafted && action.is_none() {
            action = Some(PendingAction {
                id: record.entry.action_id.clone(),
                revision: 1,
                state: ActionState::Drafted,
                requester: actor.clone().unwrap_or_default(),
                place: field::<Place>(d, "place")?,
                // The card's message was not recorded: its card cannot be redrawn.
                card_ts: None,
                notes: d["notes"].as_str().unwrap_or_default().to_string(),
                proposal: field::<Proposal>(d, "proposal")?,
                meeting_task: d["meeting_task"].as_bool().unwrap_or(true),
                created_at: at,
                updated_at: at,
                expires_at: field(d, "expires_at")
                    .unwrap_or(at + Duration::days(i64::from(expire_after_days))),
                decided_by: None,
                decided_at: None,
                edits: vec![],
                written: vec![],
                error: None,
                attempts: 0,
                attempt: None,
                assessment: None,
                approvals: vec![],
                owner: field(d, "owner"),
                undo: None,
            });
            continue;
        }
        let Some(a) = action.as_mut() else {
            continue;
        };
        a.updated_at = at;
        match record.entry.kind {
            AuditKind::Edited => {
                if let (Some(revision), Some(proposal)) =
                    (d["revision"].as_u64(), field::<Proposal>(d, "proposal"))
                {
                    a.revision = revision as u32;
                    a.proposal = proposal;
                    a.state = ActionState::Drafted;
                    a.approvals.clear();
                    a.edits.push(Edit {
                        by: actor.unwrap_or_default(),
                        at,
                        revision: a.revision,
                    });
                }
            }
            AuditKind::ApproveRequested => {
                // Until an outcome follows, nobody knows whether Salesforce holds it.
                a.state = ActionState::Unknown;
                a.decided_by = actor;
                a.decided_at = Some(at);
                a.attempts += 1;
                if let Some(owner) = field(d, "owner") {
                    a.owner = Some(owner);
                }
                a.attempt = field::<Attempt>(d, "attempt").map(|mut t| {
                    t.doubt = Some("crmbot's database lost the outcome of this write".into());
                    t
                });
            }
            AuditKind::ApprovalRecorded => {
                if let Some(approval) = field::<ApprovalRecord>(d, "approval") {
                    a.approvals.push(approval);
                }
                a.state = ActionState::PartlyApproved;
            }
            AuditKind::WriteUnknown => a.state = ActionState::Unknown,
            AuditKind::Written => {
                a.state = ActionState::Done;
                a.written = field::<Vec<Written>>(d, "written").unwrap_or_default();
            }
            AuditKind::WriteFailed => {
                a.state = ActionState::Failed;
                a.error = field::<WriteFailure>(d, "error");
            }
            AuditKind::Rejected => {
                a.state = ActionState::Rejected;
                a.decided_by = actor;
                a.decided_at = Some(at);
            }
            AuditKind::Expired => a.state = ActionState::Expired,
            // An undo asked for and not known to have finished: the next Undo reads first.
            AuditKind::UndoRequested => a.state = ActionState::UndoUnknown,
            AuditKind::Undone => {
                a.state = ActionState::Undone;
                a.undo = field(d, "undo");
            }
            AuditKind::UndoFailed => {
                a.undo = field(d, "undo");
                a.state = match a.undo.as_ref().and_then(|u| u.doubt.as_ref()) {
                    Some(_) => ActionState::UndoUnknown,
                    None => ActionState::Done,
                };
            }
            AuditKind::Drafted
            | AuditKind::WriteRequest
            | AuditKind::Reconciled
            | AuditKind::Refused
            | AuditKind::Asked
            | AuditKind::Prompt => {}
        }
    }
    action
}

fn field<T: DeserializeOwned>(detail: &Value, name: &str) -> Option<T> {
    serde_json::from_value(detail.get(name)?.clone()).ok()
}
