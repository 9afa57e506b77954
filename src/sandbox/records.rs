//! Single-record operations (create, read, update, delete, upsert by external id) over a
//! transaction. The REST routes, composite subrequests, trees and collections all call these,
//! so a record is validated and stored the same way whichever endpoint wrote it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::access::{self, UserAccess};
use super::duplicates;
use super::errors::ApiError;
use super::ids;
use super::schema::{ObjectDef, Schema};
use super::store::{StoredRecord, Tx};
use super::validate::{self, Mode};

/// Who writes, when, and with which options.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx<'a> {
    pub schema: &'a Schema,
    /// The API user's id (default owner, CreatedById).
    pub user_id: &'a str,
    pub now: DateTime<Utc>,
    /// `v62.0`, for `attributes.url`.
    pub version: &'a str,
    /// `Sforce-Duplicate-Rule-Header: allowSave=true`.
    pub allow_save: bool,
    /// The writing user's permissions when the seed limits them.
    pub access: Option<&'a UserAccess>,
}

/// The outcome of an upsert.
#[derive(Debug, Clone, PartialEq)]
pub enum Upserted {
    Created(String),
    Updated(String),
    /// Several records carry the external id: their URLs; nothing was written.
    Multiple(Vec<String>),
}

/// An object by name, or INVALID_TYPE.
pub fn object<'s>(schema: &'s Schema, name: &str) -> Result<&'s ObjectDef, ApiError> {
    schema
        .object(name)
        .ok_or_else(|| ApiError::invalid_type(name))
}

fn body_map(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::json_parse("Cannot deserialize instance of SObject from a non-object value")
    })
}

/// Creates a record; returns its id.
pub fn create(
    ctx: &WriteCtx<'_>,
    tx: &mut Tx<'_>,
    object_name: &str,
    body: &Value,
    mode: Mode,
) -> Result<String, ApiError> {
    let object = object(ctx.schema, object_name)?;
    if !object.createable && mode != Mode::Seed {
        return Err(ApiError::bad(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            format!("insufficient access rights on object {}", object.name),
        ));
    }
    if mode != Mode::Seed {
        access::check_write(ctx.access, &object.name, None)?;
    }
    let mut input = body_map(body)?.clone();
    // Seeds fix their ids so the same seed always yields the same records.
    let fixed_id = match mode {
        Mode::Seed => input
            .remove("Id")
            .and_then(|v| v.as_str().map(str::to_string)),
        _ => None,
    };
    let values = validate::check_fields(ctx.schema, object, &input, mode, tx)?;
    let mut record = Map::new();
    validate::apply_defaults(object, &mut record);
    for (k, v) in &values {
        record.insert(k.clone(), v.clone());
    }
    if object.field("OwnerId").is_some() && record.get("OwnerId").is_none_or(Value::is_null) {
        record.insert("OwnerId".into(), json!(ctx.user_id));
    }
    validate::derive(object, &mut record, &values, tx);
    validate::check_required(object, &record)?;
    validate::check_unique(object, &record, None, tx)?;
    if mode != Mode::Seed {
        duplicates::check(tx, object, &record, None, ctx.allow_save, ctx.version)?;
    }
    let id = fixed_id.unwrap_or_else(|| ids::mint(&object.key_prefix));
    let now = json!(validate::format_datetime(ctx.now));
    for (k, v) in [
        ("Id", json!(id)),
        ("IsDeleted", json!(false)),
        ("CreatedDate", now.clone()),
        ("CreatedById", json!(ctx.user_id)),
        ("LastModifiedDate", now.clone()),
        ("LastModifiedById", json!(ctx.user_id)),
        ("SystemModstamp", now),
    ] {
        if record.get(k).is_none_or(Value::is_null) {
            record.insert(k.into(), v);
        }
    }
    tx.put(StoredRecord {
        id: id.clone(),
        object: object.name.clone(),
        fields: record,
        deleted: false,
    });
    Ok(id)
}

/// A live record of this object by id (15 or 18 characters), with Salesforce's errors for
/// malformed, foreign, unknown and deleted ids.
pub fn find<'t>(
    schema: &Schema,
    tx: &'t Tx<'_>,
    object: &ObjectDef,
    raw_id: &str,
) -> Result<&'t StoredRecord, ApiError> {
    let Some(id) = ids::normalize(raw_id) else {
        return Err(ApiError::new(
            404,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {raw_id}"),
        ));
    };
    if schema
        .object_for_id(&id)
        .is_none_or(|o| o.name != object.name)
    {
        return Err(ApiError::field(
            "MALFORMED_ID",
            format!("{} ID: id value of incorrect type: {raw_id}", object.label),
            "Id",
        ));
    }
    match tx.get(&id) {
        None => Err(ApiError::not_found()),
        Some(r) if r.deleted => Err(ApiError::deleted()),
        Some(r) => Ok(r),
    }
}

