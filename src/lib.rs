//! crmbot turns what salespeople say into Salesforce records, and answers questions about the
//! pipeline, with a person approving every write: **the model proposes, code decides, a person
//! approves, Salesforce stores.**
//!
//! # Layout
//!
//! * `config`: one `Config` from crmbot.toml + environment; secrets never printed.
//! * `domain`: pure rules, no I/O: the draft types, the allowed schema, validation of the
//!   model's reply, SOQL quoting.
//! * `llm`: one interface to the model; providers openai (and compatible), anthropic, rules.
//! * `salesforce`: the REST client (describe cache, queries, composite writes).
//! * `sandbox`: a local Salesforce — a real HTTP server speaking its REST shapes and errors —
//!   for tests, the demo and `crmbot sandbox`; beside the client, not part of it.
//! * `flow`: the use cases (drafting today), used by every front end.
//! * `store`: sled storage; today the hash-chained audit log.
//! * `doctor`: checks every configured part and says how to fix what is wrong.
//! * `eval`: measures drafts and answers on a labelled corpus (`crmbot eval`).
//! * `metrics`: Prometheus counters for operators (`GET /metrics`).
//! * `net`: what every outbound call shares: bounded reads, plain-words connection errors.
//!
//! Arrows go one way: `flow` uses `domain`, `llm` and `salesforce`; `domain` uses none of them;
//! `salesforce` knows nothing of Slack.

pub mod config;
pub mod doctor;
pub mod domain;
pub mod eval;
pub mod flow;
pub mod http_serve;
pub mod llm;
pub mod metrics;
pub mod net;
pub mod salesforce;
pub mod sandbox;
pub mod server;
pub mod slack;
pub mod store;
