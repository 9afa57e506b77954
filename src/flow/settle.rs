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
use super::proposal::record_url;
use crate::domain::action::{ActionState, Event, next};
use crate::domain::soql::quote;
use crate::salesforce::{CompositeRequest, CompositeSubrequest, SalesforceError};
use crate::store::{AuditEntry, AuditKind, Update};

/// Query subrequests one composite takes.
const QUERIES_PER_REQUEST: usize = 5;
/// Rows a fingerprint query reads at most.
const ROWS: usize = 200;

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

    /// At start-up: a write a stopped process left in Writing has an unknown outcome; it
    /// and every other unknown write are looked for. Returns the actions whose cards changed.
    pub async fn reconcile(&self) -> Result<Vec<PendingAction>, ActionError> {
        let now = Utc::now();
        for a in self.records.all()? {
            if a.state != ActionState::Writing {
                continue;
            }
            let why = "crmbot stopped while this write was under way".to_string();
            let r = self.records.update(&a.id, |a| {
                let state =
                    next(a.state, Event::WriteUnknown, now, a.expires_at).map_err(|_| ())?;
                let mut a = a.clone();
                a.state = state;
                a.updated_at = now;
                if let Some(t) = a.attempt.as_mut() {
                    t.doubt = Some(why.clone());
                }
                Ok::<_, ()>(Update::Set(a.clone(), a))
            })?;
            if r.is_ok() {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind: AuditKind::WriteUnknown,
                    actor: None,
                    summary: format!("Outcome unknown: {why}"),
                    detail: json!({"doubt": why}),
                });
            }
        }
        for a in self.records.all()? {
            if a.state == ActionState::Unknown {
                self.note_unknown(&a.id, true);
            }
        }
        let mut changed = self.recheck_unknown().await?;
        // Still unknown ones get the "checking" card too.
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
        let evidence = match self.look(&attempt).await {
            Ok(e) => e,
            Err(e) => {
                warn!(action = %a.id, error = %e, "cannot look for the write now; still unknown");
                return Ok(a);
            }
        };
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
        let sf = self.salesforce();
        let queries = queries(attempt);
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for chunk in queries.chunks(QUERIES_PER_REQUEST) {
            let request = CompositeRequest {
                all_or_none: false,
                collate_subrequests: false,
                subrequests: chunk
                    .iter()
                    .enumerate()
                    .map(|(i, q)| CompositeSubrequest {
                        method: "GET".into(),
                        url: sf.query_url(&q.soql),
                        reference_id: format!("q{i}"),
                        body: None,
                    })
                    .collect(),
            };
            let response = sf.composite(&request).await?;
            for (i, q) in chunk.iter().enumerate() {
                let sub = response
                    .responses
                    .iter()
                    .find(|s| s.reference_id == format!("q{i}"))
                    .ok_or_else(|| SalesforceError::missing_subresponse(&q.soql))?;
                if !(200..300).contains(&sub.http_status_code) {
                    return Err(SalesforceError::from_composite(
                        sub.http_status_code,
                        &sub.body,
                    ));
                }
                rows.push(sub.body["records"].as_array().cloned().unwrap_or_default());
            }
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

/// One query and the probes it answers.
struct Query {
    soql: String,
    probes: Vec<usize>,
}

/// The queries of an attempt: per object, one for its keys, one for its fingerprints, one
/// for its updated records.
fn queries(attempt: &Attempt) -> Vec<Query> {
    let mut out: Vec<Query> = Vec::new();
    let mut objects: Vec<&str> = attempt.probes.iter().map(|p| p.object.as_str()).collect();
    objects.sort();
    objects.dedup();
    for object in objects.into_iter().filter(|o| identifier(o)) {
        let of = |kind: u8| -> Vec<(usize, &Probe)> {
            attempt
                .probes
                .iter()
                .enumerate()
                .filter(|(_, p)| p.object == object && kind_of(&p.find) == kind)
                .collect()
        };
        let keyed = of(0);
        if let Some((
            _,
            Probe {
                find: Find::Key { field, .. },
                ..
            },
        )) = keyed.first()
            && identifier(field)
        {
            let values: Vec<String> = keyed
                .iter()
                .filter_map(|(_, p)| match &p.find {
                    Find::Key { value, .. } => Some(quote(value)),
                    _ => None,
                })
                .collect();
            out.push(Query {
                soql: format!(
                    "SELECT Id, {field} FROM {object} WHERE {field} IN ({})",
                    values.join(", ")
                ),
                probes: keyed.iter().map(|(i, _)| *i).collect(),
            });
        }
        let fingerprints = of(1);
        let mut fields: Vec<String> = Vec::new();
        let mut alternatives: Vec<String> = Vec::new();
        let mut answered: Vec<usize> = Vec::new();
        for (i, p) in &fingerprints {
            let Find::Values { values, confirm } = &p.find else {
                continue;
            };
            let conditions: Vec<String> = values
                .iter()
                .filter(|(k, _)| identifier(k))
                .filter_map(|(k, v)| literal(v).map(|l| format!("{k} = {l}")))
                .collect();
            let confirm = confirm.as_ref().filter(|(f, _)| identifier(f));
            // A probe with nothing to compare would match any new record: it finds nothing.
            match (conditions.is_empty(), confirm) {
                (false, _) => alternatives.push(format!("({})", conditions.join(" AND "))),
                (true, Some(_)) => alternatives.push("Id != null".to_string()),
                (true, None) => continue,
            }
            answered.push(*i);
            fields.extend(values.keys().filter(|k| identifier(k)).cloned());
            if let Some((field, _)) = confirm {
                fields.push(field.clone());
            }
        }
        if !answered.is_empty() {
            fields.sort();
            fields.dedup();
            fields.retain(|f| f != "Id");
            let select = std::iter::once("Id".to_string())
                .chain(fields)
                .collect::<Vec<_>>()
                .join(", ");
            let since = attempt
                .created_since
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            out.push(Query {
                soql: format!(
                    "SELECT {select} FROM {object} WHERE CreatedDate >= {since} AND ({}) ORDER BY CreatedDate ASC LIMIT {ROWS}",
                    alternatives.join(" OR ")
                ),
                probes: answered,
            });
        }
        let updated = of(2);
        if !updated.is_empty() {
            let mut fields: Vec<String> = Vec::new();
            let mut ids: Vec<String> = Vec::new();
            for (_, p) in &updated {
                if let Find::Id { id, values } = &p.find {
                    ids.push(quote(id));
                    fields.extend(values.keys().filter(|k| identifier(k)).cloned());
                }
            }
            fields.sort();
            fields.dedup();
            fields.retain(|f| f != "Id");
            let select = std::iter::once("Id".to_string())
                .chain(fields)
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Query {
                soql: format!(
                    "SELECT {select} FROM {object} WHERE Id IN ({})",
                    ids.join(", ")
                ),
                probes: updated.iter().map(|(i, _)| *i).collect(),
            });
        }
    }
    out
}

