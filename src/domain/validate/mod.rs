//! Raw model JSON -> `ValidatedDraft`. The model proposes; this module decides what stands:
//! unknown objects and fields are dropped, ids and owners are never taken from the model,
//! values are coerced to their types or dropped, picklists and lengths are checked, required
//! fields are listed, and values the notes do not support are flagged "not in your notes".
//! Every problem becomes an `Issue` a person reads on the card; nothing here panics, whatever
//! the JSON.

mod coerce;
mod dates;
mod edit;
mod fields;
mod grounding;
mod people;
mod support;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::draft::{
    DraftField, FieldValue, Issue, IssueKind, LinkDraft, Lookup, RecordDraft, ValidatedDraft,
};
use super::schema::{CrmSchema, FieldKind, ObjectSchema};
pub use coerce::{looks_like_record_id, parse_number, show_number};
pub use dates::parse_date;
pub use edit::validate_edit;
use fields::{canonical_picklist, check_value, coerce_value, grounded};
use grounding::Grounding;
pub use grounding::{from_notes, quote};

/// The longest quote of the notes shown as a value's evidence, ellipses included.
pub const EVIDENCE_CHARS: usize = 60;
pub use support::looks_like_title;

/// Fields that name a person or a company: a job title there is a misread.
const NAME_FIELDS: &[&str] = &["FirstName", "LastName", "Company", "Name"];

/// What validation needs besides the reply and the schema.
#[derive(Debug, Clone)]
pub struct ValidationContext<'a> {
    /// The note text the values must be grounded in.
    pub notes: &'a str,
    /// The date the note was written; relative dates resolve against it.
    pub today: NaiveDate,
    /// Hold values that are not in the notes back from the write (they stay on the card).
    pub hold_ungrounded: bool,
    /// More records than this are cut, with a draft-level issue.
    pub max_records: usize,
}

/// The reply cannot be read as a draft at all. The model can usually fix this, so the caller
/// sends these errors back once (the repair retry) before giving up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the reply is not a JSON object")]
    NotAnObject,
    #[error("the reply has no \"records\" array")]
    NoRecords,
}

/// Validates a parsed model reply against the schema and the notes.
pub fn validate(
    reply: &Value,
    schema: &CrmSchema,
    ctx: &ValidationContext<'_>,
) -> Result<ValidatedDraft, ReplyError> {
    let obj = reply.as_object().ok_or(ReplyError::NotAnObject)?;
    let records = obj
        .get("records")
        .and_then(Value::as_array)
        .ok_or(ReplyError::NoRecords)?;
    let grounding = Grounding::new(ctx.notes, ctx.today);
    let mut draft = ValidatedDraft::default();
    let kept = records.len().min(ctx.max_records);
    if records.len() > kept {
        draft.issues.push(Issue::warning(
            IssueKind::Malformed,
            None,
            format!(
                "The draft had {} records; only the first {kept} are kept ({} left out). Log the rest separately.",
                records.len(),
                records.len() - kept
            ),
        ));
    }
    for (i, raw) in records.iter().take(kept).enumerate() {
        let Some(raw) = raw.as_object() else {
            draft.issues.push(Issue::warning(
                IssueKind::Malformed,
                None,
                format!("Record {} of the draft is not an object; left out", i + 1),
            ));
            continue;
        };
        let name = raw.get("object").and_then(Value::as_str).unwrap_or("");
        let Some(object) = schema.object(name) else {
            let shown = if name.is_empty() { "(no object)" } else { name };
            draft.issues.push(Issue::warning(
                IssueKind::UnknownObject,
                None,
                format!("{shown} is not an object crmbot may write; that record was left out"),
            ));
            continue;
        };
        draft
            .records
            .push(validate_record(raw, object, schema, ctx, &grounding));
    }
    people::said_of_someone_else(&mut draft, schema, &grounding, ctx.hold_ungrounded);
    people::repeated(&mut draft);
    if let Some(marker) = support::instructions_in(ctx.notes) {
        // The notes talk to the assistant: whatever was drafted may follow those words.
        draft.issues.push(Issue::warning(
            IssueKind::Injection,
            None,
            format!(
                "The notes contain text addressed to the assistant (\"{marker}\"); every value is held back until you check it and keep it"
            ),
        ));
        for f in draft.records.iter_mut().flat_map(|r| r.fields.iter_mut()) {
            f.include = false;
        }
    }
    Ok(draft)
}

