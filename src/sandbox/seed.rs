//! Seed data: the demo org loaded into an empty sandbox (compiled in from
//! `default_seed.json`), or a user's own file.
//!
//! # Seed file format (JSON)
//!
//! ```json
//! {"api_user": "integration",
//!  "records": [
//!    {"object": "User", "ref": "integration",
//!     "fields": {"FirstName": "Integration", "LastName": "User", "Email": "i@x.example",
//!                "Username": "integration@crmbot.sandbox"}},
//!    {"object": "Account", "ref": "apex", "fields": {"Name": "Apex Corp", "OwnerId": "@integration"}},
//!    {"object": "Opportunity", "ref": "apex_deal",
//!     "fields": {"Name": "Apex - Expansion", "AccountId": "@apex", "StageName": "Qualification",
//!                "Amount": 20000, "CloseDate": "this_month_end"}}]}
//! ```
//!
//! - `ref` (optional) names a record; `"@ref"` as a value is that record's id. Seeded ids are deterministic: key prefix + `Sd0` + the record's
//!   1-based position, zero-padded (`ids::seeded`); `RunningSandbox::seed_ids()` maps refs to ids.
//!   References are validated like API writes, so a ref must name an earlier record.
//! - `access` (optional) gives users fewer rights than the API user: see the `access`
//!   module (`{"sam": {"read_only": ["Opportunity"], "private": true, "shared": ["apex"]}}`).
//! - `api_user` is the ref of the User the API acts as (owner and creator of new records);
//!   default: the first User. Without any User a "Sandbox Admin" user is added.
//! - Date and dateTime fields accept ISO values or dates relative to the sandbox's today:
//!   `today`, `+Nd` / `-Nd`, `this_month_start`, `this_month_end`, `last_month_end`,
//!   `next_month_start`, `next_month_end`, `this_quarter_end` (dateTimes get 09:00 UTC).
//! - Read-only system fields such as CreatedDate may be set; everything else is validated
//!   like an API write (picklists, lengths, references), so a bad seed fails at start.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SandboxError;
use super::access::{self, AccessSpec, AccessTable};
use super::ids;
use super::records::{self, WriteCtx};
use super::schema::Schema;
use super::store::Tx;
use super::validate::Mode;

const DEFAULT_SEED: &str = include_str!("default_seed.json");

/// A seed file.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedFile {
    #[serde(default)]
    pub api_user: Option<String>,
    #[serde(default)]
    pub records: Vec<SeedRecord>,
    /// Per-user permissions (`access` module): user ref -> what they may do.
    #[serde(default)]
    pub access: BTreeMap<String, AccessSpec>,
}

/// One seeded record.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedRecord {
    pub object: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl SeedFile {
    pub fn default_seed() -> Result<SeedFile, SandboxError> {
        serde_json::from_str(DEFAULT_SEED)
            .map_err(|e| SandboxError::Seed(format!("built-in seed: {e}")))
    }

    pub fn empty() -> SeedFile {
        SeedFile {
            api_user: None,
            records: Vec::new(),
            access: BTreeMap::new(),
        }
    }
}

/// What loading produced: the API user's id and every ref's id.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub api_user: String,
    pub ids: BTreeMap<String, String>,
    pub access: AccessTable,
}

