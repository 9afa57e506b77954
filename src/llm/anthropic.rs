//! Anthropic messages. A JSON answer is the `input` of one forced tool call (`crm_draft`,
//! `crm_plan`), shaped by the same JSON Schema as OpenAI's structured output.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::send_json;
use super::json_schema::SchemaCarrier;
use super::{Completion, Conversation, LlmError, Output, Role, Usage};

pub struct Anthropic {
    pub http: reqwest::Client,
    /// e.g. `https://api.anthropic.com`, without a trailing slash.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub max_tokens: u32,
    pub max_retries: u32,
}

impl Anthropic {
    pub async fn complete(&self, conv: &Conversation) -> Result<Completion, LlmError> {
        let messages: Vec<Value> = conv
            .turns
            .iter()
            .map(|(role, content)| {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": content})
            })
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "system": conv.system,
            "messages": messages,
        });
        let tool = match &conv.output {
            Output::Json { name, schema } => {
                let schema = schema.form(SchemaCarrier::AnthropicTool);
                body["tools"] = json!([{"name": name, "description": "Return the answer as structured input", "input_schema": schema}]);
                body["tool_choice"] = json!({"type": "tool", "name": name});
                Some(*name)
            }
            Output::Text => None,
        };
        let url = format!("{}/v1/messages", self.base_url);
        let (answer, retries) = send_json(
            || {
                let request = self
                    .http
                    .post(&url)
                    .header("anthropic-version", "2023-06-01")
                    .json(&body);
                match &self.api_key {
                    Some(key) => request.header("x-api-key", key.expose_secret()),
                    None => request,
                }
            },
            self.max_retries,
            true,
            &self.base_url,
        )
        .await?;
        match answer["stop_reason"].as_str() {
            Some("max_tokens") => return Err(LlmError::Truncated),
            Some("refusal") => {
                return Err(LlmError::Refused {
                    message: text_of(&answer).unwrap_or_else(|| "no reason given".into()),
                });
            }
            _ => {}
        }
        let input = answer["content"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["type"] == "tool_use" && tool.is_some_and(|t| b["name"] == t))
            .map(|b| b["input"].clone());
        let usage = &answer["usage"];
        Ok(Completion {
            text: match &input {
                Some(v) => v.to_string(),
                None => text_of(&answer).unwrap_or_default(),
            },
            value: input,
            model: answer["model"].as_str().unwrap_or(&self.model).to_string(),
            usage: Usage {
                prompt_tokens: usage["input_tokens"].as_u64().unwrap_or(0),
                completion_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                cached_tokens: usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
            },
            retries,
            carrier: "tool",
        })
    }
}

fn text_of(answer: &Value) -> Option<String> {
    let texts: Vec<&str> = answer["content"]
        .as_array()?
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}
