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
//! * `audit.jsonl` in the data dir (when the store has a folder): every record again, one
//!   JSON line each, fsync'd before `append` returns (see [`mirror`]). A database behind
//!   its mirror lost records; start-up refuses it and `verify` names the gap.
//!
//! What is hashed is defined by [`record_hash`]; with a key (`CRMBOT_AUDIT_KEY`) records
//! are sealed with [`keyed_hash`] (HMAC) instead, so a rewritten record cannot be given a
//! hash that verifies. Appends in one process are serialised by a mutex; sled itself lets
//! only one process open the database.
//!
//! The API is synchronous: each call is a few sled operations. `append` flushes to disk
//! before it returns, so "the audit record of a write is stored before the card says done";
//! an append that fails leaves nothing behind, and callers that must not act unaudited stop.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

mod hash;
pub mod mirror;
mod record;
mod verify;

#[cfg(test)]
mod tests;

pub use hash::{GENESIS_HASH, canonical_bytes, keyed_hash, record_hash};
pub use mirror::{MIRROR_FILE, Mirror, MirrorTail};
pub use record::{AuditEntry, AuditFilter, AuditKind, AuditRecord};
pub use verify::{VerifyReport, verify_records};

/// Name of the sled tree holding the records.
pub const RECORDS_TREE: &str = "audit";
/// Name of the sled tree naming, by SHA-256, the record that holds each prompt's text.
pub const PROMPTS_TREE: &str = "audit_prompts";
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
    #[error("cannot write the audit mirror {0}")]
    Mirror(String),
    #[error("audit store: {0}")]
    Postgres(String),
    /// Appends were made to fail on purpose (tests, drills).
    #[error("the audit log refuses appends (failure injected)")]
    Injected,
}

/// How the database and its mirror compare (see [`AuditLog::check_mirror`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorState {
    /// No mirror (a temporary store).
    None,
    /// Both end at the same record.
    InStep { records: u64 },
    /// The mirror lagged (new, or a crash between the two writes) and was brought up to
    /// the database: `added` records written to it.
    Extended { added: u64 },
    /// The database ends at `db`, the mirror at `mirror`: the database lost records.
    Behind { db: u64, mirror: u64 },
    /// Record `seq` differs between the two.
    Diverged { seq: u64 },
}

impl MirrorState {
    /// What an operator reads when the database cannot be served from.
    pub fn problem(&self, dir: &Path) -> Option<String> {
        match self {
            MirrorState::Behind { db, mirror } => Some(format!(
                "the database in {} holds audit records up to {db}, but its audit mirror ({MIRROR_FILE}) holds records up to {mirror}: the database lost its last {} record(s) (a crash at the wrong moment, or an older copy restored). crmbot will not serve from it, because a draft already written could be approved and written again. Run `crmbot audit recover` to put the missing records and the drafts' states back, then start again.",
                dir.display(),
                mirror - db
            )),
            MirrorState::Diverged { seq } => Some(format!(
                "the database in {} and its audit mirror ({MIRROR_FILE}) disagree at record {seq}: one of them was changed. crmbot will not serve from it; run `crmbot audit verify` and restore both from a backup.",
                dir.display()
            )),
            _ => None,
        }
    }
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
    /// SHA-256 (hex) of a prompt -> the seq of its `prompt` record. An index only: a
    /// missing entry means the prompt is stored again.
    prompts: sled::Tree,
    /// Held by `append` (and `verify`) so appends in this process chain one after another;
    /// the mirror is written under it.
    lock: Mutex<Option<Mirror>>,
    /// The chain key (`CRMBOT_AUDIT_KEY`): records are sealed with HMAC.
    key: Option<SecretString>,
    failing: AtomicBool,
}

