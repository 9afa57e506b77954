//! Duplicates and lookups, decided in code. For a validated draft this module (1) writes the
//! few SOQL queries that find every existing record the draft could mean — one query per
//! object, all records' conditions ORed, so the whole draft costs one Salesforce request —
//! and (2) given the rows that came back, decides for each record: create, update (with the
//! current values, so the card can show old -> new), or ambiguous (a person picks). Matching
//! is exact and case-insensitive, as SOQL's `=` is; a lookup never matches more than it says.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::draft::{FieldValue, Issue, IssueKind, Lookup, RecordDraft, ValidatedDraft};
use super::schema::{CrmSchema, ObjectSchema};
use super::soql;

/// Rows per object returned by the duplicate check, keyed by object API name.
pub type ExistingRows = BTreeMap<String, Vec<Map<String, Value>>>;

/// One query of the duplicate check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchQuery {
    pub object: String,
    pub soql: String,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    /// A human label such as "Daniel Reed (daniel@apex.example)".
    pub label: String,
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

/// The queries that find every existing record the draft could mean: the targets of lookups,
/// duplicates of records to create, and parents named in links. One query per object.
pub fn match_queries(draft: &ValidatedDraft, schema: &CrmSchema) -> Vec<MatchQuery> {
    let mut conditions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in &draft.records {
        let Some(object) = schema.object(&record.object) else {
            continue;
        };
        let mut add = |object: &str, cond: String| {
            let list = conditions.entry(object.to_string()).or_default();
            if !list.contains(&cond) {
                list.push(cond);
            }
        };
        match &record.lookup {
            Some(lookup) => {
                if let Some(cond) = lookup_condition(lookup) {
                    add(&object.name, cond);
                }
            }
            None => {
                for key in &object.match_keys {
                    if let Some(values) = key_values(record, key) {
                        let parts: Vec<String> = values
                            .iter()
                            .map(|(f, v)| format!("{f} = {}", soql::quote(v)))
                            .collect();
                        add(&object.name, parts.join(" AND "));
                        for (f, _) in &values {
                            if f.contains('.') {
                                let p = paths.entry(object.name.clone()).or_default();
                                if !p.contains(f) {
                                    p.push(f.clone());
                                }
                            }
                        }
                    }
                }
            }
        }
        for link in &record.links {
            if let Some(cond) = lookup_condition(&link.lookup) {
                add(&link.target, cond);
            }
        }
    }
    let mut queries = Vec::new();
    for (name, conds) in conditions {
        let Some(object) = schema.object(&name) else {
            continue;
        };
        let mut fields = vec!["Id".to_string()];
        for f in &object.fields {
            fields.push(f.name.clone());
        }
        for f in object
            .lookup_fields
            .iter()
            .chain(paths.get(&name).into_iter().flatten())
        {
            if !fields.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                fields.push(f.clone());
            }
        }
        for group in chunk_conditions(&conds) {
            let filter = if group.len() == 1 {
                group[0].clone()
            } else {
                group
                    .iter()
                    .map(|c| format!("({c})"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            };
            queries.push(MatchQuery {
                soql: format!(
                    "SELECT {} FROM {} WHERE {} LIMIT {}",
                    fields.join(", "),
                    object.name,
                    filter,
                    MATCH_ROW_LIMIT
                ),
                object: object.name.clone(),
            });
        }
    }
    queries
}

/// Groups conditions so that each group's ORed filter stays under `MAX_FILTER_CHARS`.
fn chunk_conditions(conds: &[String]) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for c in conds {
        let cost = c.len() + 6;
        match groups.last_mut() {
            Some(group) if size + cost <= MAX_FILTER_CHARS => group.push(c.clone()),
            _ => {
                groups.push(vec![c.clone()]);
                size = 0;
            }
        }
        size += cost;
    }
    groups
}

