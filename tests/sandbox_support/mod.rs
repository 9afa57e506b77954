//! Shared helpers for the sandbox tests: start a sandbox on 127.0.0.1:0 and talk to it over
//! real HTTP with reqwest, the way crmbot's client does.
#![allow(dead_code)]

use chrono::NaiveDate;
use reqwest::Method;
use serde_json::Value;

use crmbot::sandbox::{self, DEFAULT_TOKEN, RunningSandbox, SandboxOptions};

pub const V: &str = "v62.0";

/// A response, body parsed when it is JSON (Null when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// The first error's code in a REST error array.
    pub fn code(&self) -> &str {
        self.body[0]["errorCode"].as_str().unwrap_or_default()
    }
}

pub struct Sf {
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
    pub token: String,
}

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

pub fn options() -> SandboxOptions {
    SandboxOptions {
        today: Some(today()),
        ..SandboxOptions::default()
    }
}

impl Sf {
    pub async fn start() -> Sf {
        Sf::start_with(options()).await
    }

    pub async fn start_with(options: SandboxOptions) -> Sf {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = sandbox::start(listener, options).await.unwrap();
        Sf {
            sandbox,
            http: reqwest::Client::new(),
            token: DEFAULT_TOKEN.to_string(),
        }
    }

    pub fn base(&self) -> String {
        self.sandbox.base_url()
    }

    /// `path` relative to `/services/data/v62.0/`, or absolute when it starts with `/`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base())
        } else {
            format!("{}/services/data/{V}/{path}", self.base())
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                self.url(path),
            )
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call("PATCH", path, Some(body)).await
    }

    /// Creates a record and returns its id (asserting 201).
    pub async fn create(&self, object: &str, body: Value) -> String {
        let r = self.post(&format!("sobjects/{object}/"), body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// A SOQL query (first page).
    pub async fn query(&self, soql: &str) -> Resp {
        let req = self
            .http
            .get(self.url("query"))
            .query(&[("q", soql)])
            .bearer_auth(&self.token);
        read(req.send().await.unwrap()).await
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        body,
        headers,
    }
}
