//! Starting and stopping a sandbox: `start` (tests, in-process, on a bound listener), `run`
//! (the CLI), and `RunningSandbox`, the handle tests use to inspect requests, set faults and
//! find seeded records. The per-request work lives in `http`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::access::AccessTable;
use super::faults::{FaultState, Faults};
use super::http;
use super::oauth::{OAuthOptions, Tokens};
use super::query::Cursors;
use super::schema::Schema;
use super::seed::{self, SeedFile};
use super::store::{Backend, Data, MemoryBackend, SledBackend};
use super::{SandboxError, SandboxOptions, Seed, Storage};

/// One request as it reached the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query string, e.g. `/services/data/v62.0/query`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Body as text (empty when none).
    pub body: String,
    /// Request headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The User the request acted as (its token's), once the token was accepted.
    pub user: Option<String>,
}

impl RecordedRequest {
    /// The body parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// A decoded query-string parameter (e.g. `q`).
    pub fn param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// State shared by every request.
pub(super) struct Shared {
    pub(super) schema: Schema,
    pub(super) data: Mutex<Data>,
    pub(super) cursors: Mutex<Cursors>,
    pub(super) tokens: Mutex<Tokens>,
    pub(super) faults: Mutex<FaultState>,
    pub(super) recorded: Mutex<Vec<RecordedRequest>>,
    pub(super) usage: AtomicU64,
    pub(super) base_url: String,
    pub(super) api_user: String,
    pub(super) seed_ids: BTreeMap<String, String>,
    /// Per-user permissions from the seed.
    pub(super) access: AccessTable,
    pub(super) today: Option<NaiveDate>,
    pub(super) page_size: usize,
    pub(super) oauth: OAuthOptions,
    pub(super) daily_limit: u64,
    pub(super) started: DateTime<Utc>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not wedge the sandbox for every later request.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(super) fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match self.today {
            Some(d) => d.and_time(now.time()).and_utc(),
            None => now,
        }
    }
}

