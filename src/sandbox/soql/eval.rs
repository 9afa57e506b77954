//! Evaluates a parsed query over the source's records, with Salesforce's semantics: text
//! compares case-insensitively, `!=` and `NOT IN` keep nulls, date literals are ranges, and a
//! literal of the wrong type for its field is refused rather than coerced.

use std::cmp::Ordering;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::compare::{Class, class, compare_values, test};
use super::parser::{Cond, Literal, Op, Query, Select};
use super::{ExecContext, QueryOutput, RelationshipInfo, SoqlError, SoqlSource};

/// A field path checked against the schema: its canonical spelling and type.
struct Resolved {
    class: Class,
}

fn resolve(src: &dyn SoqlSource, object: &str, path: &[String]) -> Result<Resolved, SoqlError> {
    match path {
        [] => Err(SoqlError::Malformed("empty field path".into())),
        [field] => src
            .field(object, field)
            .map(|f| Resolved {
                class: class(&f.kind),
            })
            .ok_or_else(|| {
                SoqlError::InvalidField(format!("No such column '{field}' on entity '{object}'"))
            }),
        [rel, rest @ ..] => {
            let info = src.relationship(object, rel).ok_or_else(|| {
                SoqlError::InvalidField(format!(
                    "Didn't understand relationship '{rel}' in field path on entity '{object}'"
                ))
            })?;
            if is_object_type(&info, rest) {
                return Ok(Resolved { class: Class::Text });
            }
            let mut last = None;
            for target in &info.targets {
                match resolve(src, target, rest) {
                    Ok(r) => return Ok(r),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                SoqlError::InvalidField(format!("'{rel}' on entity '{object}' points nowhere"))
            }))
        }
    }
}

