//! `crmbot doctor`: checks each configured part — the configuration itself, Slack,
//! Salesforce, the model — and says in plain words what is wrong and how to fix it.
//!
//! Why a separate command: every part fails in its own way (a revoked Slack token, a scope
//! missing because the app was installed from an older manifest, an expired Salesforce
//! session, a field the org lacks, a model name the provider does not know), and `serve`
//! meets those failures one at a time, in front of a salesperson. The doctor meets them all
//! at once, before anyone does, and names the environment variable or crmbot.toml key that
//! fixes each one.
//!
//! Every check is read-only (nothing is written to Slack or Salesforce), has a timeout, and
//! a check whose prerequisite failed is reported as skipped with the reason, so one root
//! cause gives one problem. No secret is ever part of a check's text: tokens are named by
//! their variable and, at most, their public prefix (`xoxb-`).

mod keys;
mod local;
mod model;
mod people;
mod policy;
mod salesforce;
mod signin;
mod slack;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;

/// How long one check may take before it is reported as a problem.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Drafting the sample note makes a model call, which legitimately takes longer than a
/// Salesforce read; it gets its own, longer limit.
pub const DRAFT_TIMEOUT: Duration = Duration::from_secs(60);

/// The parts a check belongs to, in the order they are reported.
pub const CONFIG: &str = "Config";
pub const SLACK: &str = "Slack";
pub const SALESFORCE: &str = "Salesforce";
pub const MODEL: &str = "Model";

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, but not fully (e.g. the offline model cannot answer questions).
    Warning,
    /// Does not work; `crmbot doctor` exits 1.
    Problem,
    /// Not checked because something it needs failed or is not configured.
    Skipped,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// "Config", "Slack", "Salesforce" or "Model".
    pub part: &'static str,
    /// What was checked, e.g. "auth.test" or `objects.Lead.fields`.
    pub name: String,
    pub status: Status,
    /// What was found, in plain words.
    pub detail: String,
    /// How to fix it, naming the environment variable or crmbot.toml key.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(part: &'static str, name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            part,
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warning(
        part: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Warning,
            fix: Some(fix.into()),
            ..Check::ok(part, name, detail)
        }
    }

    pub fn problem(
        part: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Problem,
            fix: Some(fix.into()),
            ..Check::ok(part, name, detail)
        }
    }

    pub fn skipped(
        part: &'static str,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Skipped,
            ..Check::ok(part, name, reason)
        }
    }
}

/// Every check, in the order they were made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check found a problem (warnings and skipped checks are fine).
    pub fn ok(&self) -> bool {
        self.count(Status::Problem) == 0
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// One line per check, then a summary: what `crmbot doctor` prints.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warning => "⚠",
                Status::Problem => "✗",
                Status::Skipped => "-",
            };
            let detail = match c.status {
                Status::Skipped => format!("skipped: {}", c.detail),
                _ => c.detail.clone(),
            };
            out.push_str(&format!("{mark} {:<10}  {}: {detail}", c.part, c.name));
            if let Some(fix) = &c.fix {
                out.push_str(&format!(" → {fix}"));
            }
            out.push('\n');
        }
        let (problems, warnings) = (self.count(Status::Problem), self.count(Status::Warning));
        out.push_str(&format!(
            "\n{} ok, {} {}, {} {}, {} skipped: {}\n",
            self.count(Status::Ok),
            warnings,
            plural(warnings, "warning"),
            problems,
            plural(problems, "problem"),
            self.count(Status::Skipped),
            if problems == 0 {
                "crmbot is ready."
            } else {
                "fix the problems marked ✗ and run `crmbot doctor` again."
            }
        ));
        out
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Runs every check. Slack and Salesforce are checked at the same time; the model after
/// Salesforce, because drafting the sample note needs the org's describe.
pub async fn run(config: &Config) -> Report {
    let mut checks = local::checks(config).await;
    let (slack_checks, (sf_checks, org)) =
        tokio::join!(slack::checks(config), salesforce::checks(config));
    checks.extend(slack_checks);
    checks.extend(sf_checks);
    checks.extend(signin::checks(config).await);
    checks.push(people::check(config, org.as_ref()).await);
    checks.extend(model::checks(config, org).await);
    Report { checks }
}

/// Runs `work` with `limit`; a check that takes longer becomes `Err` with a message naming
/// the limit.
pub(crate) async fn timed<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("no answer within {} s", limit.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_fails_the_report_and_the_text_names_the_fix() {
        let report = Report {
            checks: vec![
                Check::ok(SLACK, "auth.test", "team Acme, bot @crmbot"),
                Check::problem(
                    SALESFORCE,
                    "API version",
                    "v99.0 is not offered; newest is v62.0",
                    "set SALESFORCE_API_VERSION=v62.0",
                ),
                Check::skipped(MODEL, "draft", "Salesforce is not reachable"),
            ],
        };
        assert!(!report.ok());
        let text = report.render_text();
        assert!(
            text.contains("✓ Slack       auth.test: team Acme, bot @crmbot\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "✗ Salesforce  API version: v99.0 is not offered; newest is v62.0 → set SALESFORCE_API_VERSION=v62.0"
            ),
            "{text}"
        );
        assert!(text.contains("- Model       draft: skipped: Salesforce is not reachable"));
        assert!(
            text.contains("1 ok, 0 warnings, 1 problem, 1 skipped"),
            "{text}"
        );
    }

    #[test]
    fn warnings_and_skips_keep_the_report_ok() {
        let report = Report {
            checks: vec![
                Check::warning(MODEL, "provider", "offline", "set LLM_API_KEY"),
                Check::skipped(SLACK, "scopes", "no token"),
            ],
        };
        assert!(report.ok());
        assert!(report.render_text().ends_with("crmbot is ready.\n"));
    }
}
