//! The PostgreSQL backend: the same records, audit chain, seen events and thread plans as
//! sled, in tables several replicas share. Selected by `store.database_url`
//! (`CRMBOT_DATABASE_URL`).
//!
//! The store's API is synchronous (sled's is); sqlx is async. The pool lives on a small
//! runtime of its own and each call waits for its answer off the async workers, as
//! sled's fsyncs do (`off_async`), so the caller's runtime flavour does not matter.

mod audit;
mod records;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use audit::PgAudit;
pub use records::{Index, PgRecords};

use super::StoreError;

/// The time budget of one database call (a query, or a whole compare-and-swap round).
pub const CALL_BUDGET: Duration = Duration::from_secs(30);
/// Connections each replica keeps at most.
pub const MAX_CONNECTIONS: u32 = 8;

/// The runtime the pool lives on; shut down in the background when the last handle goes,
/// which may be inside an async task (where a blocking shutdown is not allowed).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs the pool's futures and hands their answers back to synchronous callers.
#[derive(Clone)]
pub(crate) struct Bridge {
    rt: Arc<Runtime>,
}

impl Bridge {
    fn new() -> Result<Bridge, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crmbot-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot start the database runtime: {e}")))?;
        Ok(Bridge {
            rt: Arc::new(Runtime(Some(rt))),
        })
    }

    /// Runs `fut` on the database runtime, within [`CALL_BUDGET`], and waits for it.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<R, sqlx::Error>> + Send + 'static,
    ) -> Result<R, StoreError> {
        let Some(rt) = &self.rt.0 else {
            return Err(StoreError::Postgres("the database runtime is gone".into()));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let answer = tokio::time::timeout(CALL_BUDGET, fut).await;
            let _ = tx.send(answer);
        });
        match super::off_async(|| rx.recv()) {
            Ok(Ok(Ok(r))) => Ok(r),
            Ok(Ok(Err(e))) => Err(StoreError::Postgres(e.to_string())),
            Ok(Err(_)) => Err(StoreError::Postgres(format!(
                "no answer within {}s",
                CALL_BUDGET.as_secs()
            ))),
            Err(_) => Err(StoreError::Postgres("the database call was dropped".into())),
        }
    }
}

/// A connection pool to one PostgreSQL database, its schema migrated. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    bridge: Bridge,
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date (the migrations are embedded;
    /// sqlx serialises replicas migrating at once with an advisory lock).
    pub fn connect(url: &SecretString) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(|e: sqlx::Error| {
            // The URL holds a password: name the problem, not the URL.
            StoreError::Postgres(format!(
                "store.database_url is not a PostgreSQL URL: {}",
                redact(&e.to_string(), url)
            ))
        })?;
        let bridge = Bridge::new()?;
        let pool = bridge
            .run(async move {
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("./migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
                Ok(pool)
            })
            .map_err(|e| {
                StoreError::Postgres(format!(
                    "cannot open the PostgreSQL database: {}",
                    redact(&e.to_string(), url)
                ))
            })?;
        Ok(PgStore { pool, bridge })
    }

    /// Runs `f(pool)` on the database runtime and waits for it.
    pub(crate) fn run<R: Send + 'static, F>(
        &self,
        f: impl FnOnce(PgPool) -> F,
    ) -> Result<R, StoreError>
    where
        F: Future<Output = Result<R, sqlx::Error>> + Send + 'static,
    {
        self.bridge.run(f(self.pool.clone()))
    }

    /// A typed table of records (`tree` names it, as sled's trees), indexed by state when
    /// `index` says how.
    pub fn records<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        tree: &str,
        index: Option<Index<T>>,
    ) -> PgRecords<T> {
        PgRecords::new(self.clone(), tree, index)
    }

    /// The audit chain, sealed with `key` when given.
    pub fn audit(&self, key: Option<SecretString>) -> PgAudit {
        PgAudit::new(self.clone(), key)
    }

    /// Marks a Slack event id as handled. False when it already was, here or at another
    /// replica.
    pub fn first_sight(&self, event_id: &str, at_unix: i64) -> Result<bool, StoreError> {
        let id = event_id.to_string();
        self.run(move |pool| async move {
            let done = sqlx::query(
                "INSERT INTO seen_events (event_id, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(at_unix)
            .execute(&pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Forgets event ids older than `before_unix`.
    pub fn forget_events_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        self.run(move |pool| async move {
            let done = sqlx::query("DELETE FROM seen_events WHERE at < $1")
                .bind(before_unix)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected() as usize)
        })
    }

    /// Takes (or renews) the lease `name` for `holder` until `now + ttl`: true when this
    /// holder has it. One replica at a time runs what the lease guards; a replica that dies
    /// loses it when `ttl` passes.
    pub fn lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let until = now + ttl.as_secs() as i64;
        self.run(move |pool| async move {
            let done = sqlx::query(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                 WHERE leases.holder = EXCLUDED.holder OR leases.until < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Gives the lease `name` up if `holder` has it (a clean shutdown).
    pub fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.run(move |pool| async move {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(&pool)
                .await?;
            Ok(())
        })
    }
}

/// `message` without the URL's password, should the driver have quoted it.
fn redact(message: &str, url: &SecretString) -> String {
    match url::Url::parse(url.expose_secret())
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        Some(p) if !p.is_empty() => message.replace(&p, "***"),
        _ => message.to_string(),
    }
}
