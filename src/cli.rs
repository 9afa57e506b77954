//! The command-line front ends: `serve` (Slack), `extract` (drafting without Slack) and
//! `sandbox` (a local Salesforce). Each builds the library's parts from the configuration and prints results.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use secrecy::SecretString;

use crmbot::config::Config;
use crmbot::domain::notes::Notes;
use crmbot::flow::drafting::Drafting;
use crmbot::flow::text;
use crmbot::llm::Llm;
use crmbot::salesforce::SalesforceClient;
use crmbot::sandbox::{self, SandboxOptions};

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Keep the data in this folder (sled), so it survives restarts.
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data: Option<PathBuf>,
    /// Keep the data in memory only (the default when --data is not given).
    #[arg(long)]
    ephemeral: bool,
    /// Seed file (JSON) instead of the built-in demo data.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Extra schema (custom objects and `__c` fields), JSON.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Remove a field from the schema, e.g. `*.Crmbot_Key__c` to play an org without
    /// crmbot's idempotency key field (repeatable).
    #[arg(long, value_name = "OBJECT.FIELD")]
    drop_field: Vec<String>,
    /// Hold every write this many milliseconds before it commits, as a slow org does (the
    /// write still commits if the client gives up waiting).
    #[arg(long, value_name = "MS")]
    commit_delay_ms: Option<u64>,
}

pub async fn sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let mut options = SandboxOptions::default();
    if let Some(dir) = args.data {
        options.storage = sandbox::Storage::Dir(dir);
    }
    if let Some(seed) = args.seed {
        options.seed = sandbox::Seed::File(seed);
    }
    options.extra_schema = args.schema;
    options.drop_fields = args.drop_field;
    options.faults.commit_delay = args.commit_delay_ms.map(std::time::Duration::from_millis);
    sandbox::run(options, args.listen)
        .await
        .with_context(|| format!("sandbox on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn extract(
    mut config: Config,
    notes: Notes,
    today: NaiveDate,
    json: bool,
    use_sandbox: bool,
) -> anyhow::Result<ExitCode> {
    // Held for the whole run: dropping it stops the in-process sandbox.
    let _sandbox = if use_sandbox {
        Some(start_sandbox(&mut config).await?)
    } else {
        None
    };
    let instance_url = config
        .salesforce
        .instance_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let client = SalesforceClient::new(&config.salesforce).map_err(|e| {
        anyhow::anyhow!("{e} (see the README's Salesforce authentication, or try --sandbox)")
    })?;
    let llm = Llm::from_settings(&config.llm).context("model")?;
    let drafting = Drafting::new(
        client.clone(),
        Arc::new(llm),
        config.objects.clone(),
        config.drafting.clone(),
        instance_url,
    );
    let mut proposal = match drafting.draft(&notes, today).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let stats = client.stats();
    proposal.salesforce.requests = stats.requests;
    proposal.salesforce.api_usage = stats.api_usage;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&proposal).context("cannot render the proposal")?
        );
    } else {
        print!("{}", text::render(&proposal));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The question, e.g. "open deals over $20k closing this month?".
    question: String,
    /// Print the answer as JSON (plan, SOQL, rows).
    #[arg(long)]
    json: bool,
    /// Ask a local Salesforce started in-process with its demo data.
    #[arg(long)]
    sandbox: bool,
    /// Your email in Salesforce, for questions about "my" records.
    #[arg(long = "as", value_name = "EMAIL")]
    as_email: Option<String>,
}

struct CliAsker(Option<String>);

impl crmbot::flow::ask::Asker for CliAsker {
    fn key(&self) -> String {
        self.0.clone().unwrap_or_default()
    }
    fn email(&self) -> futures::future::BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.0.clone() })
    }
    fn no_email(&self) -> String {
        "crmbot ask does not know who you are".into()
    }
    fn name_yourself(&self) -> String {
        "Name yourself with --as you@company.com (the email of your Salesforce user).".into()
    }
}

pub async fn ask(mut config: Config, args: AskArgs) -> anyhow::Result<ExitCode> {
    let _sandbox = if args.sandbox {
        Some(start_sandbox(&mut config).await?)
    } else {
        None
    };
    let client = SalesforceClient::new(&config.salesforce).map_err(|e| {
        anyhow::anyhow!("{e} (see the README's Salesforce authentication, or try --sandbox)")
    })?;
    let llm = Llm::from_settings(&config.llm).context("model")?;
    let label = llm.describe();
    let asking = crmbot::flow::ask::Asking::new(client, Arc::new(llm), config.ask.clone());
    let asker = CliAsker(args.as_email.clone());
    let answer = asking
        .ask_traced(&crmbot::flow::ask::AskRequest {
            question: &args.question,
            today: chrono::Local::now().date_naive(),
            previous: None,
            asker: &asker,
            scope: None,
            client: None,
        })
        .await;
    let (answer, calls) = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        // The answer's own keys, plus what the model cost (as `extract --json` reports it).
        let mut out = serde_json::to_value(&answer)?;
        let llm = crmbot::flow::proposal::LlmSummary::new(label, &calls);
        if let Some(map) = out.as_object_mut() {
            map.insert("llm".into(), serde_json::to_value(&llm)?);
            map.insert("llm_calls".into(), serde_json::to_value(&calls)?);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", crmbot::flow::ask::render_text(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the in-process sandbox and points the configuration at it.
async fn start_sandbox(config: &mut Config) -> anyhow::Result<sandbox::RunningSandbox> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a local port for the sandbox")?;
    let running = sandbox::start(listener, SandboxOptions::default())
        .await
        .context("cannot start the local Salesforce")?;
    config.salesforce.instance_url = Some(running.base_url().parse().context("sandbox URL")?);
    config.salesforce.access_token = Some(SecretString::from(sandbox::DEFAULT_TOKEN));
    Ok(running)
}

pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    crmbot::server::preflight(&config).context("crmbot serve")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = crmbot::server::start(&config, listener)
        .await
        .context("crmbot serve")?;
    eprintln!(
        "crmbot serving Slack on http://{} (POST /slack/commands, /slack/interactivity, /slack/events; GET /healthz){}\nmodel: {}",
        running.addr,
        if config.slack.app_token.is_some() {
            "; Socket Mode connected"
        } else {
            ""
        },
        config.llm.describe()
    );
    eprintln!("model: {}", running.model);
    shutdown_signal().await;
    eprintln!("stopping: finishing writes in flight…");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The address to ask (default: http://<CRMBOT_LISTEN>/healthz, 127.0.0.1 for 0.0.0.0).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

/// `crmbot healthcheck`: one GET with a 3-second budget.
pub async fn healthcheck(config: &Config, args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(|| {
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/healthz")
    });
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .context("HTTP client")?;
    match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("{url} answered {}", r.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url}: {}", e.without_url());
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
