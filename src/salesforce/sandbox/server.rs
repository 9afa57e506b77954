//! The HTTP side: one axum fallback handler that records each request, applies injected
//! faults, checks the bearer token, counts API usage (`Sforce-Limit-Info`), and hands the call
//! to `routes` inside a store transaction. Also `start` (tests, in-process) and `run` (CLI).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::faults::{self, FaultState, Faults};
use super::oauth::{self, OAuthOptions, Tokens};
use super::query::Cursors;
use super::routes::{self, Call, Env, Reply};
use super::schema::Schema;
use super::seed::{self, SeedFile};
use super::store::{Backend, Data, MemoryBackend, SledBackend};
use super::{LATEST_VERSION, SandboxError, SandboxOptions, Seed, Storage, duplicates};

const MAX_BODY: usize = 32 * 1024 * 1024;

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
struct Shared {
    schema: Schema,
    data: Mutex<Data>,
    cursors: Mutex<Cursors>,
    tokens: Mutex<Tokens>,
    faults: Mutex<FaultState>,
    recorded: Mutex<Vec<RecordedRequest>>,
    usage: AtomicU64,
    base_url: String,
    api_user: String,
    seed_ids: BTreeMap<String, String>,
    today: Option<NaiveDate>,
    page_size: usize,
    oauth: OAuthOptions,
    daily_limit: u64,
    started: DateTime<Utc>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not wedge the sandbox for every later request.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    fn now(&self) -> DateTime<Utc> {
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
    )?;
    let backend: Box<dyn Backend> = match &options.storage {
        Storage::Memory => Box::new(MemoryBackend::default()),
        Storage::Dir(dir) => Box::new(SledBackend::open(dir)?),
    };
    let mut data = Data::open(backend)?;
    let today = options
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let (api_user, seed_ids) = match data.backend().meta("api_user")? {
        Some(user) => {
            let ids = data
                .backend()
                .meta("seed_ids")?
                .and_then(|s| serde_json::from_str(&s).ok());
            (user, ids.unwrap_or_default())
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
            (seeded.api_user, seeded.ids)
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
        today: options.today,
        page_size: options.page_size.max(1),
        oauth: options.oauth.clone(),
        daily_limit: options.daily_api_limit,
        started: Utc::now(),
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
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

fn respond(
    shared: &Shared,
    status: u16,
    body: Option<Value>,
    location: Option<String>,
) -> Response {
    let mut response = Response::new(match &body {
        Some(v) => Body::from(v.to_string()),
        None => Body::empty(),
    });
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if body.is_some() {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    let usage = format!(
        "api-usage={}/{}",
        shared.usage.load(Ordering::SeqCst),
        shared.daily_limit
    );
    if let Ok(v) = HeaderValue::from_str(&usage) {
        headers.insert("sforce-limit-info", v);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert("location", loc);
    }
    response
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return respond(
            &shared,
            413,
            Some(json!([{"errorCode": "REQUEST_TOO_LARGE", "message": "request too large"}])),
            None,
        );
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let method = parts.method.as_str().to_string();
    lock(&shared.recorded).push(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    });
    let latency = lock(&shared.faults).faults.latency;
    if let Some(delay) = latency {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, body)) = lock(&shared.faults).take_fail_next(&path) {
        return respond(&shared, status, Some(body), None);
    }
    if path == "/services/oauth2/token" {
        return token(&shared, &method, &parts.headers, &bytes);
    }
    if path == "/services/data" || path == "/services/data/" {
        return respond(&shared, 200, Some(versions()), None);
    }
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return respond(&shared, 404, Some(not_found()), None);
    };
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(version) = canonical_version(version) else {
        return respond(&shared, 404, Some(not_found()), None);
    };
    let bearer = header(&parts.headers, "authorization").and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("OAuth "))
            .map(str::trim)
    });
    if !bearer.is_some_and(|t| lock(&shared.tokens).is_valid(t)) {
        let body =
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
        return respond(&shared, 401, Some(body), None);
    }
    if let Some((status, body)) = lock(&shared.faults).api_fault() {
        return respond(&shared, status, Some(body), None);
    }
    if shared.usage.load(Ordering::SeqCst) >= shared.daily_limit {
        let (status, body) = faults::limit_exceeded();
        return respond(&shared, status, Some(body), None);
    }
    shared.usage.fetch_add(1, Ordering::SeqCst);
    lock(&shared.faults).count();
    let body = if bytes.is_empty() || matches!(method.as_str(), "GET" | "DELETE") {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                let body = json!([{"message": format!("JSON parse error: {e}"), "errorCode": "JSON_PARSER_ERROR"}]);
                return respond(&shared, 400, Some(body), None);
            }
        }
    };
    let batch_size = header(&parts.headers, "sforce-query-options")
        .and_then(|h| {
            h.split(',')
                .find_map(|kv| kv.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.trim().parse().ok());
    let call = Call {
        method,
        path: rest.to_string(),
        query,
        body,
        version,
        allow_save: duplicates::allow_save(header(&parts.headers, "sforce-duplicate-rule-header")),
        batch_size,
        if_modified_since: header(&parts.headers, "if-modified-since").map(str::to_string),
    };
    let reply = execute(&shared, &call);
    respond(&shared, reply.status, reply.body, reply.location)
}

/// Runs a call in one transaction and commits what it wrote.
fn execute(shared: &Shared, call: &Call) -> Reply {
    let env = Env {
        schema: &shared.schema,
        user_id: &shared.api_user,
        now: shared.now(),
        today: shared.today(),
        page_size: shared.page_size,
        cursors: &shared.cursors,
        usage: (shared.usage.load(Ordering::SeqCst), shared.daily_limit),
        schema_modified: shared.started,
    };
    let mut data = lock(&shared.data);
    let (reply, changes) = {
        let mut tx = data.begin();
        let reply = routes::route(&env, &mut tx, call);
        (reply, tx.into_changes())
    };
    match data.commit(changes) {
        Ok(()) => reply,
        Err(e) => {
            tracing::error!(error = %e, "sandbox could not store a write");
            Reply::json(
                500,
                json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": "storage failure"}]),
            )
        }
    }
}

fn not_found() -> Value {
    json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
}

/// `v62.0` for `v62.0` (31.0 to the latest) or `latest`.
fn canonical_version(text: &str) -> Option<String> {
    if text == "latest" {
        return Some(LATEST_VERSION.to_string());
    }
    let n: f64 = text.strip_prefix('v')?.parse().ok()?;
    let latest: f64 = LATEST_VERSION[1..].parse().ok()?;
    (text.ends_with(".0") && (31.0..=latest).contains(&n)).then(|| text.to_string())
}

/// `GET /services/data/`: every version from 31.0 to the latest, with release labels.
fn versions() -> Value {
    let latest: i64 = LATEST_VERSION[1..LATEST_VERSION.len() - 2]
        .parse()
        .unwrap_or(68);
    let list: Vec<Value> = (31..=latest)
        .map(|v| {
            let season = ["Winter", "Spring", "Summer"][(v - 62).rem_euclid(3) as usize];
            let year = 25 + (v - 62).div_euclid(3);
            json!({"label": format!("{season} '{year:02}"), "url": format!("/services/data/v{v}.0"),
                   "version": format!("{v}.0")})
        })
        .collect();
    Value::Array(list)
}

fn token(shared: &Shared, method: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if method != "POST" {
        return respond(
            shared,
            405,
            Some(json!({"error": "invalid_request", "error_description": "must use HTTP POST"})),
            None,
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let basic = header(headers, "authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| decode_basic(b.trim()));
    let (status, body) = {
        let mut tokens = lock(&shared.tokens);
        oauth::token(
            &shared.oauth,
            &mut tokens,
            &shared.base_url,
            &shared.api_user,
            &form,
            basic,
        )
    };
    respond(shared, status, Some(body), None)
}

/// `Basic base64(id:secret)` -> (id, secret).
fn decode_basic(b64: &str) -> Option<(String, String)> {
    let bytes = oauth::base64_decode(b64)?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}
