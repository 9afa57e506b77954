//! `crmbot migrate --from sled --to postgres://…`: copies a sled database (drafts, thread
//! plans, the audit chain with its prompts) into PostgreSQL and checks the chain there.
//! The chain is copied record for record — same numbers, times and hashes — so it verifies
//! at the destination with the same key, and an export before and after is the same.

use serde_json::Value;

use super::actions::action_records;
use super::storage::{AuditFilter, Store, StoreError, THREADS, VerifyReport};

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("audit log: {0}")]
    Audit(#[from] crate::store::AuditError),
    #[error("the destination must be PostgreSQL (store.database_url)")]
    NotPostgres,
    #[error(
        "the source's audit chain is not intact ({0:?}); fix it (`crmbot audit verify`) before migrating"
    )]
    SourceBroken(VerifyReport),
    #[error("after the copy the destination's audit chain does not verify: {0:?}")]
    DestinationBroken(VerifyReport),
    #[error(
        "the destination's audit chain ends with another record {seq} than the source's: it holds another database's chain"
    )]
    Diverged { seq: u64 },
}

/// What was copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub actions: usize,
    pub threads: usize,
    /// Records already at the destination (a migration run again) and left as they are.
    pub already_there: usize,
    pub audit_records: u64,
    /// Audit records the destination holds after the copy (all verified).
    pub audit_total: u64,
}

/// Copies everything `from` (sled) holds into `to` (PostgreSQL). Run again, it adds only
/// what is missing. Refuses a broken source chain and a destination holding another chain.
pub fn sled_to_postgres(from: &Store, to: &Store) -> Result<Migrated, MigrateError> {
    let to_audit = to.pg_audit().ok_or(MigrateError::NotPostgres)?;
    let source_report = from.audit.verify()?;
    if !matches!(
        source_report,
        VerifyReport::Intact { .. } | VerifyReport::NeedsKey { .. }
    ) {
        return Err(MigrateError::SourceBroken(source_report));
    }
    let mut done = Migrated::default();
    // The audit chain first: a draft is never at the destination without its history.
    let chain = from.audit.list(&AuditFilter::default())?;
    let dest_last = to.audit.last_seq()?;
    if dest_last > 0 {
        let (ours, theirs) = (from.audit.get(dest_last)?, to.audit.get(dest_last)?);
        if ours.is_none_or(|o| theirs.is_none_or(|t| t.hash != o.hash)) {
            return Err(MigrateError::Diverged { seq: dest_last });
        }
    }
    done.audit_records = to_audit.import(&chain)?;
    let source_actions = action_records(from)?;
    let dest_actions = action_records(to)?;
    for (id, action) in source_actions.entries()? {
        match dest_actions.insert_new(&id, &action) {
            Ok(()) => done.actions += 1,
            Err(StoreError::Exists(_)) => done.already_there += 1,
            Err(e) => return Err(e.into()),
        }
    }
    let (source_threads, dest_threads) = (
        from.records::<Value>(THREADS)?,
        to.records::<Value>(THREADS)?,
    );
    for (id, plan) in source_threads.entries()? {
        match dest_threads.insert_new(&id, &plan) {
            Ok(()) => done.threads += 1,
            Err(StoreError::Exists(_)) => done.already_there += 1,
            Err(e) => return Err(e.into()),
        }
    }
    match to.audit.verify()? {
        VerifyReport::Intact { records } | VerifyReport::NeedsKey { records, .. }
            if records == from.audit.last_seq()? =>
        {
            done.audit_total = records;
        }
        other => return Err(MigrateError::DestinationBroken(other)),
    }
    Ok(done)
}
