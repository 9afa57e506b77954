//! The duplicate check's SOQL: one query per object with every record's conditions ORed,
//! split only when a filter would grow past what Salesforce accepts in one statement.

use std::collections::BTreeMap;

use super::{MATCH_ROW_LIMIT, MAX_FILTER_CHARS, MatchQuery};
use crate::domain::draft::{FieldValue, Lookup, RecordDraft, ValidatedDraft};
use crate::domain::schema::CrmSchema;
use crate::domain::soql;

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
                optional: false,
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
pub(super) fn key_values(record: &RecordDraft, key: &[String]) -> Option<Vec<(String, String)>> {
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
