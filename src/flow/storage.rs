//! The storage the use cases and the front ends share, cut along what they need: typed
//! records changed only by compare-and-swap ([`Records`]), the hash-chained audit log
//! ([`Audit`]), Slack event ids already handled, thread plans, and leases for the jobs
//! one replica at a time runs. Each is an enum over the two backends: sled (one process,
//! the default) and PostgreSQL (several replicas, `store.database_url`). Front ends
//! use this module, never `crate::store`, so the backend is chosen in one place.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::store::pg::{Index, PgAudit, PgRecords, PgStore};
use crate::store::{self, AuditLog};

pub use crate::store::{
    AuditEntry, AuditError, AuditFilter, AuditKind, AuditRecord, StoreError, Update, VerifyReport,
};

/// The database: sled's or PostgreSQL's. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The audit chain.
    pub audit: Audit,
    /// Names this process in leases (PostgreSQL).
    holder: Arc<str>,
}

#[derive(Clone)]
enum Backend {
    Sled(store::Store),
    Postgres(PgStore),
}

impl From<store::Store> for Store {
    fn from(sled: store::Store) -> Store {
        Store {
            audit: Audit::Sled(sled.audit.clone()),
            backend: Backend::Sled(sled),
            holder: holder(),
        }
    }
}

/// This process, for leases: host and process id, and a random part for two stores in one
/// process (tests).
fn holder() -> Arc<str> {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!(
        "{host}:{}:{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
    .into()
}

impl Store {
    /// The store the configuration names: PostgreSQL when `store.database_url` is set,
    /// else sled in `data_dir`.
    pub fn open(config: &Config) -> Result<Store, StoreError> {
        match &config.store.database_url {
            Some(url) => Store::postgres(url, config.audit_key.clone()),
            None => Ok(store::Store::open_cached(
                &config.data_dir,
                config.audit_key.clone(),
                config.store.cache_mb,
            )?
            .into()),
        }
    }

    /// PostgreSQL at `url`, its schema migrated.
    pub fn postgres(
        url: &SecretString,
        audit_key: Option<SecretString>,
    ) -> Result<Store, StoreError> {
        let pg = PgStore::connect(url)?;
        Ok(Store {
            audit: Audit::Postgres(pg.audit(audit_key)),
            backend: Backend::Postgres(pg),
            holder: holder(),
        })
    }

    /// An in-memory sled database, for tests and the demo.
    pub fn temporary() -> Result<Store, StoreError> {
        Ok(store::Store::temporary()?.into())
    }

    /// "sled" or "postgres", for logs and `doctor`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sled(_) => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether other processes share this database (PostgreSQL): a write under way in it
    /// may be another replica's, alive or not.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// A typed set of records keyed by id.
    pub fn records<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Records<T>, StoreError> {
        Ok(match &self.backend {
            Backend::Sled(s) => Records::Sled(s.records(name)?),
            Backend::Postgres(p) => Records::Postgres(p.records(name, None)),
        })
    }

    /// A typed set of records, indexed by state: `open()` reads only the open ones and
    /// `remove_closed_before` finds old closed ones without reading the rest.
    pub fn indexed_records<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        is_open: fn(&T) -> bool,
        closed_at: fn(&T) -> i64,
    ) -> Result<Records<T>, StoreError> {
        Ok(match &self.backend {
            Backend::Sled(s) => Records::Sled(s.indexed_records(name, is_open, closed_at)?),
            Backend::Postgres(p) => {
                Records::Postgres(p.records(name, Some(Index { is_open, closed_at })))
            }
        })
    }

    /// The plans of questions answered in threads, so a reply there is a follow-up (shared
    /// by replicas with PostgreSQL).
    pub fn thread_plans(&self) -> Result<ThreadPlans, StoreError> {
        Ok(ThreadPlans {
            records: self.records(THREADS)?,
        })
    }

    /// Marks a Slack event id as handled. False when it already was (a retry, or the
    /// event delivered to another replica).
    pub fn first_sight(&self, event_id: &str, at_unix: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.first_sight(event_id, at_unix),
            Backend::Postgres(p) => p.first_sight(event_id, at_unix),
        }
    }

    /// Forgets event ids older than `before_unix`.
    pub fn forget_events_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.forget_events_before(before_unix),
            Backend::Postgres(p) => p.forget_events_before(before_unix),
        }
    }

    /// True when this process may run the job `name` now (expiry, housekeeping, start-up
    /// reconcile): always with sled (one process); with PostgreSQL, when this replica
    /// holds the job's lease, taken or renewed here for `ttl`.
    pub fn lease(&self, name: &str, ttl: Duration) -> bool {
        match &self.backend {
            Backend::Sled(_) => true,
            Backend::Postgres(p) => {
                let now = chrono::Utc::now().timestamp();
                p.lease(name, &self.holder, now, ttl).unwrap_or_else(|e| {
                    tracing::warn!(lease = name, error = %e, "cannot take the lease; the job waits");
                    false
                })
            }
        }
    }

    /// Gives up the leases this process holds (a clean shutdown), so another replica takes
    /// over without waiting for them to run out.
    pub fn release(&self, names: &[&str]) {
        if let Backend::Postgres(p) = &self.backend {
            for name in names {
                if let Err(e) = p.release(name, &self.holder) {
                    tracing::warn!(lease = name, error = %e, "cannot release the lease");
                }
            }
        }
    }

    /// Writes everything to disk (sled); PostgreSQL commits each change as it goes.
    pub fn flush(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.flush(),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// The PostgreSQL audit chain underneath (for `crmbot migrate`).
    pub fn pg_audit(&self) -> Option<&PgAudit> {
        match &self.audit {
            Audit::Postgres(a) => Some(a),
            Audit::Sled(_) => None,
        }
    }

    /// The sled store underneath, for what only sled has (its mirror, `audit recover`).
    pub fn as_sled(&self) -> Option<&store::Store> {
        match &self.backend {
            Backend::Sled(s) => Some(s),
            Backend::Postgres(_) => None,
        }
    }
}

