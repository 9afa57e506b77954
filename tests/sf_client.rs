//! The Salesforce client against a local fake that records every request and answers from a
//! script: the exact requests sent, errors decoded, retries only where safe, limit info kept,
//! and describe fetched once under concurrency.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crmbot::config::SalesforceSettings;
use crmbot::salesforce::{
    CompositeRequest, CompositeSubrequest, SalesforceClient, SalesforceError,
};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    body: Value,
}

/// A scripted answer: status, body, extra headers. Paths not scripted get `default`.
#[derive(Clone)]
struct Reply(u16, String, Vec<(&'static str, String)>);

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Option<Reply>>>,
    delay: Arc<Mutex<Duration>>,
}

impl Fake {
    async fn start() -> (Fake, SalesforceClient) {
        let fake = Fake::default();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let settings = SalesforceSettings {
            instance_url: Some(format!("http://{addr}").parse().unwrap()),
            access_token: Some(SecretString::from("00Dtest!token")),
            max_retries: 2,
            max_rows: 5,
            ..SalesforceSettings::default()
        };
        (fake, SalesforceClient::new(&settings).unwrap())
    }

    fn then(&self, status: u16, body: &str) -> &Self {
        self.script
            .lock()
            .unwrap()
            .push_back(Reply(status, body.to_string(), vec![]));
        self
    }

    fn then_with(&self, status: u16, body: &str, header: (&'static str, &str)) -> &Self {
        self.script.lock().unwrap().push_back(Reply(
            status,
            body.to_string(),
            vec![(header.0, header.1.to_string())],
        ));
        self
    }

    fn always(&self, status: u16, body: &str) {
        *self.default.lock().unwrap() = Some(Reply(status, body.to_string(), vec![]));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(fake): State<Fake>, headers: HeaderMap, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    fake.seen.lock().unwrap().push(Seen {
        method,
        path,
        query,
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let delay = *fake.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = fake
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| fake.default.lock().unwrap().clone())
        .unwrap_or(Reply(404, "[]".into(), vec![]));
    let mut response = (
        StatusCode::from_u16(reply.0).unwrap(),
        [("content-type", "application/json")],
        reply.1,
    )
        .into_response();
    for (name, value) in reply.2 {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn create_sends_the_fields_with_the_bearer_token() {
    let (fake, client) = Fake::start().await;
    fake.then(
        201,
        r#"{"id":"00Q000000000001AAA","success":true,"errors":[]}"#,
    );
    let saved = client
        .create(
            "Lead",
            &fields(json!({"LastName": "Reed", "Company": "Apex Corp"})),
        )
        .await
        .unwrap();
    assert_eq!(saved.id.as_deref(), Some("00Q000000000001AAA"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/services/data/v62.0/sobjects/Lead/");
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer 00Dtest!token"));
    assert_eq!(
        seen[0].body,
        json!({"LastName": "Reed", "Company": "Apex Corp"})
    );
}

#[tokio::test]
async fn update_is_a_patch_answered_with_no_content() {
    let (fake, client) = Fake::start().await;
    fake.then(204, "");
    client
        .update(
            "Opportunity",
            "006000000000001AAA",
            &fields(json!({"StageName": "Closed Won"})),
        )
        .await
        .unwrap();
    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        (
            "PATCH",
            "/services/data/v62.0/sobjects/Opportunity/006000000000001AAA"
        )
    );
    assert_eq!(seen[0].body, json!({"StageName": "Closed Won"}));
}

#[tokio::test]
async fn upsert_reports_created_updated_and_several_matches() {
    let (fake, client) = Fake::start().await;
    fake.then(201, r#"{"id":"001A","success":true,"errors":[],"created":true}"#)
        .then(200, r#"{"id":"001A","success":true,"errors":[],"created":false}"#)
        .then(300, r#"["/services/data/v62.0/sobjects/Account/001A","/services/data/v62.0/sobjects/Account/001B"]"#);
    let body = fields(json!({"Name": "Apex Corp"}));
    let first = client
        .upsert("Account", "Crmbot_Key__c", "apex corp/1", &body)
        .await
        .unwrap();
    assert!(first.created);
    let second = client
        .upsert("Account", "Crmbot_Key__c", "apex corp/1", &body)
        .await
        .unwrap();
    assert!(!second.created);
    let third = client
        .upsert("Account", "Crmbot_Key__c", "apex corp/1", &body)
        .await;
    assert!(
        matches!(third, Err(SalesforceError::MultipleMatches { .. })),
        "{third:?}"
    );
    assert_eq!(
        fake.seen()[0].path,
        "/services/data/v62.0/sobjects/Account/Crmbot_Key__c/apex%20corp%2F1"
    );
}

#[tokio::test]
async fn query_follows_next_records_url_up_to_the_row_cap() {
    let (fake, client) = Fake::start().await;
    let page = |ids: &[&str], next: Option<&str>| {
        let records: Vec<Value> = ids
            .iter()
            .map(|id| json!({"attributes": {"type": "Lead"}, "Id": id}))
            .collect();
        let mut body = json!({"totalSize": 8, "done": next.is_none(), "records": records});
        if let Some(n) = next {
            body["nextRecordsUrl"] = json!(n);
        }
        body.to_string()
    };
    fake.then(
        200,
        &page(&["1", "2", "3"], Some("/services/data/v62.0/query/01gX-3")),
    )
    .then(
        200,
        &page(&["4", "5", "6"], Some("/services/data/v62.0/query/01gX-6")),
    );
    let result = client
        .query("SELECT Id FROM Lead WHERE Email = 'a@b.c'")
        .await
        .unwrap();
    let ids: Vec<&str> = result
        .records
        .iter()
        .map(|r| r["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"], "cut at max_rows = 5");
    assert!(result.truncated);
    assert!(result.records.iter().all(|r| !r.contains_key("attributes")));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "stops paging at the cap");
    assert_eq!(seen[0].path, "/services/data/v62.0/query");
    assert_eq!(
        seen[0].query.as_deref(),
        Some("q=SELECT+Id+FROM+Lead+WHERE+Email+%3D+%27a%40b.c%27")
    );
    assert_eq!(seen[1].path, "/services/data/v62.0/query/01gX-3");
}

#[tokio::test]
async fn a_next_records_url_on_another_host_is_not_followed() {
    let (fake, client) = Fake::start().await;
    fake.then(
        200,
        r#"{"totalSize":4,"done":false,"nextRecordsUrl":"https://evil.example/steal","records":[{"Id":"1"}]}"#,
    );
    let err = client.query("SELECT Id FROM Lead").await.unwrap_err();
    assert!(matches!(err, SalesforceError::Decode(_)), "{err:?}");
    assert_eq!(fake.seen().len(), 1, "the token went nowhere else");
}

#[tokio::test]
async fn composite_posts_the_subrequests_in_salesforce_shape() {
    let (fake, client) = Fake::start().await;
    fake.then(200, r#"{"compositeResponse":[{"body":{"id":"001A","success":true,"errors":[]},"httpHeaders":{},"httpStatusCode":201,"referenceId":"acct"}]}"#);
    let request = CompositeRequest {
        all_or_none: true,
        collate_subrequests: false,
        subrequests: vec![CompositeSubrequest {
            method: "POST".into(),
            url: client.sobject_url("Account"),
            reference_id: "acct".into(),
            body: Some(json!({"Name": "Apex Corp"})),
        }],
    };
    let response = client.composite(&request).await.unwrap();
    assert_eq!(response.responses[0].http_status_code, 201);
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/services/data/v62.0/composite");
    assert_eq!(
        seen[0].body,
        json!({"allOrNone": true, "collateSubrequests": false, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Account",
             "referenceId": "acct", "body": {"Name": "Apex Corp"}}]})
    );
}

#[tokio::test]
async fn collections_carry_attributes_type_and_ids() {
    let (fake, client) = Fake::start().await;
    fake.then(200, r#"[{"id":"00Q1","success":true,"errors":[]}]"#)
        .then(200, r#"[{"id":"00Q1","success":true,"errors":[]}]"#);
    client
        .collections_create(
            &[("Lead".into(), fields(json!({"LastName": "Reed"})))],
            true,
        )
        .await
        .unwrap();
    client
        .collections_update(
            &[(
                "Lead".into(),
                "00Q1".into(),
                fields(json!({"Title": "CTO"})),
            )],
            true,
        )
        .await
        .unwrap();
    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/services/data/v62.0/composite/sobjects")
    );
    assert_eq!(
        seen[0].body,
        json!({"allOrNone": true, "records": [{"attributes": {"type": "Lead"}, "LastName": "Reed"}]})
    );
    assert_eq!(seen[1].method, "PATCH");
    assert_eq!(seen[1].body["records"][0]["id"], "00Q1");
}

#[tokio::test]
async fn errors_are_decoded_and_told_apart() {
    let (fake, client) = Fake::start().await;
    fake.then(400, r#"[{"message":"Required fields are missing: [Company]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Company"]}]"#)
        .then(401, r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#)
        .then(403, r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#)
        .then(400, r#"[{"duplicateResut":{"matchResults":[{"matchRecords":[{"record":{"Id":"00Q9"}}]}]},"errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?"}]"#);
    let lead = fields(json!({"LastName": "Reed"}));
    let missing = client.create("Lead", &lead).await.unwrap_err();
    assert!(
        missing.to_string().contains(
            "Required fields are missing: [Company] (REQUIRED_FIELD_MISSING, field Company)"
        ),
        "{missing}"
    );
    assert!(matches!(
        client.create("Lead", &lead).await,
        Err(SalesforceError::Unauthorized { .. })
    ));
    assert!(matches!(
        client.create("Lead", &lead).await,
        Err(SalesforceError::LimitExceeded { .. })
    ));
    match client.create("Lead", &lead).await {
        Err(SalesforceError::Rejected { errors, .. }) => assert_eq!(errors[0].duplicates, ["00Q9"]),
        other => panic!("expected a duplicate rejection, got {other:?}"),
    }
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.auth.as_deref() == Some("Bearer 00Dtest!token")),
        "the token is only ever in the header"
    );
    assert!(!missing.to_string().contains("token"));
}

#[tokio::test]
async fn reads_are_retried_on_503_and_writes_never_are() {
    let (fake, client) = Fake::start().await;
    fake.then(503, "<html><body>Service Unavailable</body></html>")
        .then(200, r#"{"totalSize":0,"done":true,"records":[]}"#);
    let result = client.query("SELECT Id FROM Lead").await.unwrap();
    assert!(result.records.is_empty());
    assert_eq!(fake.seen().len(), 2, "one retry after the 503");

    fake.then(503, "<html>down</html>");
    let err = client
        .create("Lead", &fields(json!({"LastName": "Reed"})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SalesforceError::Unavailable { status: 503 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("try again"), "{err}");
    assert_eq!(fake.seen().len(), 3, "the create was sent once");
}

#[tokio::test]
async fn a_read_gives_up_after_the_configured_retries_honouring_retry_after() {
    let (fake, client) = Fake::start().await;
    fake.then_with(429, "[]", ("retry-after", "0"));
    fake.always(
        503,
        r#"[{"message":"maintenance","errorCode":"SERVER_UNAVAILABLE"}]"#,
    );
    let err = client.query("SELECT Id FROM Lead").await.unwrap_err();
    assert!(
        matches!(err, SalesforceError::Unavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        fake.seen().len(),
        3,
        "the first try and max_retries = 2 more"
    );
}

#[tokio::test]
async fn a_composite_of_reads_may_be_retried_but_one_with_a_write_may_not() {
    let (fake, client) = Fake::start().await;
    fake.then(503, "[]")
        .then(200, r#"{"compositeResponse":[]}"#);
    let read = |method: &str| CompositeRequest {
        all_or_none: false,
        collate_subrequests: false,
        subrequests: vec![CompositeSubrequest {
            method: method.into(),
            url: client.query_url("SELECT Id FROM Lead"),
            reference_id: "q".into(),
            body: None,
        }],
    };
    client.composite(&read("GET")).await.unwrap();
    assert_eq!(fake.seen().len(), 2);
    fake.then(503, "[]");
    assert!(client.composite(&read("POST")).await.is_err());
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn limit_info_is_kept_from_the_last_response() {
    let (fake, client) = Fake::start().await;
    fake.then_with(
        200,
        r#"{"totalSize":0,"done":true,"records":[]}"#,
        ("sforce-limit-info", "api-usage=18/5000"),
    );
    client.query("SELECT Id FROM Lead").await.unwrap();
    let stats = client.stats();
    assert_eq!(stats.requests, 1);
    let usage = stats.api_usage.unwrap();
    assert_eq!((usage.used, usage.max), (18, 5000));
}

#[tokio::test]
async fn describe_is_fetched_once_per_object_under_100_concurrent_callers() {
    let (fake, client) = Fake::start().await;
    *fake.delay.lock().unwrap() = Duration::from_millis(50);
    fake.always(
        200,
        r#"{"name":"Lead","label":"Lead","keyPrefix":"00Q","fields":[{"name":"Email","label":"Email","type":"email","length":80,"createable":true,"updateable":true,"nillable":true}]}"#,
    );
    let calls = (0..100).map(|i| {
        let client = client.clone();
        let object = if i % 2 == 0 { "Lead" } else { "Contact" };
        tokio::spawn(async move { client.describe(object).await })
    });
    for call in futures::future::join_all(calls).await {
        let describe = call.unwrap().unwrap();
        assert_eq!(describe.fields[0].field_type, "email");
    }
    let mut paths: Vec<String> = fake.seen().into_iter().map(|s| s.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/services/data/v62.0/sobjects/Contact/describe",
            "/services/data/v62.0/sobjects/Lead/describe"
        ]
    );
}

#[tokio::test]
async fn describe_is_fetched_again_after_its_ttl() {
    let fake = Fake::default();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = SalesforceClient::new(&SalesforceSettings {
        instance_url: Some(format!("http://{addr}").parse().unwrap()),
        access_token: Some(SecretString::from("t")),
        describe_ttl: Duration::from_millis(200),
        ..SalesforceSettings::default()
    })
    .unwrap();
    fake.always(200, r#"{"name":"Lead","fields":[]}"#);
    client.describe("Lead").await.unwrap();
    client.describe("Lead").await.unwrap();
    assert_eq!(fake.seen().len(), 1, "second call from cache");
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.describe("Lead").await.unwrap();
    assert_eq!(fake.seen().len(), 2, "fetched again once the TTL passed");
}
