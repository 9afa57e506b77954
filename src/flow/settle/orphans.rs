//! Writes and undos nobody follows any more. The process that claimed one (Writing,
//! Undoing) may have stopped mid-request, and then nobody would ever settle it. With sled
//! (one process) every claim found at start-up is such a one; with a shared store a claim is
//! one once it is older than the write's budget (`WriteSettings::budget`), since a live
//! replica is done with it by then, and the timers' lease holder takes it over. Either way
//! it becomes Unknown (UndoUnknown), audited, and is looked for in Salesforce, never sent
//! again. A writer that was only slow and answers after all still settles it: Unknown to
//! Done or Failed are transitions like any other.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::super::action::PendingAction;
use super::super::actions::{ActionError, Actions};
use crate::domain::action::{ActionState, Event, next};
use crate::flow::storage::{AuditEntry, AuditKind, StoreError, Update};

/// Why a claim is no longer followed, for the card and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::flow) enum Left {
    /// Found at start-up in a store no other process uses.
    Restart,
    /// Older than its budget: its process stopped (another replica, or this one before a
    /// restart).
    Orphaned,
}

impl Left {
    fn words(self, undo: bool) -> String {
        match (self, undo) {
            (Left::Restart, false) => "crmbot stopped while this write was under way",
            (Left::Restart, true) => "crmbot stopped while this undo was under way",
            (Left::Orphaned, false) => "the crmbot process writing this stopped",
            (Left::Orphaned, true) => "the crmbot process undoing this stopped",
        }
        .to_string()
    }
}

/// When the claim of a write or an undo was made (`None`: `a` is not claimed).
fn claimed_at(a: &PendingAction) -> Option<DateTime<Utc>> {
    match a.state {
        ActionState::Writing => Some(
            a.attempt
                .as_ref()
                .map_or(a.decided_at.unwrap_or(a.updated_at), |t| t.started_at),
        ),
        ActionState::Undoing => Some(a.undo.as_ref().map_or(a.updated_at, |u| u.at)),
        _ => None,
    }
}

impl Actions {
    /// On the timers' lease holder, every tick: writes and undos claimed longer ago than
    /// the budget become unknown, and every unknown write in the store joins the ones this
    /// process looks for, so what another replica left is settled here. Returns the
    /// actions taken over, for their cards.
    pub fn adopt_orphans(&self, now: DateTime<Utc>) -> Result<Vec<PendingAction>, ActionError> {
        let budget = Duration::milliseconds(self.writes.budget.as_millis() as i64);
        self.sweep(now - budget, Left::Orphaned)
    }

    /// Every write or undo claimed before `before` made unknown (saying why), and every
    /// unknown write noted for the timer; returns the actions changed.
    pub(super) fn sweep(
        &self,
        before: DateTime<Utc>,
        left: Left,
    ) -> Result<Vec<PendingAction>, ActionError> {
        let mut changed = Vec::new();
        for a in self.glances.open()? {
            if a.state == ActionState::Unknown {
                self.note_unknown(&a.id, true);
            } else if a.claimed_at().is_some_and(|t| t < before)
                && let Some(a) = self.interrupt(&a.id, before, left)?
            {
                if a.state == ActionState::Unknown {
                    self.note_unknown(&a.id, true);
                }
                changed.push(a);
            }
        }
        Ok(changed)
    }

    /// One claim made unknown, by compare-and-swap (a claim made again meanwhile, or
    /// finished, is left alone), then audited.
    fn interrupt(
        &self,
        id: &str,
        before: DateTime<Utc>,
        left: Left,
    ) -> Result<Option<PendingAction>, ActionError> {
        let now = Utc::now();
        let r = self.records.update(id, |a| {
            if claimed_at(a).is_none_or(|t| t >= before) {
                return Ok::<_, ()>(Update::Keep(None));
            }
            let undo = a.state == ActionState::Undoing;
            let event = if undo {
                Event::UndoUnknown
            } else {
                Event::WriteUnknown
            };
            let Ok(state) = next(a.state, event, now, a.expires_at) else {
                return Ok(Update::Keep(None));
            };
            let why = left.words(undo);
            let mut a = a.clone();
            a.state = state;
            a.updated_at = now;
            if undo {
                if let Some(u) = a.undo.as_mut() {
                    u.doubt = Some(why);
                }
            } else if let Some(t) = a.attempt.as_mut() {
                t.doubt = Some(why);
            }
            Ok(Update::Set(a.clone(), Some(a)))
        });
        let a = match r {
            Ok(Ok(Some(a))) => a,
            Ok(_) | Err(StoreError::Missing(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let undo = a.state == ActionState::UndoUnknown;
        let why = left.words(undo);
        self.audit(if undo {
            AuditEntry {
                action_id: a.id.clone(),
                kind: AuditKind::UndoFailed,
                actor: None,
                summary: format!("Undo outcome unknown: {why}"),
                detail: json!({"undo": a.undo}),
            }
        } else {
            AuditEntry {
                action_id: a.id.clone(),
                kind: AuditKind::WriteUnknown,
                actor: None,
                summary: format!("Outcome unknown: {why}"),
                detail: json!({"doubt": why}),
            }
        });
        Ok(Some(a))
    }
}
