//! `GET /metrics` as Prometheus scrapes it, while the real server does real work: the
//! counters move with what Slack, Salesforce and the model saw. One test in this binary, so
//! the process-wide counters move only with it.

mod common;
mod slack_support;

use common::fixture_draft;
use slack_support::*;

/// The sum of the samples of `name` whose labels include every `label="value"` given.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{').unwrap_or((key, ""));
            (metric == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(bot: &Bot) -> String {
    let res = reqwest::get(bot.url("/metrics")).await.expect("scrape");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain; version=0.0.4"),
        "Prometheus' text format"
    );
    res.text().await.expect("body")
}

/// Requests Salesforce received on its REST API (the token requests are not API calls).
fn api_requests(bot: &Bot) -> usize {
    bot.sandbox.requests().len()
}

#[tokio::test]
async fn the_counters_move_as_crmbot_works() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let before = scrape(&bot).await;
    let sf_before = api_requests(&bot);

    let (id, ts, _) = bot.log(&notes).await;
    let drafted = scrape(&bot).await;
    let delta = |now: &str, name: &str, labels: &[&str]| {
        sample(now, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(
        delta(
            &drafted,
            "crmbot_slack_requests_total",
            &["endpoint=\"commands\"", "status=\"200\""]
        ),
        1.0
    );
    assert_eq!(
        delta(&drafted, "crmbot_actions_total", &["event=\"drafted\""]),
        1.0
    );
    assert_eq!(
        delta(
            &drafted,
            "crmbot_llm_calls_total",
            &["purpose=\"draft\"", "outcome=\"ok\""]
        ),
        1.0
    );
    assert!(delta(&drafted, "crmbot_llm_tokens_total", &["kind=\"prompt\""]) > 0.0);
    assert_eq!(
        sample(&drafted, "crmbot_pending_actions", &["state=\"drafted\""]),
        1.0
    );

    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the written card", "Written to Salesforce").await;
    let bad = bot
        .post_raw(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            "command=%2Fcrm&text=log+x",
            Some(("not-the-secret", &now_ts())),
            &[],
        )
        .await;
    assert_eq!(bad.status(), 401);

    let after = scrape(&bot).await;
    assert_eq!(
        delta(&after, "crmbot_actions_total", &["event=\"written\""]),
        1.0
    );
    assert_eq!(
        delta(
            &after,
            "crmbot_slack_requests_total",
            &["endpoint=\"interactivity\"", "status=\"200\""]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &after,
            "crmbot_slack_requests_total",
            &["endpoint=\"commands\"", "status=\"401\""]
        ),
        1.0,
        "a forged request is counted as refused"
    );
    assert_eq!(
        delta(
            &after,
            "crmbot_slack_ack_seconds_count",
            &["endpoint=\"commands\""]
        ),
        2.0
    );
    // What crmbot counts is what Salesforce received.
    assert_eq!(
        delta(&after, "crmbot_salesforce_requests_total", &[]),
        (api_requests(&bot) - sf_before) as f64
    );
    assert_eq!(
        delta(
            &after,
            "crmbot_salesforce_requests_total",
            &["kind=\"composite\"", "method=\"POST\""]
        ),
        bot.sandbox
            .requests()
            .iter()
            .skip(sf_before)
            .filter(|r| r.method == "POST" && r.path.ends_with("composite"))
            .count() as f64
    );
    assert_eq!(
        sample(&after, "crmbot_pending_actions", &["state=\"drafted\""]),
        0.0
    );
    assert!(after.contains("crmbot_jobs{lane=\"decisions\"}"), "{after}");
}