/// `What.Type`, `Who.Type`: through a polymorphic relationship, Type is the referenced
/// record's object ("Opportunity", "Lead"), as in Salesforce, not a field of that object.
fn is_object_type(info: &RelationshipInfo, rest: &[String]) -> bool {
    info.targets.len() > 1 && matches!(rest, [f] if f.eq_ignore_ascii_case("Type"))
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<(&'a String, &'a Value)> {
    map.get_key_value(key)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
}

/// The value at a path for one record (following references through the source).
fn value_at(
    src: &dyn SoqlSource,
    object: &str,
    record: &Map<String, Value>,
    path: &[String],
) -> Value {
    match path {
        [] => Value::Null,
        [field] => get_ci(record, field).map_or(Value::Null, |(_, v)| v.clone()),
        [rel, rest @ ..] => {
            let Some(info) = src.relationship(object, rel) else {
                return Value::Null;
            };
            let Some(id) = get_ci(record, &info.field).and_then(|(_, v)| v.as_str()) else {
                return Value::Null;
            };
            match src.record(id) {
                Some((parent_object, _)) if is_object_type(&info, rest) => {
                    Value::String(parent_object)
                }
                Some((parent_object, parent)) => value_at(src, &parent_object, &parent, rest),
                None => Value::Null,
            }
        }
    }
}

pub fn execute(
    q: &Query,
    src: &dyn SoqlSource,
    ctx: &ExecContext<'_>,
) -> Result<QueryOutput, SoqlError> {
    let object = src.object(&q.object).ok_or_else(|| {
        SoqlError::InvalidType(format!("sObject type '{}' is not supported.", q.object))
    })?;
    if let Select::Fields(fields) = &q.select {
        for path in fields {
            resolve(src, &object, path)?;
        }
    }
    if let Some(filter) = &q.filter {
        typecheck(src, &object, filter)?;
    }
    let order: Vec<(Class, &crate::sandbox::soql::parser::Order)> = q
        .order
        .iter()
        .map(|o| resolve(src, &object, &o.path).map(|r| (r.class, o)))
        .collect::<Result<_, _>>()?;

    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for record in src.records(&object) {
        let keep = match &q.filter {
            Some(f) => matches(src, &object, &record, f, ctx.today)?,
            None => true,
        };
        if keep {
            rows.push(record);
        }
    }
    if !order.is_empty() {
        rows.sort_by(|a, b| {
            for (class, o) in &order {
                let va = value_at(src, &object, a, &o.path);
                let vb = value_at(src, &object, b, &o.path);
                let ord = match (va.is_null(), vb.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if o.nulls_last {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, true) => {
                        if o.nulls_last {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, false) => {
                        let ord = compare_values(*class, &va, &vb);
                        if o.descending { ord.reverse() } else { ord }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let offset = q.offset.unwrap_or(0).min(rows.len());
    rows.drain(..offset);
    if let Some(limit) = q.limit {
        rows.truncate(limit);
    }
    match &q.select {
        Select::Count => Ok(QueryOutput {
            rows: Vec::new(),
            total_size: rows.len(),
        }),
        Select::Fields(fields) => {
            let projected: Vec<Map<String, Value>> = rows
                .iter()
                .map(|r| project(src, &object, r, fields, ctx.api_version))
                .collect();
            Ok(QueryOutput {
                total_size: projected.len(),
                rows: projected,
            })
        }
    }
}

fn attributes(object: &str, record: &Map<String, Value>, version: &str) -> Value {
    let id = get_ci(record, "Id")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")})
}

fn project(
    src: &dyn SoqlSource,
    object: &str,
    record: &Map<String, Value>,
    fields: &[Vec<String>],
    version: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("attributes".into(), attributes(object, record, version));
    for path in fields {
        put_path(src, object, record, path, version, &mut out);
    }
    out
}

fn put_path(
    src: &dyn SoqlSource,
    object: &str,
    record: &Map<String, Value>,
    path: &[String],
    version: &str,
    out: &mut Map<String, Value>,
) {
    match path {
        [] => {}
        [field] => {
            let name = src
                .field(object, field)
                .map_or_else(|| field.clone(), |f| f.name);
            let value = get_ci(record, &name).map_or(Value::Null, |(_, v)| v.clone());
            out.insert(name, value);
        }
        [rel, rest @ ..] => {
            let Some(info) = src.relationship(object, rel) else {
                return;
            };
            let parent = get_ci(record, &info.field)
                .and_then(|(_, v)| v.as_str())
                .and_then(|id| src.record(id));
            match parent {
                None => {
                    out.insert(info.name.clone(), Value::Null);
                }
                Some((parent_object, parent)) => {
                    let slot = out
                        .entry(info.name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(nested) = slot {
                        if !nested.contains_key("attributes") {
                            nested.insert(
                                "attributes".into(),
                                attributes(&parent_object, &parent, version),
                            );
                        }
                        if is_object_type(&info, rest) {
                            nested.insert("Type".into(), Value::String(parent_object));
                        } else {
                            put_path(src, &parent_object, &parent, rest, version, nested);
                        }
                    }
                }
            }
        }
    }
}

fn typecheck(src: &dyn SoqlSource, object: &str, cond: &Cond) -> Result<(), SoqlError> {
    match cond {
        Cond::And(items) | Cond::Or(items) => {
            items.iter().try_for_each(|c| typecheck(src, object, c))
        }
        Cond::Not(inner) => typecheck(src, object, inner),
        Cond::Compare { path, op, value } => {
            let r = resolve(src, object, path)?;
            check_literal(r.class, *op, value, &path.join("."))
        }
        Cond::In { path, values, .. } => {
            let r = resolve(src, object, path)?;
            values
                .iter()
                .try_for_each(|v| check_literal(r.class, Op::Eq, v, &path.join(".")))
        }
    }
}

fn check_literal(class: Class, op: Op, value: &Literal, field: &str) -> Result<(), SoqlError> {
    // An id field holds 15- or 18-character ids: anything else is refused, as Salesforce
    // does, rather than matching nothing (LIKE takes patterns).
    if let (Class::Id, Literal::Str(chars)) = (class, value)
        && op != Op::Like
    {
        let text: String = chars
            .iter()
            .map(|c| match c {
                super::lexer::LitChar::Plain(c) | super::lexer::LitChar::EscapedWildcard(c) => *c,
            })
            .collect();
        let id_shaped = crate::sandbox::ids::normalize(&text).is_some()
            || crate::sandbox::ids::restore_case(&text).is_some();
        if !id_shaped {
            return Err(SoqlError::InvalidFilter(format!(
                "invalid ID field: {text}"
            )));
        }
    }
    let ok = match (class, value) {
        (_, Literal::Null) => matches!(op, Op::Eq | Op::Ne),
        (Class::Text | Class::Id, Literal::Str(_)) => true,
        (Class::Number, Literal::Number(_)) => op != Op::Like,
        (Class::Bool, Literal::Bool(_)) => matches!(op, Op::Eq | Op::Ne),
        (Class::Date, Literal::Date(_) | Literal::Relative { .. }) => op != Op::Like,
        (Class::DateTime, Literal::DateTime(_) | Literal::Relative { .. }) => op != Op::Like,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let what = match value {
            Literal::Null => "null",
            Literal::Bool(_) => "a boolean",
            Literal::Number(_) => "a number",
            Literal::Str(_) => "a string",
            Literal::Date(_) => "a date",
            Literal::DateTime(_) => "a datetime",
            Literal::Relative { .. } => "a date literal",
        };
        Err(SoqlError::Malformed(format!(
            "{field}: {what} cannot be compared with {} here",
            match class {
                Class::Text | Class::Id => "a text field",
                Class::Number => "a number field",
                Class::Bool => "a boolean field",
                Class::Date => "a date field",
                Class::DateTime => "a datetime field",
            }
        )))
    }
}

fn matches(
    src: &dyn SoqlSource,
    object: &str,
    record: &Map<String, Value>,
    cond: &Cond,
    today: NaiveDate,
) -> Result<bool, SoqlError> {
    Ok(match cond {
        Cond::And(items) => {
            for c in items {
                if !matches(src, object, record, c, today)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(items) => {
            for c in items {
                if matches(src, object, record, c, today)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Not(inner) => !matches(src, object, record, inner, today)?,
        Cond::Compare { path, op, value } => {
            let class = resolve(src, object, path)?.class;
            let have = value_at(src, object, record, path);
            test(class, &have, *op, value, today)?
        }
        Cond::In {
            path,
            negated,
            values,
        } => {
            let class = resolve(src, object, path)?.class;
            let have = value_at(src, object, record, path);
            let mut any = false;
            for v in values {
                if test(class, &have, Op::Eq, v, today)? {
                    any = true;
                    break;
                }
            }
            any != *negated
        }
    })
}
