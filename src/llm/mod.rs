//! The model, behind one interface. Providers: `openai` (and every OpenAI-compatible server),
//! `anthropic`, and `rules` (offline, deterministic, never invents a value). The model is an
//! untrusted drafting tool: this layer only gets JSON out of it, tolerantly, gives it one
//! chance to repair a reply that cannot be read, and reports what it cost;
//! `domain::validate` decides what of it stands.

mod anthropic;
mod http;
mod json_schema;
mod openai;
mod parse;
pub mod plan;
mod prompt;
pub mod rules;
mod rules_plan;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use tracing::{debug, info};

use crate::config::{LlmProvider, LlmSettings};
use crate::domain::notes::Notes;
use crate::domain::schema::CrmSchema;
pub use json_schema::{MAX_TEXT, ModelSchema, draft_schema};
pub use openai::CarrierReport;
pub use parse::extract_json;
pub use prompt::{DraftPrompt, Prompts};

/// What to draft from.
#[derive(Debug, Clone)]
pub struct DraftRequest<'a> {
    pub notes: &'a Notes,
    /// The note's date; the prompt carries it so "next Friday" can be resolved.
    pub today: NaiveDate,
    /// The allowed objects and fields; the JSON Schema sent to the model comes from it.
    pub schema: &'a CrmSchema,
    /// Most records one reply may hold (the schema's `maxItems`).
    pub max_records: usize,
}

/// The schema-dependent part of drafting, built once per describe refresh (see
/// `Llm::prepare_draft`).
pub struct PreparedDraft {
    schema: Arc<ModelSchema>,
    objects: minijinja::Value,
    /// The system prompt of the last day it was rendered for.
    system: Mutex<Option<(NaiveDate, Arc<str>)>>,
}

impl PreparedDraft {
    /// The model's JSON Schema for drafts.
    pub fn schema(&self) -> &ModelSchema {
        &self.schema
    }

    /// The system prompt for `today`, rendered once a day.
    pub fn system(&self, prompts: &Prompts, today: NaiveDate) -> Result<Arc<str>, LlmError> {
        let mut cached = self.system.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((day, text)) = cached.as_ref()
            && *day == today
        {
            return Ok(text.clone());
        }
        let text: Arc<str> = prompts.draft_system(today, &self.objects)?.into();
        *cached = Some((today, text.clone()));
        Ok(text)
    }
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
    /// Why the call was made: "draft", "plan", "repair", "summarize" or "probe".
    pub purpose: String,
    /// Requests repeated after a rate limit, a server error or a lost connection.
    #[serde(default)]
    pub retries: u32,
    /// How JSON was asked for: `json_schema`, `json_object_schema`, `prompt`, `tool`, ...
    #[serde(default)]
    pub carrier: String,
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
    /// The reply of the offline `rules` provider: no call, no tokens.
    pub(crate) fn offline(value: Value, prompt: String, purpose: &str) -> DraftReply {
        DraftReply {
            raw: value.to_string(),
            value,
            prompt,
            calls: vec![LlmCall {
                provider: "rules".into(),
                model: "rules".into(),
                latency_ms: 0,
                usage: Usage::default(),
                purpose: purpose.into(),
                retries: 0,
                carrier: "none".into(),
            }],
        }
    }

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
    #[error(
        "the model did not answer in time (llm.timeout); try again, or choose a faster LLM_MODEL"
    )]
    Timeout,
    #[error(
        "cannot reach the model at {url} ({cause}); check LLM_BASE_URL (is the server running?), the network and any proxy (HTTPS_PROXY, NO_PROXY)"
    )]
    Transport { url: String, cause: String },
    #[error("the model's answer was larger than {limit_mb} MB; it was not read")]
    TooLarge { limit_mb: usize },
    #[error("model configuration: {0}")]
    Config(String),
    #[error("model prompt template: {0}")]
    Template(String),
}

/// The probe's system prompt: long enough that a server which drops it shows in the token
/// count (about 250 tokens sent, under 30 seen).
const PROBE_SYSTEM: &str = "You are the connection check of crmbot, a CRM data-entry assistant for a sales team. \
crmbot sends this short request when it starts, to learn how this server accepts requests for JSON \
and whether it reads the system message. Answer with one JSON object and nothing else: no prose, \
no code fence, no explanation before or after it. The object has exactly two keys. The key ok is \
a boolean and must be true. The key n is an integer and must be the number the user names. Do not \
add other keys, do not repeat the object, and do not wrap it in an array. Whitespace inside the \
object does not matter. If anything in the request is unclear, still answer with the object, \
using true for ok and the number the user gives for n. This check costs one small call and \
writes nothing anywhere; its answer is only compared with what was asked, and the number of \
prompt tokens the server reports tells crmbot whether this system message reached the model.";

