//! Pure rules: no I/O, no async, no Slack or Salesforce wire types. Everything here takes its
//! inputs (the schema, the notes, today's date) as arguments, so it is unit-tested to the bone
//! and behaves the same in Slack, the console and tests.

pub mod action;
pub mod draft;
pub mod free_text;
pub mod notes;
pub mod plan;
pub mod policy;
pub mod resolve;
pub mod schema;
pub mod soql;
pub mod validate;
