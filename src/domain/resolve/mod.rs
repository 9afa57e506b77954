//! Duplicates and lookups, decided in code. For a validated draft this module (1) writes the
//! few SOQL queries that find every existing record the draft could mean — one query per
//! object, all records' conditions ORed, so the whole draft costs one Salesforce request —
//! and (2) given the rows that came back, decides for each record: create, update (with the
//! current values, so the card can show old -> new), or ambiguous (a person picks). Matching
//! is exact and case-insensitive, as SOQL's `=` is; a lookup never matches more than it says.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::draft::{Issue, IssueKind, Lookup, RecordDraft, ValidatedDraft};
use super::schema::{CrmSchema, ObjectSchema};

/// Rows per object returned by the duplicate check, keyed by object API name.
pub type ExistingRows = BTreeMap<String, Vec<Map<String, Value>>>;

/// One query of the duplicate check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchQuery {
    /// The object, or a key of `people::` for the cross-object checks.
    pub object: String,
    pub soql: String,
    /// A failed optional query (a field the org hides) is skipped, not an error.
    pub optional: bool,
}

/// Rows per match query: one full page, so a query never needs a second request.
pub const MATCH_ROW_LIMIT: usize = 2000;

/// A match query's WHERE clause is kept under this many characters; a larger draft gets
/// several queries for one object (Salesforce caps a statement at 100,000 characters and a
/// request line at 16 KB).
pub const MAX_FILTER_CHARS: usize = 12_000;

/// What happens to one record on approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RecordAction {
    /// No existing record matches: a new one is created.
    Create,
    /// Exactly one existing record matches: it is updated. `current` holds its values.
    Update {
        id: String,
        current: Map<String, Value>,
        /// The match key that found it (`Email`, `Name`, ...), or `lookup`.
        matched_by: String,
    },
    /// Several records match: a person must choose before approving.
    Ambiguous {
        candidates: Vec<Candidate>,
        matched_by: String,
    },
    /// The record named by the lookup does not exist.
    NotFound,
}

/// An existing record offered as a match.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub id: String,
    /// A human label such as "Daniel Reed (daniel@apex.example)".
    pub label: String,
    /// Its current values, so that choosing it shows old -> new and keeps its free text.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub current: Map<String, Value>,
}

/// How a parent named in `link` (or implied for a Task) was resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkTarget {
    /// An existing record.
    Existing { id: String },
    /// A record created by this same draft (index into the draft's records); the write
    /// references it.
    InDraft { record: usize },
    /// Several existing records match.
    Ambiguous { candidates: Vec<Candidate> },
    /// Nothing matches: the record is written without this link.
    NotFound,
}

/// A resolved link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedLink {
    /// The reference field (`AccountId`, `WhoId`, `WhatId`).
    pub field: String,
    /// The parent object.
    pub target_object: String,
    /// How the model named it, when it did (Task links are implied by code).
    pub lookup: Option<Lookup>,
    pub target: LinkTarget,
}

/// One record with its decided action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedRecord {
    pub draft: RecordDraft,
    pub action: RecordAction,
    pub links: Vec<ResolvedLink>,
}

/// Decides each record's action from the rows the match queries returned.
pub fn resolve(
    draft: &ValidatedDraft,
    schema: &CrmSchema,
    rows: &ExistingRows,
) -> Vec<ResolvedRecord> {
    let empty = Vec::new();
    let mut resolved: Vec<ResolvedRecord> = draft
        .records
        .iter()
        .map(|record| {
            let object = schema.object(&record.object);
            let object_rows = rows.get(&record.object).unwrap_or(&empty);
            let action = match (&record.lookup, object) {
                (Some(lookup), _) => {
                    decide(find_rows(object_rows, &lookup.criteria), "lookup", true)
                }
                (None, Some(object)) => match_create(record, object, object_rows),
                (None, None) => RecordAction::Create,
            };
            let mut draft = record.clone();
            apply_action(&mut draft, &action, object);
            ResolvedRecord {
                draft,
                action,
                links: Vec::new(),
            }
        })
        .collect();

    for i in 0..resolved.len() {
        let links = resolve_links(&resolved, i, rows);
        for l in &links {
            if let LinkTarget::Ambiguous { candidates } = &l.target {
                let label = schema
                    .object(&l.target_object)
                    .map_or(l.target_object.as_str(), |o| o.label.as_str());
                resolved[i].draft.issues.push(Issue::blocking(
                    IssueKind::Ambiguous,
                    Some(&l.field),
                    format!(
                        "{} existing {label} records could be its {}: choose one before approving",
                        candidates.len(),
                        l.field
                    ),
                ));
            }
        }
        resolved[i].links = links;
    }
    resolved
}

