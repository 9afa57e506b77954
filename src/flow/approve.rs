//! Approve: the one Salesforce write of a pending action, written once. The policy decides
//! whether the click counts (`flow::policy`): a draft that wants a second approver moves to
//! PartlyApproved by compare-and-swap, like the last approval moves it to Writing. The
//! click names the revision the person saw (a newer one is not theirs to approve); every
//! approval is audited, with the rule it counted for, before anything is sent (no audit
//! record, no write); Drafted, PartlyApproved, Failed or — after a check in Salesforce —
//! Unknown moves to Writing by compare-and-swap, so concurrent clicks write once; the attempt (when, and how to find each record afterwards) is stored before the
//! request leaves. An answer that proves nothing (a timeout, a 5xx, an unreadable 2xx) makes
//! the action Unknown, never Failed.

use chrono::{Duration, Utc};
use serde_json::json;
use tracing::{info, instrument, warn};

use super::action::{Attempt, PendingAction, WriteFailure, Written, capitalise};
use super::actions::{ActionError, Actions, Outcome};
use super::people::Owner;
use super::policy::ApprovalRecord;
use super::signin::PersonError;
use super::write::{OrgFacts, WriteOutcome, WritePlan, as_person, plan_write, read_outcome};
use crate::config::{Identity, OwnerChoice};
use crate::domain::action::{ActionState, Event, next};
use crate::domain::policy::Verdict;
use crate::flow::storage::{AuditEntry, AuditKind, StoreError, Update};
use crate::salesforce::SalesforceError;

mod consent;

use consent::{Approver, Refusal};

/// Records created by the write are looked for from this long before the attempt began,
/// on Salesforce's clock (as its `Date` header gave it): room for skew and rounding.
const CLOCK_MARGIN_MINUTES: i64 = 5;

/// The decision of `begin_approve`.
pub enum Approval {
    Refused(Outcome),
    /// In user mode, the person who would write has no working Salesforce sign-in; nothing
    /// was claimed or recorded.
    NotConnected(PersonError),
    /// The approval is recorded and the policy wants more (the action is PartlyApproved).
    Partly(Box<PendingAction>),
    Writing(Box<PendingAction>, WritePlan),
}

/// What one write attempt came to.
enum Sent {
    Written(Vec<Written>),
    /// Salesforce refused it; nothing was written.
    Refused(WriteFailure),
    /// Nobody can tell; the words say why.
    Doubt(String),
}

/// What the last approval's write needs, prepared before the compare-and-swap: the org's
/// facts (and Salesforce's clock), and the owner when the approver decides it.
#[derive(Clone, Copy)]
struct Ready<'a> {
    facts: Option<&'a (OrgFacts, chrono::DateTime<Utc>)>,
    owner: Option<&'a Owner>,
}

/// What the compare-and-swap decided.
enum Step {
    Partly(PendingAction, PendingAction),
    Write(PendingAction, WritePlan, PendingAction),
    /// The last approval arrived meanwhile: the write needs the org's facts first.
    NeedFacts,
}

impl Actions {
    /// Approve and write, in one call (the console; Slack calls the halves).
    #[instrument(skip(self), fields(action = %id))]
    pub async fn approve(
        &self,
        id: &str,
        user: &str,
        seen: Option<u32>,
    ) -> Result<Outcome, ActionError> {
        match self.begin_approve(id, user, seen).await? {
            Approval::Refused(outcome) => Ok(outcome),
            Approval::NotConnected(e) => Ok(Outcome::Refused {
                reason: e.to_string(),
                action: self.records.get(id)?.map(Box::new),
            }),
            Approval::Partly(action) => Ok(Outcome::Changed(action)),
            Approval::Writing(action, plan) => self.complete_approve(*action, plan).await,
        }
    }

    /// The first half of `approve`: the policy's decision and the move to Writing (or to
    /// PartlyApproved when more approvals are wanted), without the write, so a front end
    /// can show "Writing…" in between. `seen` is the revision on the card that was clicked
    /// (`None`: the front end shows the current one).
    pub async fn begin_approve(
        &self,
        id: &str,
        user: &str,
        seen: Option<u32>,
    ) -> Result<Approval, ActionError> {
        let member = self.access.approver(user).await;
        self.begin(id, Approver::Person(&member), seen).await
    }

