//! Routing of one REST call under `/services/data/vXX.X/` to its handler, over a transaction.
//! The HTTP server and `/composite` subrequests share this, so a subrequest behaves exactly
//! like the same request sent on its own (statuses, bodies, validation).

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::access::UserAccess;
use super::collections;
use super::composite;
use super::describe;
use super::errors::ApiError;
use super::query::{self, Cursors, QueryCtx};
use super::records::{self, Upserted, WriteCtx};
use super::schema::Schema;
use super::store::Tx;
use super::validate::Mode;

/// What every handler may read besides the request.
pub struct Env<'a> {
    pub schema: &'a Schema,
    pub user_id: &'a str,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    pub page_size: usize,
    pub cursors: &'a Mutex<Cursors>,
    /// API calls used so far and the daily maximum, for `/limits`.
    pub usage: (u64, u64),
    /// When the schema last changed, for `If-Modified-Since` on describe.
    pub schema_modified: DateTime<Utc>,
    /// The calling user's permissions when the seed limits them.
    pub access: Option<&'a UserAccess>,
}

/// One call, top-level or composite subrequest.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path after `/services/data/vXX.X/`, e.g. `sobjects/Account/001...`.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    pub body: Option<Value>,
    /// `v62.0`.
    pub version: String,
    pub allow_save: bool,
    /// `Sforce-Query-Options: batchSize=N`.
    pub batch_size: Option<usize>,
    pub if_modified_since: Option<String>,
}

impl Call {
    /// A decoded query-string parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            location: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            location: None,
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply::json(e.status, e.rest_json())
    }
}

/// Percent-decodes one path segment.
pub fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_allowed(method: &str, allowed: &str) -> Reply {
    Reply::json(
        405,
        json!([{"errorCode": "METHOD_NOT_ALLOWED",
                "message": format!("HTTP Method '{method}' not allowed. Allowed are {allowed}")}]),
    )
}

/// Routes a call. Writes go to `tx`; the caller commits it.
pub fn route(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call) -> Reply {
    let segments: Vec<String> = call
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = call.method.as_str();
    let result = match (segs.as_slice(), method) {
        ([], "GET") => Ok(resources(&call.version)),
        (["limits"], "GET") => Ok(limits(env.usage)),
        (["sobjects"], "GET") => Ok(Reply::json(
            200,
            describe::global(&call.version, env.schema),
        )),
        (["sobjects", o], "GET") => records::object(env.schema, o)
            .map(|d| Reply::json(200, describe::basic(&call.version, d))),
        (["sobjects", o], "POST") => create(env, tx, call, o),
        (["sobjects", o, "describe"], "GET") => describe_object(env, call, o),
        (["sobjects", o, id], _) => by_id(env, tx, call, o, id),
        (["sobjects", o, field, value], "PATCH") => upsert(env, tx, call, o, field, value),
        (["sobjects", o, field, value], "GET") => get_by_external(env, tx, call, o, field, value),
        (["query" | "queryAll"], "GET") => run_query(env, tx, call, segs[0] == "queryAll"),
        (["query" | "queryAll", locator], "GET") => {
            let ctx = query_ctx(env, call);
            let mut cursors = env.cursors.lock().unwrap_or_else(|p| p.into_inner());
            query::more(&ctx, &mut cursors, locator).map(|b| Reply::json(200, b))
        }
        (["composite"], "POST") => Ok(composite::composite(env, tx, call)),
        (["composite", "tree", o], "POST") => Ok(composite::tree(env, tx, call, o)),
        (["composite", "sobjects"], "POST" | "PATCH" | "DELETE") => {
            Ok(collections::collections(env, tx, call))
        }
        (["composite", "sobjects", o], "GET") => collections::collections_get(env, tx, call, o),
        (["composite", "sobjects", o, field], "PATCH") => {
            Ok(collections::upsert(env, tx, call, o, field))
        }
        ([] | ["limits"] | ["sobjects"] | ["query" | "queryAll", ..], m) => {
            Ok(not_allowed(m, "GET"))
        }
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(Reply::from)
}

fn resources(version: &str) -> Reply {
    let base = format!("/services/data/{version}");
    Reply::json(
        200,
        json!({"sobjects": format!("{base}/sobjects"), "query": format!("{base}/query"),
               "queryAll": format!("{base}/queryAll"), "composite": format!("{base}/composite"),
               "limits": format!("{base}/limits")}),
    )
}

fn limits((used, max): (u64, u64)) -> Reply {
    let remaining = max.saturating_sub(used);
    Reply::json(
        200,
        json!({"DailyApiRequests": {"Max": max, "Remaining": remaining},
               "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
               "DataStorageMB": {"Max": 5, "Remaining": 5},
               "SingleEmail": {"Max": 15, "Remaining": 15}}),
    )
}

pub fn write_ctx<'a>(env: &'a Env<'_>, call: &'a Call) -> WriteCtx<'a> {
    WriteCtx {
        schema: env.schema,
        user_id: env.user_id,
        now: env.now,
        version: &call.version,
        allow_save: call.allow_save,
        access: env.access,
    }
}

