//! Typed mirrors of Salesforce's REST JSON, deserialized once at the edge. Only the keys
//! crmbot reads are named; everything has a default so a sparse answer still parses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /sobjects/{O}/describe`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SObjectDescribe {
    pub name: String,
    pub label: String,
    pub key_prefix: Option<String>,
    pub createable: bool,
    pub updateable: bool,
    pub queryable: bool,
    pub fields: Vec<DescribeField>,
}

/// One field of a describe.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct DescribeField {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
    pub length: u64,
    pub createable: bool,
    pub updateable: bool,
    pub nillable: bool,
    pub defaulted_on_create: bool,
    pub picklist_values: Vec<PicklistEntry>,
    pub restricted_picklist: bool,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub external_id: bool,
    pub calculated: bool,
    pub filterable: bool,
    pub sortable: bool,
}

/// One picklist value; `value` is what is sent, `label` what people see.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct PicklistEntry {
    pub value: String,
    pub label: String,
    pub active: bool,
    pub default_value: bool,
}

/// A query's rows, every page followed (up to the row cap), `attributes` removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueryResult {
    /// Salesforce's `totalSize`: rows the query matched in all.
    pub total_size: u64,
    pub done: bool,
    /// True when the row cap stopped paging before Salesforce was done.
    pub truncated: bool,
    pub records: Vec<Map<String, Value>>,
}

/// The answer to a create (and each row of a collection).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SaveResult {
    pub id: Option<String>,
    pub success: bool,
    pub errors: Vec<Value>,
    pub created: Option<bool>,
}

/// The answer to an upsert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpsertResult {
    pub id: String,
    /// True when no record matched and one was created.
    pub created: bool,
}

/// `POST /composite`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeRequest {
    pub all_or_none: bool,
    pub collate_subrequests: bool,
    #[serde(rename = "compositeRequest")]
    pub subrequests: Vec<CompositeSubrequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeSubrequest {
    /// GET, POST, PATCH, PUT or DELETE.
    pub method: String,
    /// Starts with `/services/data/vXX.X/`; see `SalesforceClient::sobject_url`/`query_url`.
    pub url: String,
    pub reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct CompositeResponse {
    #[serde(rename = "compositeResponse", default)]
    pub responses: Vec<CompositeSubresponse>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct CompositeSubresponse {
    pub body: Value,
    pub http_status_code: u16,
    pub reference_id: String,
}

/// `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

/// What a client has spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// The org's usage from the last response that carried it.
    pub api_usage: Option<ApiUsage>,
}

/// Parses `api-usage=18/5000` (and ignores `per-app-api-usage=...`).
pub fn parse_limit_info(header: &str) -> Option<ApiUsage> {
    header.split([';', ',']).find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        if key.trim() != "api-usage" {
            return None;
        }
        let (used, max) = value.trim().split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

/// The records of a query answer (a `/query` body or a composite query subresponse), with
/// `attributes` removed at every level.
pub fn query_records(body: &Value) -> Vec<Map<String, Value>> {
    body["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| match strip_attributes(r.clone()) {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .collect()
}

fn strip_attributes(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != "attributes")
                .map(|(k, v)| (k, strip_attributes(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn limit_info_is_read_with_or_without_per_app_usage() {
        assert_eq!(
            parse_limit_info("api-usage=18/5000"),
            Some(ApiUsage {
                used: 18,
                max: 5000
            })
        );
        assert_eq!(
            parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=sample)"),
            Some(ApiUsage {
                used: 25,
                max: 5000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=x)"),
            None
        );
    }

    #[test]
    fn attributes_are_stripped_from_records_and_parents() {
        let body = json!({"totalSize": 1, "done": true, "records": [
            {"attributes": {"type": "Opportunity"}, "Id": "006", "Owner": {"attributes": {"type": "User"}, "Name": "Dana Lee"}, "Account": null}
        ]});
        let records = query_records(&body);
        assert_eq!(
            Value::Object(records[0].clone()),
            json!({"Id": "006", "Owner": {"Name": "Dana Lee"}, "Account": null})
        );
    }
}