/// The records set thread plans are kept in.
pub const THREADS: &str = "threads";

/// The query plan of each thread crmbot answered a question in, keyed `channel:thread_ts`.
#[derive(Clone)]
pub struct ThreadPlans {
    records: Records<serde_json::Value>,
}

impl ThreadPlans {
    /// The plan kept for `key`, if any (a read failure is logged and means none).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        match self.records.get(key) {
            Ok(v) => v.map(kept_plan),
            Err(e) => {
                tracing::warn!(error = %e, "thread plan not read");
                None
            }
        }
    }

    /// Keeps `plan` for `key`, with the time, replacing what was kept.
    pub fn remember(&self, key: &str, plan: &serde_json::Value) {
        let plan = &serde_json::json!({"at": chrono::Utc::now().timestamp(), "plan": plan});
        let stored = match self.records.insert_new(key, plan) {
            Err(StoreError::Exists(_)) => self
                .records
                .update(key, |_| Ok::<_, ()>(Update::Set(plan.clone(), ())))
                .map(|_| ()),
            other => other,
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "thread plan not kept");
        }
    }

    /// Forgets the plans of threads last asked in before `before_unix` (and those stored
    /// without a time); returns how many.
    pub fn forget_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        self.records
            .remove_where(|v| v["at"].as_i64().unwrap_or(0) < before_unix)
    }
}

/// The plan of a stored thread (stored bare before it carried a time).
fn kept_plan(stored: serde_json::Value) -> serde_json::Value {
    match stored {
        serde_json::Value::Object(mut m) if m.contains_key("at") && m.contains_key("plan") => {
            m.remove("plan").unwrap_or(serde_json::Value::Null)
        }
        bare => bare,
    }
}

/// Records of one kind keyed by id, changed only by compare-and-swap.
pub enum Records<T> {
    Sled(store::Records<T>),
    Postgres(PgRecords<T>),
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        match self {
            Records::Sled(r) => Records::Sled(r.clone()),
            Records::Postgres(r) => Records::Postgres(r.clone()),
        }
    }
}

impl<T: Serialize + DeserializeOwned> Records<T> {
    pub fn get(&self, id: &str) -> Result<Option<T>, StoreError> {
        match self {
            Records::Sled(r) => r.get(id),
            Records::Postgres(r) => r.get(id),
        }
    }

    /// Stores a new record; fails ([`StoreError::Exists`]) if the id is taken.
    pub fn insert_new(&self, id: &str, value: &T) -> Result<(), StoreError> {
        match self {
            Records::Sled(r) => r.insert_new(id, value),
            Records::Postgres(r) => r.insert_new(id, value),
        }
    }

