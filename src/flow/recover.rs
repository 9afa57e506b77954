//! What happens to actions nobody is clicking on: drafts past their expiry become Expired,
//! and writes a stopped process left in Writing are settled at start-up by asking
//! Salesforce for the marker the write carried, never by writing again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::warn;

use super::action::{PendingAction, WriteFailure, Written};
use super::actions::{ActionError, Actions, Outcome};
use super::proposal::record_url;
use crate::domain::action::{ActionState, Event, next};
use crate::domain::soql::quote_contains;
use crate::salesforce::SalesforceError;
use crate::store::{AuditEntry, AuditKind, Update};

impl Actions {
    /// Moves every waiting draft past its expiry to Expired; returns them for their cards.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<PendingAction>, ActionError> {
        let mut expired = Vec::new();
        for a in self.records.all()? {
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

    /// At start-up: an action left in Writing (the process stopped mid-write) is looked up
    /// in Salesforce by its marker and completed, or marked Failed. Never written again.
    pub async fn reconcile(&self) -> Result<Vec<PendingAction>, ActionError> {
        let mut settled = Vec::new();
        for a in self.records.all()? {
            if a.state != ActionState::Writing {
                continue;
            }
            let result = if a.meeting_task {
                match self.find_marker(&a).await {
                    Ok(Some(found)) => Ok(found),
                    Ok(None) => Err(WriteFailure {
                        message: "crmbot stopped before this write reached Salesforce; nothing was written. Approve again to write it.".into(),
                        code: None,
                        fields: vec![],
                        record: None,
                        transient: true,
                    }),
                    Err(e) => {
                        warn!(action = %a.id, error = %e, "cannot reconcile now; left in Writing");
                        continue;
                    }
                }
            } else {
                Err(WriteFailure {
                    message: "crmbot stopped during this write and cannot tell whether it reached Salesforce (the meeting Task, which carries the marker, is turned off). Check Salesforce before approving again.".into(),
                    code: None,
                    fields: vec![],
                    record: None,
                    transient: false,
                })
            };
            if result.is_ok() {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind: AuditKind::Reconciled,
                    actor: None,
                    summary: "Found in Salesforce after a restart".into(),
                    detail: Value::Null,
                });
            }
            if let Outcome::Changed(done) = self.finish_write(a, result).await? {
                settled.push(*done);
            }
        }
        Ok(settled)
    }

    /// Looks for the meeting Task carrying the action's marker: one query request.
    pub(super) async fn find_marker(
        &self,
        a: &PendingAction,
    ) -> Result<Option<Vec<Written>>, SalesforceError> {
        if !a.meeting_task {
            return Ok(None);
        }
        let soql = format!(
            "SELECT Id, Subject FROM Task WHERE Subject LIKE {} LIMIT 1",
            quote_contains(&a.marker())
        );
        let sf = self.salesforce();
        let result = sf.query(&soql).await?;
        Ok(result.records.first().and_then(|row| {
            let id = row.get("Id")?.as_str()?.to_string();
            let subject = row.get("Subject").and_then(Value::as_str).unwrap_or("");
            Some(vec![Written {
                object: "Task".into(),
                label: "Task".into(),
                outcome: "created".into(),
                url: record_url(sf.instance_url(), "Task", &id),
                name: subject.to_string(),
                id,
            }])
        }))
    }
}
