//! The model, behind one interface. Providers: `openai` (and every OpenAI-compatible server),
//! `anthropic`, and `rules` (offline, deterministic, never invents a value). The model is an
//! untrusted drafting tool: this layer only gets JSON out of it, tolerantly, and reports what
//! it cost; `domain::validate` decides what of it stands.
//!
//! Contract used by `flow` (keep these signatures):
//! - `Llm::from_settings(&LlmSettings) -> Result<Llm, LlmError>`
//! - `Llm::draft(&self, &DraftRequest, check) -> Result<DraftReply, LlmError>`: one call, plus
//!   one repair retry when the reply is not JSON or `check` rejects its shape.
//! - `Llm::describe(&self) -> String`: e.g. "openai gpt-4o-mini at https://api.openai.com/v1".

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use crate::config::LlmSettings;
use crate::domain::notes::Notes;
use crate::domain::schema::CrmSchema;

/// What to draft from.
#[derive(Debug, Clone)]
pub struct DraftRequest<'a> {
    pub notes: &'a Notes,
    /// The note's date; the prompt carries it so "next Friday" can be resolved.
    pub today: NaiveDate,
    /// The allowed objects and fields; the JSON Schema sent to the model comes from it.
    pub schema: &'a CrmSchema,
}

/// Tokens of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

/// One call made to the model, for the audit and the `extract` summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmCall {
    pub provider: String,
    pub model: String,
    pub latency_ms: u64,
    pub usage: Usage,
    /// Why the call was made: "draft" or "repair".
    pub purpose: String,
}

/// The accepted reply.
#[derive(Debug, Clone, Serialize)]
pub struct DraftReply {
    /// The JSON the model returned (fences and surrounding text removed).
    pub value: Value,
    /// The raw text of the accepted reply, for the audit.
    pub raw: String,
    /// The prompts as sent (system, then user), for the audit.
    pub prompt: String,
    /// Every call made, the repair retry included.
    pub calls: Vec<LlmCall>,
}

impl DraftReply {
    /// Tokens summed over every call.
    pub fn usage(&self) -> Usage {
        self.calls.iter().fold(Usage::default(), |acc, c| Usage {
            prompt_tokens: acc.prompt_tokens + c.usage.prompt_tokens,
            completion_tokens: acc.completion_tokens + c.usage.completion_tokens,
            cached_tokens: acc.cached_tokens + c.usage.cached_tokens,
        })
    }
}

/// Why no usable reply came back. `Display` is written for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model's reply was not usable JSON, even after one retry")]
    NotJson { raw: String },
    #[error("the model refused: {message}")]
    Refused { message: String },
    #[error("the model's reply was cut off (too long); try shorter notes")]
    Truncated,
    #[error("the model is rate limited; try again in a minute")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("the model provider answered {status}: {message}")]
    Provider { status: u16, message: String },
    #[error("the model did not answer in time")]
    Timeout,
    #[error("cannot reach the model: {0}")]
    Transport(String),
    #[error("model configuration: {0}")]
    Config(String),
    #[error("prompt template: {0}")]
    Template(String),
}

/// The configured model. Placeholder until the providers land.
pub struct Llm {
    _settings: LlmSettings,
}

impl Llm {
    pub fn from_settings(settings: &LlmSettings) -> Result<Llm, LlmError> {
        Ok(Llm {
            _settings: settings.clone(),
        })
    }

    pub fn describe(&self) -> String {
        todo!()
    }

    /// Drafts records from the notes. `check` returns the reply's shape errors (as text the
    /// model can act on) or `Ok`; a non-JSON reply or a `check` error gets one repair retry.
    pub async fn draft(
        &self,
        req: &DraftRequest<'_>,
        check: &(dyn Fn(&Value) -> Result<(), String> + Send + Sync),
    ) -> Result<DraftReply, LlmError> {
        let _ = (req, check);
        todo!()
    }
}
