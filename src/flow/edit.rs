//! The Edit form: what a person may change on a draft, and how their answers become a new
//! revision. Values go through the same domain rules as the model's reply (types, picklists,
//! lengths, required fields); a person's value is always kept (never held back as "not in
//! your notes"). Front ends render `EditForm` and hand back `EditValues`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::free_text::{FreeTextRule, guard};
use super::proposal::{Proposal, ProposedField, ProposedRecord, record_url, same};
use super::write::record_name;
use crate::domain::draft::IssueKind;
use crate::domain::resolve::row_value;
use crate::domain::schema::{CrmSchema, FieldKind, FieldSchema};
use crate::domain::validate::validate_edit;

/// The answers of a submitted form, by key (see `field_key`, `choice_key`).
pub type EditValues = BTreeMap<String, Option<String>>;

/// Inline errors by key, for the form to show next to the input.
pub type EditErrors = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct EditForm {
    pub revision: u32,
    pub records: Vec<EditRecord>,
}

#[derive(Debug, Clone)]
pub struct EditRecord {
    pub index: usize,
    /// "Lead: Daniel Reed (create)".
    pub title: String,
    /// Which existing record to update, when several match; or a link's parent.
    pub choices: Vec<Choice>,
    pub fields: Vec<EditField>,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub key: String,
    pub label: String,
    /// (value, text)
    pub options: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct EditField {
    pub key: String,
    pub name: String,
    pub label: String,
    pub input: Input,
    pub value: Option<String>,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text {
        multiline: bool,
        max_length: Option<u32>,
    },
    Select {
        options: Vec<String>,
    },
    Date,
    Number {
        decimal: bool,
    },
}

pub fn field_key(record: usize, field: &str) -> String {
    format!("r{record}.{field}")
}

pub fn choice_key(record: usize, what: &str) -> String {
    format!("r{record}.choose.{what}")
}

/// The record a form key belongs to, as a person names it ("Lead Daniel Reed"); for
/// messages outside the form, where the key itself means nothing to anyone.
pub fn key_owner(proposal: &Proposal, key: &str) -> Option<String> {
    let index: usize = key.strip_prefix('r')?.split('.').next()?.parse().ok()?;
    let r = proposal.records.get(index)?;
    Some(format!("{} {}", r.label, record_name(r)))
}

/// Value of a choice that creates a new record instead of updating one.
pub const CREATE_NEW: &str = "new";
/// Value of a link choice that writes the record without that link.
pub const NO_LINK: &str = "none";

/// The form for the current revision: every field each record's action may set, with its
/// current value, and any choice the draft is waiting for.
pub fn edit_form(proposal: &Proposal, revision: u32, schema: &CrmSchema) -> EditForm {
    let records = proposal
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let object = schema.object(&r.object);
            let mut choices = Vec::new();
            if r.action == "ambiguous" {
                let mut options: Vec<(String, String)> = r
                    .candidates
                    .iter()
                    .map(|c| (c.id.clone(), c.label.clone()))
                    .collect();
                options.push((CREATE_NEW.into(), format!("Create a new {}", r.label)));
                choices.push(Choice {
                    key: choice_key(i, "record"),
                    label: format!("Which existing {} is this?", r.label),
                    options,
                });
            }
            for l in r.links.iter().filter(|l| l.status == "ambiguous") {
                let mut options: Vec<(String, String)> = l
                    .candidates
                    .iter()
                    .map(|c| (c.id.clone(), c.label.clone()))
                    .collect();
                options.push((NO_LINK.into(), "No link".into()));
                choices.push(Choice {
                    key: choice_key(i, &l.field),
                    label: format!("Which {} ({})?", l.object, l.field),
                    options,
                });
            }
            let update = r.action == "update";
            let mut fields: Vec<EditField> = Vec::new();
            if let Some(object) = object {
                for f in &object.fields {
                    let current = r.fields.iter().find(|p| p.name == f.name);
                    // Every allowed field the action may set, so a person can add what
                    // the notes left out.
                    let writable = if update { f.updateable } else { f.createable };
                    let needed = !update && f.required_on_create;
                    if !writable {
                        continue;
                    }
                    let Some(input) = input_for(f) else { continue };
                    fields.push(EditField {
                        key: field_key(i, &f.name),
                        name: f.name.clone(),
                        label: f.label.clone(),
                        // For free text added below Salesforce's, only the addition.
                        value: current
                            .and_then(|p| p.added.clone().or_else(|| form_value(&p.value))),
                        required: needed,
                        input,
                    });
                }
            }
            EditRecord {
                index: i,
                title: format!(
                    "{}: {} ({})",
                    r.label,
                    record_name(r),
                    r.action.replace('_', " ")
                ),
                choices,
                fields,
            }
        })
        .collect();
    EditForm { revision, records }
}

