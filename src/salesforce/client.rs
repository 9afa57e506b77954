//! The one HTTP client for Salesforce's REST API. Every call goes through `send`, which adds
//! the token, counts the request, keeps `Sforce-Limit-Info`, maps errors, and retries only
//! what is safe to repeat: reads (and composites made only of reads) on 5xx, 429 and
//! connection errors. A write is never retried blindly — a timed-out create may have
//! succeeded. A 401 is the exception: Salesforce did not process the request, so after one
//! token refresh (`Auth::refresh`) it is sent once more, write or not. Describe answers are cached per object (moka), fetched once even when many
//! drafts ask at the same moment.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use tracing::debug;

use super::auth::Auth;
use super::error::SalesforceError;
use super::types::{
    ApiUsage, ClientStats, CompositeRequest, CompositeResponse, QueryResult, SObjectDescribe,
    SaveResult, UpsertResult, parse_limit_info, query_records,
};
use crate::config::SalesforceSettings;
use crate::net::{read_capped, root_cause};

/// A Salesforce REST client. Cheap to clone; clones share the cache and the counters.
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// SALESFORCE_INSTANCE_URL without a trailing slash. Without one (OAuth only), the
    /// instance URL the token endpoint returns is used.
    instance: Option<String>,
    /// `v62.0`.
    version: String,
    auth: Auth,
    describes: Cache<String, Arc<SObjectDescribe>>,
    requests: AtomicU64,
    /// The org's clock minus ours, from the `Date` of its last answer (milliseconds).
    clock_offset_ms: AtomicI64,
    usage: Mutex<Option<ApiUsage>>,
    max_retries: u32,
    max_rows: usize,
    max_response_bytes: usize,
}