impl AuditLog {
    /// Opens (creating if needed) the audit trees of `db`, without a mirror or key.
    pub fn open(db: &sled::Db) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(db, None, None)
    }

    /// Opens the audit trees with a mirror file and a chain key. Does not compare them:
    /// see [`AuditLog::check_mirror`].
    pub fn open_with(
        db: &sled::Db,
        mirror: Option<&Path>,
        key: Option<SecretString>,
    ) -> Result<AuditLog, AuditError> {
        let mirror = mirror.map(Mirror::open).transpose()?;
        Ok(AuditLog {
            records: db.open_tree(RECORDS_TREE)?,
            head: db.open_tree(HEAD_TREE)?,
            prompts: db.open_tree(PROMPTS_TREE)?,
            lock: Mutex::new(mirror),
            key: key.filter(|k| !k.expose_secret().is_empty()),
            failing: AtomicBool::new(false),
        })
    }

    /// Makes every append fail (or not), as a full or read-only disk would: for tests and
    /// drills of "no audit record, no write".
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Whether records are sealed with a key.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.expose_secret().as_bytes())
    }

    /// Compares the database with its mirror and brings a lagging mirror up to date (a new
    /// mirror, or a crash between the database write and the mirror write). A database
    /// behind its mirror, or one that disagrees with it, is reported, not repaired.
    pub fn check_mirror(&self) -> Result<MirrorState, AuditError> {
        let mut guard = self.guard();
        let Some(mirror) = guard.as_mut() else {
            return Ok(MirrorState::None);
        };
        let db_last = self.last_seq()?;
        let tail = mirror.tail()?;
        let mirror_last = tail.as_ref().map_or(0, |t| t.seq);
        if mirror_last > db_last {
            return Ok(MirrorState::Behind {
                db: db_last,
                mirror: mirror_last,
            });
        }
        if let Some(t) = &tail {
            let ours = self.get(t.seq)?;
            if ours.is_none_or(|r| r.hash != t.hash) {
                return Ok(MirrorState::Diverged { seq: t.seq });
            }
        }
        if mirror_last == db_last {
            return Ok(MirrorState::InStep { records: db_last });
        }
        let mut added = 0;
        for item in self.records.range(record_key(mirror_last + 1)..) {
            let record = parse_item(item)?;
            mirror.append(&record)?;
            added += 1;
        }
        tracing::warn!(added, path = %mirror.path().display(), "audit mirror brought up to the database");
        Ok(MirrorState::Extended { added })
    }

    /// The sequence number of the last record (0 when empty).
    pub fn last_seq(&self) -> Result<u64, AuditError> {
        Ok(match self.records.last()? {
            Some((key, _)) => key_seq(&key).unwrap_or(0),
            None => 0,
        })
    }

    /// Puts back records the database lost, from its mirror: each must continue the chain
    /// exactly (its `prev_hash` is the hash of the record before). Returns how many.
    pub fn restore(&self, records: &[AuditRecord]) -> Result<u64, AuditError> {
        let _guard = self.guard();
        let mut last = self.last_seq()?;
        let mut prev = match last {
            0 => GENESIS_HASH.to_string(),
            n => self
                .get(n)?
                .map(|r| r.hash)
                .ok_or_else(|| AuditError::Inconsistent(format!("record {n} is unreadable")))?,
        };
        let mut restored = 0;
        let start = last;
        for record in records.iter().filter(|r| r.seq > start) {
            if record.seq != last + 1 || record.prev_hash != prev {
                return Err(AuditError::Inconsistent(format!(
                    "record {} of the mirror does not continue the database's chain at record {last}",
                    record.seq
                )));
            }
            let bytes = serde_json::to_vec(record)?;
            let head = serde_json::to_vec(&Head {
                seq: record.seq,
                hash: record.hash.clone(),
            })?;
            (&self.records, &self.head)
                .transaction(|(records, h)| {
                    records.insert(&record_key(record.seq), bytes.as_slice())?;
                    h.insert(HEAD_KEY, head.as_slice())?;
                    Ok::<_, ConflictableTransactionError<String>>(())
                })
                .map_err(|e| match e {
                    TransactionError::Abort(reason) => AuditError::Inconsistent(reason),
                    TransactionError::Storage(e) => AuditError::Store(e),
                })?;
            last = record.seq;
            prev = record.hash.clone();
            restored += 1;
        }
        self.records.flush()?;
        Ok(restored)
    }

    /// Appends `entry` as the next record: assigns `seq` (1, 2, 3...), `at` (now, UTC),
    /// `prev_hash` (the previous record's hash, [`GENESIS_HASH`] for the first) and `hash`,
    /// stores record and head in one transaction, and flushes to disk.
    ///
    /// Refuses ([`AuditError::Inconsistent`]) when the head does not match the last record,
    /// rather than chaining onto a log that was tampered with.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        // The mutex wait and the two fsyncs, off the async workers.
        crate::store::off_async(|| self.append_now(entry))
    }

    fn append_now(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let mut guard = self.guard();
        if self.failing.load(Ordering::SeqCst) {
            return Err(AuditError::Injected);
        }
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
        let hash = match self.key_bytes() {
            Some(key) => keyed_hash(key, seq, &at, &prev_hash, &entry)?,
            None => record_hash(seq, &at, &prev_hash, &entry)?,
        };
        let record = AuditRecord {
            seq,
            at,
            prev_hash,
            hash,
            keyed: self.key.is_some(),
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
        // The database first, then the mirror: a crash between the two leaves the mirror
        // one record behind, which the next start repairs — never the database behind.
        self.records.flush()?;
        if let Some(mirror) = guard.as_mut()
            && let Err(e) = mirror.append(&record)
        {
            // Not in the mirror, not anywhere: take it back out of the database.
            let undone = (&self.records, &self.head).transaction(|(records, head)| {
                records.remove(&key)?;
                match &head_bytes {
                    Some(h) => head.insert(HEAD_KEY, h.as_ref())?,
                    None => head.remove(HEAD_KEY)?,
                };
                Ok::<_, ConflictableTransactionError<()>>(())
            });
            if undone.is_err() || self.records.flush().is_err() {
                tracing::error!(
                    seq,
                    "an audit record the mirror refused could not be taken back"
                );
            }
            return Err(e);
        }
        crate::metrics::action_event(record.entry.kind.as_str());
        Ok(record)
    }

    /// Stores `text` once, as a `prompt` record in the chain (so the mirror, export and
    /// verify cover it), and returns its SHA-256 (hex), by which records name it.
    pub fn store_prompt(&self, text: &str) -> Result<String, AuditError> {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        if self.prompts.contains_key(sha.as_bytes())? {
            return Ok(sha);
        }
        let record = self.append(prompt_entry(&sha, text))?;
        self.prompts
            .insert(sha.as_bytes(), &record_key(record.seq))?;
        Ok(sha)
    }

    /// The text of the prompt whose SHA-256 is `sha`, if stored.
    pub fn prompt_text(&self, sha: &str) -> Result<Option<String>, AuditError> {
        let seq = match self.prompts.get(sha.as_bytes())? {
            Some(k) => key_seq(&k),
            None => None,
        };
        let found = match seq {
            Some(seq) => self.get(seq)?,
            // Not indexed (e.g. records put back from the mirror): look for it.
            None => self
                .list(&AuditFilter::default())?
                .into_iter()
                .find(|r| r.entry.kind == AuditKind::Prompt && r.entry.detail["sha256"] == sha),
        };
        Ok(found.and_then(|r| r.entry.detail["text"].as_str().map(str::to_string)))
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

    fn guard(&self) -> MutexGuard<'_, Option<Mirror>> {
        // The mutex guards no data, so a panic while it was held leaves nothing to repair.
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The record that holds a prompt's text, named by its SHA-256 (hex) `sha`.
pub(crate) fn prompt_entry(sha: &str, text: &str) -> AuditEntry {
    AuditEntry {
        action_id: String::new(),
        kind: AuditKind::Prompt,
        actor: None,
        summary: format!("Prompt {}", sha.get(..12).unwrap_or(sha)),
        detail: serde_json::json!({"sha256": sha, "text": text}),
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
