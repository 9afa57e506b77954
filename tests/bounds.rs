//! Every outbound answer is bounded: an answer larger than crmbot reads is refused without
//! being read whole, whatever the other side sends.

use axum::body::Body;
use axum::response::Response;
use futures::stream;
use secrecy::SecretString;

use crmbot::config::{LlmProvider, LlmSettings, SalesforceSettings};
use crmbot::domain::notes::Notes;
use crmbot::domain::schema::CrmSchema;
use crmbot::llm::{DraftRequest, Llm, LlmError};
use crmbot::salesforce::{SalesforceClient, SalesforceError};

/// A server answering every request with `megabytes` of JSON-looking text, streamed in
/// chunks without a Content-Length.
async fn huge(megabytes: usize) -> String {
    let app = axum::Router::new().fallback(move || async move {
        let chunk = format!("[{}]", "1,".repeat(499_998));
        let chunks = (0..megabytes).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(stream::iter(chunks)))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_salesforce_answer_beyond_the_cap_is_refused() {
    let url = huge(3).await;
    let settings = SalesforceSettings {
        instance_url: Some(url.parse().unwrap()),
        access_token: Some(SecretString::from("t")),
        max_response_bytes: 1_000_000,
        max_retries: 0,
        ..SalesforceSettings::default()
    };
    let client = SalesforceClient::new(&settings).unwrap();
    let err = client.query("SELECT Id FROM Lead").await.unwrap_err();
    assert!(
        matches!(err, SalesforceError::TooLarge { limit_mb: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("salesforce.max_response_bytes"));
}

#[tokio::test]
async fn a_model_answer_beyond_the_cap_is_refused() {
    let url = huge(6).await;
    let settings = LlmSettings {
        provider: Some(LlmProvider::Openai),
        base_url: Some(format!("{url}/v1").parse().unwrap()),
        max_retries: 0,
        ..LlmSettings::default()
    };
    let llm = Llm::from_settings(&settings).unwrap();
    let notes = Notes::new("Met Daniel Reed");
    let schema = CrmSchema::default();
    let req = DraftRequest {
        notes: &notes,
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        schema: &schema,
        max_records: 50,
    };
    let err = llm.draft(&req, &|_| Ok(())).await.unwrap_err();
    assert!(matches!(err, LlmError::TooLarge { .. }), "{err}");
}
