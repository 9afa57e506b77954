//! The request path: records each request, applies injected faults, checks the bearer token,
//! counts API usage (`Sforce-Limit-Info` on every response), and runs the call through
//! `routes` inside one store transaction. Also the two endpoints outside `/vXX.X/`: the
//! version list and the OAuth token endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::faults::{self, LostAnswer};
use super::oauth;
use super::routes::{self, Call, Env, Reply};
use super::server::{RecordedRequest, Shared, lock};
use super::{LATEST_VERSION, duplicates};

const MAX_BODY: usize = 32 * 1024 * 1024;

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
    // The org's clock, which stamps CreatedDate: shifted with `today` like everything else.
    let date = shared.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        headers.insert("date", v);
    }
    response
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
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
    let index = {
        let recorded = lock(&shared.recorded);
        recorded.len()
    };
    lock(&shared.recorded).push(RecordedRequest {
        user: None,
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
    if path == "/services/oauth2/authorize" {
        return authorize(&shared, query.as_deref().unwrap_or_default());
    }
    if path == "/services/oauth2/revoke" {
        let form = if bytes.is_empty() {
            query.clone().unwrap_or_default().into_bytes()
        } else {
            bytes.to_vec()
        };
        return revoke(&shared, &form);
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
    let user = bearer.and_then(|t| lock(&shared.tokens).user_of(t, &shared.api_user));
    let Some(user) = user else {
        let body =
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
        return respond(&shared, 401, Some(body), None);
    };
    if let Some(r) = lock(&shared.recorded).get_mut(index) {
        r.user = Some(user.clone());
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
    let (delay, lost) = {
        let mut faults = lock(&shared.faults);
        let delay = faults.faults.commit_delay.filter(|_| writes(&call));
        (delay, faults.take_after_commit(&path, writes(&call)))
    };
    let reply = match delay {
        // A task of its own: dropping this handler (the client went away) does not stop it.
        Some(delay) => {
            let (shared, call, user) = (shared.clone(), call.clone(), user.clone());
            let committing = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                execute(&shared, &call, &user)
            });
            match committing.await {
                Ok(reply) => reply,
                Err(_) => Reply::json(
                    500,
                    json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": "commit interrupted"}]),
                ),
            }
        }
        None => execute(&shared, &call, &user),
    };
    match lost {
        Some(LostAnswer::GatewayTimeout) => {
            let mut response = Response::new(Body::from(
                "<html><body><h1>504 Gateway Time-out</h1></body></html>",
            ));
            *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            response
        }
        Some(LostAnswer::EmptyOk) => respond(&shared, 200, None, None),
        Some(LostAnswer::Silence(quiet)) => {
            tokio::time::sleep(quiet).await;
            respond(&shared, reply.status, reply.body, reply.location)
        }
        None => respond(&shared, reply.status, reply.body, reply.location),
    }
}

/// Whether a call changes data (a composite of reads only does not).
fn writes(call: &Call) -> bool {
    match call.method.as_str() {
        "GET" | "HEAD" => false,
        "POST" if call.path == "composite" => call
            .body
            .as_ref()
            .and_then(|b| b["compositeRequest"].as_array())
            .is_none_or(|subs| subs.iter().any(|s| s["method"] != "GET")),
        _ => true,
    }
}

/// Runs a call in one transaction and commits what it wrote.
fn execute(shared: &Shared, call: &Call, user: &str) -> Reply {
    let env = Env {
        access: shared.access.get(user),
        schema: &shared.schema,
        user_id: user,
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

/// `GET /services/oauth2/authorize`. The sandbox has no login page of its own: the
/// `login_hint` (a username or email of an active seeded User) signs that user in at once;
/// without it, a page lists the users to sign in as.
fn authorize(shared: &Shared, query: &str) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let hint = params.get("login_hint").map(|h| h.trim().to_lowercase());
    let users = active_users(shared);
    let valid_client = params.get("client_id") == Some(&shared.oauth.client_id)
        && shared.oauth.allows_callback(
            params
                .get("redirect_uri")
                .map(String::as_str)
                .unwrap_or_default(),
        );
    if hint.is_none()
        && valid_client
        && params.get("response_type").map(String::as_str) == Some("code")
    {
        let links: String = users
            .iter()
            .map(|(_, username, name)| {
                let mut p = params.clone();
                p.insert("login_hint".into(), username.clone());
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(p.iter())
                    .finish();
                format!("<li><a href=\"/services/oauth2/authorize?{q}\">Log in as {name}</a></li>")
            })
            .collect();
        let mut response = Response::new(Body::from(format!(
            "<html><body><h1>Local Salesforce: log in</h1><ul>{links}</ul></body></html>"
        )));
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html;charset=UTF-8"),
        );
        return response;
    }
    let user = hint.and_then(|h| {
        users
            .iter()
            .find(|(_, username, _)| username.to_lowercase() == h)
            .or_else(|| {
                users
                    .iter()
                    .find(|(id, _, _)| email_of(shared, id).as_deref() == Some(&h))
            })
            .map(|(id, _, _)| id.clone())
    });
    let decided = {
        let mut tokens = lock(&shared.tokens);
        oauth::authorize(&shared.oauth, &mut tokens, &params, user)
    };
    match decided {
        oauth::Authorized::Redirect(to) => respond(shared, 302, None, Some(to)),
        oauth::Authorized::Refused((status, body)) => respond(shared, status, Some(body), None),
    }
}

/// Active Users: (id, username, name).
fn active_users(shared: &Shared) -> Vec<(String, String, String)> {
    let data = lock(&shared.data);
    let tx = data.begin();
    tx.list("User", false)
        .into_iter()
        .filter(|r| r.fields.get("IsActive") != Some(&Value::Bool(false)))
        .map(|r| {
            let get = |k: &str| {
                r.fields
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let name = format!("{} {}", get("FirstName"), get("LastName"))
                .trim()
                .to_string();
            (r.id.clone(), get("Username"), name)
        })
        .collect()
}

fn email_of(shared: &Shared, id: &str) -> Option<String> {
    let data = lock(&shared.data);
    let tx = data.begin();
    tx.get(id).and_then(|r| {
        r.fields
            .get("Email")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
    })
}

/// `POST /services/oauth2/revoke` (`token=`): a refresh token (with its access tokens) or an
/// access token stops working.
fn revoke(shared: &Shared, form: &[u8]) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
    let revoked = form
        .get("token")
        .is_some_and(|t| lock(&shared.tokens).revoke(t));
    if revoked {
        respond(shared, 200, None, None)
    } else {
        respond(
            shared,
            400,
            Some(json!({"error": "invalid_token", "error_description": "invalid token"})),
            None,
        )
    }
}

/// `Basic base64(id:secret)` -> (id, secret).
fn decode_basic(b64: &str) -> Option<(String, String)> {
    let bytes = oauth::base64_decode(b64)?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}
