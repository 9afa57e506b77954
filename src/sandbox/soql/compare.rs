//! Comparing one field value with a literal (`test`) or with another value (`compare_values`,
//! for ORDER BY), with Salesforce's semantics: text compares case-insensitively, ids on their
//! case-sensitive 15-character form, date literals are ranges, LIKE has `%`, `_` and the
//! escaped `\%` / `\_`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::SoqlError;
use super::dates;
use super::lexer::LitChar;
use super::parser::{Literal, Op};
use crate::sandbox::ids;

/// How a field's values compare, by its describe type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Text,
    Id,
    Number,
    Bool,
    Date,
    DateTime,
}

pub fn class(kind: &str) -> Class {
    match kind {
        "int" | "double" | "currency" | "percent" | "long" => Class::Number,
        "boolean" => Class::Bool,
        "date" => Class::Date,
        "datetime" => Class::DateTime,
        "id" | "reference" => Class::Id,
        _ => Class::Text,
    }
}

fn plain(chars: &[LitChar]) -> String {
    chars
        .iter()
        .map(|c| match c {
            LitChar::Plain(c) | LitChar::EscapedWildcard(c) => *c,
        })
        .collect()
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_date(v: &Value) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.as_str()?.get(..10)?, "%Y-%m-%d").ok()
}

fn as_datetime(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            as_date(v)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

fn ordering_ok(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Like => false,
    }
}

/// Salesforce ids compare on their case-sensitive 15-character form; the 18-character form is
/// case-insensitive (its suffix encodes the case), so it is restored first. Text that is no
/// id compares as it is (and may be anything, so no byte slicing).
fn id_key(s: &str) -> String {
    let full = ids::restore_case(s).unwrap_or_else(|| s.to_string());
    full.get(..15).unwrap_or(&full).to_string()
}

pub fn test(
    class: Class,
    have: &Value,
    op: Op,
    want: &Literal,
    today: NaiveDate,
) -> Result<bool, SoqlError> {
    if matches!(want, Literal::Null) {
        return Ok(match op {
            Op::Eq => have.is_null(),
            _ => !have.is_null(),
        });
    }
    if have.is_null() {
        return Ok(op == Op::Ne);
    }
    Ok(match (class, want) {
        (_, Literal::Str(pattern)) if op == Op::Like => {
            as_text(have).is_some_and(|t| like(&t.to_lowercase(), pattern))
        }
        (Class::Id, Literal::Str(s)) => {
            let a = as_text(have).unwrap_or_default();
            ordering_ok(op, id_key(&a).cmp(&id_key(&plain(s))))
        }
        (_, Literal::Str(s)) => {
            let a = as_text(have).unwrap_or_default().to_lowercase();
            ordering_ok(op, a.cmp(&plain(s).to_lowercase()))
        }
        (_, Literal::Number(n)) => match as_number(have) {
            Some(a) => ordering_ok(op, a.partial_cmp(n).unwrap_or(Ordering::Equal)),
            None => false,
        },
        (_, Literal::Bool(b)) => ordering_ok(op, have.as_bool().unwrap_or(false).cmp(b)),
        (Class::Date, Literal::Date(d)) => as_date(have).is_some_and(|a| ordering_ok(op, a.cmp(d))),
        (Class::DateTime, Literal::DateTime(d)) => {
            as_datetime(have).is_some_and(|a| ordering_ok(op, a.cmp(&d.with_timezone(&Utc))))
        }
        (_, Literal::Relative { name, n }) => {
            let day = match class {
                Class::DateTime => as_datetime(have).map(|d| d.date_naive()),
                _ => as_date(have),
            };
            let Some(day) = day else { return Ok(false) };
            let (start, end) = dates::range(name, *n, today)?;
            match op {
                Op::Eq => day >= start && day < end,
                Op::Ne => !(day >= start && day < end),
                Op::Lt => day < start,
                Op::Le => day < end,
                Op::Gt => day >= end,
                Op::Ge => day >= start,
                Op::Like => false,
            }
        }
        _ => false,
    })
}

/// LIKE with `%` (any run) and `_` (one character), case-insensitive; escaped wildcards are
/// literal.
fn like(text: &str, pattern: &[LitChar]) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<LitChar> = pattern
        .iter()
        .map(|c| match c {
            LitChar::Plain(c) => LitChar::Plain(c.to_lowercase().next().unwrap_or(*c)),
            other => *other,
        })
        .collect();
    // Classic two-pointer wildcard match with backtracking on the last %.
    let (mut t, mut p) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        match pattern.get(p) {
            Some(LitChar::Plain('%')) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            Some(LitChar::Plain('_')) => {
                t += 1;
                p += 1;
            }
            Some(LitChar::Plain(c) | LitChar::EscapedWildcard(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == LitChar::Plain('%'))
}

pub fn compare_values(class: Class, a: &Value, b: &Value) -> Ordering {
    match class {
        Class::Number => as_number(a)
            .partial_cmp(&as_number(b))
            .unwrap_or(Ordering::Equal),
        Class::Bool => a.as_bool().cmp(&b.as_bool()),
        Class::Date => as_date(a).cmp(&as_date(b)),
        Class::DateTime => as_datetime(a).cmp(&as_datetime(b)),
        Class::Text | Class::Id => as_text(a)
            .map(|s| s.to_lowercase())
            .cmp(&as_text(b).map(|s| s.to_lowercase())),
    }
}
