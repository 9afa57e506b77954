//! The audit chain in PostgreSQL: the same records, hashes and HMAC sealing as sled's
//! (`store::audit`), appended under a transaction-scoped advisory lock with the head row,
//! so replicas appending at once extend ONE chain.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use super::PgStore;
use crate::store::StoreError;
use crate::store::audit::{
    AuditEntry, AuditError, AuditFilter, AuditKind, AuditRecord, GENESIS_HASH, VerifyReport,
    keyed_hash, record_hash, verify_records,
};

/// The advisory lock every append holds: one chain, one writer at a time.
const CHAIN_LOCK: i64 = 0x6372_6d62_6f74_0001;

fn pg(e: StoreError) -> AuditError {
    AuditError::Postgres(e.to_string())
}

fn protocol(e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}

/// The hash-chained audit log in PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgAudit {
    store: PgStore,
    key: Option<Arc<SecretString>>,
    failing: Arc<AtomicBool>,
}

impl PgAudit {
    pub(super) fn new(store: PgStore, key: Option<SecretString>) -> PgAudit {
        PgAudit {
            store,
            key: key.filter(|k| !k.expose_secret().is_empty()).map(Arc::new),
            failing: Arc::default(),
        }
    }

    /// Makes every append fail (or not): for tests and drills of "no audit record, no write".
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// Appends `entry` as the next record (see `store::AuditLog::append`): the head row is
    /// read and moved in the same transaction as the record is inserted, under the chain
    /// lock. Refuses a head that does not name the last record.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(AuditError::Injected);
        }
        let key = self.key.clone();
        let record = self
            .store
            .run(move |pool| async move {
                let mut tx = pool.begin().await?;
                let head = lock_chain(&mut tx).await?;
                let last: Option<i64> = sqlx::query("SELECT max(seq) FROM audit")
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
                let (seq, prev_hash) = match (head, last) {
                    (None, None) => (1u64, GENESIS_HASH.to_string()),
                    (Some((h, hash)), Some(l)) if h == l as u64 => (h + 1, hash),
                    (h, l) => {
                        return Ok(Err(AuditError::Inconsistent(format!(
                            "the head says the last record is {}, the table ends at {}",
                            h.map_or("nothing".into(), |h| h.0.to_string()),
                            l.map_or("nothing".into(), |l| l.to_string())
                        ))));
                    }
                };
                let at = Utc::now();
                let hash = match &key {
                    Some(k) => {
                        keyed_hash(k.expose_secret().as_bytes(), seq, &at, &prev_hash, &entry)
                    }
                    None => record_hash(seq, &at, &prev_hash, &entry),
                }
                .map_err(protocol)?;
                let record = AuditRecord {
                    seq,
                    at,
                    prev_hash,
                    hash,
                    keyed: key.is_some(),
                    entry,
                };
                let text = serde_json::to_string(&record).map_err(protocol)?;
                sqlx::query("INSERT INTO audit (seq, record) VALUES ($1, $2)")
                    .bind(seq as i64)
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                )
                .bind(seq as i64)
                .bind(&record.hash)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(record))
            })
            .map_err(pg)??;
        crate::metrics::action_event(record.entry.kind.as_str());
        Ok(record)
    }

    /// Stores `text` once, as a `prompt` record in the chain, and returns its SHA-256.
    pub fn store_prompt(&self, text: &str) -> Result<String, AuditError> {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        if self.prompt_seq(&sha)?.is_some() {
            return Ok(sha);
        }
        let record = self.append(crate::store::audit::prompt_entry(&sha, text))?;
        let key = sha.clone();
        self.store
            .run(move |pool| async move {
                sqlx::query(
                    "INSERT INTO audit_prompts (sha256, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(key)
                .bind(record.seq as i64)
                .execute(&pool)
                .await?;
                Ok(())
            })
            .map_err(pg)?;
        Ok(sha)
    }

    fn prompt_seq(&self, sha: &str) -> Result<Option<u64>, AuditError> {
        let sha = sha.to_string();
        self.store
            .run(move |pool| async move {
                let row = sqlx::query("SELECT seq FROM audit_prompts WHERE sha256 = $1")
                    .bind(sha)
                    .fetch_optional(&pool)
                    .await?;
                Ok(row.map(|r| r.get::<i64, _>(0) as u64))
            })
            .map_err(pg)
    }

    /// The text of the prompt whose SHA-256 is `sha`, if stored.
    pub fn prompt_text(&self, sha: &str) -> Result<Option<String>, AuditError> {
        let found = match self.prompt_seq(sha)? {
            Some(seq) => self.get(seq)?,
            None => self
                .list(&AuditFilter::default())?
                .into_iter()
                .find(|r| r.entry.kind == AuditKind::Prompt && r.entry.detail["sha256"] == sha),
        };
        Ok(found.and_then(|r| r.entry.detail["text"].as_str().map(str::to_string)))
    }

    /// Record `seq`, if there is one.
    pub fn get(&self, seq: u64) -> Result<Option<AuditRecord>, AuditError> {
        let text = self
            .store
            .run(move |pool| async move {
                let row = sqlx::query("SELECT record FROM audit WHERE seq = $1")
                    .bind(seq as i64)
                    .fetch_optional(&pool)
                    .await?;
                Ok(row.map(|r| r.get::<String, _>(0)))
            })
            .map_err(pg)?;
        text.map(|t| parse(seq, &t)).transpose()
    }

    /// Every record, oldest first, as stored (seq, text).
    fn rows(&self) -> Result<Vec<(u64, String)>, AuditError> {
        self.store
            .run(move |pool| async move {
                let rows = sqlx::query("SELECT seq, record FROM audit ORDER BY seq")
                    .fetch_all(&pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.get::<i64, _>(0) as u64, r.get::<String, _>(1)))
                    .collect())
            })
            .map_err(pg)
    }

    /// The records passing `filter`, oldest first. With a `limit`, the most recent matches.
    pub fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        for (seq, text) in self.rows()? {
            let record = parse(seq, &text)?;
            if filter.matches(&record) {
                out.push(record);
            }
        }
        if let Some(limit) = filter.limit {
            let skip = out.len().saturating_sub(limit);
            out.drain(..skip);
        }
        Ok(out)
    }

    /// Every record of one pending action, in order.
    pub fn for_action(&self, action_id: &str) -> Result<Vec<AuditRecord>, AuditError> {
        self.list(&AuditFilter {
            action_id: Some(action_id.to_string()),
            ..AuditFilter::default()
        })
    }

    /// Writes every record as one JSON object per line, in `seq` order; returns how many.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, AuditError> {
        let mut count = 0;
        for (seq, text) in self.rows()? {
            let record = parse(seq, &text)?;
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
            count += 1;
        }
        out.flush()?;
        Ok(count)
    }

    /// The sequence number of the last record (0 when empty).
    pub fn last_seq(&self) -> Result<u64, AuditError> {
        self.store
            .run(move |pool| async move {
                let last: Option<i64> = sqlx::query("SELECT max(seq) FROM audit")
                    .fetch_one(&pool)
                    .await?
                    .get(0);
                Ok(last.unwrap_or(0) as u64)
            })
            .map_err(pg)
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.store
            .run(move |pool| async move {
                let n: i64 = sqlx::query("SELECT count(*) FROM audit")
                    .fetch_one(&pool)
                    .await?
                    .get(0);
                Ok(n as usize)
            })
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the whole chain (as `store::AuditLog::verify`), then that the head row names
    /// the last record with its hash (a record removed from the end is detected there).
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        let rows = self.rows()?;
        let mut records = Vec::with_capacity(rows.len());
        for (seq, text) in &rows {
            match serde_json::from_str::<AuditRecord>(text) {
                Ok(r) => records.push(r),
                Err(e) => {
                    // Checked in order up to it, then named.
                    if let VerifyReport::Broken { seq, reason } =
                        verify_records(&records, self.key.as_deref())?
                    {
                        return Ok(VerifyReport::Broken { seq, reason });
                    }
                    return Ok(VerifyReport::Broken {
                        seq: *seq,
                        reason: format!("the record does not deserialize: {e}"),
                    });
                }
            }
        }
        let report = verify_records(&records, self.key.as_deref())?;
        if !matches!(
            report,
            VerifyReport::Intact { .. } | VerifyReport::NeedsKey { .. }
        ) {
            return Ok(report);
        }
        if let Some((seq, r)) = rows
            .iter()
            .zip(&records)
            .find(|((seq, _), r)| r.seq != *seq)
            .map(|((s, _), r)| (*s, r))
        {
            return Ok(VerifyReport::Broken {
                seq,
                reason: format!(
                    "its seq field says {} (the record was changed or moved)",
                    r.seq
                ),
            });
        }
        let last = records.last().map(|r| (r.seq, r.hash.clone()));
        let head = self
            .store
            .run(move |pool| async move {
                let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_optional(&pool)
                    .await?;
                Ok(row.map(|r| (r.get::<i64, _>(0) as u64, r.get::<String, _>(1))))
            })
            .map_err(pg)?;
        match (head, last) {
            (None, None) => Ok(report),
            (Some((h, hash)), Some((l, last_hash))) if h == l && hash == last_hash => Ok(report),
            (Some((h, _)), Some((l, _))) if h > l => Ok(VerifyReport::Broken {
                seq: l + 1,
                reason: format!(
                    "records {} to {h} are missing: the log should end at record {h} (removed from the end)",
                    l + 1
                ),
            }),
            (Some((h, _)), None) => Ok(VerifyReport::Broken {
                seq: 1,
                reason: format!("records 1 to {h} are missing: the log should end at record {h}"),
            }),
            (Some((h, _)), Some((l, _))) if h < l => Ok(VerifyReport::Broken {
                seq: h + 1,
                reason: format!(
                    "record {} was added outside crmbot: the head says the log ends at record {h}",
                    h + 1
                ),
            }),
            (None, Some((l, _))) => Ok(VerifyReport::Broken {
                seq: l,
                reason:
                    "the head row is missing, so records removed from the end cannot be ruled out"
                        .into(),
            }),
            (_, Some((l, _))) => Ok(VerifyReport::Broken {
                seq: l,
                reason: format!(
                    "the head's hash differs from record {l}'s: the last record was replaced"
                ),
            }),
        }
    }

    /// Puts `records` (a whole chain from another store, in order) after this chain's end:
    /// each must continue it exactly. For `crmbot migrate`. Returns how many were added.
    pub fn import(&self, records: &[AuditRecord]) -> Result<u64, AuditError> {
        let records = records.to_vec();
        self.store
            .run(move |pool| async move {
                let mut tx = pool.begin().await?;
                let head = lock_chain(&mut tx).await?;
                let (mut last, mut prev) = head.unwrap_or((0, GENESIS_HASH.to_string()));
                let mut added = 0;
                let start = last;
                for record in records.iter().filter(|r| r.seq > start) {
                    if record.seq != last + 1 || record.prev_hash != prev {
                        return Ok(Err(AuditError::Inconsistent(format!(
                            "record {} does not continue the destination's chain at record {last}",
                            record.seq
                        ))));
                    }
                    let text = serde_json::to_string(record).map_err(protocol)?;
                    sqlx::query("INSERT INTO audit (seq, record) VALUES ($1, $2)")
                        .bind(record.seq as i64)
                        .bind(text)
                        .execute(&mut *tx)
                        .await?;
                    if record.entry.kind == AuditKind::Prompt
                        && let Some(sha) = record.entry.detail["sha256"].as_str()
                    {
                        sqlx::query(
                            "INSERT INTO audit_prompts (sha256, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        )
                        .bind(sha)
                        .bind(record.seq as i64)
                        .execute(&mut *tx)
                        .await?;
                    }
                    last = record.seq;
                    prev = record.hash.clone();
                    added += 1;
                }
                sqlx::query(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                )
                .bind(last as i64)
                .bind(&prev)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(added))
            })
            .map_err(pg)?
    }
}

/// Takes the chain lock for the transaction `tx` and reads the head: (seq, hash).
async fn lock_chain(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<Option<(u64, String)>, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| (r.get::<i64, _>(0) as u64, r.get::<String, _>(1))))
}

fn parse(seq: u64, text: &str) -> Result<AuditRecord, AuditError> {
    serde_json::from_str(text).map_err(|e| AuditError::Corrupt {
        seq,
        reason: e.to_string(),
    })
}