/// A sandbox serving on its listener. Dropping it stops the server.
pub struct RunningSandbox {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT`: the instance URL to give clients.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Requests received so far (all paths, faulted and unauthorised ones included).
    pub fn request_count(&self) -> u64 {
        lock(&self.shared.recorded).len() as u64
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).clone()
    }

    pub fn reset_requests(&self) {
        lock(&self.shared.recorded).clear();
    }

    /// Replaces the faults in force (their counters restart).
    pub fn set_faults(&self, faults: Faults) {
        if faults.expire_minted_tokens {
            lock(&self.shared.tokens).expire_minted();
        }
        *lock(&self.shared.faults) = FaultState::new(faults);
    }

    /// API calls counted so far (what `Sforce-Limit-Info` reports).
    pub fn api_usage(&self) -> u64 {
        self.shared.usage.load(Ordering::SeqCst)
    }

    /// Seed refs -> record ids (e.g. `"apex"` -> the Apex Corp Account's id).
    pub fn seed_ids(&self) -> BTreeMap<String, String> {
        self.shared.seed_ids.clone()
    }

    /// The id of one seeded record by its ref, e.g. `seed_id("initech_renewal")`.
    pub fn seed_id(&self, reference: &str) -> Option<String> {
        self.shared.seed_ids.get(reference).cloned()
    }

    /// The User the API acts as.
    pub fn api_user_id(&self) -> String {
        self.shared.api_user.clone()
    }

    /// Refresh tokens issued by the authorization-code grant and not revoked.
    pub fn live_refresh_tokens(&self) -> usize {
        lock(&self.shared.tokens).refresh_count()
    }

    /// Live records of an object as stored (for assertions; not counted as API calls).
    pub fn records(&self, object: &str) -> Vec<serde_json::Map<String, Value>> {
        let data = lock(&self.shared.data);
        let tx = data.begin();
        tx.list(object, false)
            .into_iter()
            .map(|r| r.fields.clone())
            .collect()
    }

    /// Stops the server and waits until it has released its storage.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a sandbox on an already bound listener (bind 127.0.0.1:0 in tests).
pub async fn start(
    listener: TcpListener,
    options: SandboxOptions,
) -> Result<RunningSandbox, SandboxError> {
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let base_url = format!("http://{host}:{}", addr.port());
    let schema = Schema::load(
        options.extra_schema.as_deref(),
        options.extra_schema_json.as_ref(),
        &options.drop_fields,
    )?;
    let backend: Box<dyn Backend> = match &options.storage {
        Storage::Memory => Box::new(MemoryBackend::default()),
        Storage::Dir(dir) => Box::new(SledBackend::open(dir)?),
    };
    let mut data = Data::open(backend)?;
    let today = options
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let (api_user, seed_ids, access) = match data.backend().meta("api_user")? {
        Some(user) => {
            let ids = data
                .backend()
                .meta("seed_ids")?
                .and_then(|s| serde_json::from_str(&s).ok());
            let access = data
                .backend()
                .meta("access")?
                .and_then(|s| serde_json::from_str(&s).ok());
            (user, ids.unwrap_or_default(), access.unwrap_or_default())
        }
        None => {
            let file = match &options.seed {
                Seed::Default => SeedFile::default_seed()?,
                Seed::Empty => SeedFile::empty(),
                Seed::File(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| SandboxError::Seed(format!("{}: {e}", path.display())))?;
                    serde_json::from_str(&text)
                        .map_err(|e| SandboxError::Seed(format!("{}: {e}", path.display())))?
                }
                Seed::Json(v) => serde_json::from_value(v.clone())
                    .map_err(|e| SandboxError::Seed(e.to_string()))?,
            };
            let (seeded, changes) = {
                let mut tx = data.begin();
                let seeded = seed::load(&schema, &mut tx, file, today)?;
                (seeded, tx.into_changes())
            };
            data.commit(changes)?;
            let ids = serde_json::to_string(&seeded.ids).unwrap_or_default();
            data.backend().set_meta("seed_ids", &ids)?;
            data.backend().set_meta("api_user", &seeded.api_user)?;
            let access = serde_json::to_string(&seeded.access).unwrap_or_default();
            data.backend().set_meta("access", &access)?;
            (seeded.api_user, seeded.ids, seeded.access)
        }
    };
    let mut tokens = Tokens::new(options.tokens.clone());
    if options.faults.expire_minted_tokens {
        tokens.expire_minted();
    }
    let shared = Arc::new(Shared {
        schema,
        data: Mutex::new(data),
        cursors: Mutex::new(Cursors::default()),
        tokens: Mutex::new(tokens),
        faults: Mutex::new(FaultState::new(options.faults.clone())),
        recorded: Mutex::new(Vec::new()),
        usage: AtomicU64::new(0),
        base_url,
        api_user,
        seed_ids,
        access,
        today: options.today,
        page_size: options.page_size.max(1),
        oauth: options.oauth.clone(),
        daily_limit: options.daily_api_limit,
        started: Utc::now(),
    });
    let app = Router::new()
        .fallback(http::handle)
        .with_state(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox {
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// `crmbot sandbox`: serves until Ctrl-C, after printing how to reach it.
pub async fn run(options: SandboxOptions, listen: SocketAddr) -> Result<(), SandboxError> {
    let listener = TcpListener::bind(listen).await?;
    let token = options.tokens.first().cloned().unwrap_or_default();
    let storage = match &options.storage {
        Storage::Memory => "in memory (lost on exit)".to_string(),
        Storage::Dir(d) => format!("in {}", d.display()),
    };
    let sandbox = start(listener, options).await?;
    let base = sandbox.base_url();
    println!("Local Salesforce sandbox listening on {base} (data {storage})");
    println!("  SALESFORCE_INSTANCE_URL={base}");
    println!("  SALESFORCE_ACCESS_TOKEN={token}");
    println!(
        "  curl -H 'Authorization: Bearer {token}' '{base}/services/data/v62.0/query?q=SELECT+Id,Name,StageName,Amount+FROM+Opportunity'"
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