/// Loads a seed into a transaction.
pub fn load(
    schema: &Schema,
    tx: &mut Tx<'_>,
    mut seed: SeedFile,
    today: NaiveDate,
) -> Result<Seeded, SandboxError> {
    if !seed.records.iter().any(|r| r.object == "User") {
        seed.records.insert(0, admin_user());
    }
    let mut ids_by_ref = BTreeMap::new();
    let mut assigned = Vec::new();
    for (i, record) in seed.records.iter().enumerate() {
        let object = schema.object(&record.object).ok_or_else(|| {
            SandboxError::Seed(format!(
                "record {}: unknown object {}",
                i + 1,
                record.object
            ))
        })?;
        let id = ids::seeded(&object.key_prefix, i + 1);
        if let Some(r) = &record.reference
            && ids_by_ref.insert(r.clone(), id.clone()).is_some()
        {
            return Err(SandboxError::Seed(format!("ref '{r}' is used twice")));
        }
        assigned.push(id);
    }
    let api_user = match &seed.api_user {
        Some(r) => ids_by_ref
            .get(r)
            .cloned()
            .ok_or_else(|| SandboxError::Seed(format!("api_user '{r}' names no record")))?,
        None => seed
            .records
            .iter()
            .zip(&assigned)
            .find(|(r, _)| r.object == "User")
            .map(|(_, id)| id.clone())
            .unwrap_or_default(),
    };
    let ctx = WriteCtx {
        schema,
        user_id: &api_user,
        now: Utc::now(),
        version: "v62.0",
        allow_save: true,
        access: None,
    };
    for (i, (record, id)) in seed.records.iter().zip(&assigned).enumerate() {
        let object = schema
            .object(&record.object)
            .ok_or_else(|| SandboxError::Seed(format!("unknown object {}", record.object)))?;
        let mut fields = Map::new();
        for (k, v) in &record.fields {
            let kind = object.field(k).map(|f| f.kind.as_str()).unwrap_or_default();
            let value = resolve(v, kind, &ids_by_ref, today)
                .map_err(|e| SandboxError::Seed(format!("record {} field {k}: {e}", i + 1)))?;
            fields.insert(k.clone(), value);
        }
        fields.insert("Id".into(), json!(id));
        records::create(&ctx, tx, &object.name, &Value::Object(fields), Mode::Seed).map_err(
            |e| {
                let detail: Vec<String> = e
                    .errors
                    .iter()
                    .map(|x| format!("{}: {}", x.code, x.message))
                    .collect();
                SandboxError::Seed(format!(
                    "record {} ({}): {}",
                    i + 1,
                    record.object,
                    detail.join("; ")
                ))
            },
        )?;
    }
    let access = access::resolve(&seed.access, &ids_by_ref).map_err(SandboxError::Seed)?;
    Ok(Seeded {
        api_user,
        ids: ids_by_ref,
        access,
    })
}

fn admin_user() -> SeedRecord {
    SeedRecord {
        object: "User".into(),
        reference: Some("admin".into()),
        fields:
            json!({"FirstName": "Sandbox", "LastName": "Admin", "Email": "admin@crmbot.sandbox",
                       "Username": "admin@crmbot.sandbox", "Alias": "admin"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

fn resolve(
    value: &Value,
    kind: &str,
    refs: &BTreeMap<String, String>,
    today: NaiveDate,
) -> Result<Value, String> {
    let Value::String(s) = value else {
        return Ok(value.clone());
    };
    if let Some(r) = s.strip_prefix('@') {
        return refs
            .get(r)
            .map(|id| json!(id))
            .ok_or_else(|| format!("unknown ref '@{r}'"));
    }
    if kind != "date" && kind != "datetime" {
        return Ok(value.clone());
    }
    let Some(date) = relative_date(s, today) else {
        return Ok(value.clone());
    };
    Ok(match kind {
        "date" => json!(date.format("%Y-%m-%d").to_string()),
        _ => json!(format!("{}T09:00:00.000+0000", date.format("%Y-%m-%d"))),
    })
}

/// A relative date word resolved against today, or None for anything else.
pub fn relative_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let month_start = |d: NaiveDate| d.with_day(1);
    let next_month =
        |d: NaiveDate| month_start(d).and_then(|m| m.checked_add_months(chrono::Months::new(1)));
    match text {
        "today" => Some(today),
        "this_month_start" => month_start(today),
        "this_month_end" => next_month(today).map(|d| d - Duration::days(1)),
        "last_month_end" => month_start(today).map(|d| d - Duration::days(1)),
        "next_month_start" => next_month(today),
        "next_month_end" => next_month(today)
            .and_then(next_month)
            .map(|d| d - Duration::days(1)),
        "this_quarter_end" => {
            let q_last_month = (today.month0() / 3) * 3 + 3;
            let (y, m) = if q_last_month == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), q_last_month + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1).map(|d| d - Duration::days(1))
        }
        _ => {
            let days = text.strip_suffix('d')?;
            let n: i64 = days.parse().ok()?;
            (days.starts_with('+') || days.starts_with('-')).then(|| today + Duration::days(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_resolve_against_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let d = |s: &str| relative_date(s, today).map(|d| d.to_string());
        assert_eq!(d("this_month_end").as_deref(), Some("2026-11-30"));
        assert_eq!(d("this_quarter_end").as_deref(), Some("2026-12-31"));
        assert_eq!(d("last_month_end").as_deref(), Some("2026-10-31"));
        assert_eq!(d("next_month_end").as_deref(), Some("2026-12-31"));
        assert_eq!(d("-10d").as_deref(), Some("2026-11-15"));
        assert_eq!(d("2026-01-01"), None);
    }
}