fn match_create(
    record: &RecordDraft,
    object: &ObjectSchema,
    rows: &[Map<String, Value>],
) -> RecordAction {
    for key in &object.match_keys {
        let Some(values) = key_values(record, key) else {
            continue;
        };
        let found = find_rows(rows, &values);
        if !found.is_empty() {
            return decide(found, &key.join(" + "), false);
        }
    }
    RecordAction::Create
}

fn decide(found: Vec<&Map<String, Value>>, matched_by: &str, is_lookup: bool) -> RecordAction {
    match found.as_slice() {
        [] if is_lookup => RecordAction::NotFound,
        [] => RecordAction::Create,
        [one] => RecordAction::Update {
            id: row_id(one),
            current: (*one).clone(),
            matched_by: matched_by.to_string(),
        },
        many => RecordAction::Ambiguous {
            candidates: many.iter().map(|r| candidate(r)).collect(),
            matched_by: matched_by.to_string(),
        },
    }
}

/// Rows whose values equal every criterion (case-insensitive, as SOQL `=` compares text).
fn find_rows<'a>(
    rows: &'a [Map<String, Value>],
    criteria: &[(String, String)],
) -> Vec<&'a Map<String, Value>> {
    rows.iter()
        .filter(|row| {
            criteria.iter().all(|(field, want)| {
                row_value(row, field).is_some_and(|have| same_value(&have, want))
            })
        })
        .collect()
}

