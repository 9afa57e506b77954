//! What a write needs to know about the org beyond the draft: which objects carry crmbot's
//! idempotency key field (so a create can be an upsert by key, and a repeated request cannot
//! make a second record), and each written field's type (a later check finds the write by
//! its values, and SOQL writes dates, numbers and text differently). Read from describe,
//! which drafting has already cached.

use std::collections::HashMap;

use crate::salesforce::{SObjectDescribe, SalesforceClient, SalesforceError};

/// The org as one write sees it.
#[derive(Debug, Clone, Default)]
pub struct OrgFacts {
    /// The key field's name, when the admin has not turned keys off.
    key_field: Option<String>,
    objects: HashMap<String, ObjectFacts>,
}

#[derive(Debug, Clone, Default)]
struct ObjectFacts {
    /// The key field exists here as an external id.
    keyed: bool,
    /// Field name -> describe type (`date`, `currency`, `textarea`, ...).
    types: HashMap<String, String>,
}

impl OrgFacts {
    /// Describes (from cache when fresh) each object the write touches.
    pub async fn gather(
        sf: &SalesforceClient,
        objects: &[String],
        key_field: Option<&str>,
    ) -> Result<OrgFacts, SalesforceError> {
        let mut facts = OrgFacts {
            key_field: key_field.filter(|k| !k.is_empty()).map(str::to_string),
            objects: HashMap::new(),
        };
        for object in objects {
            if facts.objects.contains_key(object) {
                continue;
            }
            let describe = sf.describe(object).await?;
            facts.add(&describe);
        }
        Ok(facts)
    }

    /// Adds one object's describe.
    pub fn add(&mut self, describe: &SObjectDescribe) {
        let keyed = self.key_field.as_deref().is_some_and(|k| {
            describe
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(k) && f.external_id)
        });
        let types = describe
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.field_type.clone()))
            .collect();
        self.objects
            .insert(describe.name.clone(), ObjectFacts { keyed, types });
    }

    /// The key field to upsert `object` by, if the org has it there.
    pub fn key(&self, object: &str) -> Option<&str> {
        let keyed = self.objects.get(object).is_some_and(|o| o.keyed);
        self.key_field.as_deref().filter(|_| keyed)
    }

    /// Whether records of `object` have an owner (an OwnerId field). Assumed when the
    /// object's fields are not known.
    pub fn owned(&self, object: &str) -> bool {
        self.objects
            .get(object)
            .is_none_or(|o| o.types.is_empty() || o.types.contains_key("OwnerId"))
    }

    /// A field's describe type, when known.
    pub fn field_type(&self, object: &str, field: &str) -> Option<&str> {
        self.objects
            .get(object)?
            .types
            .get(field)
            .map(String::as_str)
    }

    /// Facts for tests: these objects keyed by `field`, no types known.
    #[cfg(test)]
    pub fn keyed(field: &str, objects: &[&str]) -> OrgFacts {
        OrgFacts {
            key_field: Some(field.to_string()),
            objects: objects
                .iter()
                .map(|o| {
                    (
                        o.to_string(),
                        ObjectFacts {
                            keyed: true,
                            types: HashMap::new(),
                        },
                    )
                })
                .collect(),
        }
    }
}
