//! `CrmSchema`: what crmbot may touch in Salesforce — the configured allowlist intersected with
//! the org's describe. Everything downstream (the JSON Schema sent to the model, validation, the
//! card, the edit modal) reads from this one value, so an object or field missing here simply
//! does not exist for crmbot. Built by `flow::schema` from config + describe; pure data here.

use std::collections::BTreeMap;

use serde::Serialize;

/// The allowed objects, keyed by API name (`Lead`, `Opportunity`, ...), in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrmSchema {
    pub objects: BTreeMap<String, ObjectSchema>,
}

/// One allowed object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectSchema {
    /// API name, exactly as the org spells it.
    pub name: String,
    pub label: String,
    /// Three-character record id prefix (`00Q` for Lead), when the org told us.
    pub key_prefix: Option<String>,
    /// The fields the model may fill, in configured order. Only fields that exist in the org
    /// and are createable or updateable are here.
    pub fields: Vec<FieldSchema>,
    /// Fields by which the model may name an existing record to update (`{"Name": "..."}`).
    /// Matching is exact; an Id is never a lookup field.
    pub lookup_fields: Vec<String>,
    /// Duplicate-match keys, tried in order: each key is a set of fields that must all be
    /// present and equal. A field may be a parent path such as `Account.Name`, whose value
    /// comes from the record's `link`.
    pub match_keys: Vec<Vec<String>>,
    /// Parents the model may name in `link`, e.g. `Account` -> `AccountId`.
    pub links: Vec<LinkSchema>,
}

/// One writable field, as the org describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSchema {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub createable: bool,
    pub updateable: bool,
    /// Must be set when creating (describe: createable, not nillable, not defaulted on
    /// create; plus known overrides such as Lead.Company).
    pub required_on_create: bool,
    /// Maximum length in characters for text kinds.
    pub length: Option<u32>,
    /// Active picklist values, as the org spells them (the value to send, not the label).
    pub picklist: Vec<String>,
    /// A restricted picklist rejects any other value; an unrestricted one only warns.
    pub restricted_picklist: bool,
    /// Free text (Description, NextStep ...): exempt from the "not in your notes" check.
    pub free_text: bool,
}

/// A parent the model may name by its lookup fields; code resolves it to an Id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkSchema {
    /// The relationship name used in `link` and in SOQL paths (`Account`).
    pub relationship: String,
    /// The reference field that receives the parent's Id (`AccountId`).
    pub field: String,
    /// The parent object (`Account`); it must itself be in the schema for its lookup fields.
    pub target: String,
}

/// Salesforce field types crmbot distinguishes. Describe's `type` strings map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    TextArea,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Combobox,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    /// An Id pointing at another record: never taken from the model.
    Reference,
    /// The record's own Id: never taken from the model.
    Id,
    /// Anything else (address, base64, location ...): not offered to the model.
    Other,
}

impl FieldKind {
    /// Maps describe's `type` string.
    pub fn from_describe(t: &str) -> FieldKind {
        match t {
            "string" | "encryptedstring" => FieldKind::String,
            "textarea" => FieldKind::TextArea,
            "email" => FieldKind::Email,
            "phone" => FieldKind::Phone,
            "url" => FieldKind::Url,
            "picklist" => FieldKind::Picklist,
            "multipicklist" => FieldKind::MultiPicklist,
            "combobox" => FieldKind::Combobox,
            "boolean" => FieldKind::Boolean,
            "int" | "long" => FieldKind::Int,
            "double" => FieldKind::Double,
            "currency" => FieldKind::Currency,
            "percent" => FieldKind::Percent,
            "date" => FieldKind::Date,
            "datetime" => FieldKind::DateTime,
            "reference" => FieldKind::Reference,
            "id" => FieldKind::Id,
            _ => FieldKind::Other,
        }
    }

    /// Text-like kinds, whose values are strings the notes can be checked against.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldKind::String
                | FieldKind::TextArea
                | FieldKind::Email
                | FieldKind::Phone
                | FieldKind::Url
                | FieldKind::Combobox
        )
    }

    /// Numeric kinds.
    pub fn is_number(self) -> bool {
        matches!(
            self,
            FieldKind::Int | FieldKind::Double | FieldKind::Currency | FieldKind::Percent
        )
    }

    /// Kinds with a fixed value list.
    pub fn is_picklist(self) -> bool {
        matches!(self, FieldKind::Picklist | FieldKind::MultiPicklist)
    }
}

impl CrmSchema {
    /// The object with this API name, matched case-insensitively (the model may say `lead`).
    pub fn object(&self, name: &str) -> Option<&ObjectSchema> {
        self.objects.get(name).or_else(|| {
            self.objects
                .values()
                .find(|o| o.name.eq_ignore_ascii_case(name))
        })
    }
}

impl ObjectSchema {
    /// The field with this API name, matched case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The link with this relationship name, matched case-insensitively.
    pub fn link(&self, relationship: &str) -> Option<&LinkSchema> {
        self.links
            .iter()
            .find(|l| l.relationship.eq_ignore_ascii_case(relationship))
    }
}
