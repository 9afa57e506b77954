//! One value against its field: read into the field's type, checked against the org's
//! picklist and length, and tested against the notes.

use serde_json::Value;

use super::ValidationContext;
use super::coerce;
use super::dates::parse_date;
use super::grounding::{Grounding, Span};
use super::support::picklist_span;
use crate::domain::draft::{FieldValue, Issue, IssueKind};
use crate::domain::schema::{FieldKind, FieldSchema, ObjectSchema};

/// The value in its field's type, or `None` (with an issue) when it cannot be read.
pub(super) fn coerce_value(
    field: &FieldSchema,
    value: &Value,
    ctx: &ValidationContext<'_>,
    issues: &mut Vec<Issue>,
) -> Option<FieldValue> {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let refuse = |issues: &mut Vec<Issue>, kind: IssueKind, what: &str| {
        issues.push(Issue::warning(
            kind,
            Some(&field.name),
            format!(
                "{}: could not read \"{shown}\" as {what}; left out",
                field.label
            ),
        ));
        None
    };
    match field.kind {
        k if k.is_number() => match coerce::parse_number(value) {
            Some(n) => {
                if !value.is_number() {
                    issues.push(Issue::warning(
                        IssueKind::Coerced,
                        Some(&field.name),
                        format!(
                            "{}: read \"{shown}\" as {}",
                            field.label,
                            coerce::show_number(n)
                        ),
                    ));
                }
                Some(FieldValue::Number(if k == FieldKind::Int {
                    n.round()
                } else {
                    n
                }))
            }
            None => refuse(issues, IssueKind::BadValue, "a number"),
        },
        FieldKind::Boolean => match coerce::parse_bool(value) {
            Some(b) => Some(FieldValue::Boolean(b)),
            None => refuse(issues, IssueKind::BadValue, "yes or no"),
        },
        FieldKind::Date | FieldKind::DateTime => {
            let Some(text) = value.as_str() else {
                return refuse(issues, IssueKind::UnresolvedDate, "a date");
            };
            if field.kind == FieldKind::DateTime
                && let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim())
            {
                return Some(FieldValue::DateTime(t.with_timezone(&chrono::Utc)));
            }
            match parse_date(text, ctx.today) {
                Some(d) => {
                    let iso = d.format("%Y-%m-%d").to_string();
                    if !text.trim().starts_with(&iso) {
                        issues.push(Issue::warning(
                            IssueKind::Coerced,
                            Some(&field.name),
                            format!("{}: read \"{shown}\" as {iso}", field.label),
                        ));
                    }
                    if field.kind == FieldKind::Date {
                        Some(FieldValue::Date(d))
                    } else {
                        let midnight = d.and_hms_opt(0, 0, 0)?.and_utc();
                        Some(FieldValue::DateTime(midnight))
                    }
                }
                None => refuse(issues, IssueKind::UnresolvedDate, "a date"),
            }
        }
        FieldKind::Email => match value.as_str().map(str::trim) {
            Some(s) if coerce::is_email(s) => Some(FieldValue::Text(s.to_string())),
            _ => refuse(issues, IssueKind::BadValue, "an email address"),
        },
        _ => match value {
            Value::String(s) => Some(FieldValue::Text(s.trim().to_string())),
            Value::Number(n) => Some(FieldValue::Text(n.to_string())),
            Value::Bool(b) => Some(FieldValue::Text(b.to_string())),
            _ => refuse(issues, IssueKind::BadValue, "text"),
        },
    }
}

