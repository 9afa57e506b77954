//! OpenAI chat completions, and every server that speaks them (llama.cpp, Ollama, vLLM, LM
//! Studio): strict `json_schema` structured output by default, `json_object` or nothing for
//! servers that reject schemas.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::http::send_json;
use super::{Completion, Conversation, LlmError, Output, Role, Usage};
use crate::config::ResponseFormat;

pub struct OpenAi {
    pub http: reqwest::Client,
    /// e.g. `https://api.openai.com/v1`, without a trailing slash.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub response_format: ResponseFormat,
    pub max_tokens: u32,
    pub max_retries: u32,
}

impl OpenAi {
    pub async fn complete(&self, conv: &Conversation) -> Result<Completion, LlmError> {
        let mut messages = vec![json!({"role": "system", "content": conv.system})];
        for (role, content) in &conv.turns {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": content}));
        }
        let mut body = json!({
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": messages,
        });
        if let Output::Json { name, schema } = &conv.output {
            match self.response_format {
                ResponseFormat::JsonSchema => {
                    body["response_format"] = json!({
                        "type": "json_schema",
                        "json_schema": {"name": name, "strict": true, "schema": schema}
                    });
                }
                ResponseFormat::JsonObject => {
                    body["response_format"] = json!({"type": "json_object"})
                }
                ResponseFormat::None => {}
            }
        }
        let url = format!("{}/chat/completions", self.base_url);
        let answer = send_json(
            || {
                let request = self.http.post(&url).json(&body);
                match &self.api_key {
                    Some(key) => request.bearer_auth(key.expose_secret()),
                    None => request,
                }
            },
            self.max_retries,
            &self.base_url,
        )
        .await?;
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
        })
    }
}
