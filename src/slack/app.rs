//! The running Slack app: shared state and the HTTP router. The slow work after Slack has
//! had its answer (Slack waits 3 seconds at most) runs in the lanes of `lanes`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::SecretString;
use tracing::warn;

use super::cards::CardSettings;
use super::gate::Workspaces;
pub use super::lanes::Jobs;
use super::limit::UserLimit;
use super::templates::Templates;
use super::web::{BotIdentity, SlackWeb};
use crate::config::AnswerSettings;
use crate::flow::actions::Actions;
use crate::flow::ask::Asking;
use crate::flow::storage::Store;

/// Everything a request handler needs. Cheap to clone: every request and every job takes
/// a copy, so the parts live behind one `Arc` (a deep copy per request cost ~5 % of a
/// draft's CPU in `cargo bench --bench burst`).
#[derive(Clone)]
pub struct SlackApp(Arc<SlackAppParts>);

impl SlackApp {
    pub fn new(parts: SlackAppParts) -> SlackApp {
        SlackApp(Arc::new(parts))
    }
}

impl std::ops::Deref for SlackApp {
    type Target = SlackAppParts;
    fn deref(&self) -> &SlackAppParts {
        &self.0
    }
}

/// What a [`SlackApp`] holds.
pub struct SlackAppParts {
    pub actions: Actions,
    pub asking: Asking,
    pub web: SlackWeb,
    pub templates: Arc<Templates>,
    pub signing_secret: SecretString,
    pub bot: BotIdentity,
    pub store: Store,
    pub jobs: Jobs,
    pub max_notes_chars: usize,
    /// The workspaces whose requests crmbot answers.
    pub workspaces: Workspaces,
    /// Where answers go and what they may show (`[policy.answers]`).
    pub answers: AnswerSettings,
    pub card: CardSettings,
    /// Requests a minute one person may start (`slack.user_rate_limit`).
    pub limit: UserLimit,
    /// What housekeeping keeps, and where.
    pub keep: Keep,
    /// Who has opened the App Home tab (their view is kept fresh).
    pub home: super::home::HomeViews,
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

/// Prometheus' text format (see README "Metrics"); for the operator's network, not Slack's.
pub const METRICS_PATH: &str = "/metrics";

pub fn router(app: SlackApp) -> Router {
    crate::metrics::install();
    Router::new()
        .route(COMMANDS_PATH, post(super::commands::handle))
        .route(INTERACTIVITY_PATH, post(super::interactions::handle))
        .route(EVENTS_PATH, post(super::events::handle))
        .layer(from_fn(count_slack))
        .route("/healthz", get(|| async { "ok" }))
        // Salesforce's sign-in sends the person's browser here (per-user sign-in).
        .route(super::signin::CALLBACK_PATH, get(super::signin::callback))
        .route(METRICS_PATH, get(metrics))
        .with_state(app)
}

/// Counts each Slack request by endpoint and the status it was answered with, and times the
/// answer.
async fn count_slack(request: Request, next: Next) -> Response {
    let endpoint = match request.uri().path() {
        COMMANDS_PATH => "commands",
        INTERACTIVITY_PATH => "interactivity",
        EVENTS_PATH => "events",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::slack_request(endpoint, response.status().as_u16(), started.elapsed());
    response
}

async fn metrics(State(app): State<SlackApp>) -> ([(header::HeaderName, &'static str); 1], String) {
    for (lane, n) in app.jobs.depths() {
        crate::metrics::jobs(lane, n);
    }
    let actions = app.actions.clone();
    match tokio::task::spawn_blocking(move || actions.pending_counts()).await {
        Ok(Ok(counts)) => {
            for (state, n) in counts {
                crate::metrics::pending(state.as_str(), n);
            }
        }
        Ok(Err(e)) => warn!(error = %e, "pending actions not counted for /metrics"),
        Err(e) => warn!(error = %e, "pending actions not counted for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}
