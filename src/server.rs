//! `crmbot serve`: builds the parts from the configuration, reconciles writes a previous run
//! left unfinished, expires stale drafts, and serves Slack's endpoints until told to stop;
//! then finishes the writes in flight and flushes the database. Tests start it in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::{Config, Identity, PeopleSettings};
use crate::flow::actions::{ActionError, Actions, WriteSettings};
use crate::flow::ask::Asking;
use crate::flow::drafting::Drafting;
use crate::flow::people::People;
use crate::flow::policy::Access;
use crate::flow::signin::{Clients, SignIn, SignInSettings};
use crate::flow::storage::make_private;
use crate::flow::storage::{MAKE_KEY, SealKey, Tokens};
use crate::flow::storage::{Store, StoreError};
use crate::llm::{Llm, LlmError};
use crate::salesforce::{SalesforceClient, SalesforceError};
use crate::slack::cards::CardSettings;
use crate::slack::gate::Workspaces;
use crate::slack::groups::SlackGroups;
use crate::slack::interactions::show;
use crate::slack::limit::UserLimit;
use crate::slack::templates::{TemplateError, Templates};
use crate::slack::web::{SlackError, SlackWeb};
use crate::slack::{Jobs, Keep, SlackApp, SlackAppParts, router};

/// How long shutdown waits for writes in flight.
const DRAIN: Duration = Duration::from_secs(30);
/// How often waiting drafts are checked for expiry.
const EXPIRY_TICK: Duration = Duration::from_secs(300);
/// How often old event ids and thread plans are pruned.
const HOUSEKEEPING_TICK: Duration = Duration::from_secs(3_600);
/// The lease of the timers: expiry, housekeeping, and the writes nobody follows any more
/// (PostgreSQL: one replica runs them; another takes over when the holder has not renewed
/// it for `lease_ttl`).
const LEASE_TIMERS: &str = "timers";
/// The lease of the start-up reconcile.
const LEASE_RECONCILE: &str = "reconcile";
/// How long the reconcile lease holds: it is given up as soon as the reconcile is done, so
/// this only matters when its holder dies during it (the timers then take over).
const RECONCILE_TTL: Duration = Duration::from_secs(900);
/// The shortest timers lease: leases count whole seconds.
const LEASE_FLOOR: Duration = Duration::from_secs(5);
/// How long a Slack event id is remembered (Slack retries within minutes).
const SEEN_EVENTS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Why the server could not start. Each message is complete on its own (no source chain),
/// so `main` prints it once.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}", settings_text(.0))]
    Settings(Vec<String>),
    /// Salesforce's and the model's errors name their part already.
    #[error("{0}")]
    Salesforce(SalesforceError),
    #[error("{0}")]
    Llm(LlmError),
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Actions(ActionError),
    #[error("{0}")]
    Templates(TemplateError),
    #[error("Slack's auth.test: {0}")]
    Slack(SlackError),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
}

macro_rules! from {
    ($($variant:ident($t:ty)),*) => {$(
        impl From<$t> for ServeError {
            fn from(e: $t) -> Self {
                ServeError::$variant(e)
            }
        }
    )*};
}
from!(
    Salesforce(SalesforceError),
    Llm(LlmError),
    Store(StoreError),
    Actions(ActionError),
    Templates(TemplateError),
    Slack(SlackError)
);

fn settings_text(problems: &[String]) -> String {
    match problems {
        [one] => format!("cannot start: {one}"),
        many => format!(
            "cannot start; {} settings to fix:\n  • {}",
            many.len(),
            many.join("\n  • ")
        ),
    }
}

/// Everything `serve` needs that can be told without a network call, all at once: the
/// Slack credentials and their kinds, the Salesforce settings, the model's settings.
pub fn preflight(config: &Config) -> Result<(), ServeError> {
    let mut problems = config.slack_problems();
    if let Err(e) = SalesforceClient::new(&config.salesforce) {
        problems.push(e.to_string());
    }
    if let Err(e) = Llm::from_settings(&config.llm) {
        problems.push(e.to_string());
    }
    problems.extend(signin_problems(config));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ServeError::Settings(problems))
    }
}

