//! `crmbot doctor [--json]`: runs every check of `crmbot::doctor` and prints one line per
//! check (or the report as JSON), then exits 1 when any check found a problem, so scripts
//! and CI can gate a deploy on it.

use std::process::ExitCode;

use anyhow::Context;

use crmbot::config::Config;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON: {"version", "ok", "checks": [{"part", "name", "status", "detail", "fix"}]}.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: &Config, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = crmbot::doctor::run(config).await;
    if args.json {
        let body = serde_json::json!({"version": 1, "ok": report.ok(), "checks": report.checks});
        println!(
            "{}",
            serde_json::to_string_pretty(&body).context("cannot render the report")?
        );
    } else {
        print!("{}", report.render_text());
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
