//! Write validation the way Salesforce does it, in its order: the JSON must name real,
//! writable fields with values of the right type (otherwise the request fails before any
//! rule runs), then lengths, restricted picklists and references are checked, then the record
//! as a whole must have its required fields. Error codes and messages follow salesforce.md §3.3.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, SfError};
use super::ids;
use super::schema::{FieldDef, ObjectDef, Schema};
use super::store::Tx;

/// What kind of write the values are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
    /// Loading seed data: read-only system fields (CreatedDate, ...) may be set.
    Seed,
}

/// Checks a request body's fields and converts the values to their stored form. Keys come
/// back in canonical spelling.
pub fn check_fields(
    schema: &Schema,
    object: &ObjectDef,
    body: &Map<String, Value>,
    mode: Mode,
    tx: &Tx<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let mut read_only = Vec::new();
    let mut fields: Vec<(&FieldDef, &Value)> = Vec::new();
    for (key, value) in body {
        if key == "attributes" {
            continue;
        }
        if key.eq_ignore_ascii_case("Id") && mode != Mode::Seed {
            return Err(ApiError::bad(
                "INVALID_FIELD",
                "The Id field should not be specified in the sobject data.",
            ));
        }
        let Some(field) = object.field(key) else {
            return Err(ApiError::bad(
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {}", object.name),
            ));
        };
        let writable = match mode {
            Mode::Create => field.createable,
            Mode::Update => field.updateable,
            Mode::Seed => true,
        };
        if !writable {
            read_only.push(field.name.clone());
        }
        fields.push((field, value));
    }
    if !read_only.is_empty() {
        return Err(ApiError {
            status: 400,
            errors: vec![
                SfError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        read_only.join(", ")
                    ),
                )
                .with_fields(read_only),
            ],
        });
    }
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (field, value) in fields {
        match convert(schema, field, value, tx) {
            Ok(v) => {
                out.insert(field.name.clone(), v);
            }
            Err(e) if e.code == "JSON_PARSER_ERROR" => {
                return Err(ApiError::bad(&e.code, e.message));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError {
            status: 400,
            errors,
        })
    }
}

/// One value to its stored form.
fn convert(
    schema: &Schema,
    field: &FieldDef,
    value: &Value,
    tx: &Tx<'_>,
) -> Result<Value, SfError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let label = field.label();
    let parse_error = |what: &str| {
        SfError::new(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {what} from {} value {value} or request may be missing a required field",
                json_kind(value)
            ),
        )
    };
    let text = || -> Result<Option<String>, SfError> {
        match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            _ => Err(parse_error("string")),
        }
    };
    match field.kind.as_str() {
        "boolean" => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(json!(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(json!(false)),
            _ => Err(parse_error("boolean")),
        },
        "int" | "double" | "currency" | "percent" => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let Some(n) = n.filter(|n| n.is_finite()) else {
                return Err(parse_error("double"));
            };
            if field.kind == "int" {
                if n.fract() != 0.0 {
                    return Err(parse_error("int"));
                }
                return Ok(json!(n as i64));
            }
            Ok(json!(n))
        }
        "date" => {
            let s = value.as_str().ok_or_else(|| parse_error("date"))?;
            parse_date(s)
                .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| parse_error("date"))
        }
        "datetime" => {
            let s = value.as_str().ok_or_else(|| parse_error("datetime"))?;
            parse_datetime(s)
                .map(|d| json!(format_datetime(d)))
                .ok_or_else(|| parse_error("datetime"))
        }
        "reference" | "id" => {
            let Some(s) = text()? else {
                return Ok(Value::Null);
            };
            check_reference(schema, field, &label, &s, tx).map(Value::String)
        }
        _ => {
            let Some(s) = text()? else {
                return Ok(Value::Null);
            };
            if field.length > 0 && s.chars().count() > field.length as usize {
                return Err(SfError::new(
                    "STRING_TOO_LONG",
                    format!(
                        "{label}: data value too large: {s} (max length={})",
                        field.length
                    ),
                )
                .with_fields(vec![field.name.clone()]));
            }
            if field.kind == "email" && !looks_like_email(&s) {
                return Err(SfError::new(
                    "INVALID_EMAIL_ADDRESS",
                    format!("{label}: invalid email address: {s}"),
                )
                .with_fields(vec![field.name.clone()]));
            }
            if field.restricted {
                let ok = if field.kind == "multipicklist" {
                    s.split(';').all(|v| field.picklist.iter().any(|p| p == v))
                } else {
                    field.picklist.contains(&s)
                };
                if !ok {
                    return Err(SfError::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{label}: bad value for restricted picklist field: {s}"),
                    )
                    .with_fields(vec![field.name.clone()]));
                }
            }
            Ok(Value::String(s))
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

fn check_reference(
    schema: &Schema,
    field: &FieldDef,
    label: &str,
    text: &str,
    tx: &Tx<'_>,
) -> Result<String, SfError> {
    let malformed = || {
        SfError::new(
            "MALFORMED_ID",
            format!("{label}: id value of incorrect type: {text}"),
        )
        .with_fields(vec![field.name.clone()])
    };
    let id = ids::normalize(text).ok_or_else(malformed)?;
    let target = schema.object_for_id(&id).ok_or_else(malformed)?;
    if !field.reference_to.contains(&target.name) {
        return Err(malformed());
    }
    match tx.get(&id) {
        None => Err(SfError::new(
            "INVALID_CROSS_REFERENCE_KEY",
            format!("{label}: invalid cross reference id"),
        )
        .with_fields(vec![field.name.clone()])),
        Some(r) if r.deleted => Err(SfError::new("ENTITY_IS_DELETED", "entity is deleted")
            .with_fields(vec![field.name.clone()])),
        // Salesforce refuses an inactive user as an owner.
        Some(r)
            if field.name == "OwnerId" && r.fields.get("IsActive") == Some(&Value::Bool(false)) =>
        {
            Err(SfError::new(
                "INACTIVE_OWNER_OR_USER",
                format!("operation performed with inactive user [{id}] as owner"),
            )
            .with_fields(vec![field.name.clone()]))
        }
        Some(_) => Ok(id),
    }
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// `YYYY-MM-DD`, or the date part of a dateTime.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime(s).map(|d| d.date_naive()))
}