    /// Approval by the policy itself: a draft it lets through without a click
    /// (`auto_approve`), once, as drafted. When that does not happen (Salesforce cannot be
    /// asked, the policy changed), the draft waits for a person like any other.
    pub async fn begin_auto(&self, id: &str) -> Result<Approval, ActionError> {
        let approval = self.begin(id, Approver::Policy, None).await?;
        let reason = match approval {
            Approval::Refused(Outcome::Refused { reason, .. }) => Some(reason),
            Approval::NotConnected(e) => Some(format!(
                "The policy would approve this draft by itself, but crmbot writes as the person who logged it and {}",
                e.to_string()
                    .replacen("You haven't", "they haven't", 1)
                    .replacen("Your", "their", 1)
            )),
            Approval::Refused(Outcome::Changed(_)) => None,
            writing_or_partly => return Ok(writing_or_partly),
        };
        let handed = self.records.update(id, |a| {
            let mut a = a.clone();
            match a.assessment.as_mut() {
                Some(x) if x.auto.is_some() => x.auto = None,
                _ => return Ok::<_, ()>(Update::Keep(())),
            }
            Ok(Update::Set(a, ()))
        });
        if let Err(e) = handed {
            warn!(action = %id, error = %e, "could not hand the draft over to a person");
        }
        let action = self.records.get(id)?.map(Box::new);
        Ok(Approval::Refused(match (reason, action) {
            (Some(reason), action) => Outcome::Refused { reason, action },
            (None, Some(a)) => Outcome::Changed(a),
            (None, None) => return Err(ActionError::Missing),
        }))
    }

    async fn begin(
        &self,
        id: &str,
        by: Approver<'_>,
        seen: Option<u32>,
    ) -> Result<Approval, ActionError> {
        let user = by.user().to_string();
        let Some(mut current) = self.records.get(id)? else {
            return Err(ActionError::Missing);
        };
        let first = match self.verdict(&current, &by, seen) {
            Ok(v) => v,
            Err(refusal) => return self.refuse(id, &user, refusal),
        };
        let begun = Utc::now();
        if current.state == ActionState::Unknown {
            // Never written again before Salesforce has been asked.
            current = self.check(current).await?;
            if current.state == ActionState::Done {
                return Ok(Approval::Refused(Outcome::Changed(Box::new(current))));
            }
            if current.state == ActionState::Unknown && !resendable(&current) {
                return Ok(Approval::Refused(Outcome::Refused {
                    reason: checking_words(&current, self.writes.time_limit),
                    action: Some(Box::new(current)),
                }));
            }
        }
        // `salesforce.owner = "approver"`: the approver's User owns what is created (the
        // requester's when the policy approves by itself).
        let owner = match (self.people.settings().owner, &by) {
            (OwnerChoice::Approver, Approver::Person(m)) => self.people.owner(&m.user).await,
            (OwnerChoice::Approver, Approver::Policy) => {
                self.people.owner(&current.requester).await
            }
            _ => None,
        };
        // In user mode the write goes out as the person: their client first, so nothing is
        // claimed for someone Salesforce would not let in.
        let writer = match &by {
            Approver::Person(m) => m.user.clone(),
            Approver::Policy => current.requester.clone(),
        };
        let sf = match self.clients.of(&writer).await {
            Ok(sf) => sf,
            Err(e) => return Ok(Approval::NotConnected(e)),
        };
        // A partial approval writes nothing, so it needs nothing from Salesforce.
        let mut facts = None;
        let mut need_facts = matches!(first.0, Verdict::Complete { .. });
        let decided = loop {
            if need_facts && facts.is_none() {
                let objects = written_objects(&current);
                match OrgFacts::gather(&sf, &objects, self.writes.key_field.as_deref()).await {
                    Ok(f) => facts = Some((f, sf.server_now())),
                    Err(e) => {
                        if let Some(lapsed) = self.clients.lapsed(&writer, &e).await {
                            return Ok(Approval::NotConnected(lapsed));
                        }
                        return Ok(Approval::Refused(Outcome::Refused {
                            reason: format!(
                                "crmbot could not prepare the write ({e}). Nothing was written; approve again in a moment."
                            ),
                            action: Some(Box::new(current)),
                        }));
                    }
                }
            }
            let now = Utc::now();
            let r = self.records.update(id, |a| {
                let ready = Ready {
                    facts: facts.as_ref(),
                    owner: owner.as_ref(),
                };
                self.decide(a, &by, seen, begun, ready, now)
                    .map(|step| match &step {
                        Step::Partly(w, _) | Step::Write(w, _, _) => Update::Set(w.clone(), step),
                        Step::NeedFacts => Update::Keep(step),
                    })
            });
            match r {
                Ok(Ok(Step::NeedFacts)) if !need_facts => need_facts = true,
                other => break other,
            }
        };
        let step = match decided {
            Err(StoreError::Missing(_)) => return Err(ActionError::Missing),
            Err(e) => return Err(e.into()),
            Ok(Err(refusal)) => return self.refuse(id, &user, refusal),
            Ok(Ok(step)) => step,
        };
        let (action, before, plan) = match step {
            Step::Partly(w, before) => (w, before, None),
            Step::Write(w, plan, before) => (w, before, Some(plan)),
            Step::NeedFacts => {
                return Ok(Approval::Refused(Outcome::Refused {
                    reason: "This draft changed while crmbot was deciding; approve again.".into(),
                    action: self.records.get(id)?.map(Box::new),
                }));
            }
        };
        // No audit record of the approval, no write (and no recorded approval): put the
        // action back as it was.
        let audited = self.audit_first(self.approval_entry(&action, &user, plan.as_ref()));
        if let Err(e) = audited {
            let restored = self.records.update(id, |a| {
                if a.state == action.state
                    && a.attempt == action.attempt
                    && a.approvals == action.approvals
                {
                    Ok::<_, ()>(Update::Set(before.clone(), ()))
                } else {
                    Ok(Update::Keep(()))
                }
            });
            if let Err(e) = restored {
                warn!(error = %e, "could not put the action back after the audit failed");
            }
            return Ok(Approval::Refused(Outcome::Refused {
                reason: format!(
                    "crmbot could not record this approval in its audit log ({e}), so nothing was sent to Salesforce. Tell your crmbot admin: the data folder may be full or read-only."
                ),
                action: self.records.get(id)?.map(Box::new),
            }));
        }
        Ok(match plan {
            Some(plan) => Approval::Writing(Box::new(action), plan),
            None => Approval::Partly(Box::new(action)),
        })
    }