fn input_for(f: &FieldSchema) -> Option<Input> {
    Some(match f.kind {
        FieldKind::Picklist => Input::Select {
            options: f.picklist.clone(),
        },
        FieldKind::Date => Input::Date,
        FieldKind::Int => Input::Number { decimal: false },
        FieldKind::Double | FieldKind::Currency | FieldKind::Percent => {
            Input::Number { decimal: true }
        }
        FieldKind::String
        | FieldKind::Email
        | FieldKind::Phone
        | FieldKind::Url
        | FieldKind::Combobox
        | FieldKind::MultiPicklist
        | FieldKind::DateTime => Input::Text {
            multiline: false,
            max_length: f.length,
        },
        FieldKind::TextArea => Input::Text {
            multiline: true,
            max_length: f.length,
        },
        FieldKind::Boolean => Input::Select {
            options: vec!["true".into(), "false".into()],
        },
        FieldKind::Reference | FieldKind::Id | FieldKind::Other => return None,
    })
}

fn form_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Applies a submitted form to the proposal: the new revision, or inline errors by key.
pub fn apply_edit(
    proposal: &Proposal,
    schema: &CrmSchema,
    values: &EditValues,
    instance_url: &str,
    rule: &FreeTextRule,
) -> Result<Proposal, EditErrors> {
    let form = edit_form(proposal, 0, schema);
    let mut next = proposal.clone();
    let mut errors = EditErrors::new();
    for (record, form_record) in next.records.iter_mut().zip(&form.records) {
        let i = form_record.index;
        apply_choices(record, i, values, instance_url, &mut errors);
        let Some(object) = schema.object(&record.object) else {
            continue;
        };
        let mut raw = Map::new();
        for f in &form_record.fields {
            // A field the form did not carry (a text too long for Slack's input) keeps its
            // value; an input left empty clears it.
            let v = match values.get(&f.key) {
                Some(v) => v.clone(),
                None => f.value.clone(),
            };
            raw.insert(
                f.name.clone(),
                v.filter(|s| !s.trim().is_empty())
                    .map_or(Value::Null, Value::String),
            );
        }
        let update = record.action == "update";
        let draft = validate_edit(object, &raw, update, proposal.today);
        for issue in draft.issues.iter().filter(|x| x.is_blocking()) {
            let key = issue
                .field
                .as_deref()
                .map(|f| field_key(i, f))
                .or_else(|| form_record.fields.first().map(|f| f.key.clone()))
                .unwrap_or_else(|| field_key(i, "record"));
            errors.entry(key).or_insert_with(|| issue.message.clone());
        }
        let old: BTreeMap<String, Option<Value>> = record
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.old.clone()))
            .collect();
        // Fields not on the form (not writable for this action) stay as they were.
        let mut fields: Vec<ProposedField> = record
            .fields
            .iter()
            .filter(|f| !form_record.fields.iter().any(|e| e.name == f.name))
            .cloned()
            .collect();
        for d in &draft.fields {
            // Free text already added below Salesforce's, and not changed in the form.
            if let Some(prev) = record
                .fields
                .iter()
                .find(|p| p.name == d.name && p.added.is_some())
                .filter(|p| p.added.as_deref().map(str::trim) == Some(d.value.display().trim()))
            {
                fields.push(prev.clone());
                continue;
            }
            let old = old.get(&d.name).cloned().flatten();
            let value = d.value.to_json();
            // A value the form kept as it was keeps its quote of the notes; a typed one has none.
            let evidence = record
                .fields
                .iter()
                .find(|p| p.name == d.name && p.value == value)
                .and_then(|p| p.evidence.clone());
            let changed = old.as_ref().is_none_or(|o| !same(o, &d.value));
            fields.push(ProposedField {
                label: object
                    .field(&d.name)
                    .map_or_else(|| d.name.clone(), |s| s.label.clone()),
                name: d.name.clone(),
                display: d.value.display(),
                value,
                old: if update {
                    old.or(Some(Value::Null))
                } else {
                    None
                },
                include: true,
                changed,
                added: None,
                evidence,
            });
        }
        fields.sort_by_key(|p| object.fields.iter().position(|f| f.name == p.name));
        record.fields = fields;
        // Value issues are recomputed; the others (duplicates, choices) stay.
        record.issues.retain(|x| !is_value_issue(x.kind));
        record.issues.extend(
            draft
                .issues
                .into_iter()
                .filter(|x| x.kind != IssueKind::NotInNotes),
        );
        record.blocked = record.issues.iter().any(|x| x.is_blocking());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    guard(&mut next, schema, rule);
    next.blocked =
        next.issues.iter().any(|x| x.is_blocking()) || next.records.iter().any(|r| r.blocked);
    Ok(next)
}

