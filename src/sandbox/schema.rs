//! The sandbox's objects and fields: the default schema (Lead, Contact, Account, Opportunity,
//! Task, User — `default_schema.json`, compiled in) plus an optional extra schema file adding
//! custom `__c` fields and objects. Validation, describe and the SOQL source all read this.
//!
//! # Schema file format (JSON)
//!
//! ```json
//! {"objects": [
//!   {"name": "Lead", "fields": [
//!      {"name": "Crmbot_Key__c", "type": "string", "length": 64, "externalId": true, "unique": true}]},
//!   {"name": "Invoice__c", "label": "Invoice", "labelPlural": "Invoices", "keyPrefix": "a01",
//!    "fields": [
//!      {"name": "Name", "type": "string", "length": 80, "nillable": false, "nameField": true},
//!      {"name": "Account__c", "type": "reference", "referenceTo": ["Account"],
//!       "relationshipName": "Account__r", "childRelationship": "Invoices__r"},
//!      {"name": "Status__c", "type": "picklist", "picklist": ["Draft", "Sent"],
//!       "restricted": true, "default": "Draft"}]}]}
//! ```
//!
//! Objects named like an existing one get the fields appended (a field of the same name
//! replaces the old one). New objects need a `keyPrefix` and, like new fields, a name ending
//! in `__c`. Field keys (all optional but `name` and `type`): `label`, `length`, `precision`,
//! `scale`, `digits`, `nillable` (default true), `createable`/`updateable` (default true),
//! `defaultedOnCreate`, `required` (enforced on create even when nillable, like Lead.Company),
//! `picklist` (values), `restricted`, `default`, `referenceTo`, `relationshipName`,
//! `childRelationship` (the parent's name for the children, used by describe and
//! `/composite/tree`), `externalId`, `unique`, `idLookup`, `nameField`. Types: string,
//! textarea, email, phone, url, picklist, multipicklist, combobox, boolean, int, double,
//! currency, percent, date, datetime, reference. Every object also gets the system fields
//! Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById,
//! SystemModstamp and (except User) OwnerId.

use std::path::Path;

use serde::Deserialize;

use super::SandboxError;

/// The default schema, compiled in.
const DEFAULT_SCHEMA: &str = include_str!("default_schema.json");

/// A schema file: a list of objects.
#[derive(Debug, Clone, Deserialize)]
pub struct SchemaFile {
    pub objects: Vec<ObjectSpec>,
}

/// One object as written in a schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSpec {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub label_plural: Option<String>,
    #[serde(default)]
    pub key_prefix: Option<String>,
    #[serde(default = "yes")]
    pub createable: bool,
    #[serde(default = "yes")]
    pub updateable: bool,
    #[serde(default = "yes")]
    pub deletable: bool,
    /// Whether the object has an OwnerId (every object but User).
    #[serde(default = "yes")]
    pub owned: bool,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
}

fn yes() -> bool {
    true
}

/// One field: the file format and the in-memory definition are the same.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub precision: u32,
    #[serde(default)]
    pub scale: u32,
    #[serde(default)]
    pub digits: u32,
    #[serde(default = "yes")]
    pub nillable: bool,
    #[serde(default = "yes")]
    pub createable: bool,
    #[serde(default = "yes")]
    pub updateable: bool,
    #[serde(default)]
    pub defaulted_on_create: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub picklist: Vec<String>,
    #[serde(default)]
    pub restricted: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
    #[serde(default)]
    pub child_relationship: Option<String>,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub id_lookup: bool,
    #[serde(default)]
    pub name_field: bool,
    /// Set for the system fields the sandbox adds.
    #[serde(skip)]
    pub system: bool,
}

impl FieldDef {
    /// Label as describe shows it: the given one, or the API name spaced out.
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| spaced(&self.name))
    }

    /// Required on create, as clients compute it from describe, plus the explicit override.
    pub fn required_on_create(&self) -> bool {
        self.createable && ((!self.nillable && !self.defaulted_on_create) || self.required)
    }

    pub fn is_custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    fn system(name: &str, kind: &str) -> FieldDef {
        FieldDef {
            name: name.to_string(),
            kind: kind.to_string(),
            label: None,
            length: 0,
            precision: 0,
            scale: 0,
            digits: 0,
            nillable: false,
            createable: false,
            updateable: false,
            defaulted_on_create: true,
            required: false,
            picklist: Vec::new(),
            restricted: false,
            default: None,
            reference_to: Vec::new(),
            relationship_name: None,
            child_relationship: None,
            external_id: false,
            unique: false,
            id_lookup: false,
            name_field: false,
            system: true,
        }
    }

    fn system_reference(name: &str, relationship: &str, label: &str) -> FieldDef {
        FieldDef {
            label: Some(label.to_string()),
            reference_to: vec!["User".to_string()],
            relationship_name: Some(relationship.to_string()),
            ..FieldDef::system(name, "reference")
        }
    }
}