fn validate_record(
    raw: &Map<String, Value>,
    object: &ObjectSchema,
    schema: &CrmSchema,
    ctx: &ValidationContext<'_>,
    grounding: &Grounding,
) -> RecordDraft {
    let mut issues = Vec::new();
    let lookup = match raw.get("lookup") {
        None | Some(Value::Null) => None,
        Some(value) => Some(validate_lookup(value, object, &mut issues)),
    };
    let is_update = lookup.is_some();
    let links = match raw.get("link") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => validate_links(value, object, schema, &mut issues),
    };

    let mut fields: Vec<DraftField> = Vec::new();
    if let Some(raw_fields) = raw.get("fields") {
        let Some(raw_fields) = raw_fields.as_object() else {
            issues.push(Issue::warning(
                IssueKind::Malformed,
                None,
                "The record's fields are not an object; none were taken",
            ));
            return finish(object, lookup, links, fields, issues, is_update);
        };
        for (name, value) in raw_fields {
            if let Some(field) = validate_field(
                name,
                value,
                object,
                ctx,
                Some(grounding),
                is_update,
                &mut issues,
            ) {
                // The model may repeat a field under another spelling; the first one stands.
                if !fields.iter().any(|f| f.name == field.name) {
                    fields.push(field);
                }
            }
        }
    }
    finish(object, lookup, links, fields, issues, is_update)
}

fn finish(
    object: &ObjectSchema,
    lookup: Option<Lookup>,
    links: Vec<LinkDraft>,
    mut fields: Vec<DraftField>,
    mut issues: Vec<Issue>,
    is_update: bool,
) -> RecordDraft {
    if !is_update {
        for f in object.fields.iter().filter(|f| f.required_on_create) {
            if !fields.iter().any(|d| d.name == f.name) {
                issues.push(Issue::blocking(
                    IssueKind::MissingRequired,
                    Some(&f.name),
                    format!("{} is required to create a {}", f.label, object.label),
                ));
            }
        }
    }
    fields.sort_by_key(|d| object.fields.iter().position(|f| f.name == d.name));
    RecordDraft {
        object: object.name.clone(),
        lookup,
        links,
        fields,
        issues,
    }
}

/// A lookup value must name one record exactly: text made only of wildcards or punctuation
/// names nothing.
fn exact_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    text.chars().any(char::is_alphanumeric).then_some(text)
}

fn validate_lookup(value: &Value, object: &ObjectSchema, issues: &mut Vec<Issue>) -> Lookup {
    let mut lookup = Lookup {
        criteria: Vec::new(),
    };
    let Some(map) = value.as_object() else {
        issues.push(Issue::blocking(
            IssueKind::LookupRefused,
            None,
            format!("The {} to update is not named by its fields", object.label),
        ));
        return lookup;
    };
    for (key, v) in map {
        if v.is_null() {
            continue;
        }
        let allowed = object
            .lookup_fields
            .iter()
            .find(|f| f.eq_ignore_ascii_case(key));
        match (allowed, exact_text(v)) {
            (Some(field), Some(text)) if !looks_like_record_id(&text) => {
                lookup.criteria.push((field.clone(), text))
            }
            (Some(field), Some(_)) => issues.push(Issue::blocking(
                IssueKind::IdRefused,
                Some(field),
                format!(
                    "A {} to update is named by its {field}, not by a record id",
                    object.label
                ),
            )),
            (Some(field), None) => issues.push(Issue::blocking(
                IssueKind::LookupRefused,
                Some(field),
                format!(
                    "\"{}\" does not name one {} exactly: a lookup must be an exact {field}",
                    v.as_str().unwrap_or_default(),
                    object.label
                ),
            )),
            (None, _) => issues.push(Issue::blocking(
                IssueKind::LookupRefused,
                Some(key),
                format!(
                    "A {} to update can only be found by {}, not by {key}",
                    object.label,
                    allowed_list(&object.lookup_fields)
                ),
            )),
        }
    }
    if lookup.criteria.is_empty() && !issues.iter().any(|i| i.is_blocking()) {
        issues.push(Issue::blocking(
            IssueKind::LookupRefused,
            None,
            format!("The {} to update is not named", object.label),
        ));
    }
    lookup
}

fn allowed_list(fields: &[String]) -> String {
    if fields.is_empty() {
        "nothing (updates are not allowed)".to_string()
    } else {
        fields.join(" or ")
    }
}

