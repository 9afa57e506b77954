//! The decisions on a pending action: store a new draft, approve (the one Salesforce write),
//! reject, edit, expire, and reconcile after a restart. Front ends (Slack, the console) call
//! these and then show the returned action; every change is a compare-and-swap, and the
//! audit record of a write is stored before anyone is told it is done.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use super::action::{Edit, PendingAction, Place, WriteFailure, Written, capitalise, new_id};
pub use super::drafting::DraftTrace;
use super::drafting::Drafting;
use super::proposal::Proposal;
use super::write::{WritePlan, plan_write, read_outcome, record_name};
use crate::config::DraftingSettings;
use crate::domain::action::{ActionState, Event, may_decide, next};
use crate::salesforce::{SalesforceClient, SalesforceError};
use crate::store::{AuditEntry, AuditKind, Records, Store, StoreError, Update};

/// The sled tree the actions live in.
const TREE: &str = "actions";

/// The answer to a person's click.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The action changed (or the write finished); show it.
    Changed(Box<PendingAction>),
    /// Nothing changed; tell the person why. The action is included when it exists.
    Refused {
        reason: String,
        action: Option<Box<PendingAction>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this draft no longer exists")]
    Missing,
}

/// The decision of `begin_approve`.
pub enum Approval {
    Refused(Outcome),
    Writing(Box<PendingAction>, WritePlan),
}

/// The pending-action use cases. Cheap to clone.
#[derive(Clone)]
pub struct Actions {
    store: Store,
    pub(super) records: Records<PendingAction>,
    drafting: Drafting,
    approvers: Vec<String>,
    settings: DraftingSettings,
}

impl Actions {
    pub fn new(
        store: Store,
        drafting: Drafting,
        approvers: Vec<String>,
        settings: DraftingSettings,
    ) -> Result<Self, ActionError> {
        Ok(Actions {
            records: store.records(TREE)?,
            store,
            drafting,
            approvers,
            settings,
        })
    }

    pub fn drafting(&self) -> &Drafting {
        &self.drafting
    }

    pub(super) fn salesforce(&self) -> &SalesforceClient {
        self.drafting.salesforce()
    }

    pub fn get(&self, id: &str) -> Result<Option<PendingAction>, ActionError> {
        Ok(self.records.get(id)?)
    }

    pub fn all(&self) -> Result<Vec<PendingAction>, ActionError> {
        Ok(self.records.all()?)
    }

