//! The audit log: an append-only, hash-chained record of everything crmbot did for each
//! pending action — the notes, the prompt and the model's raw reply, the validated payload,
//! each Salesforce request and response, who approved or rejected, and when.
//!
//! It exists so that anyone can later answer "what was written to Salesforce, on whose
//! click, from which notes", and so that a record changed or removed after the fact is
//! detected: every record carries the hash of the one before (`crmbot audit verify`).
//!
//! # Storage
//!
//! * tree `audit`: key = `seq` as 8 big-endian bytes (so iteration is in `seq` order),
//!   value = the [`AuditRecord`] as JSON.
//! * tree `audit_head`: key `head`, value `{"seq", "hash"}` of the last record. It is written
//!   in the same sled transaction as the record, so removing the last record is detected too.
//!
//! What is hashed is defined by [`record_hash`]. Appends in one process are
//! serialised by a mutex; sled itself lets only one process open the database.
//!
//! The API is synchronous: each call is a few sled operations. `append` flushes to disk
//! before it returns, so "the audit record of a write is stored before the card says done".

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

mod hash;
mod record;
mod verify;

#[cfg(test)]
mod tests;

pub use hash::{GENESIS_HASH, canonical_bytes, record_hash};
pub use record::{AuditEntry, AuditFilter, AuditKind, AuditRecord};
pub use verify::VerifyReport;

/// Name of the sled tree holding the records.
pub const RECORDS_TREE: &str = "audit";
/// Name of the sled tree holding the head entry.
pub const HEAD_TREE: &str = "audit_head";
/// Key of the head entry in [`HEAD_TREE`].
pub const HEAD_KEY: &[u8] = b"head";

/// The sled key of record `seq`.
pub fn record_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// A failure of the audit store. A broken chain is not an error: see [`VerifyReport`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store: {0}")]
    Store(#[from] sled::Error),
    #[error("audit record {seq} is unreadable: {reason}")]
    Corrupt { seq: u64, reason: String },
    /// The head and the records disagree, so appending would extend a broken chain.
    #[error("the audit log is inconsistent ({0}); run `crmbot audit verify`")]
    Inconsistent(String),
    #[error("cannot encode an audit record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot write the audit export: {0}")]
    Io(#[from] std::io::Error),
}

/// `{seq, hash}` of the last record, kept next to the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The append-only, hash-chained audit log in one sled database.
pub struct AuditLog {
    records: sled::Tree,
    head: sled::Tree,
    /// Held by `append` (and `verify`) so appends in this process chain one after another.
    lock: Mutex<()>,
}

impl AuditLog {
    /// Opens (creating if needed) the audit trees of `db`.
    pub fn open(db: &sled::Db) -> Result<AuditLog, AuditError> {
        Ok(AuditLog {
            records: db.open_tree(RECORDS_TREE)?,
            head: db.open_tree(HEAD_TREE)?,
            lock: Mutex::new(()),
        })
    }

    /// Appends `entry` as the next record: assigns `seq` (1, 2, 3...), `at` (now, UTC),
    /// `prev_hash` (the previous record's hash, [`GENESIS_HASH`] for the first) and `hash`,
    /// stores record and head in one transaction, and flushes to disk.
    ///
    /// Refuses ([`AuditError::Inconsistent`]) when the head does not match the last record,
    /// rather than chaining onto a log that was tampered with.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let _guard = self.guard();
        let head_bytes = self.head.get(HEAD_KEY)?;
        let head: Option<Head> = match &head_bytes {
            Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|e| {
                AuditError::Inconsistent(format!("the head entry does not deserialize: {e}"))
            })?),
            None => None,
        };
        let last_seq = match self.records.last()? {
            Some((key, _)) => Some(key_seq(&key).ok_or_else(|| {
                AuditError::Inconsistent("a key in the audit tree is not a sequence number".into())
            })?),
            None => None,
        };
        let (seq, prev_hash) = match (&head, last_seq) {
            (None, None) => (1, GENESIS_HASH.to_string()),
            (Some(h), Some(last)) if h.seq == last => (last + 1, h.hash.clone()),
            (Some(h), last) => {
                return Err(AuditError::Inconsistent(format!(
                    "the head says the last record is {}, the tree ends at {}",
                    h.seq,
                    last.map_or("nothing".to_string(), |s| s.to_string())
                )));
            }
            (None, Some(last)) => {
                return Err(AuditError::Inconsistent(format!(
                    "the head entry is missing but the tree ends at record {last}"
                )));
            }
        };
        let at = Utc::now();
        let hash = record_hash(seq, &at, &prev_hash, &entry)?;
        let record = AuditRecord {
            seq,
            at,
            prev_hash,
            hash,
            entry,
        };
        let record_bytes = serde_json::to_vec(&record)?;
        let new_head = serde_json::to_vec(&Head {
            seq,
            hash: record.hash.clone(),
        })?;
        let key = record_key(seq);
        (&self.records, &self.head)
            .transaction(|(records, head)| {
                // The mutex makes these hold; checked again so a bug cannot fork the chain.
                if head.get(HEAD_KEY)?.as_deref() != head_bytes.as_deref() {
                    return Err(ConflictableTransactionError::Abort(
                        "the head changed during the append".to_string(),
                    ));
                }
                if records.get(key)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(format!(
                        "record {seq} already exists"
                    )));
                }
                records.insert(&key, record_bytes.as_slice())?;
                head.insert(HEAD_KEY, new_head.as_slice())?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(reason) => AuditError::Inconsistent(reason),
                TransactionError::Storage(e) => AuditError::Store(e),
            })?;
        self.records.flush()?;
        Ok(record)
    }

    /// Record `seq`, if there is one.
    pub fn get(&self, seq: u64) -> Result<Option<AuditRecord>, AuditError> {
        match self.records.get(record_key(seq))? {
            Some(bytes) => parse(seq, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every record of one pending action, in order (a scan of the whole log).
    pub fn for_action(&self, action_id: &str) -> Result<Vec<AuditRecord>, AuditError> {
        self.list(&AuditFilter {
            action_id: Some(action_id.to_string()),
            ..AuditFilter::default()
        })
    }

    /// The records passing `filter`, oldest first. With a `limit`, the most recent matches.
    pub fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        match filter.limit {
            Some(limit) => {
                if limit == 0 {
                    return Ok(out);
                }
                for item in self.records.iter().rev() {
                    let record = parse_item(item)?;
                    if filter.matches(&record) {
                        out.push(record);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                out.reverse();
            }
            None => {
                for item in self.records.iter() {
                    let record = parse_item(item)?;
                    if filter.matches(&record) {
                        out.push(record);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Writes every record as one JSON object per line, in `seq` order; returns how many.
    /// Each line holds all of the record's fields, so the chain can be checked from the
    /// export alone (see [`record_hash`]).
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, AuditError> {
        let mut count = 0;
        for item in self.records.iter() {
            let record = parse_item(item)?;
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
            count += 1;
        }
        out.flush()?;
        Ok(count)
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, so a panic while it was held leaves nothing to repair.
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The sequence number of a record key, if it is one.
fn key_seq(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

fn parse(seq: u64, bytes: &[u8]) -> Result<AuditRecord, AuditError> {
    serde_json::from_slice(bytes).map_err(|e| AuditError::Corrupt {
        seq,
        reason: e.to_string(),
    })
}

fn parse_item(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<AuditRecord, AuditError> {
    let (key, bytes) = item?;
    parse(key_seq(&key).unwrap_or(0), &bytes)
}
