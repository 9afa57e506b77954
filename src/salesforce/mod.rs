//! Salesforce over its REST API: one client for every call crmbot makes (describe, query,
//! writes), and `sandbox`, a local server speaking the same shapes for tests and the demo.
//! Knows nothing of Slack.

mod auth;
mod client;
mod error;
pub mod sandbox;
mod types;

pub use auth::{Auth, key_exposure};
pub use client::SalesforceClient;
pub use error::{ApiError, SalesforceError, decode_errors};
pub use types::{
    ApiUsage, ClientStats, CompositeRequest, CompositeResponse, CompositeSubrequest,
    CompositeSubresponse, DescribeField, PicklistEntry, QueryResult, SObjectDescribe, SaveResult,
    UpsertResult, parse_limit_info, query_records,
};
