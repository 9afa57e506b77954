//! Undo: a write taken back, exactly once, while the policy's window lasts. Like Approve,
//! the click moves the action (Done, or UndoUnknown) to Undoing by compare-and-swap, the
//! audit record goes first (no audit record, no request), and an answer that proves
//! nothing leaves UndoUnknown, never a guess. Before anything is sent, one request reads
//! every record the write touched; a record Salesforce no longer holds as crmbot wrote it
//! is listed and left alone. Then ONE composite request (all or none) deletes what the
//! write created and puts back the values it replaced.

mod compare;

use chrono::{Duration, Utc};
use serde_json::json;
use tracing::{info, instrument, warn};

use super::action::{PendingAction, UndoReport};
use super::actions::{ActionError, Actions, Outcome};
use super::approve::doubt_of;
use crate::domain::action::{ActionState, Event, next};
use crate::flow::storage::{AuditEntry, AuditKind, StoreError, Update};
use compare::{Found, Target};

/// Why an Undo click does nothing, in words for the person.
fn refused(reason: impl Into<String>, action: Option<PendingAction>) -> Outcome {
    Outcome::Refused {
        reason: reason.into(),
        action: action.map(Box::new),
    }
}

impl Actions {
    /// Until when the write of `a` may be undone (`None`: Undo is off, or nothing was
    /// written).
    pub fn undo_until(&self, a: &PendingAction) -> Option<chrono::DateTime<Utc>> {
        let window = self.access.policy.undo.window;
        if window.is_zero() || a.written.is_empty() {
            return None;
        }
        let since = a.decided_at.unwrap_or(a.updated_at);
        Some(since + Duration::milliseconds(window.as_millis() as i64))
    }