/// RFC 3339 (`Z` or offset) or Salesforce's `+0000` form; a bare date means midnight UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Salesforce's dateTime form: `2026-11-25T09:30:00.000+0000`.
pub fn format_datetime(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Fields the record must have after the write, missing ones listed in Salesforce's form.
pub fn check_required(object: &ObjectDef, record: &Map<String, Value>) -> Result<(), ApiError> {
    let missing: Vec<String> = object
        .fields
        .iter()
        .filter(|f| f.required_on_create())
        .filter(|f| record.get(&f.name).is_none_or(Value::is_null))
        .map(|f| f.name.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError {
        status: 400,
        errors: vec![
            SfError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
            )
            .with_fields(missing),
        ],
    })
}

/// Unique fields (an external id such as `Crmbot_Key__c`): a value another live record of
/// the object holds is refused with DUPLICATE_VALUE, case-insensitively as Salesforce's
/// default (case-insensitive) unique text fields do.
pub fn check_unique(
    object: &ObjectDef,
    record: &Map<String, Value>,
    except: Option<&str>,
    tx: &Tx<'_>,
) -> Result<(), ApiError> {
    for field in object.fields.iter().filter(|f| f.unique && f.name != "Id") {
        let Some(Value::String(value)) = record.get(&field.name) else {
            continue;
        };
        let holder = tx.list(&object.name, false).into_iter().find(|r| {
            Some(r.id.as_str()) != except
                && r.fields
                    .get(&field.name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
        });
        if let Some(other) = holder {
            return Err(ApiError {
                status: 400,
                errors: vec![
                    SfError::new(
                        "DUPLICATE_VALUE",
                        format!(
                            "duplicate value found: {} duplicates value on record with id: {}",
                            field.name, other.id
                        ),
                    )
                    .with_fields(vec![field.name.clone()]),
                ],
            });
        }
    }
    Ok(())
}

/// Values Salesforce derives on every write: compound names, stage-driven flags, Task's
/// IsClosed and AccountId.
pub fn derive(
    object: &ObjectDef,
    record: &mut Map<String, Value>,
    written: &Map<String, Value>,
    tx: &Tx<'_>,
) {
    let text =
        |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    match object.name.as_str() {
        "Contact" | "Lead" | "User" => {
            let name = [text(record, "FirstName"), text(record, "LastName")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            record.insert("Name".into(), json!(name));
        }
        "Opportunity" => {
            if let Some(stage) = text(record, "StageName") {
                let (probability, forecast, closed, won) = stage_info(&stage);
                record.insert("IsClosed".into(), json!(closed));
                record.insert("IsWon".into(), json!(won));
                record.insert("ForecastCategoryName".into(), json!(forecast));
                if !written.contains_key("Probability") && written.contains_key("StageName") {
                    record.insert("Probability".into(), json!(probability as f64));
                }
            }
        }
        "Task" => {
            let closed = text(record, "Status").as_deref() == Some("Completed");
            record.insert("IsClosed".into(), json!(closed));
            let account = task_account(record, tx);
            record.insert(
                "AccountId".into(),
                account.map_or(Value::Null, Value::String),
            );
        }
        _ => {}
    }
}

/// The default stages' probability, forecast category, IsClosed and IsWon.
fn stage_info(stage: &str) -> (u32, &'static str, bool, bool) {
    match stage {
        "Prospecting" | "Qualification" => (10, "Pipeline", false, false),
        "Needs Analysis" => (20, "Pipeline", false, false),
        "Value Proposition" => (50, "Pipeline", false, false),
        "Id. Decision Makers" => (60, "Pipeline", false, false),
        "Perception Analysis" => (70, "Pipeline", false, false),
        "Proposal/Price Quote" => (75, "Pipeline", false, false),
        "Negotiation/Review" => (90, "Commit", false, false),
        "Closed Won" => (100, "Closed", true, true),
        "Closed Lost" => (0, "Omitted", true, false),
        _ => (0, "Pipeline", false, false),
    }
}

fn task_account(record: &Map<String, Value>, tx: &Tx<'_>) -> Option<String> {
    let parent_account = |id: &str| -> Option<String> {
        let r = tx.get(id)?;
        match r.object.as_str() {
            "Account" => Some(r.id.clone()),
            _ => r.fields.get("AccountId")?.as_str().map(str::to_string),
        }
    };
    let what = record.get("WhatId").and_then(Value::as_str);
    let who = record.get("WhoId").and_then(Value::as_str);
    what.and_then(parent_account)
        .or_else(|| who.and_then(parent_account))
}

/// Picklist defaults and defaulted booleans for a new record.
pub fn apply_defaults(object: &ObjectDef, record: &mut Map<String, Value>) {
    for field in &object.fields {
        let unset = record.get(&field.name).is_none_or(Value::is_null);
        if !unset {
            continue;
        }
        if let Some(d) = &field.default {
            record.insert(field.name.clone(), json!(d));
        } else if field.kind == "boolean" {
            let on = field.name == "IsActive";
            record.insert(field.name.clone(), json!(on));
        }
    }
}
