//! OpenAI chat completions, and every server that speaks them (llama.cpp, llama-cpp-python,
//! Ollama, vLLM, LM Studio). Servers disagree on how to ask for JSON, so with
//! `response_format = "auto"` the first request tries OpenAI's strict `json_schema`; a server
//! that rejects it (llama-cpp-python answers 500, LM Studio 400) gets `json_object` with the
//! schema, then the schema in the prompt. The shape that worked is kept for later calls and
//! reported by `carrier()`. Some chat templates drop the system message; `system_in_user`
//! moves it into the first user turn.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::warn;

use super::http::send_json;
use super::json_schema::SchemaCarrier;
use super::{Completion, Conversation, LlmError, Output, Role, Usage};
use crate::config::ResponseFormat;

/// The order `auto` tries.
const AUTO_CHAIN: &[ResponseFormat] = &[
    ResponseFormat::JsonSchema,
    ResponseFormat::JsonObjectSchema,
    ResponseFormat::Prompt,
];

/// Which request shape is in use, and why.
#[derive(Debug, Clone)]
struct CarrierState {
    format: ResponseFormat,
    /// A reply came back with this shape: later errors are not blamed on it.
    confirmed: bool,
    /// Why `auto` left the shapes before this one.
    fallback: Option<String>,
}

pub struct OpenAi {
    http: reqwest::Client,
    /// e.g. `https://api.openai.com/v1`, without a trailing slash.
    base_url: String,
    api_key: Option<SecretString>,
    model: String,
    auto: bool,
    state: Mutex<CarrierState>,
    max_tokens: u32,
    max_retries: u32,
    system_in_user: AtomicBool,
}

/// What `carrier()` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CarrierReport {
    /// `json_schema`, `json_object_schema`, `json_object`, `prompt` or `none`.
    pub format: &'static str,
    /// False until a reply confirmed it (auto mode only tells after the first call).
    pub confirmed: bool,
    /// Why earlier shapes were left, e.g. "the server answered 500 to json_schema: ...".
    pub fallback: Option<String>,
}

pub struct OpenAiOptions {
    pub http: reqwest::Client,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub response_format: ResponseFormat,
    pub max_tokens: u32,
    pub max_retries: u32,
    pub system_in_user: bool,
}

impl OpenAi {
    pub fn new(o: OpenAiOptions) -> OpenAi {
        let auto = o.response_format == ResponseFormat::Auto;
        OpenAi {
            http: o.http,
            base_url: o.base_url,
            api_key: o.api_key,
            model: o.model,
            auto,
            state: Mutex::new(CarrierState {
                format: if auto {
                    AUTO_CHAIN[0]
                } else {
                    o.response_format
                },
                confirmed: !auto,
                fallback: None,
            }),
            max_tokens: o.max_tokens,
            max_retries: o.max_retries,
            system_in_user: AtomicBool::new(o.system_in_user),
        }
    }

    pub fn carrier(&self) -> CarrierReport {
        let s = self.state();
        CarrierReport {
            format: s.format.name(),
            confirmed: s.confirmed,
            fallback: s.fallback,
        }
    }

    pub fn system_in_user(&self) -> bool {
        self.system_in_user.load(Ordering::Relaxed)
    }

    pub fn set_system_in_user(&self, on: bool) {
        self.system_in_user.store(on, Ordering::Relaxed);
    }