fn lookup_condition(lookup: &Lookup) -> Option<String> {
    if lookup.criteria.is_empty() {
        return None;
    }
    Some(
        lookup
            .criteria
            .iter()
            .map(|(f, v)| format!("{f} = {}", soql::quote(v)))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// The values of one match key for a record, when every field of the key has one. A path
/// such as `Account.Name` takes its value from the record's link of that relationship.
fn key_values(record: &RecordDraft, key: &[String]) -> Option<Vec<(String, String)>> {
    if key.is_empty() {
        return None;
    }
    key.iter()
        .map(|field| {
            let value = match field.split_once('.') {
                Some((rel, parent_field)) => record
                    .links
                    .iter()
                    .find(|l| l.relationship.eq_ignore_ascii_case(rel))?
                    .lookup
                    .criteria
                    .iter()
                    .find(|(f, _)| f.eq_ignore_ascii_case(parent_field))
                    .map(|(_, v)| v.clone())?,
                None => match record.value(field)? {
                    FieldValue::Text(s) => s.clone(),
                    other => other.to_json().to_string(),
                },
            };
            Some((field.clone(), value))
        })
        .collect()
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
    let label = match (name, detail) {
        (Some(n), Some(d)) => format!("{n} ({d})"),
        (Some(n), None) => n,
        (None, Some(d)) => d,
        (None, None) => id.clone(),
    };
    Candidate { id, label }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::draft::{DraftField, LinkDraft, Severity};
    use crate::domain::schema::{FieldKind, FieldSchema, LinkSchema};

    fn field(name: &str, required: bool) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            label: name.into(),
            kind: FieldKind::String,
            createable: true,
            updateable: true,
            required_on_create: required,
            length: Some(255),
            picklist: vec![],
            restricted_picklist: false,
            free_text: false,
        }
    }

    fn object(name: &str, fields: &[&str], lookup: &[&str], keys: &[&[&str]]) -> ObjectSchema {
        ObjectSchema {
            name: name.into(),
            label: name.into(),
            key_prefix: None,
            fields: fields.iter().map(|f| field(f, *f == "LastName")).collect(),
            lookup_fields: lookup.iter().map(|s| s.to_string()).collect(),
            match_keys: keys
                .iter()
                .map(|k| k.iter().map(|s| s.to_string()).collect())
                .collect(),
            links: vec![],
        }
    }

    fn schema() -> CrmSchema {
        let mut contact = object(
            "Contact",
            &["FirstName", "LastName", "Email"],
            &["Email"],
            &[&["Email"], &["FirstName", "LastName", "Account.Name"]],
        );
        contact.links.push(LinkSchema {
            relationship: "Account".into(),
            field: "AccountId".into(),
            target: "Account".into(),
        });
        let mut s = CrmSchema::default();
        for o in [
            object(
                "Lead",
                &["FirstName", "LastName", "Company", "Email"],
                &["Email"],
                &[&["Email"], &["FirstName", "LastName", "Company"]],
            ),
            contact,
            object("Account", &["Name"], &["Name"], &[&["Name"]]),
            object(
                "Opportunity",
                &["Name", "StageName"],
                &["Name"],
                &[&["Name"]],
            ),
            object("Task", &["Subject"], &[], &[]),
        ] {
            s.objects.insert(o.name.clone(), o);
        }
        s
    }

    fn record(object: &str, fields: &[(&str, &str)]) -> RecordDraft {
        RecordDraft {
            object: object.into(),
            lookup: None,
            links: vec![],
            fields: fields
                .iter()
                .map(|(n, v)| DraftField {
                    name: n.to_string(),
                    value: FieldValue::Text(v.to_string()),
                    include: true,
                })
                .collect(),
            issues: vec![],
        }
    }

    fn draft(records: Vec<RecordDraft>) -> ValidatedDraft {
        ValidatedDraft {
            records,
            issues: vec![],
        }
    }

    fn rows(object: &str, list: Vec<Value>) -> ExistingRows {
        let mut map = ExistingRows::new();
        map.insert(
            object.into(),
            list.into_iter()
                .map(|v| v.as_object().cloned().unwrap())
                .collect(),
        );
        map
    }

    fn lead_daniel() -> RecordDraft {
        record(
            "Lead",
            &[
                ("FirstName", "Daniel"),
                ("LastName", "Reed"),
                ("Company", "Apex Corp"),
                ("Email", "daniel@apex.example"),
            ],
        )
    }

    #[test]
    fn one_query_per_object_with_every_key_ored() {
        let mut maya = record(
            "Lead",
            &[
                ("FirstName", "Maya"),
                ("LastName", "O'Chen"),
                ("Company", "Northstar"),
            ],
        );
        maya.fields.push(DraftField {
            name: "Email".into(),
            value: FieldValue::Text("maya@northstar.example".into()),
            include: true,
        });
        let queries = match_queries(&draft(vec![lead_daniel(), maya]), &schema());
        assert_eq!(queries.len(), 1, "{queries:?}");
        assert_eq!(
            queries[0].soql,
            "SELECT Id, FirstName, LastName, Company, Email FROM Lead WHERE \
             (Email = 'daniel@apex.example') OR \
             (FirstName = 'Daniel' AND LastName = 'Reed' AND Company = 'Apex Corp') OR \
             (Email = 'maya@northstar.example') OR \
             (FirstName = 'Maya' AND LastName = 'O\\'Chen' AND Company = 'Northstar') LIMIT 2000"
        );
    }

    #[test]
    fn links_and_parent_paths_are_queried_with_their_objects() {
        let mut priya = record(
            "Contact",
            &[
                ("FirstName", "Priya"),
                ("LastName", "Natarajan"),
                ("Email", "priya@globex.example"),
            ],
        );
        priya.links.push(LinkDraft {
            relationship: "Account".into(),
            field: "AccountId".into(),
            target: "Account".into(),
            lookup: Lookup {
                criteria: vec![("Name".into(), "Globex".into())],
            },
        });
        let queries = match_queries(&draft(vec![priya]), &schema());
        let objects: Vec<&str> = queries.iter().map(|q| q.object.as_str()).collect();
        assert_eq!(objects, ["Account", "Contact"]);
        assert_eq!(
            queries[0].soql,
            "SELECT Id, Name FROM Account WHERE Name = 'Globex' LIMIT 2000"
        );
        assert!(
            queries[1].soql.starts_with(
                "SELECT Id, FirstName, LastName, Email, Account.Name FROM Contact WHERE"
            ),
            "{}",
            queries[1].soql
        );
        assert!(queries[1].soql.contains(
            "(FirstName = 'Priya' AND LastName = 'Natarajan' AND Account.Name = 'Globex')"
        ));
    }

    #[test]
    fn a_large_draft_splits_its_filter_into_bounded_queries() {
        let leads: Vec<RecordDraft> = (0..300)
            .map(|i| {
                record(
                    "Lead",
                    &[
                        ("LastName", &format!("Person{i}")),
                        ("Email", &format!("person{i}@conference.example")),
                    ],
                )
            })
            .collect();
        let queries = match_queries(&draft(leads), &schema());
        assert!(queries.len() > 1, "one query would be too long");
        for q in &queries {
            assert!(q.soql.len() < MAX_FILTER_CHARS + 200, "{}", q.soql.len());
        }
        let total: usize = queries
            .iter()
            .map(|q| q.soql.matches("Email = ").count())
            .sum();
        assert_eq!(total, 300, "every record is checked exactly once");
    }

    #[test]
    fn a_draft_with_nothing_to_match_needs_no_query() {
        let task = record("Task", &[("Subject", "Call back")]);
        assert!(match_queries(&draft(vec![task]), &schema()).is_empty());
    }

    #[test]
    fn an_existing_email_turns_a_create_into_an_update_with_current_values() {
        let mut lead = lead_daniel();
        lead.fields.retain(|f| f.name != "Company");
        lead.issues.push(Issue::blocking(
            IssueKind::MissingRequired,
            Some("Company"),
            "Company is required",
        ));
        let existing = rows(
            "Lead",
            vec![
                json!({"Id": "00Q000000000001AAA", "FirstName": "Dan", "LastName": "Reed",
                        "Email": "Daniel@Apex.example", "Company": "Apex"}),
            ],
        );
        let out = resolve(&draft(vec![lead]), &schema(), &existing);
        match &out[0].action {
            RecordAction::Update {
                id,
                current,
                matched_by,
            } => {
                assert_eq!(id, "00Q000000000001AAA");
                assert_eq!(current["FirstName"], "Dan");
                assert_eq!(matched_by, "Email");
            }
            other => panic!("expected update, got {other:?}"),
        }
        let kinds: Vec<IssueKind> = out[0].draft.issues.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [IssueKind::PossibleDuplicate],
            "required fields do not apply to updates"
        );
    }

    #[test]
    fn name_and_company_match_when_the_email_does_not() {
        let existing = rows(
            "Lead",
            vec![
                json!({"Id": "00Q000000000002AAA", "FirstName": "daniel", "LastName": "REED",
                        "Company": "apex corp", "Email": null}),
            ],
        );
        let out = resolve(&draft(vec![lead_daniel()]), &schema(), &existing);
        assert!(
            matches!(&out[0].action, RecordAction::Update { matched_by, .. } if matched_by == "FirstName + LastName + Company"),
            "{:?}",
            out[0].action
        );
    }

    #[test]
    fn two_matches_are_ambiguous_and_block_approval() {
        let existing = rows(
            "Lead",
            vec![
                json!({"Id": "00Q000000000001AAA", "FirstName": "Daniel", "LastName": "Reed", "Email": "daniel@apex.example"}),
                json!({"Id": "00Q000000000002AAA", "FirstName": "Daniel", "LastName": "Reed", "Email": "daniel@apex.example"}),
            ],
        );
        let out = resolve(&draft(vec![lead_daniel()]), &schema(), &existing);
        match &out[0].action {
            RecordAction::Ambiguous { candidates, .. } => {
                assert_eq!(candidates.len(), 2);
                assert_eq!(candidates[0].label, "Daniel Reed (daniel@apex.example)");
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
        assert!(out[0].draft.is_blocked());
    }

    #[test]
    fn a_lookup_that_finds_nothing_blocks_and_never_creates() {
        let mut opp = record("Opportunity", &[("StageName", "Closed Won")]);
        opp.lookup = Some(Lookup {
            criteria: vec![("Name".into(), "%".into())],
        });
        let existing = rows(
            "Opportunity",
            vec![json!({"Id": "006000000000001AAA", "Name": "Apex Corp - Enterprise Expansion"})],
        );
        let out = resolve(&draft(vec![opp]), &schema(), &existing);
        assert_eq!(out[0].action, RecordAction::NotFound);
        let issue = out[0].draft.issues.last().unwrap();
        assert_eq!(
            (issue.kind, issue.severity),
            (IssueKind::NotFound, Severity::Blocking)
        );
    }

    #[test]
    fn a_task_is_linked_to_the_person_and_the_deal_of_its_draft() {
        let mut opp = record("Opportunity", &[("StageName", "Closed Won")]);
        opp.lookup = Some(Lookup {
            criteria: vec![("Name".into(), "Initech - Renewal".into())],
        });
        let contact = record("Contact", &[("LastName", "Natarajan")]);
        let task = record("Task", &[("Subject", "Send SOC 2 report")]);
        let existing = rows(
            "Opportunity",
            vec![json!({"Id": "006000000000001AAA", "Name": "Initech - Renewal"})],
        );
        let out = resolve(&draft(vec![opp, contact, task]), &schema(), &existing);
        let links: Vec<(&str, &LinkTarget)> = out[2]
            .links
            .iter()
            .map(|l| (l.field.as_str(), &l.target))
            .collect();
        assert_eq!(
            links,
            [
                ("WhoId", &LinkTarget::InDraft { record: 1 }),
                (
                    "WhatId",
                    &LinkTarget::Existing {
                        id: "006000000000001AAA".into()
                    }
                )
            ]
        );
    }

    #[test]
    fn a_task_next_to_a_lead_gets_no_what_id() {
        let opp = record("Opportunity", &[("Name", "New deal")]);
        let task = record("Task", &[("Subject", "Demo")]);
        let out = resolve(
            &draft(vec![lead_daniel(), opp, task]),
            &schema(),
            &ExistingRows::new(),
        );
        let fields: Vec<&str> = out[2].links.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(fields, ["WhoId"]);
    }

    #[test]
    fn a_link_to_a_parent_created_in_the_same_draft_points_at_it() {
        let account = record("Account", &[("Name", "Globex")]);
        let mut contact = record("Contact", &[("LastName", "Natarajan")]);
        contact.links.push(LinkDraft {
            relationship: "Account".into(),
            field: "AccountId".into(),
            target: "Account".into(),
            lookup: Lookup {
                criteria: vec![("Name".into(), "globex".into())],
            },
        });
        let out = resolve(
            &draft(vec![account, contact]),
            &schema(),
            &ExistingRows::new(),
        );
        assert_eq!(out[1].links[0].target, LinkTarget::InDraft { record: 0 });
    }
}
