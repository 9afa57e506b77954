//! Several SOQL queries in as few requests as Salesforce allows: one composite request of
//! GET subrequests per five queries (its cap on query subrequests). The duplicate check of
//! a draft and the settle check of an unknown write both read Salesforce this way.

use super::client::SalesforceClient;
use super::error::SalesforceError;
use super::types::{CompositeRequest, CompositeSubrequest, CompositeSubresponse};

/// Query subrequests one composite request may carry.
pub const QUERIES_PER_COMPOSITE: usize = 5;

impl SalesforceClient {
    /// Runs `soqls` in composite requests of at most [`QUERIES_PER_COMPOSITE`]; returns one
    /// subresponse per query, in order (each with its own status: a query Salesforce
    /// refused is the caller's to judge), and the number of requests made. An answer
    /// without a query's subresponse is an error.
    pub async fn query_composite(
        &self,
        soqls: &[&str],
    ) -> Result<(Vec<CompositeSubresponse>, u32), SalesforceError> {
        let mut out = Vec::with_capacity(soqls.len());
        let mut requests = 0;
        for chunk in soqls.chunks(QUERIES_PER_COMPOSITE) {
            let request = CompositeRequest {
                all_or_none: false,
                collate_subrequests: false,
                subrequests: chunk
                    .iter()
                    .enumerate()
                    .map(|(i, soql)| CompositeSubrequest {
                        method: "GET".into(),
                        url: self.query_url(soql),
                        reference_id: format!("q{i}"),
                        body: None,
                    })
                    .collect(),
            };
            let mut response = self.composite(&request).await?;
            requests += 1;
            for (i, soql) in chunk.iter().enumerate() {
                let reference = format!("q{i}");
                let at = response
                    .responses
                    .iter()
                    .position(|s| s.reference_id == reference)
                    .ok_or_else(|| SalesforceError::missing_subresponse(soql))?;
                out.push(response.responses.swap_remove(at));
            }
        }
        Ok((out, requests))
    }
}