    /// Reads the record, lets `decide` choose, and stores its choice only if nobody
    /// changed the record meanwhile (else `decide` runs again on the newer value).
    pub fn update<R, E>(
        &self,
        id: &str,
        decide: impl FnMut(&T) -> Result<Update<T, R>, E>,
    ) -> Result<Result<R, E>, StoreError> {
        match self {
            Records::Sled(r) => r.update(id, decide),
            Records::Postgres(r) => r.update(id, decide),
        }
    }

    /// The open records (every record without an index), in id order.
    pub fn open(&self) -> Result<Vec<T>, StoreError> {
        match self {
            Records::Sled(r) => r.open(),
            Records::Postgres(r) => r.open(),
        }
    }

    /// Every record with its id, in id order (for `crmbot migrate`).
    pub fn entries(&self) -> Result<Vec<(String, T)>, StoreError> {
        match self {
            Records::Sled(r) => r.entries(),
            Records::Postgres(r) => r.entries(),
        }
    }

    /// Every record, in id order.
    pub fn all(&self) -> Result<Vec<T>, StoreError> {
        match self {
            Records::Sled(r) => r.all(),
            Records::Postgres(r) => r.all(),
        }
    }

    /// Removes the records closed before `before_unix`; open ones are never removed.
    pub fn remove_closed_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        match self {
            Records::Sled(r) => r.remove_closed_before(before_unix),
            Records::Postgres(r) => r.remove_closed_before(before_unix),
        }
    }

    /// Removes every record `gone` says is done with (and any that cannot be read).
    pub fn remove_where(&self, gone: impl Fn(&T) -> bool) -> Result<usize, StoreError> {
        match self {
            Records::Sled(r) => r.remove_where(gone),
            Records::Postgres(r) => r.remove_where(gone),
        }
    }
}

/// The append-only, hash-chained audit log. Cheap to clone.
#[derive(Clone)]
pub enum Audit {
    Sled(Arc<AuditLog>),
    Postgres(PgAudit),
}

/// Forwards each call to the backend's audit log.
macro_rules! audit_calls {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Audit {
            $(
                $(#[$doc])*
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Audit::Sled(a) => a.$name($($arg),*),
                        Audit::Postgres(a) => a.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

audit_calls! {
    /// Appends `entry` as the next record of the chain; durable before it returns.
    fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError>;
    /// Stores a prompt's text once; returns its SHA-256, by which records name it.
    fn store_prompt(&self, text: &str) -> Result<String, AuditError>;
    /// The text of the prompt whose SHA-256 is `sha`.
    fn prompt_text(&self, sha: &str) -> Result<Option<String>, AuditError>;
    /// Record `seq`, if there is one.
    fn get(&self, seq: u64) -> Result<Option<AuditRecord>, AuditError>;
    /// The records passing `filter`, oldest first.
    fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AuditError>;
    /// Every record of one pending action, in order.
    fn for_action(&self, action_id: &str) -> Result<Vec<AuditRecord>, AuditError>;
    /// Every record as one JSON line each; returns how many.
    fn export_jsonl(&self, out: &mut dyn std::io::Write) -> Result<u64, AuditError>;
    /// Checks the whole chain.
    fn verify(&self) -> Result<VerifyReport, AuditError>;
    /// The last record's number (0 when empty).
    fn last_seq(&self) -> Result<u64, AuditError>;
    /// How many records there are.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool;
    /// Whether records are sealed with a key.
    fn is_keyed(&self) -> bool;
    /// Makes every append fail (or not): tests and drills.
    fn set_failing(&self, failing: bool) -> ();
}

pub use crate::store::private::make_private;

/// Why the sled database in a folder cannot be opened now.
pub enum SledProbe {
    /// Another process (a running `crmbot serve`) holds it.
    Locked,
    Failed(String),
}

/// Opens and closes the sled database in `dir` the way `serve` will (`doctor`).
pub fn probe_sled(dir: &std::path::Path) -> Result<(), SledProbe> {
    match store::open_db(dir) {
        Ok(db) => {
            drop(db);
            Ok(())
        }
        Err(e) if store::is_locked(&e) => Err(SledProbe::Locked),
        Err(e) => Err(SledProbe::Failed(format!("cannot open the database ({e})"))),
    }
}
pub use crate::store::tokens::{MAKE_KEY, SealKey, Tokens};
