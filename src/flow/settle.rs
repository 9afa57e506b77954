//! What happens to actions nobody is clicking on: drafts past their expiry become Expired,
//! and writes whose outcome nobody knows — a process stopped mid-write, a timeout, a 5xx —
//! are looked for in Salesforce until they are settled: Done when found, Failed only when
//! the attempt is older than Salesforce's request time limit and still absent (before that,
//! "not found yet" proves nothing: the org may still be committing it). Never by writing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tracing::warn;

use super::action::{Attempt, Find, PendingAction, Probe, WriteFailure, Written};
use super::actions::{ActionError, Actions, Outcome};
use crate::domain::action::{ActionState, Event, next};
use crate::flow::storage::{AuditEntry, AuditKind, Update};
use crate::salesforce::{SalesforceClient, SalesforceError};

/// What Salesforce holds of an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// The write landed: the records found (created ones by key or values; updated ones).
    Found(Vec<Written>),
    /// No trace of it.
    Absent,
}

impl Actions {
    /// Moves every waiting draft past its expiry to Expired; returns them for their cards.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<PendingAction>, ActionError> {
        let mut expired = Vec::new();
        for a in self.glances.open()? {
            if !a.is_expired(now) {
                continue;
            }
            let r = self.records.update(&a.id, |a| {
                let state = next(a.state, Event::Expire, now, a.expires_at).map_err(|_| ())?;
                let mut a = a.clone();
                a.state = state;
                a.updated_at = now;
                Ok::<_, ()>(Update::Set(a.clone(), a))
            })?;
            if let Ok(a) = r {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind: AuditKind::Expired,
                    actor: None,
                    summary: "Expired without a decision".into(),
                    detail: Value::Null,
                });
                expired.push(a);
            }
        }
        Ok(expired)
    }

    /// At start-up: writes and undos a stopped process left under way have an unknown
    /// outcome (with sled, every one found; with a shared store, those older than their
    /// budget: the rest may be a live replica's, and the timers take them over later); they
    /// and every other unknown write are looked for. Returns the actions whose cards changed.
    pub async fn reconcile(&self) -> Result<Vec<PendingAction>, ActionError> {
        let now = Utc::now();
        let interrupted = if self.store_shared() {
            self.adopt_orphans(now)?
        } else {
            self.sweep(now, Left::Restart)?
        };
        let mut changed = self.recheck_unknown().await?;
        // Interrupted undos, and the writes still unknown, get their cards too.
        for a in interrupted {
            if a.state != ActionState::Unknown && !changed.iter().any(|c| c.id == a.id) {
                changed.push(a);
            }
        }
        for id in self.unknown_ids() {
            if !changed.iter().any(|c| c.id == id)
                && let Some(a) = self.records.get(&id)?
            {
                changed.push(a);
            }
        }
        Ok(changed)
    }

    /// Keeps the set of unknown writes the timer looks at.
    pub(super) fn note_unknown(&self, id: &str, unknown: bool) {
        let mut set = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        if unknown {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    fn unknown_ids(&self) -> Vec<String> {
        let set = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        set.iter().cloned().collect()
    }

    /// Looks once for every unknown write (the server does this on a timer); returns the
    /// ones that were settled.
    pub async fn recheck_unknown(&self) -> Result<Vec<PendingAction>, ActionError> {
        let mut settled = Vec::new();
        for id in self.unknown_ids() {
            let Some(a) = self.records.get(&id)? else {
                self.note_unknown(&id, false);
                continue;
            };
            if a.state != ActionState::Unknown {
                self.note_unknown(&id, false);
                continue;
            }
            let checked = self.check(a).await?;
            if checked.state != ActionState::Unknown {
                settled.push(checked);
            }
        }
        Ok(settled)
    }

    /// Looks in Salesforce for an unknown write: Done when found; Failed when absent and the
    /// attempt is older than the time limit; otherwise still Unknown, the check noted.
    pub(super) async fn check(&self, a: PendingAction) -> Result<PendingAction, ActionError> {
        if a.state != ActionState::Unknown {
            self.note_unknown(&a.id, false);
            return Ok(a);
        }
        self.note_unknown(&a.id, true);
        // One look at a time per action: a click and the timer must not both settle it.
        let Some(_turn) = CheckTurn::take(&self.checking, &a.id) else {
            return Ok(a);
        };
        let attempt = a.attempt.clone().unwrap_or_else(|| legacy_attempt(&a));
        let now = Utc::now();
        let sf = self.clients.of_or_shared(Some(self.writer(&a))).await;
        let evidence = match self.look_with(&sf, &attempt).await {
            Ok(e) => e,
            Err(e) => {
                warn!(action = %a.id, error = %e, "cannot look for the write now; still unknown");
                return Ok(a);
            }
        };
        // Settled while we looked (the writer answered late, or another replica looked
        // too): nothing more to record.
        if let Some(latest) = self.records.get(&a.id)?
            && latest.state != ActionState::Unknown
        {
            self.note_unknown(&a.id, false);
            return Ok(latest);
        }
        let limit = Duration::milliseconds(self.writes.time_limit.as_millis() as i64);
        let outcome = match evidence {
            Evidence::Found(written) => {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind: AuditKind::Reconciled,
                    actor: None,
                    summary: format!("Found in Salesforce: {} record(s)", written.len()),
                    detail: json!({"written": written, "checks": attempt.checks + 1}),
                });
                self.finish_write(a.clone(), Ok(written)).await?
            }
            Evidence::Absent if now >= attempt.started_at + limit => {
                let minutes = (now - attempt.started_at).num_minutes().max(1);
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind: AuditKind::Reconciled,
                    actor: None,
                    summary: "Not in Salesforce after its time limit: never written".into(),
                    detail: json!({"checks": attempt.checks + 1}),
                });
                let failure = WriteFailure {
                    message: format!(
                        "Salesforce has no trace of this write {minutes} minute(s) after it was sent, so it never landed"
                    ),
                    code: None,
                    fields: vec![],
                    record: None,
                    transient: true,
                };
                self.finish_write(a.clone(), Err(failure)).await?
            }
            Evidence::Absent => {
                let noted = self.records.update(&a.id, |a| {
                    if a.state != ActionState::Unknown {
                        return Ok::<_, ()>(Update::Keep(a.clone()));
                    }
                    let mut a = a.clone();
                    let t = a.attempt.get_or_insert_with(|| attempt.clone());
                    t.checks += 1;
                    t.checked_at = Some(now);
                    Ok(Update::Set(a.clone(), a))
                })?;
                return Ok(noted.unwrap_or(a));
            }
        };
        let settled = match outcome {
            Outcome::Changed(done) => *done,
            Outcome::Refused { action, .. } => action.map(|b| *b).unwrap_or(a),
        };
        if settled.state != ActionState::Unknown {
            self.note_unknown(&settled.id, false);
        }
        Ok(settled)
    }

    /// What Salesforce holds of an attempt: its queries in as few requests as possible
    /// (one composite of up to five queries; usually one request).
    pub async fn look(&self, attempt: &Attempt) -> Result<Evidence, SalesforceError> {
        self.look_with(self.salesforce(), attempt).await
    }

    /// `look`, with this client (the writer's, in user mode).
    pub async fn look_with(
        &self,
        sf: &SalesforceClient,
        attempt: &Attempt,
    ) -> Result<Evidence, SalesforceError> {
        let queries = queries(attempt);
        let soqls: Vec<&str> = queries.iter().map(|q| q.soql.as_str()).collect();
        let (answers, _) = sf.query_composite(&soqls).await?;
        let mut rows: Vec<Vec<Value>> = Vec::with_capacity(answers.len());
        for sub in answers {
            if !(200..300).contains(&sub.http_status_code) {
                return Err(SalesforceError::from_composite(
                    sub.http_status_code,
                    &sub.body,
                ));
            }
            rows.push(sub.body["records"].as_array().cloned().unwrap_or_default());
        }
        Ok(weigh(attempt, &queries, &rows, sf.instance_url()))
    }
}

