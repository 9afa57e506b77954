//! sled storage: pending actions, the audit log and the Slack event ids already handled.
//! Every change of an action is a compare-and-swap, so two clicks, a Slack retry or two
//! replicas racing change it once. State survives restarts.

pub mod audit;
pub mod pg;
pub mod private;
pub mod records;
pub mod tokens;

use std::path::Path;

use secrecy::SecretString;

pub use audit::{
    AuditEntry, AuditError, AuditFilter, AuditKind, AuditLog, AuditRecord, MIRROR_FILE,
    MirrorState, VerifyReport,
};
pub use records::{Records, StateIndex, StoreError, Update};

/// sled's page cache when the configuration does not say (`store.cache_mb`); sled's own
/// default is 1 GB, which a long-running bot fills with pages it rarely reads again.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// Runs `f`, which waits for the disk (a sled flush, an fsync), without stalling an async
/// worker: on a multi-thread runtime the worker hands its other tasks to another thread
/// first (`block_in_place`), so acks keep flowing while a draft's state is made durable.
/// Elsewhere (a current-thread runtime, plain threads) it simply runs. The durability
/// order is unchanged: `f` returns only once the data is on disk.
pub(crate) fn off_async<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Opens the sled database in `dir`. sled releases its file lock from a background thread
/// a moment after the last handle is dropped, so a lock held by this same program (a
/// restart, a command run right after) is waited for, up to a second, before giving up.
pub fn open_db(dir: &Path) -> Result<sled::Db, sled::Error> {
    open_db_cached(dir, DEFAULT_CACHE_MB)
}

/// `open_db` with a page cache of `cache_mb` MB.
pub fn open_db_cached(dir: &Path, cache_mb: u64) -> Result<sled::Db, sled::Error> {
    let mut attempts = 0;
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.max(1) * 1024 * 1024)
            .open()
        {
            Err(e) if is_locked(&e) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// True when another holder has the database's file lock (sled says so only in words).
pub fn is_locked(e: &sled::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

/// The database and its trees. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    pub audit: std::sync::Arc<AuditLog>,
    seen: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database in `dir`, its audit log mirrored to
    /// `dir/audit.jsonl`. sled allows one process per folder.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, None)
    }

    /// `open`, the audit chain sealed with `audit_key` (`CRMBOT_AUDIT_KEY`). Refuses a
    /// database whose audit log is behind its mirror or disagrees with it: a rolled-back
    /// database would let a draft already written be approved again.
    pub fn open_with(dir: &Path, audit_key: Option<SecretString>) -> Result<Store, StoreError> {
        Store::open_cached(dir, audit_key, DEFAULT_CACHE_MB)
    }

    /// `open_with`, sled's page cache `cache_mb` MB (`store.cache_mb`).
    pub fn open_cached(
        dir: &Path,
        audit_key: Option<SecretString>,
        cache_mb: u64,
    ) -> Result<Store, StoreError> {
        if let Err(e) = private::make_private(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot make the data folder private");
        }
        let db = open_db_cached(dir, cache_mb).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            error: e,
        })?;
        let audit = AuditLog::open_with(&db, Some(&dir.join(MIRROR_FILE)), audit_key)
            .map_err(|e| StoreError::Audit(e.to_string()))?;
        let state = audit
            .check_mirror()
            .map_err(|e| StoreError::Audit(e.to_string()))?;
        if let Some(problem) = state.problem(dir) {
            return Err(StoreError::AuditBehind(problem));
        }
        // sled and the mirror made their files just now: private too.
        let _ = private::make_private(dir);
        Store::with_audit(db, audit)
    }

    /// An in-memory database, for tests and the demo.
    pub fn temporary() -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StoreError::Open {
                path: "(temporary)".into(),
                error: e,
            })?;
        Store::from_db(db)
    }

    /// Opens the database in `dir` as it is, however its audit log compares with the
    /// mirror: for `crmbot audit` (verify says what is wrong; recover repairs it).
    pub fn open_for_repair(
        dir: &Path,
        audit_key: Option<SecretString>,
    ) -> Result<Store, StoreError> {
        let db = open_db(dir).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            error: e,
        })?;
        let audit = AuditLog::open_with(&db, Some(&dir.join(MIRROR_FILE)), audit_key)
            .map_err(|e| StoreError::Audit(e.to_string()))?;
        Store::with_audit(db, audit)
    }

    fn from_db(db: sled::Db) -> Result<Store, StoreError> {
        let audit = AuditLog::open(&db).map_err(|e| StoreError::Audit(e.to_string()))?;
        Store::with_audit(db, audit)
    }

    fn with_audit(db: sled::Db, audit: AuditLog) -> Result<Store, StoreError> {
        let seen = db.open_tree("seen_events")?;
        Ok(Store {
            audit: std::sync::Arc::new(audit),
            seen,
            db,
        })
    }

    /// A raw sled tree, for a small store of its own (`tokens`).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// A typed tree of records keyed by id.
    pub fn records<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Records<T>, StoreError> {
        Ok(Records::new(self.db.open_tree(name)?))
    }

    /// A typed tree of records keyed by id, indexed by state (see [`StateIndex`]): the
    /// index trees are `<name>_open` and `<name>_closed`.
    pub fn indexed_records<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        name: &str,
        is_open: fn(&T) -> bool,
        closed_at: fn(&T) -> i64,
    ) -> Result<Records<T>, StoreError> {
        let index = StateIndex::new(
            self.db.open_tree(format!("{name}_open"))?,
            self.db.open_tree(format!("{name}_closed"))?,
            is_open,
            closed_at,
        );
        Records::indexed(self.db.open_tree(name)?, index)
    }

    /// Marks a Slack event id as handled. False when it already was (a retry).
    pub fn first_sight(&self, event_id: &str, at_unix: i64) -> Result<bool, StoreError> {
        let swapped = self.seen.compare_and_swap(
            event_id.as_bytes(),
            None as Option<&[u8]>,
            Some(&at_unix.to_be_bytes()[..]),
        )?;
        Ok(swapped.is_ok())
    }

    /// Forgets event ids older than `before_unix` (Slack retries within minutes).
    pub fn forget_events_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.seen.iter() {
            let (key, value) = item?;
            let at = value
                .as_ref()
                .try_into()
                .map(i64::from_be_bytes)
                .unwrap_or(0);
            if at < before_unix {
                self.seen.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Writes everything to disk; called on shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        off_async(|| self.db.flush())?;
        Ok(())
    }
}
