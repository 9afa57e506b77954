//! The `crmbot` command: parses the command line, loads the configuration once, sets up
//! logging, and hands over to the library. The only place that knows about processes, exit
//! codes and `anyhow`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crmbot::config::Config;
use crmbot::domain::notes::{Notes, SAMPLE_NOTE};

mod cli;
mod cli_audit;
mod cli_demo;
mod cli_doctor;
mod cli_eval;
mod cli_migrate;

/// crmbot: meeting notes in, Salesforce records out, a person approving every write.
#[derive(Debug, Parser)]
#[command(name = "crmbot", version, about)]
struct Cli {
    /// crmbot.toml to read (default: $CRMBOT_CONFIG, else ./crmbot.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Log lines as text (coloured only on a terminal) or as JSON, one object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CRMBOT_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole product on this machine, nothing to configure: a local Salesforce with demo
    /// data and a console that stands in for Slack (/crm log, approve, edit, reject, ask).
    Demo(cli_demo::DemoArgs),
    /// Serve Slack: /crm log -> card -> Approve -> Salesforce. Answers the paths of
    /// manifest.yaml on CRMBOT_LISTEN; needs SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and
    /// Salesforce settings.
    Serve,
    /// Draft records from notes without writing anything: prints each record with its action
    /// (create / update / ambiguous), fields, warnings and problems.
    Extract(ExtractArgs),
    /// Ask a question about the pipeline: the model plans, crmbot builds and runs the SOQL,
    /// and prints the rows (or, with --json, the whole answer).
    Ask(cli::AskArgs),
    /// Print the effective configuration, secrets masked.
    Config,
    /// Run a local Salesforce (REST-compatible) for tests, the demo and prompt work.
    Sandbox(cli::SandboxArgs),
    /// Read and check the audit log (in data_dir): list, show, export, verify.
    Audit(cli_audit::AuditArgs),
    /// Copy a sled data folder (drafts, thread plans, the audit chain) into PostgreSQL and
    /// verify the chain there: `crmbot migrate --from sled --to postgres://…`.
    Migrate(cli_migrate::MigrateArgs),
    /// Check every configured part (Slack, Salesforce, the model, the config) and say what
    /// is wrong and how to fix it. Exit status 1 when something is.
    Doctor(cli_doctor::DoctorArgs),
    /// Ask a running `crmbot serve` whether it answers (GET /healthz on CRMBOT_LISTEN, or
    /// --url): exit 0 when it does. For container health checks.
    Healthcheck(cli::HealthcheckArgs),
    /// Measure drafts and answers on a labelled corpus against a local Salesforce: precision,
    /// recall, leak rate (wrong values one click would write), false alarms, question
    /// correctness, calls, tokens, latency.
    Eval(cli_eval::EvalArgs),
}

#[derive(Debug, clap::Args)]
struct ExtractArgs {
    /// The notes, inline.
    #[arg(long, conflicts_with_all = ["file", "sample"])]
    text: Option<String>,
    /// Read the notes from a file ("-" for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "sample")]
    file: Option<PathBuf>,
    /// Use the built-in sample note (Daniel Reed of Apex Corp).
    #[arg(long)]
    sample: bool,
    /// Print the proposal as JSON (the shape is documented in the README).
    #[arg(long)]
    json: bool,
    /// The note's date, for relative dates such as "next Friday" (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<NaiveDate>,
    /// Draft against a local Salesforce started in-process with its demo data, instead of
    /// SALESFORCE_INSTANCE_URL. Needs no configuration.
    #[arg(long)]
    sandbox: bool,
}

/// glibc gives each busy thread a malloc arena of its own (up to 8 per core) and keeps what
/// a burst freed in each: two arenas held memory after a burst within 2× of idle where the
/// default doubled it (`cargo bench --bench burst`). `MALLOC_ARENA_MAX` still wins.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator tunable; called before any other thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    few_malloc_arenas();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: many errors already quote their cause in
/// their own message, which `{:#}` would print a second time.
fn report(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref()).context("configuration")?;
    match cli.command {
        Command::Config => {
            print!("{}", config.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox(args) => cli::sandbox(args).await,
        Command::Serve => cli::serve(config).await,
        Command::Healthcheck(args) => cli::healthcheck(&config, args).await,
        Command::Demo(args) => cli_demo::demo(config, args, SAMPLE_NOTE).await,
        Command::Ask(args) => cli::ask(config, args).await,
        Command::Audit(args) => cli_audit::run(&config, args),
        Command::Migrate(args) => cli_migrate::run(&config, args),
        Command::Doctor(args) => cli_doctor::run(&config, args).await,
        Command::Eval(args) => cli_eval::run_eval(config, args).await,
        Command::Extract(args) => {
            let notes = read_notes(&args)?;
            let today = args
                .today
                .unwrap_or_else(|| chrono::Local::now().date_naive());
            cli::extract(config, notes, today, args.json, args.sandbox).await
        }
    }
}

fn read_notes(args: &ExtractArgs) -> anyhow::Result<Notes> {
    if args.sample {
        return Ok(Notes::new(SAMPLE_NOTE));
    }
    if let Some(text) = &args.text {
        return Ok(Notes::new(text.as_str()));
    }
    let from_stdin = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(Notes::new(text));
        }
        Some(_) => true,
        None => !std::io::stdin().is_terminal(),
    };
    if !from_stdin {
        bail!(
            "no notes given: use --text \"...\", --file FILE, --sample, or pipe them on standard input"
        );
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    Ok(Notes::new(text))
}

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "crmbot=info",
        _ => "crmbot=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only where a person reads them.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