fn validate_links(
    value: &Value,
    object: &ObjectSchema,
    schema: &CrmSchema,
    issues: &mut Vec<Issue>,
) -> Vec<LinkDraft> {
    let mut links = Vec::new();
    let Some(map) = value.as_object() else {
        issues.push(Issue::warning(
            IssueKind::LinkRefused,
            None,
            "The record's link is not an object; it was ignored",
        ));
        return links;
    };
    for (relationship, target) in map {
        if target.is_null() {
            continue;
        }
        let Some(link) = object.link(relationship) else {
            issues.push(Issue::warning(
                IssueKind::LinkRefused,
                None,
                format!(
                    "A {} cannot be linked to a {relationship}; that link was ignored",
                    object.label
                ),
            ));
            continue;
        };
        let target_object = schema.object(&link.target);
        let mut criteria = Vec::new();
        for (key, v) in target.as_object().into_iter().flatten() {
            let field = target_object
                .and_then(|t| t.lookup_fields.iter().find(|f| f.eq_ignore_ascii_case(key)));
            match (field, exact_text(v)) {
                (Some(f), Some(text)) if !looks_like_record_id(&text) => {
                    criteria.push((f.clone(), text))
                }
                _ if v.is_null() => {}
                _ => issues.push(Issue::warning(
                    IssueKind::LinkRefused,
                    None,
                    format!(
                        "The {} link can only name a {} by {}; \"{key}\" was ignored",
                        link.relationship,
                        link.target,
                        target_object.map_or_else(String::new, |t| allowed_list(&t.lookup_fields))
                    ),
                )),
            }
        }
        if criteria.is_empty() {
            continue;
        }
        links.push(LinkDraft {
            relationship: link.relationship.clone(),
            field: link.field.clone(),
            target: link.target.clone(),
            lookup: Lookup { criteria },
        });
    }
    links
}

/// `grounding` is `None` for values a person typed (the Edit form): they are the source.
fn validate_field(
    name: &str,
    value: &Value,
    object: &ObjectSchema,
    ctx: &ValidationContext<'_>,
    grounding: Option<&Grounding>,
    is_update: bool,
    issues: &mut Vec<Issue>,
) -> Option<DraftField> {
    let empty = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
    if name.eq_ignore_ascii_case("OwnerId") || name.eq_ignore_ascii_case("Id") {
        if !empty {
            issues.push(Issue::warning(
                IssueKind::IdRefused,
                Some(name),
                format!("{name} is never taken from the model; left out"),
            ));
        }
        return None;
    }
    let Some(field) = object.field(name) else {
        if !empty {
            issues.push(Issue::warning(
                IssueKind::UnknownField,
                Some(name),
                format!("{name} is not an allowed {} field; left out", object.label),
            ));
        }
        return None;
    };
    if empty {
        return None;
    }
    if matches!(
        field.kind,
        FieldKind::Reference | FieldKind::Id | FieldKind::Other
    ) {
        issues.push(Issue::warning(
            IssueKind::IdRefused,
            Some(&field.name),
            format!("{} is never taken from the model; left out", field.label),
        ));
        return None;
    }
    if (is_update && !field.updateable) || (!is_update && !field.createable) {
        issues.push(Issue::warning(
            IssueKind::NotWritable,
            Some(&field.name),
            format!(
                "{} cannot be set when {} a {}; left out",
                field.label,
                if is_update { "updating" } else { "creating" },
                object.label
            ),
        ));
        return None;
    }
    if let Some(text) = value.as_str()
        && looks_like_record_id(text)
        && !field.kind.is_picklist()
    {
        issues.push(Issue::warning(
            IssueKind::IdRefused,
            Some(&field.name),
            format!(
                "{} looks like a record id, which is never taken from the model; left out",
                field.label
            ),
        ));
        return None;
    }
    let typed = match coerce_value(field, value, ctx, issues)? {
        FieldValue::Text(s) if field.kind.is_picklist() => {
            FieldValue::Text(canonical_picklist(field, &s))
        }
        other => other,
    };
    let mut include = true;
    if let Err(issue) = check_value(field, &typed, object) {
        issues.push(issue);
        include = false;
    }
    let Some(grounding) = grounding else {
        return Some(DraftField {
            name: field.name.clone(),
            value: typed,
            include,
            evidence: None,
        });
    };
    if include
        && let FieldValue::Text(text) = &typed
        && NAME_FIELDS.contains(&field.name.as_str())
        && support::looks_like_title(text)
    {
        issues.push(Issue::warning(
            IssueKind::BadValue,
            Some(&field.name),
            format!(
                "{} \"{text}\" looks like a job title, not a name; it will not be written unless you keep it",
                field.label
            ),
        ));
        include = false;
    }
    let mut evidence = None;
    match grounded(field, &typed, grounding) {
        _ if !include => {}
        Ok(span) => evidence = span.map(|s| quote(ctx.notes, s, EVIDENCE_CHARS)),
        Err(why) => {
            issues.push(Issue::warning(
                IssueKind::NotInNotes,
                Some(&field.name),
                format!(
                    "{} \"{}\" {why}{}",
                    field.label,
                    typed.display(),
                    if ctx.hold_ungrounded {
                        "; it will not be written unless you keep it"
                    } else {
                        ""
                    }
                ),
            ));
            include = !ctx.hold_ungrounded;
        }
    }
    Some(DraftField {
        name: field.name.clone(),
        value: typed,
        include,
        evidence: evidence.filter(|q| !q.is_empty()),
    })
}

#[cfg(test)]
pub(crate) mod tests;
