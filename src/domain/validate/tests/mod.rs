//! Validation tests: `rules` one by one, `fixtures` (gold drafts must pass clean; bad replies
//! must end as their `must` says), `properties` over arbitrary JSON. This file holds the org
//! they share.

mod fixtures;
mod people;
mod properties;
mod rules;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::*;
use crate::domain::draft::Severity;
use crate::domain::schema::{FieldSchema, LinkSchema};

pub(super) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn field(name: &str, kind: FieldKind) -> FieldSchema {
    FieldSchema {
        name: name.into(),
        label: name.into(),
        kind,
        createable: true,
        updateable: true,
        required_on_create: false,
        length: kind.is_text().then_some(255),
        picklist: vec![],
        restricted_picklist: false,
        free_text: false,
    }
}

fn picklist(name: &str, values: &[&str]) -> FieldSchema {
    FieldSchema {
        picklist: values.iter().map(|v| v.to_string()).collect(),
        restricted_picklist: true,
        length: Some(255),
        ..field(name, FieldKind::Picklist)
    }
}

fn required(mut f: FieldSchema) -> FieldSchema {
    f.required_on_create = true;
    f
}

fn free(mut f: FieldSchema) -> FieldSchema {
    f.free_text = true;
    f
}

const STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];

/// The org of the shared fixtures: the default allowlist over a standard org's describe.
pub(crate) fn schema() -> CrmSchema {
    let object = |name: &str, fields: Vec<FieldSchema>, lookup: &[&str], links: Vec<LinkSchema>| {
        ObjectSchema {
            name: name.into(),
            label: name.into(),
            key_prefix: None,
            fields,
            lookup_fields: lookup.iter().map(|s| s.to_string()).collect(),
            match_keys: vec![],
            links,
        }
    };
    let account_link = || LinkSchema {
        relationship: "Account".into(),
        field: "AccountId".into(),
        target: "Account".into(),
    };
    let mut s = CrmSchema::default();
    for o in [
        object(
            "Lead",
            vec![
                field("FirstName", FieldKind::String),
                required(field("LastName", FieldKind::String)),
                required(field("Company", FieldKind::String)),
                field("Title", FieldKind::String),
                field("Email", FieldKind::Email),
                field("Phone", FieldKind::Phone),
                picklist(
                    "LeadSource",
                    &[
                        "Web",
                        "Phone Inquiry",
                        "Partner Referral",
                        "Purchased List",
                        "Trade Show",
                        "Other",
                    ],
                ),
                picklist(
                    "Status",
                    &[
                        "Open - Not Contacted",
                        "Working - Contacted",
                        "Closed - Converted",
                        "Closed - Not Converted",
                    ],
                ),
                field("Industry", FieldKind::Picklist),
                free(field("Description", FieldKind::TextArea)),
            ],
            &["Email"],
            vec![],
        ),
        object(
            "Contact",
            vec![
                field("FirstName", FieldKind::String),
                required(field("LastName", FieldKind::String)),
                field("Title", FieldKind::String),
                field("Email", FieldKind::Email),
                field("Phone", FieldKind::Phone),
                free(field("Description", FieldKind::TextArea)),
            ],
            &["Email"],
            vec![account_link()],
        ),
        object(
            "Account",
            vec![
                required(field("Name", FieldKind::String)),
                field("Website", FieldKind::Url),
                free(field("Description", FieldKind::TextArea)),
            ],
            &["Name"],
            vec![],
        ),
        object(
            "Opportunity",
            vec![
                required(field("Name", FieldKind::String)),
                required(picklist("StageName", STAGES)),
                field("Amount", FieldKind::Currency),
                required(field("CloseDate", FieldKind::Date)),
                free(field("NextStep", FieldKind::String)),
                free(field("Description", FieldKind::TextArea)),
            ],
            &["Name"],
            vec![account_link()],
        ),
        object(
            "Task",
            vec![
                free(field("Subject", FieldKind::Combobox)),
                field("ActivityDate", FieldKind::Date),
                picklist(
                    "Status",
                    &[
                        "Not Started",
                        "In Progress",
                        "Completed",
                        "Waiting on someone else",
                        "Deferred",
                    ],
                ),
                picklist("Priority", &["High", "Normal", "Low"]),
                free(field("Description", FieldKind::TextArea)),
            ],
            &[],
            vec![],
        ),
    ] {
        s.objects.insert(o.name.clone(), o);
    }
    s
}

pub(super) fn run(notes: &str, reply: Value) -> ValidatedDraft {
    let ctx = ValidationContext {
        notes,
        today: today(),
        hold_ungrounded: true,
        max_records: 500,
    };
    validate(&reply, &schema(), &ctx).expect("a draft")
}

pub(super) fn one(notes: &str, object: &str, lookup: Value, fields: Value) -> RecordDraft {
    let d = run(
        notes,
        json!({"records": [{"object": object, "lookup": lookup, "link": null, "fields": fields}]}),
    );
    assert_eq!(d.records.len(), 1, "{d:?}");
    d.records.into_iter().next().unwrap()
}

pub(super) fn kinds(r: &RecordDraft) -> Vec<(IssueKind, Option<String>)> {
    r.issues.iter().map(|i| (i.kind, i.field.clone())).collect()
}

pub(super) fn has(r: &RecordDraft, kind: IssueKind, field: &str, severity: Severity) -> bool {
    r.issues
        .iter()
        .any(|i| i.kind == kind && i.field.as_deref() == Some(field) && i.severity == severity)
}