fn kind_of(find: &Find) -> u8 {
    match find {
        Find::Key { .. } => 0,
        Find::Values { .. } => 1,
        Find::Id { .. } => 2,
    }
}

/// Decides from the rows: any created record found proves the write (allOrNone: all of it
/// or none); a write of updates only is proven when every record holds what was written.
fn weigh(attempt: &Attempt, queries: &[Query], rows: &[Vec<Value>], instance: &str) -> Evidence {
    let mut found: Vec<Option<String>> = vec![None; attempt.probes.len()];
    for (query, rows) in queries.iter().zip(rows) {
        let mut taken: Vec<&str> = Vec::new();
        for &i in &query.probes {
            let probe = &attempt.probes[i];
            let hit = rows.iter().find(|row| {
                let id = row["Id"].as_str().unwrap_or_default();
                !taken.contains(&id) && matches(&probe.find, row)
            });
            if let Some(id) = hit.and_then(|r| r["Id"].as_str()) {
                taken.push(id);
                found[i] = Some(id.to_string());
            }
        }
    }
    // Creates that could be looked for at all (a probe with nothing to compare was not).
    let asked: Vec<usize> = queries.iter().flat_map(|q| q.probes.clone()).collect();
    let creates: Vec<usize> = asked
        .iter()
        .copied()
        .filter(|&i| !matches!(attempt.probes[i].find, Find::Id { .. }))
        .collect();
    let updates: Vec<usize> = (0..attempt.probes.len())
        .filter(|&i| matches!(attempt.probes[i].find, Find::Id { .. }))
        .collect();
    let proven = if creates.is_empty() {
        !updates.is_empty() && updates.iter().all(|&i| found[i].is_some())
    } else {
        creates.iter().any(|&i| found[i].is_some())
    };
    if !proven {
        return Evidence::Absent;
    }
    let written = attempt
        .probes
        .iter()
        .zip(&found)
        .filter_map(|(p, id)| {
            let id = match (&p.find, id) {
                (_, Some(id)) => id.clone(),
                (Find::Id { id, .. }, None) => id.clone(),
                _ => return None,
            };
            Some(Written {
                object: p.object.clone(),
                label: p.label.clone(),
                outcome: p.outcome.clone(),
                url: record_url(instance, &p.object, &id),
                id,
                name: p.name.clone(),
            })
        })
        .collect();
    Evidence::Found(written)
}

/// Whether a row is the record a probe describes.
fn matches(find: &Find, row: &Value) -> bool {
    match find {
        Find::Key { field, value } => row[field.as_str()]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(value)),
        Find::Values { values, confirm } => {
            values.iter().all(|(k, v)| same(&row[k.as_str()], v, true))
                && confirm.as_ref().is_none_or(|(field, text)| {
                    row[field.as_str()]
                        .as_str()
                        .is_some_and(|v| v.contains(text.as_str()))
                })
        }
        Find::Id { id, values } => {
            row["Id"].as_str().is_some_and(|r| same_id(r, id))
                && values.iter().all(|(k, v)| same(&row[k.as_str()], v, false))
        }
    }
}

/// Salesforce's value against the written one: numbers as numbers, dates by their date,
/// text exactly (or case-insensitively, as SOQL's `=` compares).
fn same(stored: &Value, written: &Value, loose: bool) -> bool {
    match (stored, written) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => {
            a.parse::<f64>().ok() == b.as_f64()
        }
        (Value::String(a), Value::String(b)) => {
            a == b
                || (loose && a.eq_ignore_ascii_case(b))
                || (looks_like_date(b) && a.starts_with(b.as_str()))
                || (b.len() == 15 && a.len() == 18 && same_id(a, b))
        }
        (a, b) => a == b,
    }
}

/// 15- and 18-character forms of one record id.
fn same_id(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 15 && b.len() >= 15 && a[..15] == b[..15])
}

fn looks_like_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-'
}

/// A SOQL literal for a fingerprint value (text, number or boolean: the plan keeps dates
/// and long text out of fingerprints).
fn literal(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(quote(s)),
        _ => None,
    }
}

/// A field or object name as Salesforce spells them (never anything else goes into SOQL).
fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

#[cfg(test)]
mod tests;
