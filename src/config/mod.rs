//! One `Config`, loaded once at start-up: compiled defaults, then `crmbot.toml` (from
//! `--config` or `CRMBOT_CONFIG`), then environment variables with the public names of
//! design.md. Nothing reads the environment after `Config::load`. Secrets are `SecretString`
//! and print as `********`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

pub use crate::domain::free_text::FreeTextUpdates;
pub use ask::{AskSettings, QueryObjectConfig};
pub use people::{Identity, OwnerChoice, PeopleSettings, UnmappedChoice};
pub use policy::{
    AnswerSettings, AutoApproveSettings, MentionAnswers, PolicySettings, SelfApproveSettings,
    SlashAnswers, TierSettings,
};

/// Everything crmbot can be told.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP address for `crmbot serve` (CRMBOT_LISTEN).
    pub listen: SocketAddr,
    /// sled database folder (CRMBOT_DATA_DIR); the audit mirror `audit.jsonl` lives there too.
    pub data_dir: PathBuf,
    /// Seals the audit chain with HMAC-SHA256 under this key (CRMBOT_AUDIT_KEY), so a record
    /// rewritten by someone without it is detected. Keep it outside the data dir.
    #[serde(serialize_with = "mask_opt")]
    pub audit_key: Option<SecretString>,
    /// Seals each person's Salesforce refresh token at rest (`salesforce.identity = "user"`):
    /// 32 bytes as base64 or hex (CRMBOT_SECRET_KEY or CRMBOT_SECRET_KEY_FILE).
    #[serde(serialize_with = "mask_opt")]
    pub secret_key: Option<SecretString>,
    /// Bounds of the HTTP server of `crmbot serve`.
    pub server: ServerSettings,
    /// How much the database keeps, and its memory.
    pub store: StoreSettings,
    pub slack: SlackSettings,
    pub salesforce: SalesforceSettings,
    pub llm: LlmSettings,
    pub drafting: DraftingSettings,
    /// What questions (`/crm ask`, mentions, DMs) may read.
    pub ask: AskSettings,
    /// Who may do what: logging, asking, approving, risk tiers, what answers show.
    pub policy: PolicySettings,
    /// Allowed objects by API name. A table given in crmbot.toml replaces that object's
    /// default whole; `enabled = false` removes a default object.
    pub objects: BTreeMap<String, ObjectConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// A connection must send a request's headers within this long (also how long a
    /// kept-alive connection may sit idle).
    #[serde(with = "secs")]
    pub header_timeout: Duration,
    /// A request must be read and answered within this long (Slack gives up after 3 s).
    #[serde(with = "secs")]
    pub request_timeout: Duration,
    /// Connections open at once; at the bound the oldest idle one is closed.
    pub max_connections: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Days a decided action (written, rejected, expired) and its card state are kept;
    /// then they are compacted away (the audit log keeps their whole history). 0 keeps
    /// them forever.
    pub keep_decided_days: u32,
    /// sled's page cache, in MB.
    pub cache_mb: u64,
    /// A PostgreSQL URL (`postgres://user:pass@host/db`): when set, pending actions, the
    /// audit chain, seen events and thread plans live there instead of sled, so several
    /// replicas can share them (`CRMBOT_DATABASE_URL`, or `CRMBOT_DATABASE_URL_FILE`).
    #[serde(serialize_with = "mask_opt")]
    pub database_url: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSettings {
    #[serde(serialize_with = "mask_opt")]
    pub signing_secret: Option<SecretString>,
    #[serde(serialize_with = "mask_opt")]
    pub bot_token: Option<SecretString>,
    #[serde(serialize_with = "mask_opt")]
    pub app_token: Option<SecretString>,
    /// Web API base; method names are appended as `{base}/{method}`.
    pub api_url: Url,
    /// Older spelling of `policy.approvers` (Slack user ids); joined to it.
    pub approvers: Vec<String>,
    /// Drafts worked on at the same time (and, separately, as many questions); more wait
    /// their turn in a bounded queue.
    pub workers: usize,
    /// Approvals, rejects, edits and choices worked on at the same time: their own
    /// workers, so they never wait behind drafts or questions.
    pub decision_workers: usize,
    /// Threads that run drafts and questions, at a lower OS priority than the threads
    /// that ack Slack and decide; 0: half the cores (at least one).
    pub background_threads: usize,
    /// Drafts that may wait for a worker; past it `/crm log` answers "crmbot is busy".
    pub draft_queue: usize,
    /// Questions that may wait for a worker; past it they are answered "crmbot is busy".
    pub question_queue: usize,
    /// Clicks (approve, reject, edit, choose) that may wait for a decision worker.
    pub decision_queue: usize,
    /// Drafts one person may have in flight (drafting or waiting); 0 for no cap.
    pub drafts_per_user: usize,
    /// A folder whose `card.json.j2` / `edit_modal.json.j2` replace the built-in Block Kit
    /// templates.
    pub blocks_dir: Option<PathBuf>,
    /// Characters of the meeting notes the card quotes in the channel; 0 quotes none.
    pub notes_excerpt_chars: usize,
    /// Time budget of one Web API call attempt (a whole call, retries included, takes at
    /// most 60 s).
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// `/crm log`, `/crm ask`, mentions and DMs one person may send a minute (in a burst
    /// of as many); 0 for no limit.
    pub user_rate_limit: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SalesforceSettings {
    /// Org base URL, e.g. `https://acme.my.salesforce.com` (SALESFORCE_INSTANCE_URL).
    pub instance_url: Option<Url>,
    /// REST version such as `v62.0` (SALESFORCE_API_VERSION).
    pub api_version: String,
    /// A static access token: the simplest auth (SALESFORCE_ACCESS_TOKEN).
    #[serde(serialize_with = "mask_opt")]
    pub access_token: Option<SecretString>,
    pub client_id: Option<String>,
    #[serde(serialize_with = "mask_opt")]
    pub client_secret: Option<SecretString>,
    pub username: Option<String>,
    pub private_key_file: Option<PathBuf>,
    #[serde(serialize_with = "mask_opt")]
    pub refresh_token: Option<SecretString>,
    pub login_url: Option<Url>,
    /// How long a describe result is trusted before it is fetched again.
    #[serde(with = "secs")]
    pub describe_ttl: Duration,
    /// Per-request timeout.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Retries for idempotent reads (GET) on 5xx, 429 and connection errors. Writes are never
    /// retried blindly.
    pub max_retries: u32,
    /// Most rows a query returns across pages.
    pub max_rows: usize,
    /// The external-id text field (unique) crmbot upserts its creates by, on the objects
    /// that have it, so a repeated write cannot create a second record. Empty: never.
    pub key_field: String,
    /// How long Salesforce may still be working on a write whose answer crmbot never got
    /// (its request time limit, 10 minutes, plus a margin). A write not found after this
    /// never happened; before it, "not found yet" proves nothing.
    #[serde(with = "secs")]
    pub write_time_limit: Duration,
    /// How often crmbot looks again for a write whose outcome it does not know.
    #[serde(with = "secs")]
    pub recheck_interval: Duration,
    /// Largest answer read from Salesforce, in bytes; a larger one is refused unread.
    pub max_response_bytes: usize,
    /// Whose Salesforce User owns what an approval creates: requester, approver or
    /// integration (README: "Who owns what crmbot writes").
    pub owner: OwnerChoice,
    /// A Slack member with no active Salesforce User: integration (written, owned by the
    /// integration user) or refuse (not written).
    pub unmapped: UnmappedChoice,
    /// Slack member id -> Salesforce username or User id, overriding the email match.
    pub users: BTreeMap<String, String>,
    /// integration (crmbot's own user for every call) or user (each person signs in with
    /// `/crm connect`; README: "Per-user sign-in") (SALESFORCE_IDENTITY).
    pub identity: Identity,
    /// The public URL of crmbot's OAuth callback, as entered in the connected app, e.g.
    /// `https://crmbot.example.com/salesforce/oauth/callback` (SALESFORCE_CALLBACK_URL).
    pub callback_url: Option<Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenAI chat completions, or any OpenAI-compatible server (llama.cpp, Ollama, vLLM).
    Openai,
    /// Anthropic messages with one forced tool.
    Anthropic,
    /// Offline, deterministic extraction; never invents a value.
    Rules,
}

/// How the OpenAI-compatible provider asks for JSON (LLM_RESPONSE_FORMAT). Servers differ:
/// OpenAI takes `json_schema`; llama.cpp and llama-cpp-python take `json_object` with a
/// `schema`; some take neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `json_schema` first; on a server that rejects it, `json_object` with the schema, then
    /// the schema in the prompt. The first that works is kept.
    Auto,
    /// OpenAI structured outputs (strict).
    JsonSchema,
    /// `{"type": "json_object", "schema": ...}` (llama.cpp, llama-cpp-python).
    JsonObjectSchema,
    /// JSON mode without a schema; the schema goes in the prompt.
    JsonObject,
    /// No `response_format`; the schema goes in the prompt.
    Prompt,
    /// No `response_format` and no schema in the prompt (the prompt templates alone).
    None,
}