/// "LastModifiedDate" -> "Last Modified Date"; "AccountId" -> "Account ID".
fn spaced(name: &str) -> String {
    let base = name.trim_end_matches("__c");
    let mut out = String::new();
    let chars: Vec<char> = base.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let prev_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
        if i > 0 && c.is_ascii_uppercase() && prev_lower {
            out.push(' ');
        }
        out.push(if *c == '_' { ' ' } else { *c });
    }
    if let Some(stem) = out.strip_suffix(" Id") {
        return format!("{stem} ID");
    }
    out
}

/// One object with its full field list (system fields first, as describe lists Id first).
#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub createable: bool,
    pub updateable: bool,
    pub deletable: bool,
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    /// A field by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn is_custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    /// The reference field behind a relationship name (`Owner` -> OwnerId).
    pub fn relationship(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(name))
        })
    }
}

/// A child relationship: children of `object` point at the parent through `field`.
#[derive(Debug, Clone)]
pub struct ChildRelationship {
    pub name: String,
    pub object: String,
    pub field: String,
}

/// Every object the sandbox knows.
#[derive(Debug, Clone)]
pub struct Schema {
    objects: Vec<ObjectDef>,
}

impl Schema {
    /// The default schema plus an optional extra schema (file and/or inline JSON).
    /// `drop` removes fields (`Object.Field`, or `*.Field` on every object), so a test can
    /// play an org that lacks, say, the `Crmbot_Key__c` field.
    pub fn load(
        extra_file: Option<&Path>,
        extra_inline: Option<&serde_json::Value>,
        drop: &[String],
    ) -> Result<Schema, SandboxError> {
        let base: SchemaFile = serde_json::from_str(DEFAULT_SCHEMA)
            .map_err(|e| SandboxError::Schema(format!("built-in schema: {e}")))?;
        let mut specs = base.objects;
        let mut extras = Vec::new();
        if let Some(path) = extra_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SandboxError::Schema(format!("{}: {e}", path.display())))?;
            let file: SchemaFile = serde_json::from_str(&text)
                .map_err(|e| SandboxError::Schema(format!("{}: {e}", path.display())))?;
            extras.extend(file.objects);
        }
        if let Some(value) = extra_inline {
            let file: SchemaFile = serde_json::from_value(value.clone())
                .map_err(|e| SandboxError::Schema(format!("inline schema: {e}")))?;
            extras.extend(file.objects);
        }
        for extra in extras {
            merge(&mut specs, extra)?;
        }
        for spec in drop {
            let Some((object, field)) = spec.split_once('.') else {
                return Err(SandboxError::Schema(format!(
                    "{spec}: name a field to drop as Object.Field (or *.Field)"
                )));
            };
            for o in specs
                .iter_mut()
                .filter(|o| object == "*" || o.name.eq_ignore_ascii_case(object))
            {
                o.fields.retain(|f| !f.name.eq_ignore_ascii_case(field));
            }
        }
        let objects = specs.into_iter().map(build).collect::<Result<_, _>>()?;
        Ok(Schema { objects })
    }

    pub fn objects(&self) -> &[ObjectDef] {
        &self.objects
    }

    /// An object by name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The object whose ids start with this prefix.
    pub fn object_for_id(&self, id: &str) -> Option<&ObjectDef> {
        let prefix = id.get(..3)?;
        self.objects.iter().find(|o| o.key_prefix == prefix)
    }

    /// The child relationships of a parent object, derived from the children's references.
    pub fn child_relationships(&self, parent: &str) -> Vec<ChildRelationship> {
        let mut out = Vec::new();
        for object in &self.objects {
            for field in &object.fields {
                let points_here = field.reference_to.iter().any(|t| t == parent);
                if let (true, Some(name)) = (points_here, &field.child_relationship) {
                    out.push(ChildRelationship {
                        name: name.clone(),
                        object: object.name.clone(),
                        field: field.name.clone(),
                    });
                }
            }
        }
        out
    }
}

