//! Questions through Slack: a mention, a DM and `/crm ask`, the real `crmbot serve`, a stub
//! model that returns the plan of tests/fixtures/questions.json, a fake Slack and the
//! sandbox. The answers must list exactly the seeded records the question is about.

mod common;
mod slack_support;

use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use common::start_stub_model_with;
use slack_support::*;

const DANA: &str = "dana.lee@crmbot.example";

fn case(id: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/questions.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap()
}

/// The stub plans every question with `plan` and summarises with a fixed sentence.
async fn bot_answering(plan: &Value) -> Bot {
    let model = start_stub_model_with(&plan.to_string(), "Two deals, both still open.").await;
    Bot::start_with_model(model, |c| c.ask.summarize = true).await
}

fn mention(event_id: &str, text: &str, ts: &str, thread_ts: Option<&str>) -> Value {
    let mut event = json!({"type": "app_mention", "user": REQUESTER, "text": format!("<@{BOT_USER}> {text}"),
                           "ts": ts, "channel": CHANNEL, "event_ts": ts});
    if let Some(t) = thread_ts {
        event["thread_ts"] = json!(t);
    }
    json!({"type": "event_callback", "event_id": event_id, "team_id": "T1", "api_app_id": "A1",
           "event_time": 1700000000, "event": event})
}

/// Names of the records the answer links to.
fn linked_names(blocks: &Value) -> Vec<String> {
    let text = card_text(blocks);
    let mut names = Vec::new();
    for part in text.split("/lightning/r/").skip(1) {
        if let Some(name) = part
            .split_once('|')
            .and_then(|(_, rest)| rest.split_once('>'))
        {
            names.push(name.0.to_string());
        }
    }
    names.sort();
    names
}

fn in_quarter(date: NaiveDate, today: NaiveDate) -> bool {
    date.year() == today.year() && (date.month0() / 3) == (today.month0() / 3)
}

