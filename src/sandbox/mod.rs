//! A local Salesforce: a real HTTP server speaking Salesforce's REST shapes and errors, so
//! tests, the demo and prompt work run without an org, through the same client code that
//! talks to production.
//!
//! # Layout
//!
//! * `server`: `start` (tests), `run` (the `crmbot sandbox` command), `RunningSandbox`.
//! * `http`: each request: recording, faults, auth, `Sforce-Limit-Info`, versions, OAuth.
//! * `routes`: one REST call -> handler, shared by top-level requests and composite subrequests.
//! * `records`, `validate`, `duplicates`: writes as Salesforce checks them.
//! * `composite`: composite and tree; `collections`: sObject collections (upsert too). `query`: SOQL paging over `soql` (the engine).
//! * `schema` (+ `default_schema.json`), `describe`: objects and fields, describe JSON.
//! * `store`: in-memory records with a memory or sled backend, transactions with rollback.
//! * `seed` (+ `default_seed.json`), `oauth`, `faults`, `ids`, `errors`.

mod access;
mod collections;
mod composite;
mod describe;
mod duplicates;
mod errors;
mod faults;
mod http;
pub mod ids;
mod oauth;
mod query;
mod records;
mod routes;
mod schema;
mod seed;
mod server;
pub mod soql;
mod store;
mod validate;

use std::path::PathBuf;

use chrono::NaiveDate;

pub use faults::{AfterCommit, FailNext, Faults, LostAnswer};
pub use oauth::{OAuthOptions, ORG_ID};
pub use server::{RecordedRequest, RunningSandbox, run, start};

/// The access token every sandbox accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "sandbox-token";

/// The REST version the sandbox advertises as newest (`GET /services/data/`).
pub const LATEST_VERSION: &str = "v68.0";

/// Where records live.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Storage {
    /// In memory: gone when the sandbox stops (`--ephemeral`).
    #[default]
    Memory,
    /// A sled database in this folder: survives restarts (`--data DIR`).
    Dir(PathBuf),
}

/// What an empty store is filled with at start (a persisted store is never re-seeded).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Seed {
    /// The built-in demo org (see `default_seed.json` and the `seed` module docs).
    #[default]
    Default,
    /// Only a "Sandbox Admin" user.
    Empty,
    /// A seed file (format in the `seed` module docs).
    File(PathBuf),
    /// A seed given inline, same format.
    Json(serde_json::Value),
}

/// How to start a sandbox. `SandboxOptions::default()` is the demo org in memory.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub storage: Storage,
    pub seed: Seed,
    /// Extra schema file (custom `__c` fields and objects; format in the `schema` docs).
    pub extra_schema: Option<PathBuf>,
    /// Extra schema given inline, same format (applied after the file).
    pub extra_schema_json: Option<serde_json::Value>,
    /// Fields removed from the schema (`Object.Field`, or `*.Field` on every object), e.g.
    /// `*.Crmbot_Key__c` for an org without crmbot's idempotency key.
    pub drop_fields: Vec<String>,
    /// Rows per query page (Salesforce: 2000). Tests set e.g. 2 to exercise paging.
    pub page_size: usize,
    /// Static access tokens accepted as `Authorization: Bearer <token>`.
    pub tokens: Vec<String>,
    /// Credentials accepted by `/services/oauth2/token` and minted-token lifetime.
    pub oauth: OAuthOptions,
    pub faults: Faults,
    /// "Today" for date literals and relative seed dates (default: the local date).
    pub today: Option<NaiveDate>,
    /// `DailyApiRequests` Max; past it every API call answers REQUEST_LIMIT_EXCEEDED.
    pub daily_api_limit: u64,
}

impl Default for SandboxOptions {
    fn default() -> SandboxOptions {
        SandboxOptions {
            storage: Storage::Memory,
            seed: Seed::Default,
            extra_schema: None,
            extra_schema_json: None,
            drop_fields: Vec::new(),
            page_size: 2000,
            tokens: vec![DEFAULT_TOKEN.to_string()],
            oauth: OAuthOptions::default(),
            faults: Faults::default(),
            today: None,
            daily_api_limit: 15_000,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("schema: {0}")]
    Schema(String),
    #[error("seed: {0}")]
    Seed(String),
    #[error("storage: {0}")]
    Store(String),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}