    fn state(&self) -> CarrierState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_state(&self, f: impl FnOnce(&mut CarrierState)) {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub async fn complete(&self, conv: &Conversation) -> Result<Completion, LlmError> {
        loop {
            let state = self.state();
            let body = self.body(conv, state.format);
            let url = format!("{}/chat/completions", self.base_url);
            let sent = send_json(
                || {
                    let request = self
                        .http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone());
                    match &self.api_key {
                        Some(key) => request.bearer_auth(key.expose_secret()),
                        None => request,
                    }
                },
                self.max_retries,
                state.confirmed,
                &self.base_url,
            )
            .await;
            match sent {
                Ok((answer, retries)) => {
                    if !state.confirmed && matches!(conv.output, Output::Json { .. }) {
                        self.set_state(|s| s.confirmed = true);
                    }
                    return self.read(&answer, retries, state.format);
                }
                Err(LlmError::Provider { status, message })
                    if self.auto
                        && !state.confirmed
                        && matches!(conv.output, Output::Json { .. })
                        && matches!(status, 400 | 415 | 422 | 500 | 501) =>
                {
                    let Some(next) = AUTO_CHAIN.iter().skip_while(|f| **f != state.format).nth(1)
                    else {
                        return Err(LlmError::Provider { status, message });
                    };
                    let why = format!(
                        "the server answered {status} to {}: {}",
                        state.format.name(),
                        message
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .chars()
                            .take(160)
                            .collect::<String>()
                    );
                    warn!(from = state.format.name(), to = next.name(), %why, "falling back to another response format");
                    self.set_state(|s| {
                        if s.format == state.format {
                            s.format = *next;
                            s.fallback = Some(why);
                        }
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The request as JSON text. The schema's text is serialised once per schema (see
    /// `ModelSchema`) and spliced in; the rest borrows the conversation.
    fn body(&self, conv: &Conversation, format: ResponseFormat) -> Vec<u8> {
        let mut system = std::borrow::Cow::Borrowed(conv.system.as_str());
        let mut response_format: Option<String> = None;
        if let Output::Json { name, schema } = &conv.output {
            let name = Value::from(*name);
            match format {
                ResponseFormat::JsonSchema | ResponseFormat::Auto => {
                    response_format = Some(format!(
                        r#"{{"type":"json_schema","json_schema":{{"name":{name},"strict":true,"schema":{}}}}}"#,
                        schema.form_json(SchemaCarrier::OpenAiStrict)
                    ));
                }
                ResponseFormat::JsonObjectSchema => {
                    response_format = Some(format!(
                        r#"{{"type":"json_object","schema":{}}}"#,
                        schema.form_json(SchemaCarrier::Grammar)
                    ));
                }
                ResponseFormat::JsonObject | ResponseFormat::Prompt => {
                    if format == ResponseFormat::JsonObject {
                        response_format = Some(r#"{"type":"json_object"}"#.to_string());
                    }
                    system = std::borrow::Cow::Owned(format!(
                        "{}\n\nAnswer with one JSON object that follows this JSON Schema, and nothing else:\n{}",
                        conv.system,
                        schema.value()
                    ));
                }
                ResponseFormat::None => {}
            }
        }
        #[derive(serde::Serialize)]
        struct Message<'a> {
            role: &'static str,
            content: std::borrow::Cow<'a, str>,
        }
        let in_user = self.system_in_user();
        let mut messages = Vec::with_capacity(conv.turns.len() + 1);
        if !in_user {
            messages.push(Message {
                role: "system",
                content: std::borrow::Cow::Borrowed(&system),
            });
        }
        for (i, (role, content)) in conv.turns.iter().enumerate() {
            let (role, content) = match role {
                Role::User if in_user && i == 0 => (
                    "user",
                    std::borrow::Cow::Owned(format!("{system}\n\n{content}")),
                ),
                Role::User => ("user", std::borrow::Cow::Borrowed(content.as_str())),
                Role::Assistant => ("assistant", std::borrow::Cow::Borrowed(content.as_str())),
            };
            messages.push(Message { role, content });
        }
        #[derive(serde::Serialize)]
        struct Head<'a> {
            model: &'a str,
            temperature: u8,
            max_tokens: u32,
            messages: &'a [Message<'a>],
        }
        let head = Head {
            model: &self.model,
            temperature: 0,
            max_tokens: self.max_tokens,
            messages: &messages,
        };
        // Serialising borrowed strings cannot fail.
        let mut body = serde_json::to_vec(&head).unwrap_or_default();
        if let Some(rf) = response_format {
            body.pop(); // the closing brace
            body.extend_from_slice(b",\"response_format\":");
            body.extend_from_slice(rf.as_bytes());
            body.push(b'}');
        }
        body
    }

    fn read(
        &self,
        answer: &Value,
        retries: u32,
        format: ResponseFormat,
    ) -> Result<Completion, LlmError> {
        let choice = &answer["choices"][0];
        let message = &choice["message"];
        if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.is_empty()) {
            return Err(LlmError::Refused {
                message: refusal.to_string(),
            });
        }
        match choice["finish_reason"].as_str() {
            Some("length") => return Err(LlmError::Truncated),
            Some("content_filter") => {
                return Err(LlmError::Refused {
                    message: "the provider's content filter stopped the reply".into(),
                });
            }
            _ => {}
        }
        let usage = &answer["usage"];
        Ok(Completion {
            text: message["content"].as_str().unwrap_or_default().to_string(),
            value: None,
            model: answer["model"].as_str().unwrap_or(&self.model).to_string(),
            usage: Usage {
                prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
                completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
                cached_tokens: usage["prompt_tokens_details"]["cached_tokens"]
                    .as_u64()
                    .unwrap_or(0),
            },
            retries,
            carrier: format.name(),
        })
    }
}