fn merge(specs: &mut Vec<ObjectSpec>, extra: ObjectSpec) -> Result<(), SandboxError> {
    if let Some(existing) = specs
        .iter_mut()
        .find(|o| o.name.eq_ignore_ascii_case(&extra.name))
    {
        for field in extra.fields {
            if !field.is_custom() {
                return Err(SandboxError::Schema(format!(
                    "{}.{}: fields added to a standard object must end in __c",
                    existing.name, field.name
                )));
            }
            existing
                .fields
                .retain(|f| !f.name.eq_ignore_ascii_case(&field.name));
            existing.fields.push(field);
        }
        return Ok(());
    }
    if !extra.name.ends_with("__c") {
        return Err(SandboxError::Schema(format!(
            "{}: unknown standard object; custom objects must end in __c",
            extra.name
        )));
    }
    match &extra.key_prefix {
        Some(p) if p.len() == 3 && p.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
        _ => {
            return Err(SandboxError::Schema(format!(
                "{}: a custom object needs a 3-character keyPrefix",
                extra.name
            )));
        }
    }
    if specs.iter().any(|o| o.key_prefix == extra.key_prefix) {
        return Err(SandboxError::Schema(format!(
            "{}: keyPrefix already used",
            extra.name
        )));
    }
    specs.push(extra);
    Ok(())
}

fn build(spec: ObjectSpec) -> Result<ObjectDef, SandboxError> {
    let key_prefix = spec
        .key_prefix
        .clone()
        .ok_or_else(|| SandboxError::Schema(format!("{}: no keyPrefix", spec.name)))?;
    let label = spec.label.clone().unwrap_or_else(|| spaced(&spec.name));
    let mut id = FieldDef::system("Id", "id");
    id.label = Some(format!("{label} ID"));
    id.length = 18;
    id.id_lookup = true;
    let mut fields = vec![id];
    if spec.owned {
        fields.push(FieldDef {
            nillable: false,
            createable: true,
            updateable: true,
            system: false,
            ..FieldDef::system_reference("OwnerId", "Owner", "Owner ID")
        });
    }
    let mut deleted = FieldDef::system("IsDeleted", "boolean");
    deleted.label = Some("Deleted".into());
    fields.push(deleted);
    fields.extend(spec.fields.iter().cloned());
    fields.push(FieldDef::system("CreatedDate", "datetime"));
    fields.push(FieldDef::system_reference(
        "CreatedById",
        "CreatedBy",
        "Created By ID",
    ));
    fields.push(FieldDef::system("LastModifiedDate", "datetime"));
    fields.push(FieldDef::system_reference(
        "LastModifiedById",
        "LastModifiedBy",
        "Last Modified By ID",
    ));
    fields.push(FieldDef::system("SystemModstamp", "datetime"));
    for f in &fields {
        if f.kind == "reference" && (f.reference_to.is_empty() || f.relationship_name.is_none()) {
            return Err(SandboxError::Schema(format!(
                "{}.{}: a reference needs referenceTo and relationshipName",
                spec.name, f.name
            )));
        }
    }
    Ok(ObjectDef {
        label_plural: spec
            .label_plural
            .clone()
            .unwrap_or_else(|| format!("{label}s")),
        label,
        name: spec.name,
        key_prefix,
        createable: spec.createable,
        updateable: spec.updateable,
        deletable: spec.deletable,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_loads_with_required_fields_as_clients_compute_them() {
        let schema = Schema::load(None, None, &[]).unwrap();
        let required = |o: &str| -> Vec<String> {
            let obj = schema.object(o).unwrap();
            obj.fields
                .iter()
                .filter(|f| f.required_on_create())
                .map(|f| f.name.clone())
                .collect()
        };
        assert_eq!(required("Lead"), ["LastName", "Company"]);
        assert_eq!(required("Opportunity"), ["Name", "StageName", "CloseDate"]);
        assert!(required("Task").is_empty());
        assert_eq!(
            schema.object_for_id("00QSb0000000001").unwrap().name,
            "Lead"
        );
        let kids: Vec<_> = schema
            .child_relationships("Account")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(kids.contains(&"Contacts".to_string()) && kids.contains(&"Tasks".to_string()));
    }

    #[test]
    fn labels_are_derived_from_api_names() {
        assert_eq!(spaced("LastModifiedDate"), "Last Modified Date");
        assert_eq!(spaced("AccountId"), "Account ID");
        assert_eq!(spaced("Crmbot_Key__c"), "Crmbot Key");
    }

    #[test]
    fn extra_schema_adds_custom_fields_and_objects_and_rejects_bad_names() {
        let extra = serde_json::json!({"objects": [
            {"name": "Lead", "fields": [{"name": "Key__c", "type": "string", "length": 10, "externalId": true}]},
            {"name": "Invoice__c", "keyPrefix": "a01", "fields": [{"name": "Name", "type": "string", "length": 80}]}
        ]});
        let schema = Schema::load(None, Some(&extra), &[]).unwrap();
        assert!(
            schema
                .object("lead")
                .unwrap()
                .field("key__c")
                .unwrap()
                .external_id
        );
        assert_eq!(schema.object("Invoice__c").unwrap().key_prefix, "a01");
        let bad = serde_json::json!({"objects": [{"name": "Lead", "fields": [{"name": "Key", "type": "string"}]}]});
        assert!(Schema::load(None, Some(&bad), &[]).is_err());
    }
}
