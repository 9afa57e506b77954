//! Which model is in effect, from the model settings: the provider, the model and the base
//! URL crmbot will use, and how to say so to a person.

use super::{LlmProvider, LlmSettings};

impl LlmSettings {
    /// The provider in effect: the configured one; else `openai` when a key or a base URL
    /// is set (a base URL alone is a local OpenAI-compatible server); else `rules`.
    pub fn effective_provider(&self) -> LlmProvider {
        match (self.provider, &self.api_key, &self.base_url) {
            (Some(p), _, _) => p,
            (None, Some(_), _) | (None, None, Some(_)) => LlmProvider::Openai,
            (None, None, None) => LlmProvider::Rules,
        }
    }

    /// The model asked for: LLM_MODEL, else the provider's default.
    pub fn effective_model(&self) -> String {
        self.model.clone().unwrap_or_else(|| {
            match self.effective_provider() {
                LlmProvider::Anthropic => "claude-sonnet-4-5",
                _ => "gpt-4o-mini",
            }
            .to_string()
        })
    }

    /// Where calls go, without a trailing slash: LLM_BASE_URL, else the provider's.
    pub fn effective_base_url(&self) -> String {
        match &self.base_url {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => match self.effective_provider() {
                LlmProvider::Anthropic => "https://api.anthropic.com",
                _ => "https://api.openai.com/v1",
            }
            .to_string(),
        }
    }

    /// The model in effect, for people (start-up, `crmbot config`, doctor). Never the key.
    pub fn describe(&self) -> String {
        let model = self.effective_model();
        let base = self.effective_base_url();
        match self.effective_provider() {
            LlmProvider::Rules => {
                "rules (offline): drafts only what the notes state, reads questions by keywords; set LLM_API_KEY or LLM_BASE_URL for a model".to_string()
            }
            LlmProvider::Openai if self.base_url.is_some() && self.api_key.is_none() => {
                let hint = if self.model.is_none() {
                    " (LLM_MODEL to change)"
                } else {
                    ""
                };
                format!("openai-compatible server at {base}, model {model}{hint}")
            }
            LlmProvider::Openai => format!("openai {model} at {base}"),
            LlmProvider::Anthropic => format!("anthropic {model} at {base}"),
        }
    }
}