/// The right to look for one action's write; released when dropped.
struct CheckTurn {
    set: Arc<Mutex<BTreeSet<String>>>,
    id: String,
}

impl CheckTurn {
    fn take(set: &Arc<Mutex<BTreeSet<String>>>, id: &str) -> Option<CheckTurn> {
        let mut held = set.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(id.to_string()).then(|| CheckTurn {
            set: set.clone(),
            id: id.to_string(),
        })
    }
}

impl Drop for CheckTurn {
    fn drop(&mut self) {
        let mut held = self.set.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

/// An action stored by a crmbot before attempts were recorded: its meeting Task carried
/// `[crmbot:<id>]` in the Subject.
fn legacy_attempt(a: &PendingAction) -> Attempt {
    let started = a.decided_at.unwrap_or(a.updated_at);
    Attempt {
        started_at: started,
        revision: a.revision,
        created_since: started - Duration::days(1),
        retry_safe: false,
        probes: vec![Probe {
            object: "Task".into(),
            label: "Task".into(),
            name: "Meeting".into(),
            outcome: "created".into(),
            find: Find::Values {
                values: Default::default(),
                confirm: Some(("Subject".into(), format!("[crmbot:{}]", a.id))),
            },
        }],
        doubt: None,
        checks: 0,
        checked_at: None,
    }
}

mod look;
mod orphans;
#[cfg(test)]
mod orphans_tests;
#[cfg(test)]
mod tests;

use look::{queries, weigh};
use orphans::Left;
