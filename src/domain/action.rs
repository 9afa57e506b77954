//! The pending action's state machine, written once so every front end and the store agree
//! on what may follow what. Pure: the store applies these transitions with compare-and-swap.
//!
//! ```text
//! Drafted --approve--> Writing --ok--> Done
//!    |  \--reject--> Rejected   |  \--error--> Failed --approve (retry)--> Writing
//!    |--edit--> Drafted          \--no proof--> Unknown --found--> Done
//!    |--timeout--> Expired                        |  \--proven absent--> Failed
//!    |                                             \--approve (after a check)--> Writing
//!    \--approve (more needed)--> PartlyApproved --approve (the last one)--> Writing
//!                                   |  (reject, edit -> Drafted, timeout as a draft)
//!                                   \--approve (still more)--> PartlyApproved
//!
//! Done --undo (in the window, by whom the policy names)--> Undoing --ok--> Undone
//!                                                           |  \--error--> Done
//!                                                           \--no proof--> UndoUnknown
//! UndoUnknown --undo (after a read of Salesforce)--> Undoing
//! ```
//!
//! Undo is exactly-once like Approve: `Undoing` is taken by compare-and-swap, so two clicks
//! send one request; an undo Salesforce refused leaves the write as it was (`Done`, Undo
//! offered again while the window lasts); an undo whose outcome cannot be proven is
//! `UndoUnknown`, and the next Undo reads Salesforce first and sends only what is still
//! to undo.
//!
//! `PartlyApproved` is a draft the policy wants more than one approval for, with at least
//! one recorded: the next approval is compare-and-swapped like the first, and an edit
//! resets them all (a new revision is a new draft to approve).
//!
//! `Unknown` is the honest state of a write whose outcome crmbot cannot prove (killed
//! mid-request, a timeout, a 5xx, an answer it cannot read): nobody may reject or edit it,
//! because Salesforce may hold it, until a check in Salesforce settles it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    Drafted,
    /// Approved by some, waiting for the approvals the policy still wants.
    PartlyApproved,
    Writing,
    /// The write may or may not have reached Salesforce; a check will tell.
    Unknown,
    Done,
    Failed,
    Rejected,
    Expired,
    /// A person asked to undo the write; the one request restoring it is in flight.
    Undoing,
    /// The write was undone in Salesforce (as far as Salesforce still held it).
    Undone,
    /// The undo may or may not have reached Salesforce; the next Undo reads it first.
    UndoUnknown,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Drafted => "drafted",
            ActionState::PartlyApproved => "partly_approved",
            ActionState::Writing => "writing",
            ActionState::Unknown => "unknown",
            ActionState::Done => "done",
            ActionState::Failed => "failed",
            ActionState::Rejected => "rejected",
            ActionState::Expired => "expired",
            ActionState::Undoing => "undoing",
            ActionState::Undone => "undone",
            ActionState::UndoUnknown => "undo_unknown",
        }
    }

    /// No transition leaves this state but an Undo of a write (Done), which the policy
    /// allows only for minutes after it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ActionState::Done | ActionState::Rejected | ActionState::Expired | ActionState::Undone
        )
    }
}

/// What can happen to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The last approval the policy wants: write.
    Approve,
    /// An approval that leaves others still wanted.
    ApprovePart,
    Reject,
    Edit,
    WriteSucceeded,
    /// Salesforce refused the write, or a check proved it never landed.
    WriteFailed,
    /// The write's outcome cannot be proven.
    WriteUnknown,
    Expire,
    /// A person asked to undo a write (the flow has checked the window and who may).
    Undo,
    UndoSucceeded,
    /// Salesforce refused the undo: the write stands as it was.
    UndoFailed,
    /// The undo's outcome cannot be proven.
    UndoUnknown,
}

/// Why an event does not apply. `Display` is the sentence the clicking person sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("This draft is already being written to Salesforce.")]
    InProgress,
    #[error("This draft was already written to Salesforce.")]
    AlreadyDone,
    #[error("This draft was rejected.")]
    Rejected,
    #[error("This draft has expired. Run `/crm log` again to make a new one.")]
    Expired,
    #[error(
        "crmbot is still checking whether Salesforce saved this draft; the card will say as soon as it knows."
    )]
    Checking,
    #[error("This draft can't be changed now.")]
    NotAllowed,
    #[error("This write is already being undone.")]
    Undoing,
    #[error("This write was already undone.")]
    AlreadyUndone,
}