    /// The decision inside the compare-and-swap: the policy's verdict, the revision seen,
    /// the state machine, and for the last approval the write plan.
    fn decide(
        &self,
        a: &PendingAction,
        by: &Approver<'_>,
        seen: Option<u32>,
        begun: chrono::DateTime<Utc>,
        ready: Ready<'_>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Step, Refusal> {
        let Ready { facts, owner } = ready;
        let (verdict, assessment) = self.verdict(a, by, seen)?;
        if a.state == ActionState::Unknown
            && !(resendable(a) && a.attempt.as_ref().and_then(|t| t.checked_at) >= Some(begun))
        {
            return Err(Refusal::plain(checking_words(a, self.writes.time_limit)));
        }
        let (event, counted) = match verdict {
            Verdict::Partly { counted } => (Event::ApprovePart, counted),
            Verdict::Complete { counted } => (Event::Approve, counted),
            Verdict::Refused { .. } => {
                return Err(Refusal::plain("This approval does not count.".into()));
            }
        };
        let state =
            next(a.state, event, now, a.expires_at).map_err(|e| Refusal::plain(e.to_string()))?;
        let mut w = a.clone();
        w.assessment = Some(assessment);
        w.updated_at = now;
        if !counted.is_empty() {
            w.approvals.push(ApprovalRecord {
                user: by.user().to_string(),
                at: now,
                revision: a.revision,
                counted,
            });
        }
        if event == Event::ApprovePart {
            w.state = state;
            return Ok(Step::Partly(w, a.clone()));
        }
        let Some((facts, server_now)) = facts else {
            return Ok(Step::NeedFacts);
        };
        if let Some(owner) = owner {
            w.owner = Some(owner.clone());
        }
        let sf = self.salesforce();
        let plan = plan_write(&w, sf, facts).map_err(|problems| {
            Refusal::plain(format!(
                "This draft can't be approved yet: {}",
                problems.join("; ")
            ))
        })?;
        w.state = ActionState::Writing;
        w.decided_by = Some(by.user().to_string());
        w.decided_at = Some(now);
        w.attempts += 1;
        w.error = None;
        w.attempt = Some(Attempt {
            started_at: now,
            revision: a.revision,
            created_since: *server_now - Duration::minutes(CLOCK_MARGIN_MINUTES),
            retry_safe: plan.retry_safe,
            probes: plan.probes.clone(),
            doubt: None,
            checks: 0,
            checked_at: None,
        });
        Ok(Step::Write(w, plan, a.clone()))
    }

    /// The second half of `approve`: the one composite request, then Done, Failed or — when
    /// the answer proves nothing — Unknown and a first check.
    pub async fn complete_approve(
        &self,
        action: PendingAction,
        plan: WritePlan,
    ) -> Result<Outcome, ActionError> {
        match self.send(&action, &plan).await {
            Sent::Written(written) => self.finish_write(action, Ok(written)).await,
            Sent::Refused(failure) => self.finish_write(action, Err(failure)).await,
            Sent::Doubt(why) => self.doubt(action, why).await,
        }
    }