fn same_value(have: &Value, want: &str) -> bool {
    match have {
        Value::String(s) => s.trim().to_lowercase() == want.trim().to_lowercase(),
        Value::Number(n) => want
            .trim()
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        Value::Bool(b) => want
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// A row's value by field name or parent path (`Account.Name`), case-insensitive.
pub fn row_value(row: &Map<String, Value>, path: &str) -> Option<Value> {
    let mut current: &Map<String, Value> = row;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (_, value) = current.iter().find(|(k, _)| k.eq_ignore_ascii_case(part))?;
        if parts.peek().is_none() {
            return Some(value.clone());
        }
        current = value.as_object()?;
    }
    None
}

fn row_id(row: &Map<String, Value>) -> String {
    row_value(row, "Id")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn candidate(row: &Map<String, Value>) -> Candidate {
    let text = |f: &str| {
        row_value(row, f)
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
    };
    let name = text("Name").or_else(|| {
        let parts: Vec<String> = ["FirstName", "LastName"]
            .iter()
            .filter_map(|f| text(f))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let detail = text("Email")
        .or_else(|| text("Company"))
        .or_else(|| text("Account.Name"));
    let id = row_id(row);
    let mut current = row.clone();
    current.remove("attributes");
    let label = match (name, detail) {
        (Some(n), Some(d)) => format!("{n} ({d})"),
        (Some(n), None) => n,
        (None, Some(d)) => d,
        (None, None) => id.clone(),
    };
    Candidate { id, label, current }
}

/// Adjusts a record's fields and issues to its action: an update needs no required fields
/// and may only set updateable fields; a duplicate, an ambiguity or a missing target is told.
fn apply_action(draft: &mut RecordDraft, action: &RecordAction, object: Option<&ObjectSchema>) {
    let label = object
        .map_or(draft.object.as_str(), |o| o.label.as_str())
        .to_string();
    match action {
        RecordAction::Create => {}
        RecordAction::Update { matched_by, .. } => {
            draft
                .issues
                .retain(|i| i.kind != IssueKind::MissingRequired);
            if let Some(object) = object {
                let mut dropped = Vec::new();
                draft.fields.retain(|f| {
                    let ok = object.field(&f.name).is_some_and(|s| s.updateable);
                    if !ok {
                        dropped.push(f.name.clone());
                    }
                    ok
                });
                for name in dropped {
                    draft.issues.push(Issue::warning(
                        IssueKind::NotWritable,
                        Some(&name),
                        format!("{name} cannot be changed on an existing {label}; left out"),
                    ));
                }
            }
            if draft.lookup.is_none() {
                draft.issues.push(Issue::warning(
                    IssueKind::PossibleDuplicate,
                    None,
                    format!("A {label} with the same {matched_by} already exists: it will be updated instead of creating a duplicate"),
                ));
            }
        }
        RecordAction::Ambiguous {
            candidates,
            matched_by,
        } => {
            draft.issues.push(Issue::blocking(
                IssueKind::Ambiguous,
                None,
                format!(
                    "{} existing {label} records match by {matched_by}: choose one before approving",
                    candidates.len()
                ),
            ));
        }
        RecordAction::NotFound => {
            let wanted = draft
                .lookup
                .as_ref()
                .map(describe_lookup)
                .unwrap_or_default();
            draft.issues.push(Issue::blocking(
                IssueKind::NotFound,
                None,
                format!("No {label} found with {wanted}: nothing to update"),
            ));
        }
    }
}

fn describe_lookup(lookup: &Lookup) -> String {
    lookup
        .criteria
        .iter()
        .map(|(f, v)| format!("{f} \"{v}\""))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Links of record `i`: the parents the model named, plus, for a Task, the person (WhoId)
/// and the deal (WhatId) of the same draft.
fn resolve_links(records: &[ResolvedRecord], i: usize, rows: &ExistingRows) -> Vec<ResolvedLink> {
    let record = &records[i].draft;
    let mut links: Vec<ResolvedLink> = record
        .links
        .iter()
        .map(|link| {
            let in_draft = records.iter().position(|r| {
                r.draft.object == link.target
                    && r.action == RecordAction::Create
                    && link.lookup.criteria.iter().all(|(f, v)| {
                        r.draft
                            .value(f)
                            .is_some_and(|have| same_value(&have.to_json(), v))
                    })
            });
            let target = match in_draft {
                Some(record) => LinkTarget::InDraft { record },
                None => {
                    let empty = Vec::new();
                    let found = find_rows(
                        rows.get(&link.target).unwrap_or(&empty),
                        &link.lookup.criteria,
                    );
                    match found.as_slice() {
                        [] => LinkTarget::NotFound,
                        [one] => LinkTarget::Existing { id: row_id(one) },
                        many => LinkTarget::Ambiguous {
                            candidates: many.iter().map(|r| candidate(r)).collect(),
                        },
                    }
                }
            };
            ResolvedLink {
                field: link.field.clone(),
                target_object: link.target.clone(),
                lookup: Some(link.lookup.clone()),
                target,
            }
        })
        .collect();

    if record.object == "Task" {
        let person = records
            .iter()
            .position(|r| matches!(r.draft.object.as_str(), "Contact" | "Lead"));
        // Salesforce refuses a WhatId next to a Lead's WhoId, so a Lead gets no deal link.
        let person_is_lead = person.is_some_and(|p| records[p].draft.object == "Lead");
        let deal = records
            .iter()
            .position(|r| r.draft.object == "Opportunity")
            .or_else(|| records.iter().position(|r| r.draft.object == "Account"));
        if let Some(p) = person {
            links.push(implied_link("WhoId", &records[p], p));
        }
        if let (Some(d), false) = (deal, person_is_lead) {
            links.push(implied_link("WhatId", &records[d], d));
        }
    }
    links
}

fn implied_link(field: &str, parent: &ResolvedRecord, index: usize) -> ResolvedLink {
    let target = match &parent.action {
        RecordAction::Update { id, .. } => LinkTarget::Existing { id: id.clone() },
        _ => LinkTarget::InDraft { record: index },
    };
    ResolvedLink {
        field: field.to_string(),
        target_object: parent.draft.object.clone(),
        lookup: None,
        target,
    }
}

mod people;
mod queries;
#[cfg(test)]
mod tests;

pub use people::{flag_known_people, people_queries};
use queries::key_values;
pub use queries::match_queries;
