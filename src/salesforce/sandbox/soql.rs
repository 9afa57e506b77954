//! The sandbox's SOQL engine: parses the subset crmbot emits plus the common hand-written
//! forms, and evaluates it over the sandbox's records. Anything outside the subset is a
//! `MALFORMED_QUERY` naming what is unsupported — never a wrong answer.

use serde_json::{Map, Value};

/// What the engine needs to know about the sandbox's data. Object and field names are matched
/// case-insensitively, as Salesforce does; the canonical spelling is returned.
pub trait SoqlSource {
    /// The canonical name of an object, if it exists.
    fn object(&self, name: &str) -> Option<String>;
    /// A field of an object: canonical name and type, if it exists.
    fn field(&self, object: &str, field: &str) -> Option<FieldInfo>;
    /// The reference field behind a relationship name (`Account` on Opportunity ->
    /// `AccountId`) and the objects it may point at.
    fn relationship(&self, object: &str, relationship: &str) -> Option<RelationshipInfo>;
    /// Every live record of an object (fields keyed by canonical name, `Id` included).
    fn records(&self, object: &str) -> Vec<Map<String, Value>>;
    /// One record by Id, with its object name.
    fn record(&self, id: &str) -> Option<(String, Map<String, Value>)>;
}

/// A field as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    /// Describe's `type` string: string, picklist, boolean, double, currency, date, datetime,
    /// reference, id, ...
    pub kind: String,
}

/// A parent relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipInfo {
    /// Relationship name, canonical (`Account`, `Owner`, `Who`).
    pub name: String,
    /// The reference field holding the parent's Id (`AccountId`).
    pub field: String,
    /// Objects it may point at (several when polymorphic, e.g. Task.WhoId).
    pub targets: Vec<String>,
}
