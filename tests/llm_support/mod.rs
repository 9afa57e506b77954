//! Shared parts of the model-provider tests: a scripted stub server on 127.0.0.1 that
//! records every request, a small schema, and replies in each provider's shape.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::{Value, json};

use crmbot::config::{LlmProvider, LlmSettings};
use crmbot::domain::notes::Notes;
use crmbot::domain::schema::{CrmSchema, FieldKind, FieldSchema, LinkSchema, ObjectSchema};
use crmbot::llm::{DraftRequest, Llm, LlmError};

#[derive(Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// A scripted answer: status, JSON body, one optional header.
pub type Scripted = (u16, Value, Option<(&'static str, &'static str)>);

#[derive(Clone, Default)]
pub struct Stub {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub replies: Arc<Mutex<VecDeque<Scripted>>>,
    /// Waited before each answer (a slow local model).
    pub delay: Arc<Mutex<Option<std::time::Duration>>>,
}

impl Stub {
    pub async fn start() -> (Stub, String) {
        let stub = Stub::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (stub, format!("http://{addr}"))
    }

    pub fn reply(&self, status: u16, body: Value) -> &Self {
        self.replies.lock().unwrap().push_back((status, body, None));
        self
    }

    pub fn reply_with(
        &self,
        status: u16,
        body: Value,
        header: (&'static str, &'static str),
    ) -> &Self {
        self.replies
            .lock()
            .unwrap()
            .push_back((status, body, Some(header)));
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(stub): State<Stub>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 22)
        .await
        .unwrap();
    stub.seen.lock().unwrap().push(Seen {
        path,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    let delay = *stub.delay.lock().unwrap();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, body, header) = stub.replies.lock().unwrap().pop_front().unwrap_or((
        500,
        json!({"error": {"message": "no scripted reply"}}),
        None,
    ));
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some((k, v)) = header {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

pub fn field(name: &str, kind: FieldKind, picklist: &[&str]) -> FieldSchema {
    FieldSchema {
        name: name.into(),
        label: name.into(),
        kind,
        createable: true,
        updateable: true,
        required_on_create: name == "LastName",
        length: None,
        picklist: picklist.iter().map(|s| s.to_string()).collect(),
        restricted_picklist: true,
        free_text: false,
    }
}

pub fn schema() -> CrmSchema {
    let mut s = CrmSchema::default();
    s.objects.insert(
        "Lead".into(),
        ObjectSchema {
            name: "Lead".into(),
            label: "Lead".into(),
            key_prefix: None,
            fields: vec![
                field("FirstName", FieldKind::String, &[]),
                field("LastName", FieldKind::String, &[]),
                field("Company", FieldKind::String, &[]),
                field("Email", FieldKind::Email, &[]),
                field(
                    "Status",
                    FieldKind::Picklist,
                    &["Open - Not Contacted", "Working - Contacted"],
                ),
            ],
            lookup_fields: vec!["Email".into()],
            match_keys: vec![],
            links: vec![],
        },
    );
    s.objects.insert(
        "Account".into(),
        ObjectSchema {
            name: "Account".into(),
            label: "Account".into(),
            key_prefix: None,
            fields: vec![field("Name", FieldKind::String, &[])],
            lookup_fields: vec!["Name".into()],
            match_keys: vec![],
            links: vec![],
        },
    );
    s.objects.insert(
        "Opportunity".into(),
        ObjectSchema {
            name: "Opportunity".into(),
            label: "Opportunity".into(),
            key_prefix: None,
            fields: vec![
                field("Name", FieldKind::String, &[]),
                field(
                    "StageName",
                    FieldKind::Picklist,
                    &["Prospecting", "Closed Won"],
                ),
                field("Amount", FieldKind::Currency, &[]),
                field("CloseDate", FieldKind::Date, &[]),
            ],
            lookup_fields: vec!["Name".into()],
            match_keys: vec![],
            links: vec![LinkSchema {
                relationship: "Account".into(),
                field: "AccountId".into(),
                target: "Account".into(),
            }],
        },
    );
    s
}

pub const DRAFT: &str = r#"{"records":[{"object":"Lead","lookup":null,"link":null,"fields":{"FirstName":"Daniel","LastName":"Reed","Company":"Apex Corp","Email":null,"Status":null}}]}"#;

pub fn openai_reply(content: &str, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
           "choices": [{"index": 0, "finish_reason": finish,
                        "message": {"role": "assistant", "content": content, "refusal": null}}],
           "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908,
                     "prompt_tokens_details": {"cached_tokens": 512}}})
}

pub fn settings(provider: LlmProvider, base: &str, key: Option<&str>) -> LlmSettings {
    LlmSettings {
        provider: Some(provider),
        base_url: Some(base.parse().unwrap()),
        api_key: key.map(SecretString::from),
        model: Some("test-model".into()),
        max_retries: 2,
        ..LlmSettings::default()
    }
}

pub fn shape_ok(v: &Value) -> Result<(), String> {
    if v.get("records").and_then(Value::as_array).is_some() {
        Ok(())
    } else {
        Err("the reply has no \"records\" array".into())
    }
}

pub async fn draft(llm: &Llm, notes: &str) -> Result<crmbot::llm::DraftReply, LlmError> {
    let notes = Notes::new(notes);
    let schema = schema();
    let req = DraftRequest {
        notes: &notes,
        today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        schema: &schema,
        max_records: 50,
    };
    llm.draft(&req, &shape_ok).await
}

pub fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