impl ResponseFormat {
    pub fn parse(text: &str) -> Option<ResponseFormat> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "auto" => ResponseFormat::Auto,
            "json_schema" => ResponseFormat::JsonSchema,
            "json_object_schema" => ResponseFormat::JsonObjectSchema,
            "json_object" => ResponseFormat::JsonObject,
            "prompt" => ResponseFormat::Prompt,
            "none" => ResponseFormat::None,
            _ => return None,
        })
    }

    /// The name used in crmbot.toml and LLM_RESPONSE_FORMAT.
    pub fn name(self) -> &'static str {
        match self {
            ResponseFormat::Auto => "auto",
            ResponseFormat::JsonSchema => "json_schema",
            ResponseFormat::JsonObjectSchema => "json_object_schema",
            ResponseFormat::JsonObject => "json_object",
            ResponseFormat::Prompt => "prompt",
            ResponseFormat::None => "none",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// LLM_PROVIDER; when unset: `openai` if an API key is set, else `rules`.
    pub provider: Option<LlmProvider>,
    /// LLM_BASE_URL; the provider's public endpoint when unset.
    pub base_url: Option<Url>,
    #[serde(serialize_with = "mask_opt")]
    pub api_key: Option<SecretString>,
    /// LLM_MODEL.
    pub model: Option<String>,
    /// LLM_RESPONSE_FORMAT.
    pub response_format: ResponseFormat,
    /// Per-call timeout (LLM_TIMEOUT, seconds). A call that runs out is not retried: a local
    /// server keeps generating the abandoned request.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Retries on 429, 5xx and connection errors (each honours Retry-After).
    pub max_retries: u32,
    /// Most tokens of one reply (LLM_MAX_TOKENS).
    pub max_tokens: u32,
    /// Put the system prompt at the start of the user turn (LLM_SYSTEM_IN_USER), for chat
    /// templates that drop system messages (llama-cpp-python's `gemma` format). Unset: crmbot
    /// decides from the start-up probe.
    pub system_in_user: Option<bool>,
    /// A folder whose `*.j2` files replace the compiled-in prompts of the same name.
    pub prompts_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DraftingSettings {
    /// Longer notes are refused with a clear message (Slack allows far more than a model
    /// should be given in one call).
    pub max_notes_chars: usize,
    /// Records beyond this in one reply are cut, and the card says so.
    pub max_records: usize,
    /// Values not found in the notes are held back from the write until a person keeps them.
    pub hold_ungrounded: bool,
    /// A draft nobody approved or rejected expires after this many days.
    pub expire_after_days: u32,
    /// Approval also writes a completed Task that logs the meeting against the person and
    /// the deal of the draft (its Description ends with where it came from).
    pub meeting_task: bool,
    /// What an update does to free text Salesforce already holds: `append` (below it,
    /// dated and signed) or `keep` (leave it as it is). Never replace.
    pub free_text_updates: FreeTextUpdates,
}

/// One allowed object, as the admin configures it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectConfig {
    pub enabled: bool,
    /// Fields the model may fill (API names).
    pub fields: Vec<String>,
    /// Fields by which the model may name a record to update.
    pub lookup: Vec<String>,
    /// Duplicate-match keys, tried in order; `Account.Name` means the linked Account's Name.
    #[serde(rename = "match")]
    pub match_keys: Vec<Vec<String>>,
    /// Free-text fields, exempt from the "not in your notes" check.
    pub free_text: Vec<String>,
    /// Parents the model may name in `link`, by relationship name (`Account`).
    pub links: Vec<String>,
    /// Fields to treat as required on create although describe says they are nillable
    /// (Lead.Company is the classic case).
    pub required: Vec<String>,
}

