//! What an undo may touch: for each record the write created or updated, what crmbot wrote
//! and what was there before, compared with what Salesforce holds now (read in one request).
//! A record changed since crmbot wrote it is left alone; the rest go into one composite.

use serde_json::{Map, Value};

use crate::flow::action::{PendingAction, UndoLine, Written};
use crate::flow::proposal::ProposedRecord;
use crate::flow::write::record_name;
use crate::salesforce::{CompositeRequest, CompositeSubrequest, CompositeSubresponse};

/// One record of the write, as an undo needs it.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub written: Written,
    /// Field -> (the value crmbot wrote, the value before; `None` for a create).
    pub fields: Vec<(String, String, Value, Option<Value>)>,
}

/// What the read found for one record.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// Still what crmbot wrote: undo it.
    Intact,
    /// Already as before the write (an earlier undo landed): nothing to send.
    AlreadyUndone(String),
    /// Changed, deleted, or unreadable: left alone, with why.
    Leave(String),
}

/// The records of the write with their fields, from the proposal approved.
pub(super) fn targets(a: &PendingAction) -> Vec<Target> {
    a.written
        .iter()
        .map(|w| {
            let record = a
                .proposal
                .records
                .iter()
                .find(|r| match w.outcome.as_str() {
                    "updated" => r.id.as_deref() == Some(w.id.as_str()),
                    _ => r.action == "create" && r.object == w.object && record_name(r) == w.name,
                });
            Target {
                written: w.clone(),
                fields: record.map(|r| fields_of(r, w)).unwrap_or_default(),
            }
        })
        .collect()
}

fn fields_of(r: &ProposedRecord, w: &Written) -> Vec<(String, String, Value, Option<Value>)> {
    r.fields
        .iter()
        .filter(|f| f.include && (w.outcome != "updated" || f.changed))
        .map(|f| {
            let before = (w.outcome == "updated").then(|| f.old.clone().unwrap_or(Value::Null));
            (f.name.clone(), f.label.clone(), f.value.clone(), before)
        })
        .collect()
}

/// One composite of GETs: each record with the fields crmbot wrote and its dates.
pub(super) fn read_request(
    targets: &[Target],
    sobject_url: impl Fn(&str) -> String,
) -> CompositeRequest {
    let subrequests = targets
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut names: Vec<&str> = t.fields.iter().map(|f| f.0.as_str()).collect();
            names.extend(["CreatedDate", "LastModifiedDate"]);
            CompositeSubrequest {
                method: "GET".into(),
                url: format!(
                    "{}/{}?fields={}",
                    sobject_url(&t.written.object),
                    t.written.id,
                    names.join(",")
                ),
                reference_id: format!("g{k}"),
                body: None,
            }
        })
        .collect();
    CompositeRequest {
        all_or_none: false,
        collate_subrequests: false,
        subrequests,
    }
}

/// Compares what Salesforce holds with what crmbot wrote. `after_doubt`: an undo was sent
/// before and nobody knows whether it landed, so a record found as it was before the write
/// (or deleted, for a create) is counted undone.
pub(super) fn judge(t: &Target, answer: Option<&CompositeSubresponse>, after_doubt: bool) -> Found {
    let Some(answer) = answer else {
        return Found::Leave("Salesforce did not answer for it".into());
    };
    let created = t.written.outcome != "updated";
    if answer.http_status_code == 404 {
        return if created && after_doubt {
            Found::AlreadyUndone("deleted".into())
        } else {
            Found::Leave("it was deleted in Salesforce since".into())
        };
    }
    if !(200..300).contains(&answer.http_status_code) {
        return Found::Leave(format!(
            "crmbot could not read it (HTTP {})",
            answer.http_status_code
        ));
    }
    let now = &answer.body;
    let changed: Vec<String> = t
        .fields
        .iter()
        .filter(|(name, _, wrote, _)| !same(now.get(name).unwrap_or(&Value::Null), wrote))
        .map(|(name, label, _, _)| {
            format!(
                "{label} is now {}",
                shown(now.get(name).unwrap_or(&Value::Null))
            )
        })
        .collect();
    if created {
        let touched = now.get("LastModifiedDate") != now.get("CreatedDate");
        return match (changed.is_empty(), touched) {
            (true, false) => Found::Intact,
            (true, true) => {
                Found::Leave("it was edited in Salesforce since crmbot created it".into())
            }
            (false, _) => Found::Leave(format!(
                "changed in Salesforce since: {}",
                changed.join(", ")
            )),
        };
    }
    if changed.is_empty() {
        return Found::Intact;
    }
    let restored = t.fields.iter().all(|(name, _, _, before)| {
        same(
            now.get(name).unwrap_or(&Value::Null),
            before.as_ref().unwrap_or(&Value::Null),
        )
    });
    if restored && after_doubt {
        return Found::AlreadyUndone(restored_words(t));
    }
    Found::Leave(format!(
        "changed in Salesforce since: {}",
        changed.join(", ")
    ))
}

