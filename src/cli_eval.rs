//! `crmbot eval`: the labelled corpus through the configured model, against an in-process
//! local Salesforce; a progress bar on standard error, the table (or `--json`) on standard
//! output, and exit status 1 when the leak rate is above `--max-leak-rate`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crmbot::config::Config;
use crmbot::eval::corpus::Corpus;
use crmbot::eval::{render_table, run};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A folder with notes.json and/or questions.json (default: the built-in corpus; the
    /// format is in eval/README.md).
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Print the whole report as JSON (for CI).
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when more than N wrong values per 100 proposed would be written
    /// by one click.
    #[arg(long, value_name = "N")]
    max_leak_rate: Option<f64>,
}

pub async fn run_eval(config: Config, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let corpus = match &args.corpus {
        Some(dir) => Corpus::load(dir),
        None => Corpus::built_in(),
    }
    .context("corpus")?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize, id: &str| {
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let bar = format!(
            "[{}{}] {done}/{total} {id}",
            "#".repeat(filled),
            ".".repeat(width - filled)
        );
        let mut err = std::io::stderr();
        if tty {
            let _ = write!(err, "\r\x1b[2K{bar}");
            if done == total {
                let _ = writeln!(err);
            }
        } else if done == total || done.is_multiple_of(10) {
            let _ = writeln!(err, "{bar}");
        }
    };
    let report = run(&config, &corpus, &mut progress).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_table(&report));
    }
    if let Some(max) = args.max_leak_rate
        && report.notes.leak_rate > max
    {
        eprintln!(
            "leak rate {:.1} per 100 is above --max-leak-rate {max}",
            report.notes.leak_rate
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