/// Applies one choice made outside the form (a select on the card): only that choice
/// changes; every value, held back or not, stays as it was.
pub fn apply_choice(
    proposal: &Proposal,
    key: &str,
    value: &str,
    instance_url: &str,
    schema: &CrmSchema,
    rule: &FreeTextRule,
) -> Result<Proposal, EditErrors> {
    let index = key
        .strip_prefix('r')
        .and_then(|k| k.split_once(".choose."))
        .and_then(|(i, _)| i.parse::<usize>().ok())
        .filter(|i| *i < proposal.records.len())
        .ok_or_else(|| EditErrors::from([(key.to_string(), "No such choice".to_string())]))?;
    let mut next = proposal.clone();
    let values = EditValues::from([(key.to_string(), Some(value.to_string()))]);
    let mut errors = EditErrors::new();
    let record = &mut next.records[index];
    apply_choices(record, index, &values, instance_url, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    guard(&mut next, schema, rule);
    let record = &mut next.records[index];
    record.blocked = record.issues.iter().any(|x| x.is_blocking());
    next.blocked =
        next.issues.iter().any(|x| x.is_blocking()) || next.records.iter().any(|r| r.blocked);
    Ok(next)
}

fn apply_choices(
    record: &mut ProposedRecord,
    i: usize,
    values: &EditValues,
    instance_url: &str,
    errors: &mut EditErrors,
) {
    if record.action == "ambiguous" {
        let key = choice_key(i, "record");
        match values.get(&key).cloned().flatten() {
            Some(v) if v == CREATE_NEW => {
                record.action = "create".into();
                record
                    .issues
                    .retain(|x| !(x.kind == IssueKind::Ambiguous && x.field.is_none()));
            }
            Some(id) if record.candidates.iter().any(|c| c.id == id) => {
                record.action = "update".into();
                record.url = Some(record_url(instance_url, &record.object, &id));
                record.matched_by = Some("chosen".into());
                record
                    .issues
                    .retain(|x| !(x.kind == IssueKind::Ambiguous && x.field.is_none()));
                // The chosen record's values, as the duplicate check read them.
                let current = record
                    .candidates
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.current.clone())
                    .unwrap_or_default();
                for f in &mut record.fields {
                    let old = row_value(&current, &f.name).unwrap_or(Value::Null);
                    f.changed = !same_json(&old, &f.value);
                    f.old = Some(old);
                }
                record.id = Some(id);
            }
            // Not chosen yet: it stays undecided (and the draft blocked).
            None => {}
            Some(_) => {
                errors.insert(key, "Choose one of the listed records".into());
            }
        }
    }
    for l in record.links.iter_mut().filter(|l| l.status == "ambiguous") {
        let key = choice_key(i, &l.field);
        let settled = |issues: &mut Vec<crate::domain::draft::Issue>| {
            issues.retain(|x| {
                !(x.kind == IssueKind::Ambiguous && x.field.as_deref() == Some(l.field.as_str()))
            })
        };
        match values.get(&key).cloned().flatten() {
            Some(v) if v == NO_LINK => {
                l.status = "not_found".into();
                settled(&mut record.issues);
            }
            Some(id) if l.candidates.iter().any(|c| c.id == id) => {
                l.status = "existing".into();
                l.id = Some(id);
                settled(&mut record.issues);
            }
            // Not chosen yet: it stays undecided (and the draft blocked).
            None => {}
            Some(_) => {
                errors.insert(key, "Choose one of the listed records".into());
            }
        }
    }
}

/// Equal values as Salesforce would see them (a number as 25000 or 25000.0).
fn same_json(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn is_value_issue(kind: IssueKind) -> bool {
    matches!(
        kind,
        IssueKind::BadValue
            | IssueKind::Coerced
            | IssueKind::UnresolvedDate
            | IssueKind::BadPicklist
            | IssueKind::TooLong
            | IssueKind::MissingRequired
            | IssueKind::NotInNotes
            | IssueKind::NotWritable
            // Recomputed by the free-text rule after every save.
            | IssueKind::FreeTextKept
    )
}

#[cfg(test)]
mod tests;