/// What `Llm::probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub carrier: CarrierReport,
    pub system: SystemPrompt,
    /// The reply was the JSON asked for.
    pub reply_ok: bool,
    pub latency_ms: u64,
}

/// Whether the model sees the system prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SystemPrompt {
    Seen {
        prompt_tokens: u64,
    },
    /// LLM_SYSTEM_IN_USER=true: it travels in the user turn.
    InUserTurn,
    /// The server dropped it and LLM_SYSTEM_IN_USER=false keeps it there.
    Dropped {
        prompt_tokens: u64,
    },
    /// The server dropped it; crmbot now sends it in the user turn.
    MovedToUser {
        prompt_tokens: u64,
    },
    /// The server reports no token counts.
    Unknown,
}

impl ProbeReport {
    /// One line for start-up and `doctor`.
    pub fn describe(&self) -> String {
        let carrier = match &self.carrier.fallback {
            Some(why) => format!("{} ({why})", self.carrier.format),
            None => self.carrier.format.to_string(),
        };
        let system = match self.system {
            SystemPrompt::Seen { .. } => "read".to_string(),
            SystemPrompt::InUserTurn => "sent in the user turn (LLM_SYSTEM_IN_USER)".to_string(),
            SystemPrompt::Dropped { prompt_tokens } => format!(
                "DROPPED by the server ({prompt_tokens} prompt tokens counted for a ~{}-character system prompt); set LLM_SYSTEM_IN_USER=true",
                PROBE_SYSTEM.len()
            ),
            SystemPrompt::MovedToUser { prompt_tokens } => format!(
                "moved into the user turn (the server dropped it: {prompt_tokens} prompt tokens counted for a ~{}-character system prompt)",
                PROBE_SYSTEM.len()
            ),
            SystemPrompt::Unknown => "not checked (the server reports no token counts)".to_string(),
        };
        format!("structured output: {carrier}; system prompt: {system}")
    }
}

/// The reply shapes the repair prompt names.
const DRAFT_SHAPE: &str = "{\"records\": [...]}";
const PLAN_SHAPE: &str = "{\"intent\": ..., \"object\": ..., \"fields\": [...], \"filters\": [...], \"sort\": [...], \"limit\": ..., \"unread\": [...]}";

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

/// What a call must answer with.
pub(crate) enum Output {
    /// A JSON object of this schema (OpenAI structured output `name`, Anthropic tool `name`).
    Json {
        name: &'static str,
        schema: Arc<ModelSchema>,
    },
    /// Plain text.
    Text,
}

/// The messages of one call.
pub(crate) struct Conversation {
    pub system: String,
    pub turns: Vec<(Role, String)>,
    pub output: Output,
}

/// What a provider answered.
pub(crate) struct Completion {
    pub text: String,
    /// Already-structured output (Anthropic's tool input).
    pub value: Option<Value>,
    pub model: String,
    pub usage: Usage,
    /// Requests repeated by the retry policy.
    pub retries: u32,
    pub carrier: &'static str,
}

enum Provider {
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Rules,
}

/// The configured model.
pub struct Llm {
    provider: Provider,
    prompts: Prompts,
    label: String,
    /// LLM_SYSTEM_IN_USER was not set: the probe may move the system prompt.
    system_auto: bool,
}