    /// Undo the write of action `id` for `user`: checks, the move to Undoing, the read,
    /// the one request, and Undone (or Done again, or UndoUnknown).
    #[instrument(skip(self), fields(action = %id))]
    pub async fn undo(&self, id: &str, user: &str) -> Result<Outcome, ActionError> {
        let Some(current) = self.records.get(id)? else {
            return Err(ActionError::Missing);
        };
        if let Some(reason) = self.may_undo(&current, user).await {
            self.audit(AuditEntry {
                action_id: id.to_string(),
                kind: AuditKind::Refused,
                actor: Some(user.to_string()),
                summary: format!("Undo refused: {reason}"),
                detail: serde_json::Value::Null,
            });
            return Ok(refused(reason, Some(current)));
        }
        let now = Utc::now();
        let taken = self.records.update(id, |a| {
            if a.state != current.state {
                return Err(next(a.state, Event::Undo, now, a.expires_at).err().map_or(
                    "This write changed meanwhile; try again.".to_string(),
                    |e| e.to_string(),
                ));
            }
            let state = next(a.state, Event::Undo, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut w = a.clone();
            w.state = state;
            w.updated_at = now;
            w.undo = Some(fresh_report(user, now));
            Ok(Update::Set(w.clone(), (w, a.clone())))
        });
        let (undoing, before) = match taken {
            Err(StoreError::Missing(_)) => return Err(ActionError::Missing),
            Err(e) => return Err(e.into()),
            Ok(Err(reason)) => return Ok(refused(reason, self.records.get(id)?)),
            Ok(Ok(pair)) => pair,
        };
        let after_doubt = before.state == ActionState::UndoUnknown;
        let targets = compare::targets(&undoing);
        let sf = self.salesforce().clone();
        let url = |o: &str| sf.sobject_url(o);

        // One read of everything the write touched.
        let read = compare::read_request(&targets, url);
        let answers = match sf.composite(&read).await {
            Ok(r) => r.responses,
            Err(e) => {
                warn!(error = %e, "could not read the written records");
                self.put_back(&undoing, &before);
                return Ok(refused(
                    format!(
                        "crmbot could not read the records in Salesforce ({e}), so nothing was undone. Try Undo again in a moment."
                    ),
                    self.records.get(id)?,
                ));
            }
        };
        let mut report = undoing
            .undo
            .clone()
            .unwrap_or_else(|| fresh_report(user, now));
        let mut intact: Vec<&Target> = Vec::new();
        for (k, t) in targets.iter().enumerate() {
            let answer = answers.iter().find(|r| r.reference_id == format!("g{k}"));
            match compare::judge(t, answer, after_doubt) {
                Found::Intact => intact.push(t),
                Found::AlreadyUndone(what) => report.undone.push(compare::line(t, what)),
                Found::Leave(why) => report.left.push(compare::line(t, why)),
            }
        }
        let request = compare::undo_request(&intact, url);
        // The audit record of what will be sent, before it is sent.
        let audited = self.audit_first(AuditEntry {
            action_id: id.to_string(),
            kind: AuditKind::UndoRequested,
            actor: Some(user.to_string()),
            summary: format!(
                "Undo requested: {} to undo, {} left alone",
                intact.len(),
                report.left.len()
            ),
            detail: json!({"undo": report, "request": request}),
        });
        if let Err(e) = audited {
            self.put_back(&undoing, &before);
            return Ok(refused(
                format!(
                    "crmbot could not record this undo in its audit log ({e}), so nothing was sent to Salesforce. Tell your crmbot admin: the data folder may be full or read-only."
                ),
                self.records.get(id)?,
            ));
        }
        if intact.is_empty() {
            return self
                .finish_undo(id, report, Event::UndoSucceeded, None)
                .await;
        }
        match sf.composite(&request).await {
            Ok(answer) => match compare::refusal(&answer.responses) {
                None => {
                    for t in &intact {
                        report.undone.push(compare::line(t, compare::done_words(t)));
                    }
                    let detail = json!({"response": answer.responses.iter().map(|s| json!({
                        "referenceId": s.reference_id,
                        "httpStatusCode": s.http_status_code,
                        "body": s.body,
                    })).collect::<Vec<_>>()});
                    self.finish_undo(id, report, Event::UndoSucceeded, Some(detail))
                        .await
                }
                Some(why) => {
                    report.error = Some(why);
                    self.finish_undo(id, report, Event::UndoFailed, None).await
                }
            },
            Err(e) => {
                warn!(error = %e, "undo failed");
                match doubt_of(&e) {
                    Some(why) => {
                        report.doubt = Some(why);
                        self.finish_undo(id, report, Event::UndoUnknown, None).await
                    }
                    None => {
                        report.error = Some(e.to_string());
                        self.finish_undo(id, report, Event::UndoFailed, None).await
                    }
                }
            }
        }
    }

    /// `Some(why not)` when `user` may not undo `a` now.
    async fn may_undo(&self, a: &PendingAction, user: &str) -> Option<String> {
        let rule = &self.access.policy.undo;
        match a.state {
            ActionState::Done | ActionState::UndoUnknown => {}
            ActionState::Undoing => return Some("This write is already being undone.".into()),
            ActionState::Undone => return Some("This write was already undone.".into()),
            _ => return Some("Only a write to Salesforce can be undone.".into()),
        }
        let Some(until) = self.undo_until(a) else {
            return Some("Undo is turned off for this workspace (policy.undo.window).".into());
        };
        // An undo nobody could prove is finished whatever the clock says.
        if a.state == ActionState::Done && Utc::now() >= until {
            return Some(format!(
                "Undo was possible until {} UTC ({} after the approval); change the records in Salesforce instead.",
                until.format("%Y-%m-%d %H:%M"),
                rule.window_words()
            ));
        }
        let approvers: Vec<&str> = a
            .approvals
            .iter()
            .map(|x| x.user.as_str())
            .chain(a.decided_by.as_deref())
            .collect();
        let member = self.access.membership(user, &[&rule.also]).await;
        if !rule.allows(user, &a.requester, &approvers, &|g| member.member(g)) {
            return Some(format!(
                "You can't undo this write: the policy lets {} undo it.",
                rule.who()
            ));
        }
        None
    }

    /// Nothing was sent: the action goes back to where it was.
    fn put_back(&self, undoing: &PendingAction, before: &PendingAction) {
        let restored = self.records.update(&undoing.id, |a| {
            if a.state == undoing.state && a.undo == undoing.undo {
                Ok::<_, ()>(Update::Set(before.clone(), ()))
            } else {
                Ok(Update::Keep(()))
            }
        });
        if let Err(e) = restored {
            warn!(error = %e, "could not put the action back after an undo that sent nothing");
        }
    }

    /// The audit record of the outcome first, then the state.
    async fn finish_undo(
        &self,
        id: &str,
        report: UndoReport,
        event: Event,
        response: Option<serde_json::Value>,
    ) -> Result<Outcome, ActionError> {
        let (kind, summary) = match event {
            Event::UndoSucceeded => (
                AuditKind::Undone,
                format!(
                    "Undone: {}{}",
                    lines(&report.undone),
                    if report.left.is_empty() {
                        String::new()
                    } else {
                        format!("; left alone: {}", lines(&report.left))
                    }
                ),
            ),
            _ => (
                AuditKind::UndoFailed,
                match (&report.doubt, &report.error) {
                    (Some(d), _) => format!("Undo outcome unknown: {d}"),
                    (_, Some(e)) => format!("Undo refused by Salesforce: {e}"),
                    _ => "Undo failed".into(),
                },
            ),
        };
        self.audit(AuditEntry {
            action_id: id.to_string(),
            kind,
            actor: Some(report.by.clone()),
            summary,
            detail: json!({"undo": report, "response": response}),
        });
        let now = Utc::now();
        let updated = self.records.update(id, |a| {
            let state = next(a.state, event, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut a = a.clone();
            a.state = state;
            a.updated_at = now;
            a.undo = Some(report.clone());
            Ok::<_, String>(Update::Set(a.clone(), a))
        })?;
        match updated {
            Ok(a) => {
                info!(state = a.state.as_str(), "undo finished");
                Ok(Outcome::Changed(Box::new(a)))
            }
            Err(reason) => Ok(refused(reason, self.records.get(id)?)),
        }
    }
}

/// An undo just asked for: nothing done yet.
fn fresh_report(by: &str, at: chrono::DateTime<Utc>) -> UndoReport {
    UndoReport {
        by: by.to_string(),
        at,
        undone: vec![],
        left: vec![],
        error: None,
        doubt: None,
    }
}

fn lines(list: &[super::action::UndoLine]) -> String {
    list.iter()
        .map(|l| format!("{} {} ({}): {}", l.label, l.name, l.id, l.what))
        .collect::<Vec<_>>()
        .join("; ")
}
