//! Test support: a realistic `QuerySchema` built from the sandbox's default schema
//! (Opportunity, Account, Contact, Lead, Task with their picklists), so unit tests,
//! integration tests and the fixture of questions all check plans against the same fields.
//! Not part of the public API.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{QueryField, QueryObject, QuerySchema};
use crate::domain::schema::FieldKind;

const DEFAULT_SCHEMA: &str = include_str!("../../sandbox/default_schema.json");

/// The objects of the sample schema.
pub const SAMPLE_OBJECTS: [&str; 5] = ["Account", "Contact", "Lead", "Opportunity", "Task"];

/// The user id that stands for `"$me"` in tests/fixtures/questions.json.
pub const SAMPLE_ME: &str = "005xx0000012345AAA";

#[derive(Deserialize)]
struct File {
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    name: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default = "yes")]
    owned: bool,
    fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Field {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    length: Option<u32>,
    #[serde(default)]
    picklist: Vec<String>,
    #[serde(default)]
    reference_to: Vec<String>,
    #[serde(default)]
    relationship_name: Option<String>,
}

fn yes() -> bool {
    true
}

fn field(path: &str, label: &str, kind: FieldKind) -> QueryField {
    QueryField {
        path: path.into(),
        label: label.into(),
        kind,
        picklist: Vec::new(),
        filterable: kind != FieldKind::Other,
        sortable: !matches!(kind, FieldKind::Other | FieldKind::MultiPicklist),
        is_owner: false,
    }
}

/// Opportunity, Account, Contact, Lead and Task as the sandbox describes them: `Id`, the
/// owner (`OwnerId`, `Owner.Name`), every field of the default schema, `<Parent>.Name` for
/// each parent relationship (`Account.Name`, `Who.Name` ...), and `CreatedDate` /
/// `LastModifiedDate`. Long text areas can be shown but not filtered or sorted.
pub fn sample_schema() -> QuerySchema {
    let file: File = serde_json::from_str(DEFAULT_SCHEMA).unwrap_or(File {
        objects: Vec::new(),
    });
    let named: Vec<&str> = file
        .objects
        .iter()
        .filter(|o| o.fields.iter().any(|f| f.name == "Name"))
        .map(|o| o.name.as_str())
        .collect();
    let mut objects = BTreeMap::new();
    for object in file
        .objects
        .iter()
        .filter(|o| SAMPLE_OBJECTS.contains(&o.name.as_str()))
    {
        let label = object.label.clone().unwrap_or_else(|| object.name.clone());
        let mut fields = vec![field("Id", &format!("{label} ID"), FieldKind::Id)];
        if object.owned {
            fields.push(QueryField {
                is_owner: true,
                ..field("OwnerId", "Owner ID", FieldKind::Reference)
            });
            fields.push(field("Owner.Name", "Owner Name", FieldKind::String));
        }
        for f in &object.fields {
            let kind = FieldKind::from_describe(&f.kind);
            let long_text = kind == FieldKind::TextArea && f.length.unwrap_or(0) > 255;
            let mut q = field(&f.name, f.label.as_deref().unwrap_or(&f.name), kind);
            if long_text {
                q.filterable = false;
                q.sortable = false;
            }
            if kind.is_picklist() {
                q.picklist = f.picklist.clone();
            }
            fields.push(q);
            if let Some(rel) = &f.relationship_name
                && !f.reference_to.is_empty()
                && f.reference_to.iter().all(|t| named.contains(&t.as_str()))
            {
                fields.push(field(
                    &format!("{rel}.Name"),
                    &format!("{rel} Name"),
                    FieldKind::String,
                ));
            }
        }
        fields.push(field("CreatedDate", "Created Date", FieldKind::DateTime));
        fields.push(field(
            "LastModifiedDate",
            "Last Modified Date",
            FieldKind::DateTime,
        ));
        objects.insert(
            object.name.clone(),
            QueryObject {
                name: object.name.clone(),
                label,
                fields,
            },
        );
    }
    QuerySchema { objects }
}