impl Default for ObjectConfig {
    fn default() -> Self {
        ObjectConfig {
            enabled: true,
            fields: Vec::new(),
            lookup: Vec::new(),
            match_keys: Vec::new(),
            free_text: Vec::new(),
            links: Vec::new(),
            required: Vec::new(),
        }
    }
}

/// A configuration problem, naming the key or variable and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// toml's message names the key and shows the line.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// Environment variables read by `Config::load`, as (name, what it sets).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("CRMBOT_LISTEN", "listen"),
    ("CRMBOT_DATA_DIR", "data_dir"),
    ("CRMBOT_AUDIT_KEY", "audit_key"),
    ("CRMBOT_DATABASE_URL", "store.database_url"),
    ("SLACK_SIGNING_SECRET", "slack.signing_secret"),
    ("SLACK_BOT_TOKEN", "slack.bot_token"),
    ("SLACK_APP_TOKEN", "slack.app_token"),
    ("SLACK_API_URL", "slack.api_url"),
    ("SALESFORCE_INSTANCE_URL", "salesforce.instance_url"),
    ("SALESFORCE_ACCESS_TOKEN", "salesforce.access_token"),
    ("SALESFORCE_CLIENT_ID", "salesforce.client_id"),
    ("SALESFORCE_CLIENT_SECRET", "salesforce.client_secret"),
    ("SALESFORCE_USERNAME", "salesforce.username"),
    ("SALESFORCE_PRIVATE_KEY_FILE", "salesforce.private_key_file"),
    ("SALESFORCE_REFRESH_TOKEN", "salesforce.refresh_token"),
    ("SALESFORCE_LOGIN_URL", "salesforce.login_url"),
    ("SALESFORCE_API_VERSION", "salesforce.api_version"),
    ("SALESFORCE_IDENTITY", "salesforce.identity"),
    ("SALESFORCE_CALLBACK_URL", "salesforce.callback_url"),
    ("CRMBOT_SECRET_KEY", "secret_key"),
    ("LLM_PROVIDER", "llm.provider"),
    ("LLM_BASE_URL", "llm.base_url"),
    ("LLM_API_KEY", "llm.api_key"),
    ("LLM_MODEL", "llm.model"),
    ("LLM_RESPONSE_FORMAT", "llm.response_format"),
    ("LLM_TIMEOUT", "llm.timeout"),
    ("LLM_MAX_TOKENS", "llm.max_tokens"),
    ("LLM_SYSTEM_IN_USER", "llm.system_in_user"),
];

