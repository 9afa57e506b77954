//! The field-level rules of a plan: which fields may be selected, filtered and sorted, and
//! which operators suit which field types.

use serde_json::{Map, Value};

use super::values::filter_value;
use super::{Filter, MAX_SORT_FIELDS, Op, Problems, QueryField, QueryObject, Sort, show};
use crate::domain::schema::FieldKind;

/// The object's fields plus `Id`, which is always selectable.
pub(super) fn effective_fields(object: &QueryObject) -> Vec<QueryField> {
    let mut fields = object.fields.clone();
    if !fields.iter().any(|f| f.path.eq_ignore_ascii_case("Id")) {
        fields.insert(
            0,
            QueryField {
                path: "Id".into(),
                label: format!("{} ID", object.label),
                kind: FieldKind::Id,
                picklist: Vec::new(),
                filterable: true,
                sortable: true,
                is_owner: false,
            },
        );
    }
    fields
}

fn find<'a>(fields: &'a [QueryField], path: &str) -> Option<&'a QueryField> {
    let path = path.trim();
    fields.iter().find(|f| f.path.eq_ignore_ascii_case(path))
}

fn no_field(object: &QueryObject, name: &str) -> String {
    format!(
        "{} has no field {} that crmbot can read.",
        object.name,
        show(&Value::String(name.trim().to_string()))
    )
}

/// A list-valued part of the plan: absent or null is empty; anything else but a list is a
/// problem.
fn list<'a>(raw: Option<&'a Value>, at: &str, what: &str, problems: &mut Problems) -> &'a [Value] {
    match raw {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            problems.add(at, format!("{what} must be a list, not {}.", show(other)));
            &[]
        }
    }
}

/// The selected fields, canonical and without duplicates; none asked for means `Id` and the
/// object's name field (`Name`, else `Subject`).
pub(super) fn select(
    raw: Option<&Value>,
    object: &QueryObject,
    fields: &[QueryField],
    problems: &mut Problems,
) -> Vec<String> {
    let items = list(raw, "fields", "The fields to show", problems);
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("fields[{i}]");
        match item.as_str() {
            Some(name) => match find(fields, name) {
                Some(f) => {
                    if !out.contains(&f.path) {
                        out.push(f.path.clone());
                    }
                }
                None => problems.add(at, no_field(object, name)),
            },
            None => problems.add(
                at,
                format!(
                    "Each field to show must be a field name, not {}.",
                    show(item)
                ),
            ),
        }
    }
    if items.is_empty() {
        out.push("Id".into());
        if let Some(name) = ["Name", "Subject"].iter().find_map(|n| find(fields, n)) {
            out.push(name.path.clone());
        }
    }
    out
}

/// The filters, each with a field, an operator suited to its type and a typed value.
pub(super) fn filters(
    raw: Option<&Value>,
    object: &QueryObject,
    fields: &[QueryField],
    me: Option<&str>,
    problems: &mut Problems,
) -> Vec<Filter> {
    let items = list(raw, "filters", "The filters", problems);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("filters[{i}]");
        let Some(item) = item.as_object() else {
            problems.add(at, "Each filter needs a field, an op and a value.");
            continue;
        };
        let field = filter_field(item, object, fields, &at, problems);
        let op = filter_op(item, &at, problems);
        let value = item.get("value");
        if value.is_none() {
            problems.add(
                format!("{at}.value"),
                "The filter needs a value (null means \"is empty\").",
            );
        }
        let (Some(field), Some(op), Some(value)) = (field, op, value) else {
            continue;
        };
        if let Err(message) = check_op(field, op) {
            problems.add(format!("{at}.op"), message);
            continue;
        }
        if let Some(value) = filter_value(field, op, value, me, &format!("{at}.value"), problems) {
            out.push(Filter {
                field: field.path.clone(),
                op,
                value,
            });
        }
    }
    out
}

fn filter_field<'a>(
    item: &Map<String, Value>,
    object: &QueryObject,
    fields: &'a [QueryField],
    at: &str,
    problems: &mut Problems,
) -> Option<&'a QueryField> {
    let at = format!("{at}.field");
    let Some(name) = item.get("field").and_then(Value::as_str) else {
        problems.add(at, "The filter does not say which field it is about.");
        return None;
    };
    match find(fields, name) {
        Some(f) if f.filterable => Some(f),
        Some(f) => {
            problems.add(
                at,
                format!(
                    "{} can't be used in a filter (Salesforce cannot filter on it).",
                    f.path
                ),
            );
            None
        }
        None => {
            problems.add(at, no_field(object, name));
            None
        }
    }
}

fn op_names(ops: &[Op]) -> String {
    let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
    names.join(", ")
}

fn filter_op(item: &Map<String, Value>, at: &str, problems: &mut Problems) -> Option<Op> {
    let at = format!("{at}.op");
    match item.get("op") {
        Some(Value::String(name)) => {
            let op = Op::parse(name);
            if op.is_none() {
                problems.add(
                    at,
                    format!(
                        "{} is not an operator crmbot knows; use one of {}.",
                        show(&Value::String(name.clone())),
                        op_names(&Op::ALL)
                    ),
                );
            }
            op
        }
        other => {
            problems.add(
                at,
                format!(
                    "The filter needs an op ({}), not {}.",
                    op_names(&Op::ALL),
                    show(other.unwrap_or(&Value::Null))
                ),
            );
            None
        }
    }
}