/// An HTTP answer that succeeded.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl SalesforceClient {
    pub fn new(settings: &SalesforceSettings) -> Result<SalesforceClient, SalesforceError> {
        let instance = settings
            .instance_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string());
        let auth = Auth::from_settings(settings)?;
        if instance.is_none() && !auth.discovers_instance() {
            return Err(SalesforceError::Config(
                "no org: set SALESFORCE_INSTANCE_URL (e.g. https://acme.my.salesforce.com)".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("crmbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SalesforceError::Config(format!("HTTP client: {e}")))?;
        Ok(SalesforceClient {
            inner: Arc::new(Inner {
                http,
                instance,
                version: settings.api_version.clone(),
                auth,
                describes: Cache::builder()
                    .max_capacity(1_000)
                    .time_to_live(settings.describe_ttl)
                    .build(),
                requests: AtomicU64::new(0),
                clock_offset_ms: AtomicI64::new(0),
                usage: Mutex::new(None),
                max_retries: settings.max_retries,
                max_rows: settings.max_rows.max(1),
                max_response_bytes: settings.max_response_bytes.max(1_000_000),
            }),
        })
    }

    /// A client acting as one person: the refresh token they gave through the web server
    /// flow, against `oauth_base` (the login or My Domain URL). Every other setting (the
    /// instance, timeouts, bounds) is `settings`'.
    pub fn for_person(
        settings: &SalesforceSettings,
        oauth_base: &url::Url,
        refresh_token: SecretString,
    ) -> Result<SalesforceClient, SalesforceError> {
        let person = SalesforceSettings {
            access_token: None,
            username: None,
            private_key_file: None,
            refresh_token: Some(refresh_token),
            login_url: Some(oauth_base.clone()),
            ..settings.clone()
        };
        SalesforceClient::new(&person)
    }

    /// Obtains the access token now (a person's client: proves the refresh token still
    /// works before anything depends on it).
    pub async fn sign_in_now(&self) -> Result<(), SalesforceError> {
        self.inner.auth.token().await.map(|_| ())
    }

    /// The org's base URL, without a trailing slash: the configured one, else the one the
    /// token endpoint returned (empty before the first token).
    pub fn instance_url(&self) -> &str {
        self.inner
            .instance
            .as_deref()
            .or_else(|| self.inner.auth.instance_url())
            .unwrap_or_default()
    }

    /// Requests sent so far and the org's last reported API usage.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            api_usage: self.inner.usage.lock().ok().and_then(|u| *u),
        }
    }

    /// "Now" on the org's clock, as its last answer's `Date` header put it (our clock before
    /// the first answer). `CreatedDate` is stamped by that clock.
    pub fn server_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::milliseconds(self.inner.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Any read, as JSON: `path` is relative to the instance, e.g. `/services/data/` (the
    /// versions the org offers) or `/services/data/v62.0/limits`. For `crmbot doctor`.
    pub async fn get_json(&self, path: &str) -> Result<Value, SalesforceError> {
        let answer = self.send(Method::GET, path, None, true).await?;
        decode(&answer.body)
    }

    /// `/services/data/v62.0/sobjects/{object}` — for composite subrequests.
    pub fn sobject_url(&self, object: &str) -> String {
        format!("/services/data/{}/sobjects/{object}", self.inner.version)
    }

    /// `/services/data/v62.0/composite/sobjects` — sObject collections, for composite
    /// subrequests.
    pub fn collections_url(&self) -> String {
        format!("/services/data/{}/composite/sobjects", self.inner.version)
    }

    /// `/services/data/v62.0/query?q=...` — for composite subrequests.
    pub fn query_url(&self, soql: &str) -> String {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        format!("/services/data/{}/query?q={q}", self.inner.version)
    }

    /// The describe of an object, from the cache when fresh.
    pub async fn describe(&self, object: &str) -> Result<Arc<SObjectDescribe>, SalesforceError> {
        let this = self.clone();
        let name = object.to_string();
        self.inner
            .describes
            .try_get_with(object.to_string(), async move {
                let path = format!("{}/describe", this.sobject_url(&name));
                let answer = this.send(Method::GET, &path, None, true).await?;
                let describe: SObjectDescribe = decode(&answer.body)?;
                Ok::<_, SalesforceError>(Arc::new(describe))
            })
            .await
            .map_err(|e: Arc<SalesforceError>| (*e).clone())
    }

    /// Fetches every cached describe again and replaces it, so a refresh before the TTL ends
    /// keeps describe calls out of people's requests. An object whose describe fails keeps
    /// its cached one (until the TTL ends). Returns the objects refreshed.
    pub async fn refresh_describes(&self) -> Result<usize, SalesforceError> {
        let names: Vec<String> = self
            .inner
            .describes
            .iter()
            .map(|(k, _)| k.as_ref().clone())
            .collect();
        let mut refreshed = 0;
        let mut last_error = None;
        for name in names {
            let path = format!("{}/describe", self.sobject_url(&name));
            let fetched = match self.send(Method::GET, &path, None, true).await {
                Ok(answer) => decode::<SObjectDescribe>(&answer.body),
                Err(e) => Err(e),
            };
            match fetched {
                Ok(d) => {
                    self.inner.describes.insert(name, Arc::new(d)).await;
                    refreshed += 1;
                }
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) if refreshed == 0 => Err(e),
            _ => Ok(refreshed),
        }
    }

    /// Runs a query, following `nextRecordsUrl` until done or the row cap.
    pub async fn query(&self, soql: &str) -> Result<QueryResult, SalesforceError> {
        let mut path = self.query_url(soql);
        let mut result = QueryResult::default();
        loop {
            let answer = self.send(Method::GET, &path, None, true).await?;
            let page: Value = decode(&answer.body)?;
            result.total_size = page["totalSize"].as_u64().unwrap_or(0);
            result.done = page["done"].as_bool().unwrap_or(true);
            result.records.extend(query_records(&page));
            if result.records.len() >= self.inner.max_rows {
                result.truncated = !result.done || result.records.len() > self.inner.max_rows;
                result.records.truncate(self.inner.max_rows);
                return Ok(result);
            }
            match page["nextRecordsUrl"].as_str() {
                // Only a path on this instance: the token must never travel elsewhere.
                Some(next) if !result.done && next.starts_with("/services/data/") => {
                    path = next.to_string()
                }
                Some(next) if !result.done => {
                    return Err(SalesforceError::Decode(format!(
                        "refusing to follow nextRecordsUrl outside /services/data/: {}",
                        next.chars().take(80).collect::<String>()
                    )));
                }
                _ => return Ok(result),
            }
        }
    }

    /// Creates one record.
    pub async fn create(
        &self,
        object: &str,
        fields: &Map<String, Value>,
    ) -> Result<SaveResult, SalesforceError> {
        let path = format!("{}/", self.sobject_url(object));
        let body = Value::Object(fields.clone());
        let answer = self.send(Method::POST, &path, Some(&body), false).await?;
        decode(&answer.body)
    }

    /// Updates one record (PATCH; Salesforce answers 204 with no body).
    pub async fn update(
        &self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), SalesforceError> {
        let path = format!("{}/{id}", self.sobject_url(object));
        let body = Value::Object(fields.clone());
        self.send(Method::PATCH, &path, Some(&body), false).await?;
        Ok(())
    }

    /// Creates or updates the record whose external id field has this value.
    pub async fn upsert(
        &self,
        object: &str,
        external_field: &str,
        value: &str,
        fields: &Map<String, Value>,
    ) -> Result<UpsertResult, SalesforceError> {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let path = format!("{}/{external_field}/{encoded}", self.sobject_url(object));
        let body = Value::Object(fields.clone());
        let answer = match self.send(Method::PATCH, &path, Some(&body), false).await {
            Err(SalesforceError::Rejected {
                status: 300,
                errors,
            }) => {
                let _ = errors;
                return Err(SalesforceError::MultipleMatches {
                    field: external_field.to_string(),
                    value: value.to_string(),
                    ids: Vec::new(),
                });
            }
            other => other?,
        };
        if answer.body.is_empty() {
            // Versions before 46.0 answer an update with 204 and no body.
            return Ok(UpsertResult {
                id: String::new(),
                created: answer.status == StatusCode::CREATED,
            });
        }
        let saved: SaveResult = decode(&answer.body)?;
        Ok(UpsertResult {
            id: saved.id.unwrap_or_default(),
            created: saved
                .created
                .unwrap_or(answer.status == StatusCode::CREATED),
        })
    }

    /// Sends a composite request: one API call for up to 25 subrequests. Retried on a
    /// transient failure only when every subrequest is a read.
    pub async fn composite(
        &self,
        request: &CompositeRequest,
    ) -> Result<CompositeResponse, SalesforceError> {
        let path = format!("/services/data/{}/composite", self.inner.version);
        let reads_only = request.subrequests.iter().all(|s| s.method == "GET");
        let body = serde_json::to_value(request)
            .map_err(|e| SalesforceError::Decode(format!("composite request: {e}")))?;
        let answer = self
            .send(Method::POST, &path, Some(&body), reads_only)
            .await?;
        decode(&answer.body)
    }

    /// Creates up to 200 records of any objects in one call (`/composite/sobjects`).
    pub async fn collections_create(
        &self,
        records: &[(String, Map<String, Value>)],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        let rows: Vec<Value> = records
            .iter()
            .map(|(object, fields)| with_type(object, fields))
            .collect();
        let body = json!({"allOrNone": all_or_none, "records": rows});
        let path = format!("/services/data/{}/composite/sobjects", self.inner.version);
        let answer = self.send(Method::POST, &path, Some(&body), false).await?;
        decode(&answer.body)
    }

    /// Updates up to 200 records by id in one call (`/composite/sobjects`).
    pub async fn collections_update(
        &self,
        records: &[(String, String, Map<String, Value>)],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        let rows: Vec<Value> = records
            .iter()
            .map(|(object, id, fields)| {
                let mut row = with_type(object, fields);
                row["id"] = Value::String(id.clone());
                row
            })
            .collect();
        let body = json!({"allOrNone": all_or_none, "records": rows});
        let path = format!("/services/data/{}/composite/sobjects", self.inner.version);
        let answer = self.send(Method::PATCH, &path, Some(&body), false).await?;
        decode(&answer.body)
    }

    /// Sends one request; `path` is relative to the instance (`/services/data/...`). A 401
    /// (Salesforce's INVALID_SESSION_ID) means the request was not processed: the auth gets
    /// one chance to refresh the token, and the same request — read or write — is sent once
    /// more; a second 401 is reported.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry_safe: bool,
    ) -> Result<Answer, SalesforceError> {
        let shown_path = path.split('?').next().unwrap_or(path);
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            let token = self.inner.auth.token().await?;
            // After the token: a client without a configured instance learns it from there.
            let base = self.instance_url();
            if base.is_empty() {
                return Err(SalesforceError::Config(
                    "the token endpoint returned no instance_url: set SALESFORCE_INSTANCE_URL"
                        .into(),
                ));
            }
            let url = format!("{base}{path}");
            let mut request = self
                .inner
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose_secret())
                .header("Accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let started = Instant::now();
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            crate::metrics::salesforce_request(method.as_str(), path);
            let outcome = request.send().await;
            let error = match outcome {
                Ok(response) => {
                    let status = response.status();
                    if let Some(usage) = response
                        .headers()
                        .get("sforce-limit-info")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_limit_info)
                        && let Ok(mut kept) = self.inner.usage.lock()
                    {
                        crate::metrics::salesforce_usage(usage.used, usage.max);
                        *kept = Some(usage);
                    }
                    if let Some(date) = response
                        .headers()
                        .get("date")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                    {
                        let offset =
                            date.timestamp_millis() - chrono::Utc::now().timestamp_millis();
                        self.inner.clock_offset_ms.store(offset, Ordering::Relaxed);
                    }
                    let retry_after = retry_after(response.headers());
                    let bytes = read_capped(response, self.inner.max_response_bytes)
                        .await
                        .map_err(|e| {
                            SalesforceError::from_read(e, |cause| self.unreachable(base, cause))
                        })?;
                    debug!(%method, path = shown_path, status = status.as_u16(),
                           ms = started.elapsed().as_millis() as u64, "salesforce");
                    if status.is_success() {
                        return Ok(Answer {
                            status,
                            body: bytes.to_vec(),
                        });
                    }
                    let error = SalesforceError::from_response(status.as_u16(), &bytes);
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed
                        && self.inner.auth.refresh(&token).await?
                    {
                        refreshed = true;
                        continue;
                    }
                    (error, retry_after)
                }
                Err(e) if e.is_timeout() => (SalesforceError::Timeout, None),
                Err(e) => (self.unreachable(base, root_cause(&e)), None),
            };
            let (error, retry_after) = error;
            if !(retry_safe && error.is_transient() && attempt < self.inner.max_retries) {
                debug!(%method, path = shown_path, %error, "salesforce call failed");
                return Err(error);
            }
            tokio::time::sleep(retry_after.unwrap_or_else(|| backoff(attempt))).await;
            attempt += 1;
        }
    }
}

impl SalesforceClient {
    /// The error for an instance that did not answer, naming where its address came from.
    fn unreachable(&self, base: &str, cause: String) -> SalesforceError {
        SalesforceError::Transport {
            url: base.to_string(),
            setting: if self.inner.instance.is_some() {
                "SALESFORCE_INSTANCE_URL".into()
            } else {
                "the instance URL Salesforce's login returned (or set SALESFORCE_INSTANCE_URL)"
                    .into()
            },
            cause,
        }
    }
}

/// A collection row: the fields plus `attributes.type`.
fn with_type(object: &str, fields: &Map<String, Value>) -> Value {
    let mut row = Map::new();
    row.insert("attributes".into(), json!({ "type": object }));
    row.extend(fields.clone());
    Value::Object(row)
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SalesforceError> {
    serde_json::from_slice(body).map_err(|e| SalesforceError::Decode(e.to_string()))
}

/// Exponential backoff with jitter: about 0.5 s, 1 s, 2 s ...
fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(6));
    let jitter = rand::random_range(0..=base / 4);
    Duration::from_millis(base + jitter)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}
