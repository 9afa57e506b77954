//! Prometheus metrics for operators: what Slack asked and how fast it was answered, what
//! happened to drafts and writes, what Salesforce and the model were asked. Counters are
//! bumped where the thing happens (the `metrics` facade: a no-op until a recorder is
//! installed); `GET /metrics` renders them in Prometheus' text format.
//!
//! Names and labels are few and bounded: endpoints, HTTP statuses, audit kinds, request
//! kinds, providers — never a user, a record or an id.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds buckets fit for both an ack (milliseconds) and a model call (tens of seconds).
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle). `None`
/// when another recorder was installed first: metrics then go there, and `/metrics` says so.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// How often `upkeep` runs (what the exporter's own installer does).
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds the samples histograms gathered since the last call into their buckets. Until
/// then each sample is kept one by one, so a crmbot nobody scrapes would grow by every ack
/// it ever answered; `serve` calls this every `UPKEEP_EVERY`.
pub fn upkeep() {
    if let Some(h) = install() {
        h.run_upkeep();
    }
}

/// The text `GET /metrics` answers.
pub fn render() -> String {
    match install() {
        Some(h) => h.render(),
        None => "# crmbot: another metrics recorder is installed in this process\n".into(),
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "crmbot_slack_requests_total",
        "Slack requests by endpoint and HTTP status answered"
    );
    describe_histogram!(
        "crmbot_slack_ack_seconds",
        "Time from a Slack request arriving to crmbot's answer, by endpoint"
    );
    describe_counter!(
        "crmbot_actions_total",
        "Audited events: drafted, approve_requested, written, write_failed, write_unknown, rejected, expired, asked, ..."
    );
    describe_counter!(
        "crmbot_salesforce_requests_total",
        "Requests sent to Salesforce by method and kind (query, describe, composite, sobjects, other)"
    );
    describe_gauge!(
        "crmbot_salesforce_api_requests_used",
        "The org's API requests used in the last 24 h (Sforce-Limit-Info)"
    );
    describe_gauge!(
        "crmbot_salesforce_api_requests_max",
        "The org's daily API request allowance (Sforce-Limit-Info)"
    );
    describe_counter!(
        "crmbot_llm_calls_total",
        "Model calls by provider, purpose and outcome"
    );
    describe_counter!(
        "crmbot_llm_tokens_total",
        "Model tokens by kind (prompt, completion)"
    );
    describe_histogram!("crmbot_llm_call_seconds", "Model call latency by provider");
    describe_gauge!(
        "crmbot_pending_actions",
        "Actions waiting on a person or on Salesforce, by state"
    );
    describe_gauge!(
        "crmbot_jobs",
        "Background jobs taken and not finished (running or queued), by lane: drafts, questions, decisions, notices"
    );
}

/// One Slack request answered.
pub fn slack_request(endpoint: &'static str, status: u16, took: Duration) {
    counter!("crmbot_slack_requests_total", "endpoint" => endpoint, "status" => status.to_string())
        .increment(1);
    histogram!("crmbot_slack_ack_seconds", "endpoint" => endpoint).record(took.as_secs_f64());
}

/// One audit record appended (its kind names the event).
pub fn action_event(kind: &'static str) {
    counter!("crmbot_actions_total", "event" => kind).increment(1);
}

/// One request sent to Salesforce.
pub fn salesforce_request(method: &str, path: &str) {
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "other",
    };
    counter!("crmbot_salesforce_requests_total", "method" => method, "kind" => salesforce_kind(path))
        .increment(1);
}

/// The org's API usage as Salesforce last reported it.
pub fn salesforce_usage(used: u64, max: u64) {
    gauge!("crmbot_salesforce_api_requests_used").set(used as f64);
    gauge!("crmbot_salesforce_api_requests_max").set(max as f64);
}

/// What a request path is, in a word.
fn salesforce_kind(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    if path.ends_with("/query") || path.contains("/query/") {
        "query"
    } else if path.ends_with("/describe") {
        "describe"
    } else if path.contains("/composite") {
        "composite"
    } else if path.contains("/sobjects") {
        "sobjects"
    } else {
        "other"
    }
}

/// One model call finished (`ok` false: an error answer or none).
pub fn llm_call(
    provider: &'static str,
    purpose: &str,
    ok: bool,
    took: Duration,
    tokens: (u64, u64),
) {
    let purpose = match purpose {
        "draft" => "draft",
        "plan" => "plan",
        "repair" => "repair",
        "summarize" => "summarize",
        "probe" => "probe",
        _ => "other",
    };
    let outcome = if ok { "ok" } else { "error" };
    counter!("crmbot_llm_calls_total", "provider" => provider, "purpose" => purpose, "outcome" => outcome)
        .increment(1);
    histogram!("crmbot_llm_call_seconds", "provider" => provider).record(took.as_secs_f64());
    counter!("crmbot_llm_tokens_total", "kind" => "prompt").increment(tokens.0);
    counter!("crmbot_llm_tokens_total", "kind" => "completion").increment(tokens.1);
}

/// Actions waiting, by state (set at each scrape).
pub fn pending(state: &'static str, n: usize) {
    gauge!("crmbot_pending_actions", "state" => state).set(n as f64);
}

/// Jobs of a lane running or queued (set at each scrape).
pub fn jobs(lane: &'static str, n: usize) {
    gauge!("crmbot_jobs", "lane" => lane).set(n as f64);
}

#[cfg(test)]
mod tests {
    use super::{install, render, salesforce_kind, slack_request, upkeep};

    /// The count of `crmbot_slack_ack_seconds` for the `upkeep-test` endpoint.
    fn acks_counted() -> u64 {
        render()
            .lines()
            .find(|l| l.starts_with("crmbot_slack_ack_seconds_count") && l.contains("upkeep-test"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn upkeep_folds_samples_into_the_histogram_and_loses_none() {
        if install().is_none() {
            return;
        }
        let before = acks_counted();
        for _ in 0..1_000 {
            slack_request("upkeep-test", 200, std::time::Duration::from_micros(300));
        }
        upkeep();
        assert_eq!(acks_counted(), before + 1_000);
        upkeep();
        assert_eq!(acks_counted(), before + 1_000, "folded once, not twice");
    }

    #[test]
    fn request_kinds_are_a_few_words() {
        assert_eq!(
            salesforce_kind("/services/data/v62.0/query?q=SELECT+Id"),
            "query"
        );
        assert_eq!(
            salesforce_kind("/services/data/v62.0/sobjects/Lead/describe"),
            "describe"
        );
        assert_eq!(
            salesforce_kind("/services/data/v62.0/composite"),
            "composite"
        );
        assert_eq!(
            salesforce_kind("/services/data/v62.0/sobjects/Lead/Crmbot_Key__c/x-0"),
            "sobjects"
        );
        assert_eq!(salesforce_kind("/services/data/v62.0/limits"), "other");
    }
}
