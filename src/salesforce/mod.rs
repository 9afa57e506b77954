//! Salesforce over its REST API: one client for every call crmbot makes (describe, query,
//! writes), and `sandbox`, a local server speaking the same shapes for tests and the demo.
//! Knows nothing of Slack.
//!
//! Contract used by `flow` (keep these names):
//! - `SalesforceClient::new(&SalesforceSettings) -> Result<SalesforceClient, SalesforceError>`
//! - `describe(&self, object) -> Result<Arc<SObjectDescribe>, SalesforceError>` (cached)
//! - `query(&self, soql) -> Result<QueryResult, SalesforceError>` (pages, row cap)
//! - `composite(&self, &CompositeRequest) -> Result<CompositeResponse, SalesforceError>`
//! - `create`, `update`, `upsert`, `collections_create`, `collections_update`
//! - `stats(&self) -> ClientStats` (requests made, last `Sforce-Limit-Info`)

pub mod sandbox;
