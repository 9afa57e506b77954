//! The standard duplicate rules for Lead and Contact, reduced to what crmbot relies on: a
//! record whose Email equals (case-insensitively) an existing Lead's or Contact's Email is a
//! duplicate. The rules are Alert rules, so `Sforce-Duplicate-Rule-Header: allowSave=true`
//! saves anyway (salesforce.md §7); the error body carries `duplicateResut` (sic).

use serde_json::{Map, Value, json};

use super::errors::{ApiError, SfError};
use super::schema::ObjectDef;
use super::store::Tx;

const MESSAGE: &str =
    "You're creating a duplicate record. We recommend you use an existing record instead.";

/// Whether `allowSave=true` appears in a `Sforce-Duplicate-Rule-Header` value.
pub fn allow_save(header: Option<&str>) -> bool {
    header.is_some_and(|h| {
        h.split([';', ','])
            .filter_map(|part| part.split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("allowSave") && v.trim().eq_ignore_ascii_case("true")
            })
    })
}

/// Fails with DUPLICATES_DETECTED when the record matches another Lead or Contact.
pub fn check(
    tx: &Tx<'_>,
    object: &ObjectDef,
    record: &Map<String, Value>,
    self_id: Option<&str>,
    allow_save: bool,
    version: &str,
) -> Result<(), ApiError> {
    if allow_save || !matches!(object.name.as_str(), "Lead" | "Contact") {
        return Ok(());
    }
    let Some(email) = record.get("Email").and_then(Value::as_str) else {
        return Ok(());
    };
    let mut match_results = Vec::new();
    for (entity, rule) in [
        ("Contact", "Standard_Contact_Match_Rule_v1_1"),
        ("Lead", "Standard_Lead_Match_Rule_v1_0"),
    ] {
        let matches: Vec<Value> = tx
            .list(entity, false)
            .into_iter()
            .filter(|r| Some(r.id.as_str()) != self_id)
            .filter(|r| {
                r.fields
                    .get("Email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|r| {
                json!({"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                       "record": {"attributes": {"type": entity,
                                  "url": format!("/services/data/{version}/sobjects/{entity}/{}", r.id)},
                                  "Id": r.id}})
            })
            .collect();
        if !matches.is_empty() {
            match_results.push(json!({"entityType": entity, "errors": [],
                "matchEngine": "FuzzyMatchEngine", "matchRecords": matches, "rule": rule,
                "size": matches.len(), "success": true}));
        }
    }
    if match_results.is_empty() {
        return Ok(());
    }
    let result = json!({
        "allowSave": true,
        "duplicateRule": format!("Standard_{}_Duplicate_Rule", object.name),
        "duplicateRuleEntityType": object.name,
        "errorMessage": MESSAGE,
        "matchResults": match_results,
    });
    let mut error = SfError::new("DUPLICATES_DETECTED", MESSAGE);
    error.duplicate_result = Some(Box::new(result));
    Err(ApiError {
        status: 400,
        errors: vec![error],
    })
}

#[cfg(test)]
mod tests {
    use super::allow_save;

    #[test]
    fn allow_save_is_read_from_the_header_in_any_case() {
        assert!(allow_save(Some(
            "allowSave=true; includeRecordDetails=true"
        )));
        assert!(allow_save(Some(
            "includeRecordDetails=false;AllowSave = TRUE"
        )));
        assert!(!allow_save(Some("allowSave=false")));
        assert!(!allow_save(None));
    }
}