    async fn send(&self, action: &PendingAction, plan: &WritePlan) -> Sent {
        let writer = self.writer(action);
        let sf = match self.clients.of(writer).await {
            Ok(sf) => sf,
            Err(e) => return Sent::Refused(not_signed_in(&e)),
        };
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
                match read_outcome(plan, &response, sf.instance_url()) {
                    WriteOutcome::Written(w) => Sent::Written(w),
                    WriteOutcome::Refused(mut f) => {
                        if self.clients.identity() == Identity::User {
                            f.message = as_person(&f.message);
                        }
                        Sent::Refused(f)
                    }
                    WriteOutcome::Unreadable(why) => Sent::Doubt(why),
                }
            }
            Err(e) => {
                warn!(error = %e, "write failed");
                if let Some(lapsed) = self.clients.lapsed(writer, &e).await {
                    return Sent::Refused(not_signed_in(&lapsed));
                }
                match doubt_of(&e) {
                    Some(why) => Sent::Doubt(why),
                    None => Sent::Refused(failure_from(&e)),
                }
            }
        }
    }

    /// The answer proved nothing: Unknown (durably), audited, then one check at once.
    async fn doubt(&self, action: PendingAction, why: String) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let updated = self.records.update(&action.id, |a| {
            let state =
                next(a.state, Event::WriteUnknown, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut a = a.clone();
            a.state = state;
            a.updated_at = now;
            if let Some(t) = a.attempt.as_mut() {
                t.doubt = Some(why.clone());
            }
            Ok::<_, String>(Update::Set(a.clone(), a))
        })?;
        let unknown = match updated {
            Ok(a) => a,
            Err(reason) => {
                return Ok(Outcome::Refused {
                    reason,
                    action: self.records.get(&action.id)?.map(Box::new),
                });
            }
        };
        self.note_unknown(&unknown.id, true);
        self.audit(AuditEntry {
            action_id: unknown.id.clone(),
            kind: AuditKind::WriteUnknown,
            actor: None,
            summary: format!("Outcome unknown: {why}"),
            detail: json!({"doubt": why}),
        });
        let checked = self.check(unknown).await?;
        Ok(Outcome::Changed(Box::new(checked)))
    }

    /// Records the end of a write: the audit record first, then Done or Failed.
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
}

/// An Unknown write may be sent again without waiting when every create is keyed.
fn resendable(a: &PendingAction) -> bool {
    a.attempt.as_ref().is_some_and(|t| t.retry_safe)
}

/// What a person reads while crmbot checks.
pub(super) fn checking_words(a: &PendingAction, limit: std::time::Duration) -> String {
    let until = a
        .attempt
        .as_ref()
        .map(|t| t.started_at + Duration::milliseconds(limit.as_millis() as i64));
    match until {
        Some(t) => format!(
            "crmbot is still checking whether Salesforce saved this draft, so it can't be written again yet. If Salesforce has no trace of it by {} UTC, nothing was written and you can approve again.",
            t.format("%H:%M")
        ),
        None => "crmbot is still checking whether Salesforce saved this draft.".to_string(),
    }
}

/// The objects a write touches (its records and the meeting Task).
fn written_objects(a: &PendingAction) -> Vec<String> {
    let mut objects: Vec<String> = a
        .proposal
        .records
        .iter()
        .map(|r| r.object.clone())
        .collect();
    if a.meeting_task {
        objects.push("Task".into());
    }
    objects.sort();
    objects.dedup();
    objects
}

/// `Some(words)` when the error leaves the write's outcome unknown: no answer, a 5xx, an
/// answer that could not be read. A refusal (4xx), a login failure or a rate limit is
/// proof that nothing was written.
pub(super) fn doubt_of(e: &SalesforceError) -> Option<String> {
    match e {
        SalesforceError::Timeout => Some("Salesforce did not answer in time".into()),
        SalesforceError::Transport { cause, .. } => {
            Some(format!("the connection to Salesforce failed ({cause})"))
        }
        SalesforceError::TooLarge { .. } => {
            Some("Salesforce's answer was too large to read".into())
        }
        SalesforceError::Unavailable { status } if !matches!(status, 420 | 429) => {
            Some(format!("Salesforce answered HTTP {status}"))
        }
        SalesforceError::Decode(why) => {
            Some(format!("Salesforce's answer could not be read ({why})"))
        }
        _ => None,
    }
}

/// A write not sent (or refused at the token endpoint) because the writer has no working
/// Salesforce sign-in.
fn not_signed_in(e: &PersonError) -> WriteFailure {
    WriteFailure {
        message: format!("{e} Nothing was written."),
        code: None,
        fields: vec![],
        record: None,
        transient: false,
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
