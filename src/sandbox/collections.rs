//! sObject collections (`/composite/sobjects`): up to 200 rows in one call — create, update
//! by id, upsert by an external id (one object per call), delete, and read by ids. With
//! allOrNone a failed row rolls the others back (ALL_OR_NONE_OPERATION_ROLLED_BACK).

use serde_json::{Value, json};

use super::composite::MAX_RECORDS;
use super::errors::{ApiError, SfError};
use super::records::{self, Upserted};
use super::routes::{self, Call, Env, Reply};
use super::store::{Savepoint, Tx};
use super::validate::Mode;

/// `POST|PATCH|DELETE /composite/sobjects`.
pub fn collections(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call) -> Reply {
    let ctx = routes::write_ctx(env, call);
    let (all_or_none, rows) = match rows_of(call) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let start = tx.savepoint();
    let mut outcomes: Vec<Result<(String, Option<bool>), ApiError>> = Vec::new();
    for row in &rows {
        let outcome = match call.method.as_str() {
            "DELETE" => {
                let id = row.as_str().unwrap_or_default();
                match env.schema.object_for_id(id) {
                    Some(o) => records::delete(&ctx, tx, &o.name, id).map(|_| id.to_string()),
                    None => Err(ApiError::bad("MALFORMED_ID", format!("malformed id {id}"))),
                }
            }
            method => collection_row(&ctx, tx, method, row),
        };
        outcomes.push(outcome.map(|id| (id, None)));
    }
    finish(tx, start, all_or_none, outcomes)
}

/// `PATCH /composite/sobjects/{Object}/{ExternalIdField}`: each row is created, or updates
/// the one record holding its external id. A value given twice in one call fails both rows
/// with DUPLICATE_EXTERNAL_ID, as does a value several records hold.
pub fn upsert(env: &Env<'_>, tx: &mut Tx<'_>, call: &Call, object: &str, field: &str) -> Reply {
    let ctx = routes::write_ctx(env, call);
    let def = match records::object(env.schema, object) {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    if !def
        .field(field)
        .is_some_and(|f| f.external_id || f.name == "Id")
    {
        return ApiError::new(
            404,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {field}"),
        )
        .into();
    }
    let (all_or_none, rows) = match rows_of(call) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let key_of = |row: &Value| -> Option<String> {
        row.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_lowercase)
    };
    let keys: Vec<Option<String>> = rows.iter().map(key_of).collect();
    let start = tx.savepoint();
    let mut outcomes = Vec::new();
    for (row, key) in rows.iter().zip(&keys) {
        let outcome = match key {
            None => Err(ApiError::bad(
                "MISSING_ARGUMENT",
                format!("{field} not specified"),
            )),
            Some(k) if keys.iter().flatten().filter(|o| *o == k).count() > 1 => {
                Err(duplicate_external_id(k))
            }
            Some(k) => {
                if row["attributes"]["type"]
                    .as_str()
                    .is_some_and(|t| !t.eq_ignore_ascii_case(&def.name))
                {
                    Err(ApiError::bad(
                        "INVALID_TYPE",
                        format!("Records must be of type {}", def.name),
                    ))
                } else {
                    let mut fields = row.as_object().cloned().unwrap_or_default();
                    fields.remove("attributes");
                    match records::upsert(
                        &ctx,
                        tx,
                        &def.name,
                        field,
                        k,
                        &Value::Object(fields),
                        false,
                    ) {
                        Ok(Upserted::Created(id)) => Ok((id, Some(true))),
                        Ok(Upserted::Updated(id)) => Ok((id, Some(false))),
                        Ok(Upserted::Multiple(_)) => Err(duplicate_external_id(k)),
                        Err(e) => Err(e),
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    finish(tx, start, all_or_none, outcomes)
}

fn duplicate_external_id(value: &str) -> ApiError {
    ApiError::bad(
        "DUPLICATE_EXTERNAL_ID",
        format!("Duplicate external id specified: {value}"),
    )
}

/// `allOrNone` and the rows of a collection call (ids for DELETE).
fn rows_of(call: &Call) -> Result<(bool, Vec<Value>), Reply> {
    let (all_or_none, rows): (bool, Vec<Value>) = if call.method == "DELETE" {
        let ids = call.param("ids").unwrap_or_default();
        let rows = ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|id| json!(id))
            .collect();
        (call.param("allOrNone").is_some_and(|v| v == "true"), rows)
    } else {
        let Some(body) = call.body.as_ref() else {
            return Err(ApiError::json_parse("The request body is empty.").into());
        };
        let rows = body["records"].as_array().cloned().unwrap_or_default();
        (body["allOrNone"].as_bool().unwrap_or(false), rows)
    };
    if rows.len() > MAX_RECORDS {
        return Err(ApiError::bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
        .into());
    }
    Ok((all_or_none, rows))
}

/// The answer array; with allOrNone one failed row rolls back the rest.
fn finish(
    tx: &mut Tx<'_>,
    start: Savepoint,
    all_or_none: bool,
    outcomes: Vec<Result<(String, Option<bool>), ApiError>>,
) -> Reply {
    let any_failed = outcomes.iter().any(Result::is_err);
    if all_or_none && any_failed {
        tx.rollback_to(start);
    }
    let rolled_back = SfError::new(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    )
    .with_fields(vec![]);
    let body: Vec<Value> = outcomes
        .into_iter()
        .map(|o| match o {
            Ok(_) if all_or_none && any_failed => {
                json!({"success": false, "errors": [rolled_back.save_json()]})
            }
            Ok((id, None)) => json!({"id": id, "success": true, "errors": []}),
            Ok((id, Some(created))) => {
                json!({"id": id, "success": true, "errors": [], "created": created})
            }
            Err(e) => json!({"success": false, "errors": e.save_errors()}),
        })
        .collect();
    Reply::json(200, Value::Array(body))
}

fn collection_row(
    ctx: &records::WriteCtx<'_>,
    tx: &mut Tx<'_>,
    method: &str,
    row: &Value,
) -> Result<String, ApiError> {
    let object = row["attributes"]["type"]
        .as_str()
        .ok_or_else(|| ApiError::bad("INVALID_TYPE", "Must send a concrete entity type."))?;
    let mut fields = row.as_object().cloned().unwrap_or_default();
    fields.remove("attributes");
    if method == "POST" {
        return records::create(ctx, tx, object, &Value::Object(fields), Mode::Create);
    }
    let id = fields
        .remove("id")
        .or_else(|| fields.remove("Id"))
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| ApiError::bad("MISSING_ARGUMENT", "Id not specified in an update call"))?;
    records::update(ctx, tx, object, &id, &Value::Object(fields))
}

/// `GET /composite/sobjects/{O}?ids=...&fields=...`.
pub fn collections_get(
    env: &Env<'_>,
    tx: &mut Tx<'_>,
    call: &Call,
    object: &str,
) -> Result<Reply, ApiError> {
    let def = records::object(env.schema, object)?;
    let fields: Vec<String> = call
        .param("fields")
        .ok_or_else(|| ApiError::bad("MISSING_ARGUMENT", "fields is required"))?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let ids = call.param("ids").unwrap_or_default();
    let mut out = Vec::new();
    for id in ids.split(',').filter(|s| !s.is_empty()) {
        match records::find(env.schema, tx, def, id) {
            Ok(r) => out.push(records::record_json(&call.version, def, r, Some(&fields))?),
            Err(_) => out.push(Value::Null),
        }
    }
    Ok(Reply::json(200, Value::Array(out)))
}