/// The operators each kind of field takes.
///
/// Salesforce compares text with `<`/`>` alphabetically (case-insensitively, in the user's
/// locale), so lt/gt/lte/gte are allowed on text. They are refused on picklists: there they
/// would also compare alphabetically, which reads like "later stage" but is not. A
/// multi-select picklist takes only eq/ne (an exact match of the whole selection; crmbot
/// does not emit INCLUDES/EXCLUDES). Dates and booleans take no lists.
pub fn allowed_ops(kind: FieldKind) -> &'static [Op] {
    use Op::*;
    match kind {
        FieldKind::String
        | FieldKind::TextArea
        | FieldKind::Email
        | FieldKind::Phone
        | FieldKind::Url
        | FieldKind::Combobox => &[Eq, Ne, Lt, Lte, Gt, Gte, Like, In, NotIn],
        FieldKind::Picklist => &[Eq, Ne, Like, In, NotIn],
        FieldKind::MultiPicklist | FieldKind::Boolean => &[Eq, Ne],
        FieldKind::Int | FieldKind::Double | FieldKind::Currency | FieldKind::Percent => {
            &[Eq, Ne, Lt, Lte, Gt, Gte, In, NotIn]
        }
        FieldKind::Date | FieldKind::DateTime => &[Eq, Ne, Lt, Lte, Gt, Gte],
        FieldKind::Reference | FieldKind::Id => &[Eq, Ne, In, NotIn],
        FieldKind::Other => &[],
    }
}

/// "a number field", "a picklist", ... for messages.
pub(super) fn kind_noun(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String
        | FieldKind::TextArea
        | FieldKind::Email
        | FieldKind::Phone
        | FieldKind::Url
        | FieldKind::Combobox => "a text field",
        FieldKind::Picklist => "a picklist",
        FieldKind::MultiPicklist => "a multi-select picklist",
        FieldKind::Boolean => "a yes/no field",
        FieldKind::Int | FieldKind::Double | FieldKind::Currency | FieldKind::Percent => {
            "a number field"
        }
        FieldKind::Date => "a date field",
        FieldKind::DateTime => "a date/time field",
        FieldKind::Reference | FieldKind::Id => "a record id field",
        FieldKind::Other => "a field crmbot can't compare",
    }
}

fn check_op(field: &QueryField, op: Op) -> Result<(), String> {
    let allowed = allowed_ops(field.kind);
    if allowed.contains(&op) {
        return Ok(());
    }
    if allowed.is_empty() {
        return Err(format!("{} can't be used in a filter.", field.path));
    }
    if field.kind == FieldKind::Picklist && matches!(op, Op::Lt | Op::Lte | Op::Gt | Op::Gte) {
        return Err(format!(
            "{op} can't be used with {}: on a picklist it would compare the values \
             alphabetically, not by their order; use {} instead.",
            field.path,
            op_names(allowed)
        ));
    }
    Err(format!(
        "{op} can't be used with {} ({}); use {}.",
        field.path,
        kind_noun(field.kind),
        op_names(allowed)
    ))
}

/// Sort keys: sortable fields only, at most `MAX_SORT_FIELDS`, direction asc (default) or
/// desc. A field named twice keeps its first direction.
pub(super) fn sort(
    raw: Option<&Value>,
    object: &QueryObject,
    fields: &[QueryField],
    problems: &mut Problems,
) -> Vec<Sort> {
    let items = list(raw, "sort", "The sort order", problems);
    if items.len() > MAX_SORT_FIELDS {
        problems.add(
            "sort",
            format!(
                "Results can be sorted by at most {MAX_SORT_FIELDS} fields, not {}.",
                items.len()
            ),
        );
        return Vec::new();
    }
    let mut out: Vec<Sort> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("sort[{i}]");
        let (name, direction) = match item {
            Value::String(name) => (Some(name.as_str()), None),
            Value::Object(o) => (o.get("field").and_then(Value::as_str), o.get("direction")),
            _ => (None, None),
        };
        let Some(name) = name else {
            problems.add(at, "Each sort key needs a field.");
            continue;
        };
        let descending = match direction {
            None | Some(Value::Null) => Some(false),
            Some(Value::String(d)) if d.trim().eq_ignore_ascii_case("asc") => Some(false),
            Some(Value::String(d)) if d.trim().eq_ignore_ascii_case("desc") => Some(true),
            Some(other) => {
                problems.add(
                    format!("{at}.direction"),
                    format!(
                        "The sort direction must be asc or desc, not {}.",
                        show(other)
                    ),
                );
                None
            }
        };
        let field = match find(fields, name) {
            Some(f) if f.sortable => Some(f),
            Some(f) => {
                problems.add(
                    format!("{at}.field"),
                    format!("Results can't be sorted by {}.", f.path),
                );
                None
            }
            None => {
                problems.add(format!("{at}.field"), no_field(object, name));
                None
            }
        };
        if let (Some(field), Some(descending)) = (field, descending)
            && !out.iter().any(|s| s.field == field.path)
        {
            out.push(Sort {
                field: field.path.clone(),
                descending,
            });
        }
    }
    out
}