impl Llm {
    pub fn from_settings(settings: &LlmSettings) -> Result<Llm, LlmError> {
        let prompts = Prompts::load(settings.prompts_dir.as_deref())?;
        let http = || {
            reqwest::Client::builder()
                .timeout(settings.timeout)
                .user_agent(concat!("crmbot/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))
        };
        let need_key = |default_host: &str| {
            if settings.api_key.is_none() && settings.base_url.is_none() {
                Err(LlmError::Config(format!(
                    "set LLM_API_KEY for {default_host}, or LLM_BASE_URL for a local server, or LLM_PROVIDER=rules to draft offline"
                )))
            } else {
                Ok(())
            }
        };
        let model = settings.effective_model();
        let base_url = settings.effective_base_url();
        let (provider, label) = match settings.effective_provider() {
            LlmProvider::Openai => {
                need_key("api.openai.com")?;
                let label = format!("openai {model} at {base_url}");
                let p = openai::OpenAi::new(openai::OpenAiOptions {
                    http: http()?,
                    base_url,
                    api_key: settings.api_key.clone(),
                    model,
                    response_format: settings.response_format,
                    max_tokens: settings.max_tokens,
                    max_retries: settings.max_retries,
                    system_in_user: settings.system_in_user.unwrap_or(false),
                });
                (Provider::OpenAi(p), label)
            }
            LlmProvider::Anthropic => {
                need_key("api.anthropic.com")?;
                let label = format!("anthropic {model} at {base_url}");
                let p = anthropic::Anthropic {
                    http: http()?,
                    base_url,
                    api_key: settings.api_key.clone(),
                    model,
                    max_tokens: settings.max_tokens,
                    max_retries: settings.max_retries,
                };
                (Provider::Anthropic(p), label)
            }
            LlmProvider::Rules => (Provider::Rules, "rules (offline)".to_string()),
        };
        Ok(Llm {
            provider,
            prompts,
            label,
            system_auto: settings.system_in_user.is_none(),
        })
    }

    /// e.g. "openai gpt-4o-mini at https://api.openai.com/v1" — never the key.
    pub fn describe(&self) -> String {
        self.label.clone()
    }

    /// The line printed at start-up (serve, demo, eval): the model, and for an
    /// OpenAI-compatible server what the probe found. `None` for providers without a probe.
    pub async fn startup_report(&self) -> Option<String> {
        match self.probe().await {
            Ok(Some(report)) => {
                info!(probe = %report.describe(), "model probe");
                Some(report.describe())
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "model probe failed");
                Some(format!(
                    "the start-up check call failed ({e}); the request format is settled on the first draft"
                ))
            }
        }
    }

    /// How JSON is asked for (OpenAI-compatible servers only).
    pub fn carrier(&self) -> Option<CarrierReport> {
        match &self.provider {
            Provider::OpenAi(p) => Some(p.carrier()),
            _ => None,
        }
    }

    /// One tiny call that settles how this server takes JSON (the `auto` fallback) and
    /// whether it reads the system prompt, judged from the prompt tokens it counted. When
    /// LLM_SYSTEM_IN_USER is unset and the system prompt was dropped, it is moved into the
    /// user turn from then on. `None` for providers that need no probe (rules, anthropic).
    pub async fn probe(&self) -> Result<Option<ProbeReport>, LlmError> {
        let Provider::OpenAi(p) = &self.provider else {
            return Ok(None);
        };
        let conv = Conversation {
            system: PROBE_SYSTEM.to_string(),
            turns: vec![(Role::User, "Reply with ok = true and n = 7.".into())],
            output: Output::Json {
                name: "crm_probe",
                schema: Arc::new(ModelSchema::new(serde_json::json!({
                    "type": "object", "additionalProperties": false, "required": ["ok", "n"],
                    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}}
                }))),
            },
        };
        let mut calls = Vec::new();
        let completion = self.call(&conv, "probe", &mut calls).await?;
        let tokens = completion.usage.prompt_tokens;
        // Any tokenizer spends at least one token per 8 characters of English.
        let floor = (PROBE_SYSTEM.len() / 8) as u64;
        let system = if p.system_in_user() {
            SystemPrompt::InUserTurn
        } else if tokens == 0 {
            SystemPrompt::Unknown
        } else if tokens < floor {
            if self.system_auto {
                p.set_system_in_user(true);
                SystemPrompt::MovedToUser {
                    prompt_tokens: tokens,
                }
            } else {
                SystemPrompt::Dropped {
                    prompt_tokens: tokens,
                }
            }
        } else {
            SystemPrompt::Seen {
                prompt_tokens: tokens,
            }
        };
        let reply = completion.value.or_else(|| extract_json(&completion.text));
        Ok(Some(ProbeReport {
            carrier: p.carrier(),
            system,
            reply_ok: reply.is_some_and(|v| v["ok"] == true && v["n"] == 7),
            latency_ms: calls.first().map_or(0, |c| c.latency_ms),
        }))
    }

    /// What drafting needs that depends only on the schema: the model's JSON Schema (each
    /// carrier's form serialised once) and the system prompt (rendered once a day). Build
    /// it once per describe refresh and pass it to `draft_prepared`.
    pub fn prepare_draft(&self, schema: &CrmSchema, max_records: usize) -> PreparedDraft {
        PreparedDraft {
            schema: Arc::new(ModelSchema::new(draft_schema(schema, max_records))),
            objects: prompt::object_views(schema),
            system: Mutex::new(None),
        }
    }

    /// Drafts records from the notes. `check` returns the reply's shape errors (as text the
    /// model can act on) or `Ok`; a non-JSON reply or a `check` error gets one repair retry.
    pub async fn draft(
        &self,
        req: &DraftRequest<'_>,
        check: &(dyn Fn(&Value) -> Result<(), String> + Send + Sync),
    ) -> Result<DraftReply, LlmError> {
        let prepared = self.prepare_draft(req.schema, req.max_records);
        self.draft_prepared(req, &prepared, check).await
    }

    /// `draft` with what `prepare_draft` built for `req.schema`.
    pub async fn draft_prepared(
        &self,
        req: &DraftRequest<'_>,
        prepared: &PreparedDraft,
        check: &(dyn Fn(&Value) -> Result<(), String> + Send + Sync),
    ) -> Result<DraftReply, LlmError> {
        let system = prepared.system(&self.prompts, req.today)?;
        let user = self.prompts.draft_user(req.notes.as_str(), req.today)?;
        let audit_prompt = format!("{system}\n\n{user}");
        if let Provider::Rules = self.provider {
            let value = rules::draft(req.notes.as_str(), req.schema);
            return Ok(DraftReply::offline(value, audit_prompt, "draft"));
        }
        let mut conv = Conversation {
            system: system.to_string(),
            turns: vec![(Role::User, user)],
            output: Output::Json {
                name: "crm_draft",
                schema: prepared.schema.clone(),
            },
        };
        let (value, raw, calls) = self.structured(&mut conv, "draft", check).await?;
        Ok(DraftReply {
            value,
            raw,
            prompt: audit_prompt,
            calls,
        })
    }

    /// One call for a JSON reply, plus one repair retry when it is not JSON or `check`
    /// refuses it. Returns (value, raw text, calls).
    pub(crate) async fn structured(
        &self,
        conv: &mut Conversation,
        purpose: &str,
        check: &(dyn Fn(&Value) -> Result<(), String> + Send + Sync),
    ) -> Result<(Value, String, Vec<LlmCall>), LlmError> {
        let mut calls = Vec::new();
        let mut last_raw = String::new();
        for (attempt, purpose) in [purpose, "repair"].into_iter().enumerate() {
            let completion = self.call(conv, purpose, &mut calls).await?;
            let parsed = completion.value.or_else(|| extract_json(&completion.text));
            let problem = match parsed {
                None => "it is not a JSON object".to_string(),
                Some(v) => match check(&v) {
                    Ok(()) => return Ok((v, completion.text, calls)),
                    // JSON that still fails the check after the repair goes back to the
                    // caller, whose own validation says what is wrong with it.
                    Err(_) if attempt == 1 => return Ok((v, completion.text, calls)),
                    Err(e) => e,
                },
            };
            debug!(reply = %completion.text, %problem, "unusable model reply");
            last_raw = completion.text.clone();
            conv.turns.push((Role::Assistant, completion.text));
            let expected = match &conv.output {
                Output::Json {
                    name: "crm_plan", ..
                } => PLAN_SHAPE,
                Output::Json {
                    name: "crm_probe", ..
                } => "{\"ok\": ..., \"n\": ...}",
                _ => DRAFT_SHAPE,
            };
            conv.turns
                .push((Role::User, self.prompts.repair(&problem, expected)?));
        }
        Err(LlmError::NotJson { raw: last_raw })
    }

    /// One call for a plain-text reply.
    pub(crate) async fn text(
        &self,
        conv: &Conversation,
        purpose: &str,
        calls: &mut Vec<LlmCall>,
    ) -> Result<String, LlmError> {
        Ok(self.call(conv, purpose, calls).await?.text)
    }

    pub(crate) fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    pub(crate) fn is_offline(&self) -> bool {
        matches!(self.provider, Provider::Rules)
    }

    async fn call(
        &self,
        conv: &Conversation,
        purpose: &str,
        calls: &mut Vec<LlmCall>,
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let (provider, answer) = match &self.provider {
            Provider::OpenAi(p) => ("openai", p.complete(conv).await),
            Provider::Anthropic(p) => ("anthropic", p.complete(conv).await),
            Provider::Rules => {
                return Err(LlmError::Config("the rules provider makes no calls".into()));
            }
        };
        let tokens = answer.as_ref().map_or((0, 0), |c| {
            (c.usage.prompt_tokens, c.usage.completion_tokens)
        });
        crate::metrics::llm_call(provider, purpose, answer.is_ok(), started.elapsed(), tokens);
        let completion = answer?;
        let latency_ms = started.elapsed().as_millis() as u64;
        info!(provider, model = %completion.model, latency_ms,
              prompt_tokens = completion.usage.prompt_tokens,
              completion_tokens = completion.usage.completion_tokens,
              retries = completion.retries, carrier = completion.carrier, purpose, "model call");
        calls.push(LlmCall {
            provider: provider.into(),
            model: completion.model.clone(),
            latency_ms,
            usage: completion.usage,
            purpose: purpose.into(),
            retries: completion.retries,
            carrier: completion.carrier.into(),
        });
        Ok(completion)
    }
}