/// The one request that undoes: children first (the reverse of the write's order), deletes
/// of created records and PATCHes back to the values before, all or none.
pub(super) fn undo_request(
    intact: &[&Target],
    sobject_url: impl Fn(&str) -> String,
) -> CompositeRequest {
    let subrequests = intact
        .iter()
        .rev()
        .enumerate()
        .map(|(k, t)| {
            let url = format!("{}/{}", sobject_url(&t.written.object), t.written.id);
            if t.written.outcome == "updated" {
                let body: Map<String, Value> = t
                    .fields
                    .iter()
                    .map(|(name, _, _, before)| {
                        (name.clone(), before.clone().unwrap_or(Value::Null))
                    })
                    .collect();
                CompositeSubrequest {
                    method: "PATCH".into(),
                    url,
                    reference_id: format!("u{k}"),
                    body: Some(Value::Object(body)),
                }
            } else {
                CompositeSubrequest {
                    method: "DELETE".into(),
                    url,
                    reference_id: format!("d{k}"),
                    body: None,
                }
            }
        })
        .collect();
    CompositeRequest {
        all_or_none: true,
        collate_subrequests: false,
        subrequests,
    }
}

/// What undoing a record does, in words.
pub(super) fn done_words(t: &Target) -> String {
    if t.written.outcome == "updated" {
        restored_words(t)
    } else {
        "deleted".into()
    }
}

fn restored_words(t: &Target) -> String {
    let parts: Vec<String> = t
        .fields
        .iter()
        .map(|(_, label, _, before)| {
            format!(
                "{label} back to {}",
                shown(before.as_ref().unwrap_or(&Value::Null))
            )
        })
        .collect();
    if parts.is_empty() {
        "restored".into()
    } else {
        parts.join(", ")
    }
}

pub(super) fn line(t: &Target, what: String) -> UndoLine {
    UndoLine {
        label: t.written.label.clone(),
        name: t.written.name.clone(),
        id: t.written.id.clone(),
        url: t.written.url.clone(),
        what,
    }
}

/// The first error of an all-or-none answer that refused, in Salesforce's words.
pub(super) fn refusal(answers: &[CompositeSubresponse]) -> Option<String> {
    let failed: Vec<&CompositeSubresponse> = answers
        .iter()
        .filter(|a| !(200..300).contains(&a.http_status_code))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let real = failed
        .iter()
        .flat_map(|a| a.body.as_array().into_iter().flatten())
        .find(|e| {
            e["errorCode"] != "PROCESSING_HALTED"
                && e["errorCode"] != "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        })
        .or_else(|| {
            failed
                .iter()
                .flat_map(|a| a.body.as_array().into_iter().flatten())
                .next()
        });
    Some(match real {
        Some(e) => format!(
            "{} ({})",
            e["message"]
                .as_str()
                .unwrap_or("Salesforce refused the undo"),
            e["errorCode"].as_str().unwrap_or("error")
        ),
        None => format!("Salesforce answered HTTP {}", failed[0].http_status_code),
    })
}

/// Values compared as Salesforce returns them: numbers by value, dates and times by the
/// instant, empty text as nothing.
pub(super) fn same(now: &Value, wrote: &Value) -> bool {
    match (now, wrote) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        (Value::String(a), Value::String(b)) if a != b => match (instant(a), instant(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (a, b) => a == b,
    }
}

fn instant(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => "empty".into(),
        Value::String(s) if s.chars().count() > 60 => {
            format!("\"{}…\"", s.chars().take(59).collect::<String>())
        }
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), crate::domain::validate::show_number),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_compare_as_salesforce_returns_them() {
        assert!(same(&json!(40000.0), &json!(40000)));
        assert!(same(&json!(null), &json!("")));
        assert!(same(
            &json!("2026-11-25T10:00:00.000+0000"),
            &json!("2026-11-25T10:00:00.000Z")
        ));
        assert!(!same(
            &json!("Qualification"),
            &json!("Proposal/Price Quote")
        ));
        assert!(!same(&json!(null), &json!(5)));
    }
}