/// What per-user sign-in (`salesforce.identity = "user"`) lacks: the connected app's
/// client id, the public callback URL, a sealing key.
fn signin_problems(config: &Config) -> Vec<String> {
    if config.salesforce.identity != Identity::User {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if let Err(words) = SignInSettings::from_settings(&config.salesforce) {
        problems.push(words);
    }
    match &config.secret_key {
        None => problems.push(format!(
            "salesforce.identity = \"user\" keeps each person's Salesforce refresh token sealed, and there is no key: {MAKE_KEY}"
        )),
        Some(key) => {
            if let Err(e) = SealKey::parse(key) {
                problems.push(e.to_string());
            }
        }
    }
    problems
}

/// The per-user clients in user mode (preflight has checked the settings).
fn clients(
    config: &Config,
    salesforce: &SalesforceClient,
    store: &Store,
) -> Result<Clients, ServeError> {
    if config.salesforce.identity != Identity::User {
        return Ok(Clients::integration(salesforce.clone()));
    }
    let settings = SignInSettings::from_settings(&config.salesforce)
        .map_err(|words| ServeError::Settings(vec![words]))?;
    let key = config
        .secret_key
        .as_ref()
        .ok_or_else(|| ServeError::Settings(signin_problems(config)))
        .and_then(|k| SealKey::parse(k).map_err(|e| ServeError::Settings(vec![e.to_string()])))?;
    // The sealed tokens live in the embedded store only, for now.
    let sled = store.as_sled().ok_or_else(|| {
        ServeError::Settings(vec![
            "per-user sign-in (salesforce.identity = \"user\") keeps its sealed tokens in the embedded store, and is not available with CRMBOT_DATABASE_URL yet".into(),
        ])
    })?;
    let tokens = Tokens::open(sled, key)?;
    info!(
        callback = %settings.callback,
        connected = tokens.count(),
        "per-user Salesforce sign-in on"
    );
    Ok(Clients::per_user(
        salesforce.clone(),
        SignIn::new(settings, tokens)?,
    ))
}

/// A running server. `shutdown` stops it gracefully; dropping it without that leaves the
/// tasks running until the runtime ends.
pub struct Running {
    pub addr: SocketAddr,
    /// The model in effect and what the start-up probe found, for the start-up message.
    pub model: String,
    pub app: SlackApp,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    ticker: JoinHandle<()>,
    socket: Option<crate::slack::socket::SocketMode>,
}

impl Running {
    /// Stops accepting requests, waits for jobs in flight, flushes the database.
    pub async fn shutdown(self) {
        if let Some(socket) = &self.socket {
            socket.shutdown().await;
        }
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.ticker.abort();
        let _ = self.ticker.await;
    }
}

/// Builds everything from `config` and serves on `listener`.
pub async fn start(config: &Config, listener: TcpListener) -> Result<Running, ServeError> {
    preflight(config)?;
    // Socket Mode is not signed; the HTTP endpoints then refuse everything without a secret.
    let signing_secret = config
        .slack
        .signing_secret
        .clone()
        .unwrap_or_else(|| secrecy::SecretString::from(""));
    let bot_token = config
        .slack
        .bot_token
        .clone()
        .ok_or_else(|| ServeError::Settings(config.slack_problems()))?;
    let instance_url = config
        .salesforce
        .instance_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        // Optional with OAuth (the token answer names it); the client refuses a static token
        // without it.
        .unwrap_or_default();
    let salesforce = SalesforceClient::new(&config.salesforce)?;
    let llm = Arc::new(Llm::from_settings(&config.llm)?);
    // Settles how a local server takes JSON, and whether it reads the system prompt.
    let model = match llm.startup_report().await {
        Some(found) => format!("{}; {found}", llm.describe()),
        None => llm.describe(),
    };
    let asking = Asking::new(salesforce.clone(), llm.clone(), config.ask.clone());
    let drafting = Drafting::new(
        salesforce.clone(),
        llm,
        config.objects.clone(),
        config.drafting.clone(),
        instance_url,
    );
    let store = Store::open(config)?;
    let web = SlackWeb::new(
        config.slack.api_url.as_str(),
        &bot_token,
        config.slack.timeout,
    )?;
    let bot = web.auth_test().await?;
    let policy = config.effective_policy();
    let groups = Arc::new(SlackGroups::new(web.clone(), policy.group_ttl));
    let people = People::new(
        salesforce.clone(),
        PeopleSettings::from_settings(&config.salesforce),
        groups.clone(),
    );
    let asking = asking.with_people(people.clone());
    let clients = clients(config, &salesforce, &store)?;
    let actions = Actions::new(
        store.clone(),
        drafting,
        Access::new(config.policy_rules(), groups),
        config.drafting.clone(),
        WriteSettings::from_settings(&config.salesforce, &config.slack),
    )?
    .with_people(people)
    .with_clients(clients);
    let templates = Arc::new(Templates::load(config.slack.blocks_dir.as_deref())?);
    let workspaces = Workspaces::new(&policy, &bot);
    let app = SlackApp::new(SlackAppParts {
        actions,
        asking,
        web,
        templates,
        signing_secret,
        bot,
        store,
        jobs: Jobs::new(&config.slack),
        home: crate::slack::home::HomeViews::default(),
        max_notes_chars: config.drafting.max_notes_chars,
        workspaces,
        answers: policy.answers.clone(),
        card: CardSettings {
            notes_excerpt_chars: config.slack.notes_excerpt_chars,
            undo_window: config.policy.undo.window,
        },
        limit: UserLimit::new(config.slack.user_rate_limit),
        keep: Keep {
            decided_days: config.store.keep_decided_days,
            thread_days: config.ask.thread_days,
            data_dir: config.data_dir.clone(),
        },
    });

    // Writes a previous run left in the middle: looked for in Salesforce, never sent again
    // blindly. With PostgreSQL, one replica at a time (the lease's holder).
    if app.store.lease(LEASE_RECONCILE, RECONCILE_TTL) {
        match app.actions.reconcile().await {
            Ok(settled) => {
                for a in &settled {
                    info!(action = %a.id, state = a.state.as_str(), "reconciled after restart");
                    show(&app, a).await;
                }
            }
            Err(e) => error!(error = %e, "reconciliation failed"),
        }
        app.store.release(&[LEASE_RECONCILE]);
    } else {
        info!("another replica is reconciling; this one serves");
    }

    let addr = listener.local_addr().map_err(ServeError::Listen)?;
    let socket = match &config.slack.app_token {
        Some(token) => Some(crate::slack::socket::start(app.clone(), token).await?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let ticker = tokio::spawn({
        let every = (config.salesforce.describe_ttl * 3 / 4).max(Duration::from_secs(1));
        let app = app.clone();
        async move {
            tokio::join!(
                timers(app.clone()),
                refresh_describes(app, every),
                metrics_upkeep()
            );
        }
    });
    let served = app.clone();
    let limits = config.server.clone();
    let task = tokio::spawn(async move {
        crate::http_serve::serve(listener, router(served.clone()), limits, stopped, DRAIN).await;
        if !served.jobs.drain(DRAIN).await {
            warn!("shutdown: some jobs were still running after {DRAIN:?}");
        }
        if let Err(e) = served.store.flush() {
            error!(error = %e, "database flush failed");
        }
        served.store.release(&[LEASE_TIMERS]);
        info!("stopped");
    });
    info!(%addr, model = %config.llm.describe(), "crmbot serving Slack");
    if socket.is_some() {
        info!("Socket Mode connected");
    }
    Ok(Running {
        addr,
        model,
        app,
        stop,
        task,
        ticker,
        socket,
    })
}

/// How often the timers run: as often as `salesforce.recheck_interval` says (at least every
/// `EXPIRY_TICK`, at most every 100 ms).
fn timers_tick(app: &SlackApp) -> Duration {
    app.actions
        .write_settings()
        .recheck
        .clamp(Duration::from_millis(100), EXPIRY_TICK)
}

/// How long the timers lease holds without renewal: three ticks (so one slow tick does not
/// hand it over), at least `LEASE_FLOOR`. The holder renews it every tick, so when it stops
/// another replica takes over within this: 90 s with the default 30 s recheck interval.
fn lease_ttl(tick: Duration) -> Duration {
    (tick * 3).max(LEASE_FLOOR)
}

/// Expiry every `EXPIRY_TICK`, housekeeping every `HOUSEKEEPING_TICK` (both at once at
/// start-up), and every tick the writes nobody follows any more taken over and every
/// unknown write looked for again; each changed action's card is redrawn. With PostgreSQL
/// only the replica holding the timers lease does this.
async fn timers(app: SlackApp) {
    let tick = timers_tick(&app);
    let ttl = lease_ttl(tick);
    let mut last_expiry: Option<std::time::Instant> = None;
    let mut last_housekeeping: Option<std::time::Instant> = None;
    loop {
        // The lease is renewed every tick, so it passes on when its holder stops.
        let leader = app.store.lease(LEASE_TIMERS, ttl);
        if leader && last_expiry.is_none_or(|t| t.elapsed() >= EXPIRY_TICK) {
            last_expiry = Some(std::time::Instant::now());
            match app.actions.expire_due(Utc::now()) {
                Ok(expired) => {
                    for a in &expired {
                        show(&app, a).await;
                    }
                }
                Err(e) => warn!(error = %e, "expiry check failed"),
            }
        }
        if leader && last_housekeeping.is_none_or(|t| t.elapsed() >= HOUSEKEEPING_TICK) {
            last_housekeeping = Some(std::time::Instant::now());
            let (events, plans, decided) = housekeep(&app, Utc::now());
            info!(events, plans, decided, "housekeeping");
        }
        tokio::time::sleep(tick).await;
        // One replica looks, so a write is looked for once per tick, not once per replica.
        if app.store.lease(LEASE_TIMERS, ttl) {
            settle_unknown(&app).await;
        }
    }
}

/// Writes and undos whose process stopped (older than their budget) become unknown, then
/// every unknown write in the store is looked for in Salesforce; the cards are redrawn.
async fn settle_unknown(app: &SlackApp) {
    match app.actions.adopt_orphans(Utc::now()) {
        Ok(adopted) => {
            for a in &adopted {
                warn!(action = %a.id, state = a.state.as_str(), "took over a write whose process stopped");
                show(app, a).await;
            }
        }
        Err(e) => warn!(error = %e, "looking for writes left under way failed"),
    }
    match app.actions.recheck_unknown().await {
        Ok(settled) => {
            for a in &settled {
                info!(action = %a.id, state = a.state.as_str(), "unknown write settled");
                show(app, a).await;
            }
        }
        Err(e) => warn!(error = %e, "checking unknown writes failed"),
    }
}

/// Keeps the metrics' histograms bounded whether or not anyone scrapes `/metrics`.
async fn metrics_upkeep() {
    loop {
        tokio::time::sleep(crate::metrics::UPKEEP_EVERY).await;
        crate::metrics::upkeep();
    }
}

/// Describe fetched again in the background every `every` (before its TTL ends), and the
/// drafting schema rebuilt when it changed, so no person's draft waits for a describe.
/// A failed refresh keeps what there is.
async fn refresh_describes(app: SlackApp, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let drafting = app.actions.drafting();
        match drafting.salesforce().refresh_describes().await {
            Ok(n) => tracing::debug!(objects = n, "describe refreshed"),
            Err(e) => {
                warn!(error = %e, "describe refresh failed; the drafting schema in use is kept");
                continue;
            }
        }
        if let Err(e) = drafting.refresh().await {
            warn!(error = %e, "drafting schema not rebuilt; the one in use is kept");
        }
    }
}

/// Forgets Slack event ids older than `SEEN_EVENTS_KEPT` (Slack retries within minutes)
/// thread plans older than `ask.thread_days` and actions decided more than
/// `store.keep_decided_days` ago, and keeps the data folder private.
/// Returns (event ids, thread plans, decided actions) forgotten.
pub fn housekeep(app: &SlackApp, now: DateTime<Utc>) -> (usize, usize, usize) {
    let events = app
        .store
        .forget_events_before((now - SEEN_EVENTS_KEPT).timestamp())
        .unwrap_or_else(|e| {
            warn!(error = %e, "cannot prune seen event ids");
            0
        });
    let threads_before = now - chrono::Duration::days(i64::from(app.keep.thread_days));
    let plans = (app
        .store
        .thread_plans()
        .and_then(|t| t.forget_before(threads_before.timestamp())))
    .unwrap_or_else(|e| {
        warn!(error = %e, "cannot prune thread plans");
        0
    });
    let decided = match app.keep.decided_days {
        0 => 0,
        days => app
            .actions
            .compact_decided_before(now - chrono::Duration::days(i64::from(days)))
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot compact decided actions");
                0
            }),
    };
    if let Err(e) = make_private(&app.keep.data_dir) {
        warn!(error = %e, "cannot keep the data folder private");
    }
    (events, plans, decided)
}
