//! The use cases, written once and used by every front end (Slack, the console, the CLI):
//! drafting from notes today; approve, reject, edit and ask as they land.

pub mod action;
pub mod actions;
pub mod approve;
pub mod ask;
pub mod asked;
pub mod drafting;
pub mod edit;
pub mod free_text;
pub mod migrate;
pub mod people;
pub mod policy;
pub mod proposal;
pub mod query_schema;
pub mod recover;
pub mod schema;
pub mod settle;
pub mod signin;
pub mod storage;
#[cfg(test)]
pub(crate) mod testing;
pub mod text;
pub mod undo;
pub mod write;
