//! Filter values, typed by their field: text, picklist values (canonical spelling), numbers,
//! booleans, ISO dates and datetimes, Salesforce date literals, and `"$me"`. Anything that
//! does not fit its field is refused with a sentence naming the value.

use serde_json::Value;

use super::dates::{date, datetime};
use super::fields::kind_noun;
use super::{MAX_LIST_ITEMS, Op, PlanValue, Problems, QueryField, is_me, show};
use crate::domain::schema::FieldKind;
use crate::domain::soql;
use crate::domain::validate::parse_number;

/// Salesforce's limit on one string in a WHERE clause (salesforce.md §5.8), counted on the
/// escaped literal.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Numbers at or beyond this size are refused (currency fields hold 18 digits).
const MAX_NUMBER: f64 = 1e18;
/// The typed value of one filter; `at` is its place in the plan (`filters[1].value`).
pub(super) fn filter_value(
    field: &QueryField,
    op: Op,
    raw: &Value,
    me: Option<&str>,
    at: &str,
    problems: &mut Problems,
) -> Option<PlanValue> {
    if op.takes_list() {
        return list(field, op, raw, me, at, problems);
    }
    match raw {
        Value::Null if matches!(op, Op::Eq | Op::Ne) => Some(PlanValue::Null),
        Value::Null => {
            problems.add(
                at,
                format!("null (\"is empty\") can only be used with eq or ne, not {op}."),
            );
            None
        }
        Value::Array(_) => {
            problems.add(
                at,
                format!("{op} takes one value, not a list; use in for a list of values."),
            );
            None
        }
        _ => scalar(field, op, raw, me, at, problems),
    }
}

fn list(
    field: &QueryField,
    op: Op,
    raw: &Value,
    me: Option<&str>,
    at: &str,
    problems: &mut Problems,
) -> Option<PlanValue> {
    let Value::Array(items) = raw else {
        problems.add(
            at,
            format!(
                "{op} needs a list of values, such as [\"a\", \"b\"], not {}.",
                show(raw)
            ),
        );
        return None;
    };
    if items.is_empty() || items.len() > MAX_LIST_ITEMS {
        problems.add(
            at,
            format!(
                "{op} needs between 1 and {MAX_LIST_ITEMS} values, not {}.",
                items.len()
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (j, item) in items.iter().enumerate() {
        let at = format!("{at}[{j}]");
        let value = match item {
            Value::Null => {
                problems.add(
                    at,
                    "A list can't hold null; use eq or ne with null for \"is empty\".",
                );
                None
            }
            Value::Array(_) => {
                problems.add(at, "A list can't hold another list.");
                None
            }
            _ => scalar(field, op, item, me, &at, problems),
        };
        match value {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(PlanValue::List(out))
}

fn scalar(
    field: &QueryField,
    op: Op,
    v: &Value,
    me: Option<&str>,
    at: &str,
    problems: &mut Problems,
) -> Option<PlanValue> {
    if is_me(v) {
        return me_value(field, me, at, problems);
    }
    let result = match field.kind {
        FieldKind::Reference | FieldKind::Id => Err(format!(
            "crmbot does not filter {} by a record id; filter by a name instead \
             (such as Account.Name or Owner.Name).",
            field.path
        )),
        FieldKind::Picklist | FieldKind::MultiPicklist if op != Op::Like => picklist(field, v),
        FieldKind::Boolean => boolean(field, v),
        FieldKind::Int | FieldKind::Double | FieldKind::Currency | FieldKind::Percent => {
            number(field, v)
        }
        FieldKind::Date => date(field, v),
        FieldKind::DateTime => datetime(field, v),
        FieldKind::Other => Err(format!("{} can't be used in a filter.", field.path)),
        _ => text(field, op, v),
    };
    result.map_err(|message| problems.add(at, message)).ok()
}

fn me_value(
    field: &QueryField,
    me: Option<&str>,
    at: &str,
    problems: &mut Problems,
) -> Option<PlanValue> {
    if !field.is_owner {
        problems.add(
            at,
            format!(
                "$me (you) can only be compared with an owner field such as OwnerId, not {}.",
                field.path
            ),
        );
        return None;
    }
    let id = me.map(str::trim).filter(|id| {
        (id.len() == 15 || id.len() == 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    match id {
        Some(id) => Some(PlanValue::Id(id.to_string())),
        None => {
            problems.add(at, "crmbot could not tell who you are in Salesforce.");
            None
        }
    }
}

fn text(field: &QueryField, op: Op, v: &Value) -> Result<PlanValue, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(format!(
                "{} is {}: give text, not {}.",
                field.path,
                kind_noun(field.kind),
                show(other)
            ));
        }
    };
    let literal = if op == Op::Like {
        if s.trim().is_empty() {
            return Err(format!(
                "like on {} needs some text to look for.",
                field.path
            ));
        }
        soql::quote_contains(&s)
    } else {
        soql::quote(&s)
    };
    if literal.chars().count().saturating_sub(2) > MAX_TEXT_CHARS {
        return Err(format!(
            "The value for {} is too long: Salesforce takes at most {MAX_TEXT_CHARS} \
             characters in a filter value.",
            field.path
        ));
    }
    Ok(PlanValue::Text(s))
}

/// A picklist value in its canonical spelling; an empty list accepts any text. A multi-select
/// value may name several values separated by `;`.
fn picklist(field: &QueryField, v: &Value) -> Result<PlanValue, String> {
    let Some(s) = v.as_str() else {
        return Err(format!(
            "{} is a picklist: give one of its values, not {}.",
            field.path,
            show(v)
        ));
    };
    if field.picklist.is_empty() {
        return text(field, Op::Eq, v);
    }
    let canonical = |part: &str| {
        field
            .picklist
            .iter()
            .find(|p| p.trim().eq_ignore_ascii_case(part.trim()))
            .cloned()
    };
    let found: Option<Vec<String>> = if field.kind == FieldKind::MultiPicklist {
        s.split(';').map(canonical).collect()
    } else {
        canonical(s).map(|c| vec![c])
    };
    found
        .map(|parts| PlanValue::Text(parts.join(";")))
        .ok_or_else(|| {
            const SHOWN: usize = 15;
            let mut values: Vec<&str> = field
                .picklist
                .iter()
                .take(SHOWN)
                .map(String::as_str)
                .collect();
            if field.picklist.len() > SHOWN {
                values.push("…");
            }
            format!(
                "{} is not a {} value; the values are: {}.",
                show(v),
                field.path,
                values.join(", ")
            )
        })
}

fn boolean(field: &QueryField, v: &Value) -> Result<PlanValue, String> {
    match v {
        Value::Bool(b) => Ok(PlanValue::Boolean(*b)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(PlanValue::Boolean(true)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(PlanValue::Boolean(false)),
        other => Err(format!(
            "{} is a yes/no field: give true or false, not {}.",
            field.path,
            show(other)
        )),
    }
}

fn number(field: &QueryField, v: &Value) -> Result<PlanValue, String> {
    match parse_number(v) {
        Some(n) if n.abs() < MAX_NUMBER => Ok(PlanValue::Number(n)),
        Some(_) => Err(format!(
            "{} is too large a number for {}.",
            show(v),
            field.path
        )),
        None => Err(format!(
            "{} is not a number ({} is a number field).",
            show(v),
            field.path
        )),
    }
}
