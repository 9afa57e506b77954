//! The sandbox's SOQL engine: parses the subset crmbot emits plus the common hand-written
//! forms, and evaluates it over the sandbox's records. Anything outside the subset is a
//! `MALFORMED_QUERY` naming what is unsupported — never a wrong answer.

mod compare;
mod dates;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;
mod unsupported;

use serde_json::{Map, Value};

pub use lexer::LitChar;
pub use parser::{Cond, Literal, Op, Order, Query, Select};

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

/// What evaluation needs besides the data.
#[derive(Debug, Clone)]
pub struct ExecContext<'a> {
    /// "Today" for date literals (TODAY, THIS_MONTH, LAST_N_DAYS:n ...).
    pub today: chrono::NaiveDate,
    /// For `attributes.url`, e.g. `v62.0`.
    pub api_version: &'a str,
}

/// The result of a query, before paging.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// Projected rows in Salesforce's JSON shape: `attributes` {type, url} on each record and
    /// on each nested parent; parent paths nested (`"Account": {"attributes": ..., "Name": ..}`)
    /// or `null`. Empty for `SELECT COUNT()`.
    pub rows: Vec<Map<String, Value>>,
    /// `totalSize`: the row count, or the count for `SELECT COUNT()` (after LIMIT).
    pub total_size: usize,
}

/// Why a query was refused; the server answers 400 with the matching `errorCode`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoqlError {
    /// `MALFORMED_QUERY`: bad syntax, or a form outside the supported subset (named).
    #[error("{0}")]
    Malformed(String),
    /// `INVALID_FIELD`: no such field (or relationship) on the object.
    #[error("{0}")]
    InvalidField(String),
    /// `NUMBER_OUTSIDE_VALID_RANGE`: a number outside its allowed range (OFFSET above 2000).
    #[error("{0}")]
    OutOfRange(String),
    /// `INVALID_TYPE`: no such object.
    #[error("{0}")]
    InvalidType(String),
    /// `INVALID_QUERY_FILTER_OPERATOR`: a literal an id field cannot hold (`invalid ID
    /// field: not-an-id`).
    #[error("{0}")]
    InvalidFilter(String),
}

impl SoqlError {
    /// Salesforce's `errorCode` for this error.
    pub fn error_code(&self) -> &'static str {
        match self {
            SoqlError::Malformed(_) => "MALFORMED_QUERY",
            SoqlError::InvalidField(_) => "INVALID_FIELD",
            SoqlError::InvalidType(_) => "INVALID_TYPE",
            SoqlError::OutOfRange(_) => "NUMBER_OUTSIDE_VALID_RANGE",
            SoqlError::InvalidFilter(_) => "INVALID_QUERY_FILTER_OPERATOR",
        }
    }
}

/// Parses SOQL text (syntax only; names are checked by `execute`).
pub fn parse(text: &str) -> Result<Query, SoqlError> {
    parser::parse(text)
}

/// Evaluates a parsed query over the source's records.
pub fn execute(
    query: &Query,
    source: &dyn SoqlSource,
    ctx: &ExecContext<'_>,
) -> Result<QueryOutput, SoqlError> {
    eval::execute(query, source, ctx)
}