    /// Stores a new draft (before any card shows it) and audits what the model saw and said.
    pub fn create(
        &self,
        requester: &str,
        place: Place,
        notes: &str,
        proposal: Proposal,
        trace: DraftTrace,
    ) -> Result<PendingAction, ActionError> {
        let now = Utc::now();
        let action = PendingAction {
            id: new_id(),
            revision: 1,
            state: ActionState::Drafted,
            requester: requester.to_string(),
            place,
            card_ts: None,
            notes: notes.to_string(),
            proposal,
            meeting_task: self.settings.meeting_task,
            created_at: now,
            updated_at: now,
            expires_at: now + Duration::days(i64::from(self.settings.expire_after_days)),
            decided_by: None,
            decided_at: None,
            edits: vec![],
            written: vec![],
            error: None,
            attempts: 0,
        };
        self.records.insert_new(&action.id, &action)?;
        self.audit(AuditEntry {
            action_id: action.id.clone(),
            kind: AuditKind::Drafted,
            actor: Some(requester.to_string()),
            summary: format!(
                "Drafted {} for {requester}",
                action
                    .proposal
                    .records
                    .iter()
                    .map(|r| format!("{} {} ({})", r.label, record_name(r), r.action))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            detail: json!({
                "notes": notes,
                "prompt": trace.prompt,
                "raw_reply": trace.raw_reply,
                "proposal": action.proposal,
                "place": action.place,
            }),
        });
        Ok(action)
    }

    /// Remembers where the card was posted.
    pub fn set_card(&self, id: &str, ts: &str) -> Result<PendingAction, ActionError> {
        let r = self.records.update(id, |a| {
            let mut a = a.clone();
            a.card_ts = Some(ts.to_string());
            Ok::<_, ()>(Update::Set(a.clone(), a))
        })?;
        r.map_err(|_| ActionError::Missing)
    }

    /// Approve: only the requester and approvers; Drafted or Failed -> Writing by
    /// compare-and-swap, so concurrent clicks write once; then one composite request.
    #[instrument(skip(self), fields(action = %id))]
    pub async fn approve(&self, id: &str, user: &str) -> Result<Outcome, ActionError> {
        match self.begin_approve(id, user)? {
            Approval::Refused(outcome) => Ok(outcome),
            Approval::Writing(action, plan) => self.complete_approve(*action, plan).await,
        }
    }

    /// The first half of `approve`: the decision and the move to Writing, without the
    /// write, so a front end can show "Writing…" in between.
    pub fn begin_approve(&self, id: &str, user: &str) -> Result<Approval, ActionError> {
        let now = Utc::now();
        let sf = self.salesforce().clone();
        let approvers = self.approvers.clone();
        let decided = self.records.update(id, |a| {
            if !may_decide(&a.requester, &approvers, user) {
                return Err(format!(
                    "Only <@{}> or an approver can approve this draft.",
                    a.requester
                ));
            }
            next(a.state, Event::Approve, now, a.expires_at).map_err(|e| e.to_string())?;
            let plan = plan_write(a, &sf).map_err(|problems| {
                format!("This draft can't be approved yet: {}", problems.join("; "))
            })?;
            let mut w = a.clone();
            w.state = ActionState::Writing;
            w.decided_by = Some(user.to_string());
            w.decided_at = Some(now);
            w.updated_at = now;
            w.attempts += 1;
            w.error = None;
            Ok(Update::Set(w.clone(), (w, plan)))
        });
        let (action, plan) = match decided {
            Err(StoreError::Missing(_)) => return Err(ActionError::Missing),
            Err(e) => return Err(e.into()),
            Ok(Err(reason)) => {
                if reason.starts_with("Only ") {
                    self.audit(AuditEntry {
                        action_id: id.to_string(),
                        kind: AuditKind::Refused,
                        actor: Some(user.to_string()),
                        summary: format!("{user} may not approve"),
                        detail: Value::Null,
                    });
                }
                return Ok(Approval::Refused(Outcome::Refused {
                    reason,
                    action: self.records.get(id)?.map(Box::new),
                }));
            }
            Ok(Ok(x)) => x,
        };
        self.audit(AuditEntry {
            action_id: action.id.clone(),
            kind: AuditKind::ApproveRequested,
            actor: Some(user.to_string()),
            summary: format!("Approved by {user} (attempt {})", action.attempts),
            detail: json!({"revision": action.revision, "request": plan.request}),
        });
        Ok(Approval::Writing(Box::new(action), plan))
    }

    /// The second half of `approve`: the one composite request, then Done or Failed.
    pub async fn complete_approve(
        &self,
        action: PendingAction,
        plan: WritePlan,
    ) -> Result<Outcome, ActionError> {
        let result = self.write(&action, &plan).await;
        self.finish_write(action, result).await
    }

    async fn write(
        &self,
        action: &PendingAction,
        plan: &WritePlan,
    ) -> Result<Vec<Written>, WriteFailure> {
        let sf = self.salesforce();
        match sf.composite(&plan.request).await {
            Ok(response) => {
                self.audit(AuditEntry {
                    action_id: action.id.clone(),
                    kind: AuditKind::WriteRequest,
                    actor: None,
                    summary: "Salesforce answered the write".into(),
                    detail: json!({"response": response.responses.iter().map(|s| json!({
                        "referenceId": s.reference_id,
                        "httpStatusCode": s.http_status_code,
                        "body": s.body,
                    })).collect::<Vec<_>>()}),
                });
                read_outcome(plan, &response, sf.instance_url())
            }
            Err(e) => {
                warn!(error = %e, "write failed");
                // Without an answer the write may still have happened: ask Salesforce.
                if !matches!(
                    e,
                    SalesforceError::Unavailable { .. }
                        | SalesforceError::Rejected { .. }
                        | SalesforceError::LimitExceeded { .. }
                        | SalesforceError::Unauthorized { .. }
                        | SalesforceError::Login { .. }
                ) && let Ok(Some(found)) = self.find_marker(action).await
                {
                    return Ok(found);
                }
                Err(failure_from(&e))
            }
        }
    }

    pub(super) async fn finish_write(
        &self,
        action: PendingAction,
        result: Result<Vec<Written>, WriteFailure>,
    ) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let (event, kind, summary, detail) = match &result {
            Ok(written) => (
                Event::WriteSucceeded,
                AuditKind::Written,
                written
                    .iter()
                    .map(|w| {
                        format!(
                            "{} {} {} ({})",
                            capitalise(&w.outcome),
                            w.label,
                            w.name,
                            w.id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                json!({"written": written}),
            ),
            Err(f) => (
                Event::WriteFailed,
                AuditKind::WriteFailed,
                format!("Write failed: {}", f.message),
                json!({"error": f}),
            ),
        };
        // The audit record of a write is stored before the card says so.
        self.audit(AuditEntry {
            action_id: action.id.clone(),
            kind,
            actor: action.decided_by.clone(),
            summary,
            detail,
        });
        let updated = self.records.update(&action.id, |a| {
            let state = next(a.state, event, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut a = a.clone();
            a.state = state;
            a.updated_at = now;
            match &result {
                Ok(w) => a.written = w.clone(),
                Err(f) => a.error = Some(f.clone()),
            }
            Ok::<_, String>(Update::Set(a.clone(), a))
        })?;
        match updated {
            Ok(a) => {
                info!(state = a.state.as_str(), "write finished");
                Ok(Outcome::Changed(Box::new(a)))
            }
            Err(reason) => Ok(Outcome::Refused {
                reason,
                action: self.records.get(&action.id)?.map(Box::new),
            }),
        }
    }

    /// Reject: the requester and approvers only; nothing reaches Salesforce.
    #[instrument(skip(self), fields(action = %id))]
    pub fn reject(&self, id: &str, user: &str) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let approvers = self.approvers.clone();
        let r = self.records.update(id, |a| {
            if !may_decide(&a.requester, &approvers, user) {
                return Err(format!(
                    "Only <@{}> or an approver can reject this draft.",
                    a.requester
                ));
            }
            let state =
                next(a.state, Event::Reject, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut a = a.clone();
            a.state = state;
            a.decided_by = Some(user.to_string());
            a.decided_at = Some(now);
            a.updated_at = now;
            Ok(Update::Set(a.clone(), a))
        });
        self.settle(id, user, r, AuditKind::Rejected, |a| {
            format!("Rejected by {}", a.decided_by.as_deref().unwrap_or("?"))
        })
    }

    /// Checks that `user` may edit now, without changing anything (the modal opens on it).
    pub fn may_edit(
        &self,
        id: &str,
        user: &str,
    ) -> Result<Result<PendingAction, String>, ActionError> {
        let Some(a) = self.records.get(id)? else {
            return Err(ActionError::Missing);
        };
        if !may_decide(&a.requester, &self.approvers, user) {
            return Ok(Err(format!(
                "Only <@{}> or an approver can edit this draft.",
                a.requester
            )));
        }
        Ok(next(a.state, Event::Edit, Utc::now(), a.expires_at)
            .map(|_| a)
            .map_err(|e| e.to_string()))
    }

    /// Stores an edited proposal as a new revision, if `base_revision` is still current.
    pub fn save_edit(
        &self,
        id: &str,
        user: &str,
        base_revision: u32,
        proposal: Proposal,
    ) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let approvers = self.approvers.clone();
        let r = self.records.update(id, |a| {
            if !may_decide(&a.requester, &approvers, user) {
                return Err("You can't edit this draft.".to_string());
            }
            let state = next(a.state, Event::Edit, now, a.expires_at).map_err(|e| e.to_string())?;
            if a.revision != base_revision {
                return Err(
                    "Someone changed this draft while you were editing; open Edit again.".into(),
                );
            }
            let mut a = a.clone();
            a.state = state;
            a.revision += 1;
            a.proposal = proposal.clone();
            a.updated_at = now;
            a.error = None;
            a.edits.push(Edit {
                by: user.to_string(),
                at: now,
                revision: a.revision,
            });
            Ok(Update::Set(a.clone(), a))
        });
        self.settle(id, user, r, AuditKind::Edited, |a| {
            format!(
                "Edited by {} (revision {})",
                a.edits.last().map_or("?", |e| e.by.as_str()),
                a.revision
            )
        })
    }

    fn settle(
        &self,
        id: &str,
        user: &str,
        result: Result<Result<PendingAction, String>, StoreError>,
        kind: AuditKind,
        summary: impl Fn(&PendingAction) -> String,
    ) -> Result<Outcome, ActionError> {
        match result {
            Err(StoreError::Missing(_)) => Err(ActionError::Missing),
            Err(e) => Err(e.into()),
            Ok(Err(reason)) => Ok(Outcome::Refused {
                reason,
                action: self.records.get(id)?.map(Box::new),
            }),
            Ok(Ok(a)) => {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind,
                    actor: Some(user.to_string()),
                    summary: summary(&a),
                    detail: if kind == AuditKind::Edited {
                        json!({"revision": a.revision, "proposal": a.proposal})
                    } else {
                        Value::Null
                    },
                });
                Ok(Outcome::Changed(Box::new(a)))
            }
        }
    }

    /// Audit failures are logged, not shown: the user's action already happened.
    pub(super) fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit.append(entry) {
            tracing::error!(error = %e, "audit record could not be stored");
        }
    }
}

fn failure_from(e: &SalesforceError) -> WriteFailure {
    let (code, fields) = match e {
        SalesforceError::Rejected { errors, .. } => (
            errors.first().map(|x| x.code.clone()),
            errors.first().map(|x| x.fields.clone()).unwrap_or_default(),
        ),
        SalesforceError::LimitExceeded { .. } => (Some("REQUEST_LIMIT_EXCEEDED".into()), vec![]),
        _ => (None, vec![]),
    };
    WriteFailure {
        message: e.to_string(),
        code,
        fields,
        record: None,
        transient: e.is_transient() || matches!(e, SalesforceError::LimitExceeded { .. }),
    }
}
