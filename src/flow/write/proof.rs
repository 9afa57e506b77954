//! How each record of a write can be found afterwards, for when crmbot cannot tell whether
//! Salesforce saved it (killed mid-request, a timeout, a 5xx, an unreadable answer). A
//! created record is found by its idempotency key when the org has the key field — proof on
//! its own — else by a few identifying values it was created with since the attempt began;
//! an updated record by whether it holds what was written. The meeting Task without a key
//! is confirmed by the provenance line its Description ends with.

use serde_json::{Map, Value};

use super::{OrgFacts, Step};
use crate::flow::action::{Find, Probe, record_key};

/// Fields that tell a created record apart, most telling first. Long text cannot be
/// filtered in SOQL, and references to records created in the same write are unknown.
const IDENTIFYING: [&str; 15] = [
    "Subject",
    "Name",
    "LastName",
    "FirstName",
    "Email",
    "Company",
    "Title",
    "Phone",
    "StageName",
    "CloseDate",
    "Amount",
    "ActivityDate",
    "Status",
    "WhoId",
    "OwnerId",
];
/// Values a fingerprint uses at most (the SOQL stays short).
const MAX_VALUES: usize = 4;

/// The probe of one step. `confirm`: a long-text field and a text it must contain.
pub(super) fn probe(
    action_id: &str,
    step: &Step,
    body: &Map<String, Value>,
    facts: &OrgFacts,
    confirm: Option<(String, String)>,
) -> Probe {
    let find = match (&step.id, facts.key(&step.object)) {
        (Some(id), _) => Find::Id {
            id: id.clone(),
            values: plain(body, |_| true),
        },
        (None, Some(field)) => Find::Key {
            field: field.to_string(),
            value: record_key(action_id, step.record),
        },
        (None, None) => {
            // Compared as text or numbers only: long text cannot be filtered, and a date
            // would need its own literal form.
            let filterable = |name: &str, v: &Value| match facts.field_type(&step.object, name) {
                Some(t) => !matches!(
                    t,
                    "textarea" | "base64" | "multipicklist" | "date" | "datetime" | "time"
                ),
                None => !(name.ends_with("Date") || name == "Description" || date_like(v)),
            };
            let mut values = Map::new();
            for name in IDENTIFYING {
                if values.len() == MAX_VALUES {
                    break;
                }
                if let Some(v) = body.get(name).filter(|v| usable(v) && filterable(name, v)) {
                    values.insert(name.to_string(), v.clone());
                }
            }
            Find::Values { values, confirm }
        }
    };
    Probe {
        object: step.object.clone(),
        label: step.label.clone(),
        name: step.name.clone(),
        outcome: step.outcome.to_string(),
        find,
    }
}

/// Whether sending the write again cannot create anything twice: every create is keyed.
pub(super) fn retry_safe(probes: &[Probe]) -> bool {
    probes
        .iter()
        .all(|p| !matches!(p.find, Find::Values { .. }))
}

/// The scalar values of a body a check can compare (no references to records of the same
/// write, which have no id yet).
fn plain(body: &Map<String, Value>, keep: impl Fn(&str) -> bool) -> Map<String, Value> {
    body.iter()
        .filter(|(k, v)| keep(k) && usable(v) && k.as_str() != "attributes")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn date_like(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() >= 10 && s.as_bytes()[4] == b'-' && s[..4].bytes().all(|b| b.is_ascii_digit())
    })
}

fn usable(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains("@{"),
        Value::Number(_) | Value::Bool(_) => true,
        _ => false,
    }
}
