//! Checking the chain (`crmbot audit verify`): walks every record in `seq` order and reports
//! the first one that was changed, removed, added or cannot be read.

use serde::Serialize;

use super::{AuditError, AuditLog, AuditRecord, GENESIS_HASH, HEAD_KEY, Head, key_seq, mirror};

/// The outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerifyReport {
    /// Every record is where it should be and unchanged.
    Intact { records: u64 },
    /// The first bad record (for a removed record, its number) and what is wrong with it.
    Broken { seq: u64, reason: String },
    /// The chain holds records sealed with a key (`CRMBOT_AUDIT_KEY`), which is not set:
    /// their hashes cannot be checked. Everything else was.
    NeedsKey { records: u64, keyed: u64 },
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        matches!(self, VerifyReport::Intact { .. })
    }
}

fn broken(seq: u64, reason: impl Into<String>) -> Result<VerifyReport, AuditError> {
    Ok(VerifyReport::Broken {
        seq,
        reason: reason.into(),
    })
}

/// The first 12 hex digits, enough to tell two hashes apart in a message.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The checks of one record after another, wherever the records come from: the database
/// (`verify`) or, while `crmbot serve` holds the database, its mirror (`verify_records`).
struct Walk<'k> {
    key: Option<&'k [u8]>,
    expected: u64,
    prev_hash: String,
    first_keyed: Option<u64>,
    keyed: u64,
}

impl<'k> Walk<'k> {
    fn new(key: Option<&'k [u8]>) -> Self {
        Walk {
            key,
            expected: 1,
            prev_hash: GENESIS_HASH.to_string(),
            first_keyed: None,
            keyed: 0,
        }
    }

    /// Checks the record stored as number `seq`: `Some` with the first problem.
    fn step(
        &mut self,
        seq: u64,
        record: Result<AuditRecord, String>,
    ) -> Result<Option<VerifyReport>, AuditError> {
        let expected = self.expected;
        let problem = |seq: u64, reason: String| Ok(Some(VerifyReport::Broken { seq, reason }));
        if seq > expected {
            let missing = if seq == expected + 1 {
                format!("record {expected} is missing")
            } else {
                format!("records {expected} to {} are missing", seq - 1)
            };
            return problem(expected, format!("{missing} (the next record is {seq})"));
        }
        if seq < expected {
            return problem(seq, format!("unexpected record number {seq}"));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => return problem(seq, format!("the record does not deserialize: {e}")),
        };
        if record.seq != seq {
            return problem(
                seq,
                format!(
                    "its seq field says {} (the record was changed or moved)",
                    record.seq
                ),
            );
        }
        if record.keyed {
            self.first_keyed.get_or_insert(seq);
            self.keyed += 1;
        } else if let (Some(k), true) = (self.first_keyed, self.key.is_some()) {
            return problem(
                seq,
                format!(
                    "the record is not sealed with the chain key although record {k} before it is: it was rewritten by someone without the key"
                ),
            );
        }
        match record.expected_hash(self.key)? {
            Some(computed) if computed != record.hash => {
                return problem(
                    seq,
                    format!(
                        "hash mismatch: the record was changed after it was written \
                         (stored {}, computed {})",
                        short(&record.hash),
                        short(&computed)
                    ),
                );
            }
            _ => {}
        }
        if record.prev_hash != self.prev_hash {
            let reason = if seq == 1 {
                "prev_hash of the first record is not the genesis value (records before \
                 it were removed, or it was replaced)"
                    .to_string()
            } else {
                format!(
                    "prev_hash does not match the hash of record {}: that record was \
                     replaced or this one was moved",
                    seq - 1
                )
            };
            return problem(seq, reason);
        }
        self.prev_hash = record.hash;
        self.expected += 1;
        Ok(None)
    }

    /// Every record checked and none wrong: intact, or keyed records left unchecked.
    fn report(&self) -> VerifyReport {
        let records = self.expected - 1;
        if self.keyed > 0 && self.key.is_none() {
            VerifyReport::NeedsKey {
                records,
                keyed: self.keyed,
            }
        } else {
            VerifyReport::Intact { records }
        }
    }
}