impl Config {
    /// Loads the configuration: defaults, then the file (the given path, else
    /// `CRMBOT_CONFIG`, else `./crmbot.toml` when it exists), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(path, |name| std::env::var(name).ok())
    }

    /// `load` with the environment supplied by the caller (tests pass a map).
    pub fn load_with(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path: Option<PathBuf> = match path {
            Some(p) => Some(p.to_path_buf()),
            None => match env("CRMBOT_CONFIG").filter(|s| !s.is_empty()) {
                Some(p) => Some(PathBuf::from(p)),
                None => Some(PathBuf::from("crmbot.toml")).filter(|p| p.exists()),
            },
        };
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: p.clone(),
                    message,
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.check()?;
        Ok(config)
    }

    /// Parses a crmbot.toml text over the defaults. The error names the key and the line.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        // An object table in the file replaces that default; the others stay.
        let mut objects = default_objects();
        let given: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(toml::Value::Table(obj)) = given.get("objects") {
            for name in obj.keys() {
                if let Some(cfg) = config.objects.remove(name) {
                    objects.insert(name.clone(), cfg);
                }
            }
        }
        objects.retain(|_, o| o.enabled);
        config.objects = objects;
        // The same for queryable objects.
        let mut queryable = AskSettings::default().objects;
        if let Some(toml::Value::Table(obj)) = given.get("ask").and_then(|a| a.get("objects")) {
            for name in obj.keys() {
                if let Some(cfg) = config.ask.objects.remove(name) {
                    queryable.insert(name.clone(), cfg);
                }
            }
        }
        queryable.retain(|_, o| o.enabled);
        config.ask.objects = queryable;
        // `key = ""` means "not set", as it does in the environment.
        for secret in [
            &mut config.audit_key,
            &mut config.store.database_url,
            &mut config.secret_key,
            &mut config.slack.signing_secret,
            &mut config.slack.bot_token,
            &mut config.slack.app_token,
            &mut config.salesforce.access_token,
            &mut config.salesforce.client_secret,
            &mut config.salesforce.refresh_token,
            &mut config.llm.api_key,
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose_secret().trim().is_empty())
            {
                *secret = None;
            }
        }
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let files = secret_files(&env)?;
        let get = |name: &'static str| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| files.get(name).cloned())
        };
        let url = |name: &'static str, v: String| {
            Url::parse(v.trim()).map_err(|e| ConfigError::Env {
                name,
                message: format!("{e} (expected a URL such as https://example.com)"),
            })
        };
        let secret = |v: String| Some(SecretString::from(v.trim().to_string()));

        if let Some(v) = get("CRMBOT_LISTEN") {
            self.listen = v.trim().parse().map_err(|e| ConfigError::Env {
                name: "CRMBOT_LISTEN",
                message: format!("{e} (expected an address such as 0.0.0.0:3000)"),
            })?;
        }
        if let Some(v) = get("CRMBOT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("CRMBOT_AUDIT_KEY") {
            self.audit_key = secret(v);
        }
        if let Some(v) = get("CRMBOT_DATABASE_URL") {
            self.store.database_url = secret(v);
        }
        if let Some(v) = get("CRMBOT_SECRET_KEY") {
            self.secret_key = secret(v);
        }
        if let Some(v) = get("SLACK_SIGNING_SECRET") {
            self.slack.signing_secret = secret(v);
        }
        if let Some(v) = get("SLACK_BOT_TOKEN") {
            self.slack.bot_token = secret(v);
        }
        if let Some(v) = get("SLACK_APP_TOKEN") {
            self.slack.app_token = secret(v);
        }
        if let Some(v) = get("SLACK_API_URL") {
            self.slack.api_url = url("SLACK_API_URL", v)?;
        }
        if let Some(v) = get("SALESFORCE_INSTANCE_URL") {
            self.salesforce.instance_url = Some(url("SALESFORCE_INSTANCE_URL", v)?);
        }
        if let Some(v) = get("SALESFORCE_ACCESS_TOKEN") {
            self.salesforce.access_token = secret(v);
        }
        if let Some(v) = get("SALESFORCE_CLIENT_ID") {
            self.salesforce.client_id = Some(v.trim().to_string());
        }
        if let Some(v) = get("SALESFORCE_CLIENT_SECRET") {
            self.salesforce.client_secret = secret(v);
        }
        if let Some(v) = get("SALESFORCE_USERNAME") {
            self.salesforce.username = Some(v.trim().to_string());
        }
        if let Some(v) = get("SALESFORCE_PRIVATE_KEY_FILE") {
            self.salesforce.private_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SALESFORCE_REFRESH_TOKEN") {
            self.salesforce.refresh_token = secret(v);
        }
        if let Some(v) = get("SALESFORCE_LOGIN_URL") {
            self.salesforce.login_url = Some(url("SALESFORCE_LOGIN_URL", v)?);
        }
        if let Some(v) = get("SALESFORCE_API_VERSION") {
            self.salesforce.api_version = v.trim().to_string();
        }
        if let Some(v) = get("SALESFORCE_IDENTITY") {
            self.salesforce.identity = match v.trim().to_ascii_lowercase().as_str() {
                "integration" => Identity::Integration,
                "user" => Identity::User,
                other => {
                    return Err(ConfigError::Env {
                        name: "SALESFORCE_IDENTITY",
                        message: format!(
                            "unknown identity '{other}' (expected integration or user)"
                        ),
                    });
                }
            };
        }
        if let Some(v) = get("SALESFORCE_CALLBACK_URL") {
            self.salesforce.callback_url = Some(url("SALESFORCE_CALLBACK_URL", v)?);
        }
        if let Some(v) = get("LLM_PROVIDER") {
            self.llm.provider = Some(match v.trim().to_ascii_lowercase().as_str() {
                "openai" => LlmProvider::Openai,
                "anthropic" => LlmProvider::Anthropic,
                "rules" => LlmProvider::Rules,
                other => {
                    return Err(ConfigError::Env {
                        name: "LLM_PROVIDER",
                        message: format!(
                            "unknown provider '{other}' (expected openai, anthropic or rules)"
                        ),
                    });
                }
            });
        }
        if let Some(v) = get("LLM_BASE_URL") {
            self.llm.base_url = Some(url("LLM_BASE_URL", v)?);
        }
        if let Some(v) = get("LLM_API_KEY") {
            self.llm.api_key = secret(v);
        }
        if let Some(v) = get("LLM_MODEL") {
            self.llm.model = Some(v.trim().to_string());
        }
        if let Some(v) = get("LLM_RESPONSE_FORMAT") {
            self.llm.response_format =
                ResponseFormat::parse(&v).ok_or_else(|| ConfigError::Env {
                    name: "LLM_RESPONSE_FORMAT",
                    message: format!(
                        "unknown format '{}' (expected auto, json_schema, json_object_schema, json_object, prompt or none)",
                        v.trim()
                    ),
                })?;
        }
        let positive = |name: &'static str, v: String| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::Env {
                    name,
                    message: format!("'{}' is not a whole number above 0", v.trim()),
                })
        };
        if let Some(v) = get("LLM_TIMEOUT") {
            self.llm.timeout = Duration::from_secs(positive("LLM_TIMEOUT", v)?.into());
        }
        if let Some(v) = get("LLM_MAX_TOKENS") {
            self.llm.max_tokens = positive("LLM_MAX_TOKENS", v)?;
        }
        if let Some(v) = get("LLM_SYSTEM_IN_USER") {
            self.llm.system_in_user = Some(match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                other => {
                    return Err(ConfigError::Env {
                        name: "LLM_SYSTEM_IN_USER",
                        message: format!("'{other}' is not true or false"),
                    });
                }
            });
        }
        Ok(())
    }
}