fn query_ctx<'a>(env: &'a Env<'_>, call: &'a Call) -> QueryCtx<'a> {
    let page = match call.batch_size {
        Some(b) => env.page_size.min(b.clamp(200, 2000)),
        None => env.page_size,
    };
    QueryCtx {
        schema: env.schema,
        today: env.today,
        version: &call.version,
        page_size: page,
        viewer: env.access,
    }
}

fn body(call: &Call) -> Result<&Value, ApiError> {
    call.body
        .as_ref()
        .ok_or_else(|| ApiError::json_parse("The request body is empty."))
}

fn create(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call, o: &str) -> Result<Reply, ApiError> {
    let ctx = write_ctx(env, call);
    let object = records::object(env.schema, o)?;
    let id = records::create(&ctx, tx, o, body(call)?, Mode::Create)?;
    Ok(Reply {
        status: 201,
        body: Some(json!({"id": id, "success": true, "errors": []})),
        location: Some(format!(
            "/services/data/{}/sobjects/{}/{id}",
            call.version, object.name
        )),
    })
}

fn describe_object(env: &Env<'_>, call: &Call, o: &str) -> Result<Reply, ApiError> {
    // Salesforce answers a describe of an unknown object 404 NOT_FOUND (not INVALID_TYPE).
    let object = env.schema.object(o).ok_or_else(ApiError::not_found)?;
    let unchanged = call
        .if_modified_since
        .as_deref()
        .and_then(|h| DateTime::parse_from_rfc2822(h.trim()).ok())
        .is_some_and(|since| env.schema_modified.timestamp() <= since.timestamp());
    if unchanged {
        return Ok(Reply::empty(304));
    }
    Ok(Reply::json(
        200,
        describe::object(&call.version, env.schema, object),
    ))
}

fn by_id(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    o: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    let ctx = write_ctx(env, call);
    match call.method.as_str() {
        "GET" => {
            let object = records::object(env.schema, o)?;
            let record = records::find(env.schema, tx, object, id)?;
            let only: Option<Vec<String>> = call.param("fields").map(|f| {
                f.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            });
            records::record_json(&call.version, object, record, only.as_deref())
                .map(|b| Reply::json(200, b))
        }
        "PATCH" => records::update(&ctx, tx, o, id, body(call)?).map(|_| Reply::empty(204)),
        "DELETE" => records::delete(&ctx, tx, o, id).map(|_| Reply::empty(204)),
        m => Ok(not_allowed(m, "GET,PATCH,DELETE")),
    }
}

fn upsert(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    o: &str,
    field: &str,
    value: &str,
) -> Result<Reply, ApiError> {
    let ctx = write_ctx(env, call);
    let update_only = call.param("updateOnly").is_some_and(|v| v == "true");
    let outcome = records::upsert(&ctx, tx, o, field, value, body(call)?, update_only)?;
    let name = records::object(env.schema, o)?.name.clone();
    Ok(match outcome {
        Upserted::Created(id) => Reply {
            status: 201,
            body: Some(json!({"id": id, "success": true, "errors": [], "created": true})),
            location: Some(format!(
                "/services/data/{}/sobjects/{name}/{id}",
                call.version
            )),
        },
        Upserted::Updated(id) => Reply::json(
            200,
            json!({"id": id, "success": true, "errors": [], "created": false}),
        ),
        Upserted::Multiple(urls) => Reply::json(300, json!(urls)),
    })
}

fn get_by_external(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    o: &str,
    field: &str,
    value: &str,
) -> Result<Reply, ApiError> {
    let object = records::object(env.schema, o)?;
    let f = object
        .field(field)
        .filter(|f| f.external_id)
        .ok_or_else(ApiError::not_found)?;
    let hits: Vec<_> = tx
        .list(&object.name, false)
        .into_iter()
        .filter(|r| {
            r.fields
                .get(&f.name)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
        .collect();
    match hits.as_slice() {
        [] => Err(ApiError::not_found()),
        [one] => {
            records::record_json(&call.version, object, one, None).map(|b| Reply::json(200, b))
        }
        many => Ok(Reply::json(
            300,
            json!(
                many.iter()
                    .map(|r| format!(
                        "/services/data/{}/sobjects/{}/{}",
                        call.version, object.name, r.id
                    ))
                    .collect::<Vec<_>>()
            ),
        )),
    }
}

fn run_query(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call, all: bool) -> Result<Reply, ApiError> {
    let Some(q) = call.param("q") else {
        return Err(ApiError::bad(
            "MALFORMED_QUERY",
            "A query string has to be specified",
        ));
    };
    let ctx = query_ctx(env, call);
    let mut cursors = env.cursors.lock().unwrap_or_else(|p| p.into_inner());
    query::run(&ctx, tx, &mut cursors, &q, all).map(|b| Reply::json(200, b))
}
