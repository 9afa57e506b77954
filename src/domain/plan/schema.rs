//! The `QuerySchema`: what a plan may read. Built by the caller from the configured
//! allowlist and the org's describe; here only data and lookups (names match
//! case-insensitively, the canonical spelling is returned).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::schema::FieldKind;

/// What a plan may read: the objects and fields crmbot may query, keyed by object API name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QuerySchema {
    pub objects: BTreeMap<String, QueryObject>,
}

/// One object a plan may query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryObject {
    /// API name, exactly as the org spells it.
    pub name: String,
    pub label: String,
    pub fields: Vec<QueryField>,
}

/// One readable field, or a one-level parent path such as `Account.Name`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryField {
    /// `Amount`, `Account.Name`, `Owner.Name`, `OwnerId`.
    pub path: String,
    pub label: String,
    pub kind: FieldKind,
    /// Allowed values of a picklist (empty = unrestricted).
    pub picklist: Vec<String>,
    /// False for long text areas and other fields SOQL cannot filter on.
    pub filterable: bool,
    pub sortable: bool,
    /// `OwnerId` / `Owner.Id`: the only fields on which `"$me"` is allowed.
    pub is_owner: bool,
}

impl QuerySchema {
    /// The object with this API name, matched case-insensitively.
    pub fn object(&self, name: &str) -> Option<&QueryObject> {
        let name = name.trim();
        self.objects.get(name).or_else(|| {
            self.objects
                .values()
                .find(|o| o.name.eq_ignore_ascii_case(name))
        })
    }
}

impl QueryObject {
    /// The field at this path, matched case-insensitively.
    pub fn field(&self, path: &str) -> Option<&QueryField> {
        let path = path.trim();
        self.fields
            .iter()
            .find(|f| f.path.eq_ignore_ascii_case(path))
    }
}
