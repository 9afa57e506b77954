//! The running Slack app: shared state and the HTTP router. The slow work after Slack has
//! had its answer (Slack waits 3 seconds at most) runs in the lanes of `lanes`.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;

use super::cards::CardSettings;
pub use super::lanes::Jobs;
use super::limit::UserLimit;
use super::templates::Templates;
use super::web::{BotIdentity, SlackWeb};
use crate::flow::actions::Actions;
use crate::flow::ask::Asking;
use crate::store::Store;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct SlackApp {
    pub actions: Actions,
    pub asking: Asking,
    pub web: SlackWeb,
    pub templates: Arc<Templates>,
    pub signing_secret: SecretString,
    pub bot: BotIdentity,
    pub store: Store,
    pub jobs: Jobs,
    pub max_notes_chars: usize,
    pub card: CardSettings,
    /// Requests a minute one person may start (`slack.user_rate_limit`).
    pub limit: UserLimit,
    /// What housekeeping keeps, and where.
    pub keep: Keep,
}

/// What the housekeeping timer keeps.
#[derive(Clone, Debug)]
pub struct Keep {
    /// Days a decided action is kept (`store.keep_decided_days`; 0: forever).
    pub decided_days: u32,
    /// Days a thread's last plan is kept for follow-ups (`ask.thread_days`).
    pub thread_days: u32,
    /// The data folder, kept private.
    pub data_dir: std::path::PathBuf,
}

/// The paths of manifest.yaml.
pub const COMMANDS_PATH: &str = "/slack/commands";
pub const INTERACTIVITY_PATH: &str = "/slack/interactivity";
pub const EVENTS_PATH: &str = "/slack/events";

pub fn router(app: SlackApp) -> Router {
    Router::new()
        .route(COMMANDS_PATH, post(super::commands::handle))
        .route(INTERACTIVITY_PATH, post(super::interactions::handle))
        .route(EVENTS_PATH, post(super::events::handle))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}
