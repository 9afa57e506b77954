//! Per-user permissions, from the seed's `access` table: objects a user may read but not
//! create, edit or delete (Salesforce answers `INSUFFICIENT_ACCESS_OR_READONLY`), and a
//! private flag under which the user sees only the records they own or that are shared to
//! them (an org-wide default of Private with manual shares). Users without an entry — the
//! API user among them — see and edit everything the schema allows.
//!
//! ```json
//! {"access": {"sam": {"read_only": ["Opportunity"], "private": true, "shared": ["apex"]}}}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::errors::ApiError;

/// One user's entry in the seed (refs, not ids).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    #[serde(default)]
    pub read_only: Vec<String>,
    #[serde(default)]
    pub private: bool,
    /// Refs of records shared to the user.
    #[serde(default)]
    pub shared: Vec<String>,
}

/// What one user may do, by ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAccess {
    pub user_id: String,
    pub read_only: BTreeSet<String>,
    pub private: bool,
    pub shared: BTreeSet<String>,
}

/// Every user's access, by User id.
pub type AccessTable = BTreeMap<String, UserAccess>;

impl UserAccess {
    /// Whether the user may create, edit or delete records of `object`.
    pub fn may_edit(&self, object: &str) -> bool {
        !self
            .read_only
            .iter()
            .any(|o| o.eq_ignore_ascii_case(object))
    }

    /// Whether the user sees a record (its stored fields).
    pub fn sees(&self, fields: &Map<String, Value>) -> bool {
        if !self.private {
            return true;
        }
        let owner = fields.get("OwnerId").and_then(Value::as_str);
        let id = fields.get("Id").and_then(Value::as_str).unwrap_or_default();
        // Records without an owner (Users) are visible to everyone.
        owner.is_none_or(|o| o == self.user_id) || self.shared.contains(id)
    }
}

/// Salesforce's answer to a write the user's permissions do not allow.
pub fn denied(what: &str) -> ApiError {
    ApiError::bad(
        "INSUFFICIENT_ACCESS_OR_READONLY",
        format!("insufficient access rights on object id: {what}"),
    )
}

/// Checks a write of `object` (and, for an existing record, that the user sees it).
pub fn check_write(
    access: Option<&UserAccess>,
    object: &str,
    existing: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let Some(access) = access else {
        return Ok(());
    };
    let id = existing
        .and_then(|f| f.get("Id"))
        .and_then(Value::as_str)
        .unwrap_or(object);
    if !access.may_edit(object) || existing.is_some_and(|f| !access.sees(f)) {
        return Err(denied(id));
    }
    Ok(())
}

/// Resolves the seed's table (user refs, record refs) to ids.
pub fn resolve(
    specs: &BTreeMap<String, AccessSpec>,
    ids: &BTreeMap<String, String>,
) -> Result<AccessTable, String> {
    let id_of = |r: &str| {
        ids.get(r)
            .cloned()
            .ok_or_else(|| format!("access: '{r}' names no seeded record"))
    };
    let mut table = AccessTable::new();
    for (user, spec) in specs {
        let user_id = id_of(user)?;
        let shared = spec
            .shared
            .iter()
            .map(|r| id_of(r))
            .collect::<Result<_, _>>()?;
        table.insert(
            user_id.clone(),
            UserAccess {
                user_id,
                read_only: spec.read_only.iter().cloned().collect(),
                private: spec.private,
                shared,
            },
        );
    }
    Ok(table)
}
