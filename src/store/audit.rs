//! TEMPORARY stand-in with the audit log's interface (the hash-chained log lands from the
//! `audit` branch). Appends in order; no chain yet.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("record: {0}")]
    Serde(#[from] serde_json::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditKind {
    Drafted,
    Edited,
    ApproveRequested,
    WriteRequest,
    Written,
    WriteFailed,
    Rejected,
    Expired,
    Reconciled,
    Refused,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub action_id: String,
    pub kind: AuditKind,
    pub actor: Option<String>,
    pub summary: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

pub struct AuditLog {
    tree: sled::Tree,
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn open(db: &sled::Db) -> Result<AuditLog, AuditError> {
        Ok(AuditLog {
            tree: db.open_tree("audit")?,
            lock: Mutex::new(()),
        })
    }

    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let seq = self
            .tree
            .last()?
            .and_then(|(k, _)| k.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0)
            + 1;
        let record = AuditRecord {
            seq,
            at: Utc::now(),
            prev_hash: String::new(),
            hash: String::new(),
            entry,
        };
        self.tree
            .insert(seq.to_be_bytes(), serde_json::to_vec(&record)?)?;
        self.tree.flush()?;
        Ok(record)
    }

    pub fn for_action(&self, action_id: &str) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (_, v) = item?;
            let r: AuditRecord = serde_json::from_slice(&v)?;
            if r.entry.action_id == action_id {
                out.push(r);
            }
        }
        Ok(out)
    }
}
