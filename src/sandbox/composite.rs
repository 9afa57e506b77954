//! The composite family (salesforce.md §2): `/composite` (≤25 subrequests, `@{ref.path}`
//! references, allOrNone rollback with PROCESSING_HALTED), `/composite/tree/{O}` (nested
//! inserts, all or nothing) and `/composite/sobjects` collections (≤200 rows, allOrNone with
//! ALL_OR_NONE_OPERATION_ROLLED_BACK, in `collections`). Each is one API call; rollback uses
//! `Tx` savepoints.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::duplicates;
use super::errors::ApiError;
use super::records;
use super::routes::{self, Call, Env, Reply};
use super::store::Tx;
use super::validate::Mode;

const MAX_SUBREQUESTS: usize = 25;
const MAX_QUERIES: usize = 5;
pub(super) const MAX_RECORDS: usize = 200;

fn bad_request(message: &str) -> Reply {
    Reply::json(
        400,
        json!([{"message": message, "errorCode": "INVALID_BATCH_REQUEST"}]),
    )
}

fn halted(message: String) -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": message}])
}

fn valid_reference_id(r: &str) -> bool {
    r.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `POST /composite`.
pub fn composite(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call) -> Reply {
    let Some(body) = call.body.as_ref().and_then(Value::as_object) else {
        return ApiError::json_parse("The request body is not a composite request.").into();
    };
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(subs) = body.get("compositeRequest").and_then(Value::as_array) else {
        return bad_request("compositeRequest is required");
    };
    if subs.is_empty() || subs.len() > MAX_SUBREQUESTS {
        return bad_request("A composite request must have between 1 and 25 subrequests");
    }
    let mut seen = Vec::new();
    let mut heavy = 0;
    for sub in subs {
        let reference = sub["referenceId"].as_str().unwrap_or_default();
        if !valid_reference_id(reference) || seen.contains(&reference) {
            return bad_request(&format!("Invalid referenceId: '{reference}'"));
        }
        seen.push(reference);
        let url = sub["url"].as_str().unwrap_or_default();
        if url.contains("/query") || url.contains("/composite/sobjects") {
            heavy += 1;
        }
        if let Some(headers) = sub["httpHeaders"].as_object()
            && headers.keys().any(|k| {
                ["accept", "authorization", "content-type"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
        {
            return bad_request(
                "Accept, Authorization and Content-Type can't be set on a subrequest",
            );
        }
    }
    if heavy > MAX_QUERIES {
        return bad_request(
            "A composite request can contain at most 5 query or sObject Collections subrequests",
        );
    }
    let start = tx.savepoint();
    let mut results: HashMap<String, Value> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let mut failed_at = None;
    for (i, sub) in subs.iter().enumerate() {
        let reference = sub["referenceId"].as_str().unwrap_or_default().to_string();
        let reply = run_sub(env, tx, call, sub, &results);
        if reply.status < 300
            && let Some(b) = &reply.body
        {
            results.insert(reference.clone(), b.clone());
        }
        let mut headers = Map::new();
        if let Some(loc) = &reply.location {
            headers.insert("Location".into(), json!(loc));
        }
        responses.push(json!({"body": reply.body, "httpHeaders": headers,
                              "httpStatusCode": reply.status, "referenceId": reference}));
        if reply.status >= 400 && all_or_none {
            failed_at = Some(i);
            break;
        }
    }
    if let Some(fail) = failed_at {
        tx.rollback_to(start);
        let message = "The transaction was rolled back since another operation in the same transaction failed.";
        for (i, sub) in subs.iter().enumerate() {
            if i == fail {
                continue;
            }
            let r = json!({"body": halted(message.into()), "httpHeaders": {}, "httpStatusCode": 400,
                           "referenceId": sub["referenceId"]});
            if i < responses.len() {
                responses[i] = r;
            } else {
                responses.push(r);
            }
        }
    }
    Reply::json(200, json!({"compositeResponse": responses}))
}

fn run_sub(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    sub: &Value,
    results: &HashMap<String, Value>,
) -> Reply {
    let method = sub["method"].as_str().unwrap_or_default();
    if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method) {
        return Reply::json(
            400,
            json!([{"errorCode": "INVALID_BATCH_REQUEST", "message": format!("Invalid method: {method}")}]),
        );
    }
    let url = match resolve_text(sub["url"].as_str().unwrap_or_default(), results) {
        Ok(u) => u,
        Err(m) => return Reply::json(400, halted(m)),
    };
    let body = match sub
        .get("body")
        .filter(|b| !b.is_null())
        .map(|b| resolve_value(b, results))
    {
        Some(Err(m)) => return Reply::json(400, halted(m)),
        Some(Ok(b)) => Some(b),
        None => None,
    };
    let Some(rest) = url
        .strip_prefix("/services/data/")
        .and_then(|r| r.split_once('/'))
        .filter(|(v, _)| v.starts_with('v'))
    else {
        return ApiError::not_found().into();
    };
    let (path, query) = match rest.1.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (rest.1.to_string(), None),
    };
    let header = |name: &str| {
        sub["httpHeaders"].as_object().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let call = Call {
        method: method.to_string(),
        path,
        query,
        body,
        version: rest.0.to_string(),
        allow_save: call.allow_save
            || duplicates::allow_save(header("Sforce-Duplicate-Rule-Header")),
        batch_size: call.batch_size,
        if_modified_since: header("If-Modified-Since").map(str::to_string),
    };
    if call.path.starts_with("composite") && !call.path.starts_with("composite/sobjects") {
        return ApiError::not_found().into();
    }
    routes::route(env, tx, &call)
}

/// Replaces every `@{ref.path}` in a text.
fn resolve_text(text: &str, results: &HashMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let expr = &rest[start + 2..start + len];
        match lookup(expr, results)? {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves references inside a JSON body; a string that is exactly one reference takes the
/// referenced value's own type.
fn resolve_value(value: &Value, results: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s)
            if s.starts_with("@{") && s.ends_with('}') && s.matches("@{").count() == 1 =>
        {
            lookup(&s[2..s.len() - 1], results)?
        }
        Value::String(s) => Value::String(resolve_text(s, results)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve_value(v, results))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, results)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `refId.field`, `refId.records[0].Id`, ...
fn lookup(expr: &str, results: &HashMap<String, Value>) -> Result<Value, String> {
    let (head, path) = expr.split_once('.').unwrap_or((expr, ""));
    // `collection[0].id`: a collection's result is an array.
    let (reference, head_indexes) = match head.find('[') {
        Some(i) => (&head[..i], &head[i..]),
        None => (head, ""),
    };
    let missing = || {
        format!(
            "Invalid reference specified. No value for {expr} found in {reference}. Provided referenceId ensure you are referencing only successfully completed requests."
        )
    };
    let mut current = results.get(reference).ok_or_else(missing)?;
    for index in head_indexes.split('[').filter(|s| !s.is_empty()) {
        let n: usize = index.trim_end_matches(']').parse().map_err(|_| missing())?;
        current = current.get(n).ok_or_else(missing)?;
    }
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            current = current.get(name).ok_or_else(missing)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.trim_end_matches(']').parse().map_err(|_| missing())?;
            current = current.get(n).ok_or_else(missing)?;
        }
    }
    if current.is_null() || current.is_object() || current.is_array() {
        return Err(missing());
    }
    Ok(current.clone())
}

/// `POST /composite/tree/{O}`.
pub fn tree(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call, object: &str) -> Reply {
    let def = match records::object(env.schema, object) {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    let Some(roots) = call.body.as_ref().and_then(|b| b["records"].as_array()) else {
        return ApiError::json_parse("records is required").into();
    };
    if count_tree(roots) > MAX_RECORDS {
        return bad_request("Exceeded max limit of 200 records per request");
    }
    let start = tx.savepoint();
    let mut results = Vec::new();
    let mut refs = Vec::new();
    for root in roots {
        if root["attributes"]["type"]
            .as_str()
            .is_none_or(|t| !t.eq_ignore_ascii_case(&def.name))
        {
            tx.rollback_to(start);
            return Reply::json(
                400,
                json!({"hasErrors": true, "results": [{"referenceId": root["attributes"]["referenceId"],
                "errors": [{"statusCode": "INVALID_INPUT", "message": format!("Records must be of type {}", def.name), "fields": []}]}]}),
            );
        }
        if let Err(failure) = insert_tree(
            env,
            tx,
            call,
            &def.name,
            root,
            None,
            &mut results,
            &mut refs,
        ) {
            tx.rollback_to(start);
            return Reply::json(400, json!({"hasErrors": true, "results": [failure]}));
        }
    }
    Reply::json(201, json!({"hasErrors": false, "results": results}))
}

fn count_tree(records: &[Value]) -> usize {
    records
        .iter()
        .map(|r| {
            1 + r.as_object().map_or(0, |m| {
                m.values()
                    .filter_map(|v| v.get("records").and_then(Value::as_array))
                    .map(|kids| count_tree(kids))
                    .sum()
            })
        })
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn insert_tree(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    object: &str,
    record: &Value,
    parent: Option<(&str, &str)>,
    results: &mut Vec<Value>,
    refs: &mut Vec<String>,
) -> Result<(), Value> {
    let reference = record["attributes"]["referenceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fail = |e: ApiError| json!({"referenceId": reference, "errors": e.save_errors()});
    if !valid_reference_id(&reference) || refs.contains(&reference) {
        return Err(fail(ApiError::bad(
            "INVALID_INPUT",
            format!("Invalid or duplicate referenceId: {reference}"),
        )));
    }
    refs.push(reference.clone());
    let children_of = env.schema.child_relationships(object);
    let mut fields = Map::new();
    let mut children = Vec::new();
    for (k, v) in record.as_object().into_iter().flatten() {
        if k == "attributes" {
            continue;
        }
        match children_of.iter().find(|c| c.name.eq_ignore_ascii_case(k)) {
            Some(rel) => children.push((rel.clone(), v)),
            None => {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some((field, id)) = parent {
        fields.insert(field.to_string(), json!(id));
    }
    let ctx = routes::write_ctx(env, call);
    let id =
        records::create(&ctx, tx, object, &Value::Object(fields), Mode::Create).map_err(fail)?;
    results.push(json!({"referenceId": reference, "id": id}));
    for (rel, value) in children {
        for child in value["records"].as_array().into_iter().flatten() {
            insert_tree(
                env,
                tx,
                call,
                &rel.object,
                child,
                Some((&rel.field, &id)),
                results,
                refs,
            )?;
        }
    }
    Ok(())
}