/// `crmbot audit verify` while `crmbot serve` holds the database: the chain as its mirror
/// holds it (`records` as `mirror::read_complete` read them: a line still being written is
/// not a record yet).
pub fn verify_records(
    records: &[AuditRecord],
    key: Option<&secrecy::SecretString>,
) -> Result<VerifyReport, AuditError> {
    use secrecy::ExposeSecret;
    let key = key
        .map(|k| k.expose_secret().as_bytes())
        .filter(|k| !k.is_empty());
    let mut walk = Walk::new(key);
    for r in records {
        if let Some(problem) = walk.step(r.seq, Ok(r.clone()))? {
            return Ok(problem);
        }
    }
    Ok(walk.report())
}

impl AuditLog {
    /// Checks the whole chain. For each record in key order:
    ///
    /// 1. its key is the next sequence number (else a record is missing);
    /// 2. it deserializes;
    /// 3. its `seq` field equals its key;
    /// 4. its `hash` equals the hash recomputed from its fields (else it was changed);
    /// 5. its `prev_hash` equals the previous record's `hash` (else a record before it was
    ///    replaced, hash and all).
    ///
    /// Then the head entry must name the last record, with its hash: a record removed from
    /// the end, or added behind crmbot's back, is detected there. Returns the first problem.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        let guard = self.guard();
        let mirror_path = guard.as_ref().map(|m| m.path().to_path_buf());
        let mut walk = Walk::new(self.key_bytes());
        for item in self.records.iter() {
            let (key, bytes) = item?;
            let Some(seq) = key_seq(&key) else {
                return broken(
                    walk.expected,
                    format!(
                        "the audit tree holds a key that is not a record number ({})",
                        hex::encode(&key)
                    ),
                );
            };
            let record = serde_json::from_slice(&bytes).map_err(|e| e.to_string());
            if let Some(problem) = walk.step(seq, record)? {
                return Ok(problem);
            }
        }
        let (expected, prev_hash) = (walk.expected, walk.prev_hash.clone());
        let last = expected - 1;
        // The mirror outside the database: the database must hold everything it does.
        if let Some(path) = mirror_path.filter(|p| p.exists()) {
            let copies = mirror::read_all(&path)?;
            for copy in &copies {
                if copy.seq > last {
                    let end = copies.last().map_or(copy.seq, |c| c.seq);
                    return broken(
                        copy.seq,
                        format!(
                            "records {} to {end} are in {} but missing from the database: it lost its tail (a crash at the wrong moment, or an older copy restored); run `crmbot audit recover`",
                            copy.seq,
                            path.display()
                        ),
                    );
                }
                if self.get(copy.seq)?.is_none_or(|r| r.hash != copy.hash) {
                    return broken(
                        copy.seq,
                        format!(
                            "the record differs from its copy in {}: one of them was changed",
                            path.display()
                        ),
                    );
                }
            }
        }
        let intact = || walk.report();
        let head: Head = match self.head.get(HEAD_KEY)? {
            None if last == 0 => return Ok(VerifyReport::Intact { records: 0 }),
            None => {
                return broken(
                    last,
                    "the head entry is missing, so records removed from the end cannot be \
                     ruled out",
                );
            }
            Some(bytes) => match serde_json::from_slice(&bytes) {
                Ok(h) => h,
                Err(e) => {
                    return broken(last, format!("the head entry does not deserialize: {e}"));
                }
            },
        };
        if head.seq > last {
            let missing = if head.seq == last + 1 {
                format!("record {} is missing", last + 1)
            } else {
                format!("records {} to {} are missing", last + 1, head.seq)
            };
            return broken(
                last + 1,
                format!(
                    "{missing}: the log should end at record {} (removed from the end)",
                    head.seq
                ),
            );
        }
        if head.seq < last {
            return broken(
                head.seq + 1,
                format!(
                    "record {} was added outside crmbot: the head says the log ends at record {}",
                    head.seq + 1,
                    head.seq
                ),
            );
        }
        if head.hash != prev_hash {
            return broken(
                last,
                format!(
                    "the head's hash ({}) differs from record {last}'s ({}): the last record \
                     was replaced",
                    short(&head.hash),
                    short(&prev_hash)
                ),
            );
        }
        Ok(intact())
    }
}