fn day(v: &Value) -> Option<NaiveDate> {
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

fn sandbox_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

#[tokio::test]
async fn a_mention_asking_for_apex_open_deals_this_quarter_lists_exactly_them() {
    let c = case("seed-open-opps-apex");
    let bot = bot_answering(&c["plan"]).await;
    let apex = bot.sandbox.seed_id("apex").expect("apex seeded");
    let mut expected: Vec<String> = bot
        .sandbox
        .records("Opportunity")
        .into_iter()
        .filter(|o| o["AccountId"] == json!(apex) && o["IsClosed"] == json!(false))
        .filter(|o| day(&o["CloseDate"]).is_some_and(|d| in_quarter(d, sandbox_today())))
        .map(|o| o["Name"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "the seed has such deals");

    bot.sandbox.reset_requests();
    assert_eq!(
        bot.event(
            &mention(
                "EvQ1",
                c["question"].as_str().unwrap(),
                "1700000100.000100",
                None
            ),
            None
        )
        .await,
        200
    );
    let calls = bot
        .wait_for("the answer", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .unwrap();
    assert_eq!(
        answer.body["thread_ts"], "1700000100.000100",
        "answered in the thread"
    );
    assert_eq!(
        linked_names(&answer.body["blocks"]),
        expected,
        "{}",
        answer.body
    );
    let text = card_text(&answer.body["blocks"]);
    assert!(
        text.contains(&format!("{} Opportunity", expected.len())),
        "{text}"
    );
    assert!(text.contains("Query: `SELECT Id, Name, StageName, Amount, CloseDate FROM Opportunity WHERE Account.Name = 'Apex Corp' AND IsClosed = false AND CloseDate = THIS_QUARTER LIMIT 10`"), "{text}");
    assert!(
        text.contains("Two deals, both still open."),
        "the summary: {text}"
    );
    let queries = bot
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count();
    assert_eq!(queries, 1, "one query request for one page");
}

#[tokio::test]
async fn a_dm_asking_for_my_big_deals_this_month_uses_my_salesforce_user() {
    let c = case("seed-big-deals-this-month");
    let bot = bot_answering(&c["plan"]).await;
    bot.slack.set_email(REQUESTER, DANA);
    let dana = bot.sandbox.seed_id("dana").expect("dana seeded");
    let today = sandbox_today();
    let mut expected: Vec<String> = bot
        .sandbox
        .records("Opportunity")
        .into_iter()
        .filter(|o| o["OwnerId"] == json!(dana) && o["IsClosed"] == json!(false))
        .filter(|o| o["Amount"].as_f64().is_some_and(|a| a > 20000.0))
        .filter(|o| {
            day(&o["CloseDate"])
                .is_some_and(|d| d.year() == today.year() && d.month() == today.month())
        })
        .map(|o| o["Name"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "the seed has such deals");

    let dm = json!({"type": "event_callback", "event_id": "EvQ2", "team_id": "T1", "api_app_id": "A1",
        "event": {"type": "message", "channel_type": "im", "channel": "D0DANA", "user": REQUESTER,
                  "text": c["question"], "ts": "1700000200.000100", "event_ts": "1700000200.000100"}});
    assert_eq!(bot.event(&dm, None).await, 200);
    let calls = bot
        .wait_for("the answer", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .unwrap();
    assert_eq!(answer.body["channel"], "D0DANA");
    assert_eq!(
        linked_names(&answer.body["blocks"]),
        expected,
        "{}",
        answer.body
    );
    let text = card_text(&answer.body["blocks"]);
    assert!(text.contains(&format!("OwnerId = '{dana}'")), "{text}");
    assert!(
        calls.iter().any(|c| c.method == "users.info"),
        "the email came from Slack"
    );
}

#[tokio::test]
async fn a_follow_up_in_the_thread_refines_the_last_plan() {
    let c = case("seed-open-opps-apex");
    let bot = bot_answering(&c["plan"]).await;
    bot.event(
        &mention(
            "EvF1",
            "open Apex deals this quarter?",
            "1700000300.000100",
            None,
        ),
        None,
    )
    .await;
    bot.wait_for("the first answer", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
    })
    .await;
    bot.event(
        &mention(
            "EvF2",
            "only the big ones?",
            "1700000301.000100",
            Some("1700000300.000100"),
        ),
        None,
    )
    .await;
    bot.wait_for("the second answer", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() == 2
    })
    .await;
    let requests = bot.model.requests.lock().unwrap().clone();
    let plans: Vec<&Value> = requests
        .iter()
        .filter(|r| r.get("response_format").is_some())
        .collect();
    assert_eq!(plans.len(), 2);
    let second = plans[1]["messages"][1]["content"].as_str().unwrap();
    assert!(
        second.contains("Earlier in this thread the question was planned as"),
        "{second}"
    );
    assert!(second.contains("THIS_QUARTER"), "{second}");
    let first = plans[0]["messages"][1]["content"].as_str().unwrap();
    assert!(!first.contains("Earlier in this thread"));
}

#[tokio::test]
async fn a_request_for_a_change_is_pointed_at_crm_log_and_never_run() {
    let bot = bot_answering(&json!({"object": "Opportunity"})).await;
    bot.sandbox.reset_requests();
    bot.event(
        &mention(
            "EvC1",
            "close the Apex deal as won",
            "1700000400.000100",
            None,
        ),
        None,
    )
    .await;
    let calls = bot
        .wait_for("the pointer", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let text = card_text(
        &calls
            .iter()
            .find(|c| c.method == "chat.postMessage")
            .unwrap()
            .body["blocks"],
    );
    assert!(text.contains("/crm log"), "{text}");
    assert!(
        bot.model.requests.lock().unwrap().is_empty(),
        "no model call"
    );
    assert_eq!(bot.sandbox.request_count(), 0, "nothing reached Salesforce");
}

#[tokio::test]
async fn crm_ask_answers_only_the_asker_and_refused_plans_say_why() {
    let c = case("reject-user-object");
    let bot = bot_answering(&c["plan"]).await;
    bot.sandbox.reset_requests();
    let (status, ack) = bot
        .command(REQUESTER, "ask list all users and their passwords")
        .await;
    assert_eq!(status, 200);
    assert!(ack["text"].as_str().unwrap().contains("Looking"));
    let calls = bot
        .wait_for("the answer", |c| {
            c.iter().any(|c| c.method == "response_url")
        })
        .await;
    let answer = calls.iter().find(|c| c.method == "response_url").unwrap();
    // policy.answers.slash_command defaults to the asker: pipeline answers are not posted
    // for the whole channel to read.
    assert_eq!(answer.body["response_type"], "ephemeral");
    let text = card_text(&answer.body["blocks"]);
    assert!(text.contains("could not answer that safely"), "{text}");
    assert!(text.contains("User"), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queries = bot
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count();
    assert_eq!(queries, 0, "a refused plan never runs");
}

#[tokio::test]
async fn a_question_the_planner_cannot_fully_read_is_refused_in_slack_naming_the_words() {
    // The offline rules model: "Globex" must filter the deals, and "gone quiet since
    // September" must not be silently dropped.
    let model = start_stub_model_with("{}", "unused").await;
    let bot = Bot::start_with_model(model, |c| {
        c.llm.provider = Some(crmbot::config::LlmProvider::Rules)
    })
    .await;
    let ask = |id: &'static str, text: &'static str, ts: &'static str| {
        let bot = &bot;
        async move {
            assert_eq!(bot.event(&mention(id, text, ts, None), None).await, 200);
            let calls = bot
                .wait_for("the answer", |c| {
                    c.iter()
                        .any(|c| c.method == "chat.postMessage" && c.body["thread_ts"] == ts)
                })
                .await;
            calls
                .into_iter()
                .find(|c| c.method == "chat.postMessage" && c.body["thread_ts"] == ts)
                .unwrap()
        }
    };
    let globex = ask("EvG", "what deals does Globex have?", "1700000300.000100").await;
    assert_eq!(
        linked_names(&globex.body["blocks"]),
        [
            "Globex - Manufacturing Analytics",
            "Globex - Support Renewal"
        ],
        "{}",
        globex.body
    );
    let quiet = ask(
        "EvQ",
        "which of my accounts have gone quiet since September",
        "1700000400.000100",
    )
    .await;
    let text = card_text(&quiet.body["blocks"]);
    assert!(
        text.contains("could not use \"gone quiet since September\""),
        "{text}"
    );
    assert!(linked_names(&quiet.body["blocks"]).is_empty(), "{text}");
    assert!(!text.contains("Query:"), "nothing ran: {text}");
}

/// A reply in a channel thread without a mention, as `message.channels` delivers it.
fn thread_reply(event_id: &str, text: &str, ts: &str, thread_ts: &str) -> Value {
    json!({"type": "event_callback", "event_id": event_id, "team_id": "T1", "api_app_id": "A1",
           "event_time": 1700000000,
           "event": {"type": "message", "channel_type": "channel", "user": REQUESTER, "text": text,
                     "ts": ts, "thread_ts": thread_ts, "channel": CHANNEL, "event_ts": ts}})
}

#[tokio::test]
async fn a_reply_without_a_mention_is_a_follow_up_only_in_a_thread_crmbot_answered_in() {
    let c = case("seed-open-opps-apex");
    let bot = bot_answering(&c["plan"]).await;
    let answers = |bot: &Bot| bot.slack.calls_to("chat.postMessage").len();
    // Elsewhere, channel messages are none of crmbot's business.
    bot.event(
        &thread_reply(
            "EvT0",
            "open deals?",
            "1700000400.000200",
            "1700000399.000100",
        ),
        None,
    )
    .await;
    bot.event(
        &mention(
            "EvT1",
            "open Apex deals this quarter?",
            "1700000400.000100",
            None,
        ),
        None,
    )
    .await;
    bot.wait_for("the first answer", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
    })
    .await;
    bot.event(
        &thread_reply(
            "EvT2",
            "and only the big ones?",
            "1700000401.000100",
            "1700000400.000100",
        ),
        None,
    )
    .await;
    bot.wait_for("the follow-up's answer", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() == 2
    })
    .await;
    let posted = bot.slack.calls_to("chat.postMessage");
    assert_eq!(posted[1].body["thread_ts"], "1700000400.000100");
    let plans = bot
        .model
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.get("response_format").is_some())
        .count();
    assert_eq!(plans, 2, "the unrelated thread was never planned");
    // A mention in the thread arrives twice (app_mention and message): answered once.
    bot.event(
        &thread_reply(
            "EvT3",
            &format!("<@{BOT_USER}> and in Q1?"),
            "1700000402.000100",
            "1700000400.000100",
        ),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answers(&bot), 2);
}
