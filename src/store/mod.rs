//! sled storage: pending actions, audit log, seen event ids.
//!
//! One sled database (at `Config::data_dir`) holds everything crmbot must remember across
//! restarts; each submodule owns its trees and knows nothing of Slack or Salesforce.

pub mod audit;

pub use audit::{
    AuditEntry, AuditError, AuditFilter, AuditKind, AuditLog, AuditRecord, VerifyReport,
};