/// Secrets that may also come from a file named by `<NAME>_FILE` (container secrets).
pub const SECRET_VARS: &[&str] = &[
    "CRMBOT_AUDIT_KEY",
    "CRMBOT_DATABASE_URL",
    "CRMBOT_SECRET_KEY",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SALESFORCE_ACCESS_TOKEN",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_REFRESH_TOKEN",
    "LLM_API_KEY",
];

/// The secrets given as files: `SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token` reads
/// the token from that file (the variable itself wins when both are set).
fn secret_files(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for name in SECRET_VARS {
        let Some(path) = env(&format!("{name}_FILE")).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        let text = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Env {
            name,
            message: format!("{name}_FILE={}: {e}", path.trim()),
        })?;
        let value = text.trim().to_string();
        if !value.is_empty() {
            out.insert(*name, value);
        }
    }
    Ok(out)
}

/// Shows that a secret is set without showing it.
fn mask_opt<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) if !v.expose_secret().is_empty() => s.serialize_str("********"),
        _ => s.serialize_str(""),
    }
}

/// Durations as whole seconds in crmbot.toml (`describe_ttl = 3600`).
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod ask;
mod check;
mod defaults;
mod llm;
mod people;
mod policy;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;

pub use check::slack_token_kind;
pub use defaults::default_objects;