/// The state after `event`, or why it does not apply. `now >= expires_at` turns every
/// person's event on a waiting draft into `Expired`.
pub fn next(
    state: ActionState,
    event: Event,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<ActionState, TransitionError> {
    use ActionState::*;
    let waiting = matches!(state, Drafted | PartlyApproved | Failed);
    if waiting && now >= expires_at && event != Event::Expire {
        return Err(TransitionError::Expired);
    }
    match (state, event) {
        (Drafted | PartlyApproved | Failed | Unknown, Event::Approve) => Ok(Writing),
        (Drafted | PartlyApproved | Failed, Event::ApprovePart) => Ok(PartlyApproved),
        (Drafted | PartlyApproved | Failed, Event::Reject) => Ok(Rejected),
        (Drafted | PartlyApproved | Failed, Event::Edit) => Ok(Drafted),
        (Drafted | PartlyApproved | Failed, Event::Expire) if now >= expires_at => Ok(Expired),
        (Writing, Event::WriteSucceeded) => Ok(Done),
        (Writing, Event::WriteFailed) => Ok(Failed),
        (Writing | Unknown, Event::WriteUnknown) => Ok(Unknown),
        (Unknown, Event::WriteSucceeded) => Ok(Done),
        (Unknown, Event::WriteFailed) => Ok(Failed),
        (Done | UndoUnknown, Event::Undo) => Ok(Undoing),
        (Undoing, Event::UndoSucceeded) => Ok(Undone),
        (Undoing, Event::UndoFailed) => Ok(Done),
        (Undoing | UndoUnknown, Event::UndoUnknown) => Ok(UndoUnknown),
        (Undoing | UndoUnknown, _) => Err(TransitionError::Undoing),
        (Undone, _) => Err(TransitionError::AlreadyUndone),
        (Writing, _) => Err(TransitionError::InProgress),
        (Unknown, _) => Err(TransitionError::Checking),
        (Done, _) => Err(TransitionError::AlreadyDone),
        (Rejected, _) => Err(TransitionError::Rejected),
        (Expired, _) => Err(TransitionError::Expired),
        _ => Err(TransitionError::NotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at() -> (DateTime<Utc>, DateTime<Utc>) {
        let now = Utc::now();
        (now, now + Duration::days(7))
    }

    #[test]
    fn approve_moves_a_draft_or_a_failure_to_writing_once() {
        let (now, exp) = at();
        assert_eq!(
            next(ActionState::Drafted, Event::Approve, now, exp),
            Ok(ActionState::Writing)
        );
        assert_eq!(
            next(ActionState::Failed, Event::Approve, now, exp),
            Ok(ActionState::Writing)
        );
        assert_eq!(
            next(ActionState::Writing, Event::Approve, now, exp),
            Err(TransitionError::InProgress)
        );
        assert_eq!(
            next(ActionState::Done, Event::Approve, now, exp),
            Err(TransitionError::AlreadyDone)
        );
    }

    #[test]
    fn write_results_only_apply_while_writing() {
        let (now, exp) = at();
        assert_eq!(
            next(ActionState::Writing, Event::WriteSucceeded, now, exp),
            Ok(ActionState::Done)
        );
        assert_eq!(
            next(ActionState::Writing, Event::WriteFailed, now, exp),
            Ok(ActionState::Failed)
        );
        assert!(next(ActionState::Drafted, Event::WriteSucceeded, now, exp).is_err());
    }

    #[test]
    fn reject_and_edit_only_while_waiting() {
        let (now, exp) = at();
        assert_eq!(
            next(ActionState::Drafted, Event::Reject, now, exp),
            Ok(ActionState::Rejected)
        );
        assert_eq!(
            next(ActionState::Drafted, Event::Edit, now, exp),
            Ok(ActionState::Drafted)
        );
        assert_eq!(
            next(ActionState::Rejected, Event::Edit, now, exp),
            Err(TransitionError::Rejected)
        );
        assert_eq!(
            next(ActionState::Writing, Event::Reject, now, exp),
            Err(TransitionError::InProgress)
        );
    }

    #[test]
    fn an_unknown_write_is_settled_by_a_check_never_by_a_person() {
        let (now, exp) = at();
        use ActionState::*;
        assert_eq!(next(Writing, Event::WriteUnknown, now, exp), Ok(Unknown));
        assert_eq!(next(Unknown, Event::WriteUnknown, now, exp), Ok(Unknown));
        assert_eq!(next(Unknown, Event::WriteSucceeded, now, exp), Ok(Done));
        assert_eq!(next(Unknown, Event::WriteFailed, now, exp), Ok(Failed));
        for event in [Event::Reject, Event::Edit] {
            assert_eq!(
                next(Unknown, event, now, exp),
                Err(TransitionError::Checking)
            );
        }
        // Not expired by the clock: Salesforce may hold it.
        let past = now - Duration::seconds(1);
        assert_eq!(
            next(Unknown, Event::Expire, now, past),
            Err(TransitionError::Checking)
        );
        // Approve is allowed by the machine; the flow checks Salesforce first.
        assert_eq!(next(Unknown, Event::Approve, now, exp), Ok(Writing));
        assert!(next(Drafted, Event::WriteUnknown, now, exp).is_err());
    }

    #[test]
    fn an_expired_draft_takes_no_click() {
        let now = Utc::now();
        let past = now - Duration::seconds(1);
        assert_eq!(
            next(ActionState::Drafted, Event::Approve, now, past),
            Err(TransitionError::Expired)
        );
        assert_eq!(
            next(ActionState::Drafted, Event::Expire, now, past),
            Ok(ActionState::Expired)
        );
        let future = now + Duration::days(1);
        assert!(next(ActionState::Drafted, Event::Expire, now, future).is_err());
        // A write in flight is not cut off by the clock.
        assert_eq!(
            next(ActionState::Writing, Event::WriteSucceeded, now, past),
            Ok(ActionState::Done)
        );
    }

    #[test]
    fn a_second_approval_is_a_state_of_its_own() {
        let (now, exp) = at();
        use ActionState::*;
        assert_eq!(
            next(Drafted, Event::ApprovePart, now, exp),
            Ok(PartlyApproved)
        );
        assert_eq!(
            next(PartlyApproved, Event::ApprovePart, now, exp),
            Ok(PartlyApproved)
        );
        assert_eq!(next(PartlyApproved, Event::Approve, now, exp), Ok(Writing));
        assert_eq!(next(PartlyApproved, Event::Edit, now, exp), Ok(Drafted));
        assert_eq!(next(PartlyApproved, Event::Reject, now, exp), Ok(Rejected));
        assert_eq!(
            next(Writing, Event::ApprovePart, now, exp),
            Err(TransitionError::InProgress)
        );
        assert_eq!(
            next(Unknown, Event::ApprovePart, now, exp),
            Err(TransitionError::Checking)
        );
        let past = now - Duration::seconds(1);
        assert_eq!(
            next(PartlyApproved, Event::Approve, now, past),
            Err(TransitionError::Expired)
        );
        assert_eq!(next(PartlyApproved, Event::Expire, now, past), Ok(Expired));
    }

    #[test]
    fn an_undo_is_a_state_of_its_own_taken_once() {
        let (now, exp) = at();
        use ActionState::*;
        assert_eq!(next(Done, Event::Undo, now, exp), Ok(Undoing));
        assert_eq!(
            next(Undoing, Event::Undo, now, exp),
            Err(TransitionError::Undoing)
        );
        assert_eq!(next(Undoing, Event::UndoSucceeded, now, exp), Ok(Undone));
        assert_eq!(next(Undoing, Event::UndoFailed, now, exp), Ok(Done));
        assert_eq!(next(Undoing, Event::UndoUnknown, now, exp), Ok(UndoUnknown));
        assert_eq!(next(UndoUnknown, Event::Undo, now, exp), Ok(Undoing));
        assert_eq!(
            next(Undone, Event::Undo, now, exp),
            Err(TransitionError::AlreadyUndone)
        );
        for state in [
            Drafted,
            PartlyApproved,
            Failed,
            Rejected,
            Expired,
            Writing,
            Unknown,
        ] {
            assert!(next(state, Event::Undo, now, exp).is_err(), "{state:?}");
        }
        assert!(next(Done, Event::UndoSucceeded, now, exp).is_err());
        // The draft's expiry is no undo window: the flow checks that.
        let past = now - chrono::Duration::days(30);
        assert_eq!(next(Done, Event::Undo, now, past), Ok(Undoing));
    }
}