/// Picklist membership (fixing the spelling) and length. An `Err` blocks approval; the
/// value stays on the card but out of the write.
pub(super) fn check_value(
    field: &FieldSchema,
    value: &FieldValue,
    object: &ObjectSchema,
) -> Result<(), Issue> {
    let FieldValue::Text(text) = value else {
        return Ok(());
    };
    if field.kind.is_picklist() {
        let parts: Vec<&str> = if field.kind == FieldKind::MultiPicklist {
            text.split(';').map(str::trim).collect()
        } else {
            vec![text.trim()]
        };
        for part in parts {
            if !field.picklist.iter().any(|p| p.eq_ignore_ascii_case(part)) {
                return Err(Issue::blocking(
                    IssueKind::BadPicklist,
                    Some(&field.name),
                    format!(
                        "'{part}' is not {} value (choose one of: {})",
                        picklist_name(&object.label, &field.label),
                        field.picklist.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(max) = field.length
        && text.chars().count() > max as usize
    {
        return Err(Issue::blocking(
            IssueKind::TooLong,
            Some(&field.name),
            format!(
                "{} is {} characters long; the most Salesforce takes is {max}",
                field.label,
                text.chars().count()
            ),
        ));
    }
    Ok(())
}

/// "a Lead Status", "an Opportunity Stage": the object named once, even when the field's
/// label already starts with it (Lead's Status field is labelled "Lead Status").
fn picklist_name(object: &str, field: &str) -> String {
    let starts_with_object = field
        .get(..object.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(object))
        && field[object.len()..].starts_with(' ');
    let name = if starts_with_object {
        field.to_string()
    } else {
        format!("{object} {field}")
    };
    let article = match name.chars().next() {
        Some(c) if "AEIOUaeiou".contains(c) => "an",
        _ => "a",
    };
    format!("{article} {name}")
}

/// `Ok` with the span of the notes that supports the value as this kind of field says it
/// (`None` for a value with nothing to quote, a yes/no); `Err` says why not (the end of
/// "Email \"x\" ...").
pub(super) fn grounded(
    field: &FieldSchema,
    value: &FieldValue,
    g: &Grounding,
) -> Result<Option<Span>, &'static str> {
    let ok = |found: Option<Span>, why: &'static str| found.map(Some).ok_or(why);
    match value {
        FieldValue::Text(s) if field.free_text => {
            ok(g.free_text_span(s), "is mostly not words of your notes")
        }
        FieldValue::Text(s) if field.kind.is_picklist() => {
            let spans: Option<Vec<Span>> = s
                .split(';')
                .filter(|p| !p.trim().is_empty())
                .map(|p| picklist_span(g, &g.lower, p))
                .collect();
            ok(
                spans.and_then(|s| s.into_iter().min()),
                "is not said in your notes",
            )
        }
        FieldValue::Text(s) => match field.kind {
            FieldKind::Email => ok(g.email_span(s), "is not an email address in your notes"),
            FieldKind::Phone => ok(g.phone_span(s), "is not a phone number in your notes"),
            FieldKind::Url => ok(
                g.website_span(s),
                "is not a website in your notes (the domain of an email address is not one)",
            ),
            k if k.is_text() => ok(g.text_span(s), "is not in your notes"),
            _ => Ok(None),
        },
        FieldValue::Number(n) if field.kind == FieldKind::Currency => {
            ok(g.money_span(*n), "is not an amount your notes name")
        }
        FieldValue::Number(n) => ok(g.number_span(*n), "is not in your notes"),
        FieldValue::Date(d) => ok(g.date_span(*d), "is not a date your notes give"),
        FieldValue::DateTime(t) => ok(g.date_span(t.date_naive()), "is not a date your notes give"),
        FieldValue::Boolean(_) => Ok(None),
    }
}

/// Replaces picklist values by the org's spelling (`closed won` -> `Closed Won`).
pub(super) fn canonical_picklist(field: &FieldSchema, text: &str) -> String {
    let canon = |part: &str| {
        field
            .picklist
            .iter()
            .find(|p| p.eq_ignore_ascii_case(part.trim()))
            .cloned()
            .unwrap_or_else(|| part.trim().to_string())
    };
    if field.kind == FieldKind::MultiPicklist {
        text.split(';').map(canon).collect::<Vec<_>>().join(";")
    } else {
        canon(text)
    }
}

#[cfg(test)]
mod tests {
    use super::picklist_name;

    #[test]
    fn a_picklist_is_named_without_repeating_its_object() {
        assert_eq!(picklist_name("Lead", "Lead Status"), "a Lead Status");
        assert_eq!(picklist_name("Lead", "Status"), "a Lead Status");
        assert_eq!(
            picklist_name("Opportunity", "Stage"),
            "an Opportunity Stage"
        );
        assert_eq!(picklist_name("Lead", "Leader"), "a Lead Leader");
    }
}
