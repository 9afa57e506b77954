//! The queries that look for a write in Salesforce, and how their rows are weighed: a
//! created record found by key or by values proves the whole write (allOrNone); a write of
//! updates only is proven when every record holds what was written. Only identifiers go
//! into SOQL as names, and every value is a quoted literal.

use serde_json::Value;

use super::Evidence;
use crate::domain::soql::quote;
use crate::flow::action::{Attempt, Find, Probe, Written};
use crate::flow::proposal::record_url;

/// Rows a fingerprint query reads at most.
const ROWS: usize = 200;

/// One query and the probes it answers.
pub(super) struct Query {
    pub(super) soql: String,
    pub(super) probes: Vec<usize>,
}

/// The queries of an attempt: per object, one for its keys, one for its fingerprints, one
/// for its updated records.
pub(super) fn queries(attempt: &Attempt) -> Vec<Query> {
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
pub(super) fn weigh(
    attempt: &Attempt,
    queries: &[Query],
    rows: &[Vec<Value>],
    instance: &str,
) -> Evidence {
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
