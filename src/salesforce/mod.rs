//! Salesforce over its REST API: one client for every call crmbot makes (describe, query,
//! writes). Knows nothing of Slack. (The local Salesforce the tests and the demo talk to is a
//! server of its own: `crate::sandbox`.)

mod auth;
mod client;
mod error;
mod queries;
mod types;

pub use auth::{Auth, DEFAULT_LOGIN_URL, key_exposure};
pub use client::SalesforceClient;
pub use error::{ApiError, SalesforceError, decode_errors};
pub use queries::QUERIES_PER_COMPOSITE;
pub use types::{
    ApiUsage, ClientStats, CompositeRequest, CompositeResponse, CompositeSubrequest,
    CompositeSubresponse, DescribeField, PicklistEntry, QueryResult, SObjectDescribe, SaveResult,
    UpsertResult, parse_limit_info, query_records,
};
