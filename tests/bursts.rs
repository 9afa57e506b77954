//! Under a burst crmbot takes what it can do and says so for the rest: a bounded queue per
//! kind of work ("crmbot is busy", nothing stored), a cap of drafts in flight per person,
//! and approvals that never wait behind drafting. The model is held (it answers nothing
//! until released), so these are about behaviour, not timings.

mod common;
mod slack_support;

use std::time::Duration;

use common::fixture_draft;
use slack_support::*;

fn drafted(bot: &Bot) -> usize {
    let app = &bot.running.as_ref().expect("running").app;
    app.actions.all().expect("actions").len()
}

fn answer(v: &serde_json::Value) -> String {
    v["text"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn a_burst_beyond_the_queue_is_told_busy_and_nothing_of_it_is_stored() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.slack.workers = 1;
        c.slack.draft_queue = 2;
        c.slack.drafts_per_user = 0;
    })
    .await;
    bot.model.hold();
    let mut answers = Vec::new();
    for n in 0..6 {
        let (status, json) = bot.command(&format!("U{n}"), &format!("log {notes}")).await;
        assert_eq!(status, 200);
        answers.push(answer(&json));
    }
    assert!(answers[0].contains("Drafting"), "{answers:?}");
    assert!(
        answers[1..3].iter().all(|a| a.contains("Queued behind")),
        "{answers:?}"
    );
    for a in &answers[3..] {
        assert!(a.contains("crmbot is busy — try again in a minute"), "{a}");
        assert!(a.contains("Nothing was stored"), "{a}");
    }

    bot.model.release();
    bot.wait_for("three cards", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.slack.calls_to("chat.postMessage").len(), 3);
    assert_eq!(drafted(&bot), 3, "the refused logs left nothing behind");
    assert_eq!(
        bot.model.requests.lock().unwrap().len(),
        3,
        "the model was asked three times"
    );

    // Room again: the next log is taken.
    let (_, json) = bot.command("U9", &format!("log {notes}")).await;
    assert!(answer(&json).contains("Drafting"), "{json}");
}

#[tokio::test]
async fn one_person_has_at_most_the_cap_of_drafts_in_flight() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.slack.drafts_per_user = 2;
    })
    .await;
    bot.model.hold();
    for _ in 0..2 {
        let (_, json) = bot.command(REQUESTER, &format!("log {notes}")).await;
        assert!(answer(&json).contains("Drafting"), "{json}");
    }
    let (_, json) = bot.command(REQUESTER, &format!("log {notes}")).await;
    let text = answer(&json);
    assert!(
        text.contains("You already have 2 draft(s) being drafted")
            && text.contains("Nothing was stored"),
        "{text}"
    );
    let (_, json) = bot.command("U0OTHER", &format!("log {notes}")).await;
    assert!(answer(&json).contains("Drafting"), "another person: {json}");

    bot.model.release();
    bot.wait_for("three cards", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() == 3
    })
    .await;
    assert_eq!(drafted(&bot), 3);
    // Drafted: the person may log again.
    let (_, json) = bot.command(REQUESTER, &format!("log {notes}")).await;
    assert!(answer(&json).contains("Drafting"), "{json}");
}

#[tokio::test]
async fn an_approve_is_written_while_drafting_is_saturated() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.slack.workers = 1;
        c.slack.draft_queue = 4;
    })
    .await;
    let (id, ts, _) = bot.log(&notes).await;

    // Drafting saturated: one draft held by the model, more queued behind it.
    bot.model.hold();
    for n in 0..4 {
        let (_, json) = bot.command(&format!("U{n}"), &format!("log {notes}")).await;
        assert!(!answer(&json).contains("busy"), "{json}");
    }
    let cards = bot.slack.calls_to("chat.postMessage").len();

    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let mut written = false;
    for _ in 0..200 {
        if bot
            .sandbox
            .records("Lead")
            .iter()
            .any(|l| l.get("LastName") == Some(&serde_json::json!("Reed")))
        {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        written,
        "the Approve reached Salesforce while the drafts were still held"
    );
    assert_eq!(
        bot.slack.calls_to("chat.postMessage").len(),
        cards,
        "no draft finished meanwhile: the drafting lane was saturated throughout"
    );
    wait_for_update(&bot, "the written card", "Approved by").await;

    bot.model.release();
    bot.wait_for("the held drafts' cards", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() == cards + 4
    })
    .await;
}

#[tokio::test]
async fn after_the_describe_ttl_a_draft_does_not_wait_for_describe() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.salesforce.describe_ttl = Duration::from_secs(1);
    })
    .await;
    bot.log(&notes).await;
    // From now on describe fails: a draft that described inline would fail with it.
    bot.sandbox.set_faults(crmbot::sandbox::Faults {
        fail_next: vec![crmbot::sandbox::FailNext::new(
            "/services/data/v62.0/sobjects/",
            10_000,
            503,
        )],
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, _, blocks) = bot.log(&notes).await;
    assert!(
        card_text(&blocks).contains("Reed"),
        "the second card was drafted"
    );
}

#[tokio::test]
async fn a_click_the_decisions_lane_has_no_room_for_is_told_so_and_changes_nothing() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.slack.decision_workers = 1;
        c.slack.decision_queue = 0;
    })
    .await;
    let (first, first_ts, _) = bot.log(&notes).await;
    let (second, second_ts, _) = bot.log(&notes).await;
    // Salesforce commits slowly: the first approval holds the only decision worker.
    bot.sandbox.set_faults(crmbot::sandbox::Faults {
        commit_delay: Some(Duration::from_millis(1_500)),
        ..crmbot::sandbox::Faults::default()
    });
    assert_eq!(
        bot.click(REQUESTER, "crm_approve", &first, &first_ts).await,
        200
    );
    bot.wait_for("the first write under way", |c| {
        c.iter().any(|c| {
            c.method == "chat.update" && c.body["text"].as_str().unwrap_or("").contains("Writing")
        })
    })
    .await;
    assert_eq!(
        bot.click(REQUESTER, "crm_reject", &second, &second_ts)
            .await,
        200
    );
    bot.wait_ephemeral("crmbot is busy — try again in a minute")
        .await;
    assert_eq!(
        state_of(&bot, &second),
        "drafted",
        "the refused click changed nothing"
    );
    wait_for_update(&bot, "the first written", "Written to Salesforce").await;
}