/// Updates a record with the body's fields.
pub fn update(
    ctx: &WriteCtx<'_>,
    tx: &mut Tx<'_>,
    object_name: &str,
    raw_id: &str,
    body: &Value,
) -> Result<String, ApiError> {
    let object = object(ctx.schema, object_name)?;
    let existing = find(ctx.schema, tx, object, raw_id)?.clone();
    access::check_write(ctx.access, &object.name, Some(&existing.fields))?;
    if !object.updateable {
        return Err(ApiError::bad(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            format!("insufficient access rights on object {}", existing.id),
        ));
    }
    let values = validate::check_fields(ctx.schema, object, body_map(body)?, Mode::Update, tx)?;
    let mut record = existing.fields.clone();
    for (k, v) in &values {
        record.insert(k.clone(), v.clone());
    }
    validate::derive(object, &mut record, &values, tx);
    validate::check_required(object, &record)?;
    validate::check_unique(object, &record, Some(&existing.id), tx)?;
    if values.contains_key("Email") {
        duplicates::check(
            tx,
            object,
            &record,
            Some(&existing.id),
            ctx.allow_save,
            ctx.version,
        )?;
    }
    let now = json!(validate::format_datetime(ctx.now));
    record.insert("LastModifiedDate".into(), now.clone());
    record.insert("LastModifiedById".into(), json!(ctx.user_id));
    record.insert("SystemModstamp".into(), now);
    let id = existing.id.clone();
    tx.put(StoredRecord {
        fields: record,
        ..existing
    });
    Ok(id)
}

/// Soft-deletes a record (a second delete answers ENTITY_IS_DELETED).
pub fn delete(
    ctx: &WriteCtx<'_>,
    tx: &mut Tx<'_>,
    object_name: &str,
    raw_id: &str,
) -> Result<(), ApiError> {
    let object = object(ctx.schema, object_name)?;
    let mut record = find(ctx.schema, tx, object, raw_id)?.clone();
    access::check_write(ctx.access, &object.name, Some(&record.fields))?;
    if !object.deletable {
        return Err(ApiError::bad(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            format!("insufficient access rights on object {}", record.id),
        ));
    }
    record.deleted = true;
    record.fields.insert("IsDeleted".into(), json!(true));
    tx.put(record);
    Ok(())
}

/// Upsert by external id (or by `Id`).
pub fn upsert(
    ctx: &WriteCtx<'_>,
    tx: &mut Tx<'_>,
    object_name: &str,
    ext_field: &str,
    value: &str,
    body: &Value,
    update_only: bool,
) -> Result<Upserted, ApiError> {
    let object = object(ctx.schema, object_name)?;
    let no_field = || {
        ApiError::new(
            404,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {ext_field}"),
        )
    };
    let field = object.field(ext_field).ok_or_else(no_field)?;
    let by_id = field.name == "Id";
    if !field.external_id && !by_id {
        return Err(no_field());
    }
    let mut fields = body_map(body)?.clone();
    if fields
        .get(&field.name)
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
    {
        fields.remove(&field.name);
    }
    let matches: Vec<String> = if by_id {
        match ids::normalize(value)
            .and_then(|id| tx.get(&id).map(|r| (r.object.clone(), r.deleted, id)))
        {
            Some((o, false, id)) if o == object.name => vec![id],
            _ => Vec::new(),
        }
    } else {
        tx.list(&object.name, false)
            .into_iter()
            .filter(|r| {
                r.fields
                    .get(&field.name)
                    .is_some_and(|v| same_key(v, value))
            })
            .map(|r| r.id.clone())
            .collect()
    };
    match matches.as_slice() {
        [] if update_only || by_id => Err(ApiError::not_found()),
        [] => {
            fields.insert(field.name.clone(), json!(value));
            create(ctx, tx, &object.name, &Value::Object(fields), Mode::Create)
                .map(Upserted::Created)
        }
        [id] => update(ctx, tx, &object.name, id, &Value::Object(fields)).map(Upserted::Updated),
        many => Ok(Upserted::Multiple(
            many.iter()
                .map(|id| {
                    format!(
                        "/services/data/{}/sobjects/{}/{id}",
                        ctx.version, object.name
                    )
                })
                .collect(),
        )),
    }
}

fn same_key(stored: &Value, value: &str) -> bool {
    match stored {
        Value::String(s) => s.eq_ignore_ascii_case(value),
        Value::Number(n) => n.to_string() == value || n.as_f64() == value.parse::<f64>().ok(),
        _ => false,
    }
}

/// Every field of the object in describe order, null when unset (the SOQL source's view).
pub fn full_fields(object: &ObjectDef, record: &StoredRecord) -> Map<String, Value> {
    object
        .fields
        .iter()
        .map(|f| {
            let v = record.fields.get(&f.name).cloned().unwrap_or(Value::Null);
            (f.name.clone(), v)
        })
        .collect()
}

/// A record as `GET /sobjects/{O}/{Id}` returns it, optionally only some fields.
pub fn record_json(
    version: &str,
    object: &ObjectDef,
    record: &StoredRecord,
    only: Option<&[String]>,
) -> Result<Value, ApiError> {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object.name,
               "url": format!("/services/data/{version}/sobjects/{}/{}", object.name, record.id)}),
    );
    let all = full_fields(object, record);
    match only {
        None => out.extend(all),
        Some(names) => {
            out.insert("Id".into(), json!(record.id));
            for name in names {
                let field = object.field(name).ok_or_else(|| {
                    ApiError::bad(
                        "INVALID_FIELD",
                        format!("No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", object.name),
                    )
                })?;
                out.insert(
                    field.name.clone(),
                    all.get(&field.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    Ok(Value::Object(out))
}
