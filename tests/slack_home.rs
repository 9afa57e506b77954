//! App Home through signed requests against the real server: opening the tab publishes the
//! member's drafts, an Approve clicked there writes once, and the Home follows the draft.

mod common;
mod slack_support;

use serde_json::{Value, json};

use common::fixture_draft;
use slack_support::*;

fn home_opened(event_id: &str, user: &str) -> Value {
    json!({"type": "event_callback", "event_id": event_id, "team_id": "T1", "api_app_id": "A1",
           "event_time": 1700000000,
           "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                     "event_ts": "1700000000.000100"}})
}

/// The view of the `n`-th views.publish for `user` (1-based), once it has happened.
async fn published(bot: &Bot, user: &str, n: usize) -> Value {
    let is_mine = |c: &Call| c.method == "views.publish" && c.body["user_id"] == user;
    let calls = bot
        .wait_for("the Home view", |c| {
            c.iter().filter(|c| is_mine(c)).count() >= n
        })
        .await;
    let view = calls
        .iter()
        .filter(|c| is_mine(c))
        .nth(n - 1)
        .map(|c| c.body["view"].clone())
        .expect("views.publish");
    match view {
        Value::String(s) => serde_json::from_str(&s).expect("view json"),
        v => v,
    }
}

/// The first Home view published for `user` whose text satisfies `wanted`.
async fn home_where(bot: &Bot, user: &str, wanted: impl Fn(&str) -> bool) -> Value {
    let view_of = |c: &Call| match &c.body["view"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    let calls = bot
        .wait_for("the Home view", |c| {
            c.iter().any(|c| {
                c.method == "views.publish"
                    && c.body["user_id"] == user
                    && wanted(&card_text(&view_of(c)["blocks"]))
            })
        })
        .await;
    calls
        .iter()
        .filter(|c| c.method == "views.publish" && c.body["user_id"] == user)
        .map(view_of)
        .find(|v| wanted(&card_text(&v["blocks"])))
        .expect("a Home view")
}

/// A click on a button of the Home view, as Slack sends it (no channel, no message).
fn home_click(user: &str, block_id: &str, action_id: &str, value: &str) -> Value {
    json!({"type": "block_actions", "team": {"id": "T1", "domain": "acme"},
           "user": {"id": user, "name": user, "team_id": "T1"},
           "api_app_id": "A1", "trigger_id": "111.222.trigger",
           "container": {"type": "view", "view_id": "V0HOME"},
           "view": {"id": "V0HOME", "type": "home"},
           "actions": [{"type": "button", "action_id": action_id, "block_id": block_id,
                        "value": value, "text": {"type": "plain_text", "text": "x"},
                        "action_ts": "1700000001.000200"}]})
}

#[tokio::test]
async fn the_home_lists_my_draft_and_its_approve_writes_once() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let (id, card_ts, _) = bot.log(&notes).await;

    assert_eq!(bot.event(&home_opened("EvH1", REQUESTER), None).await, 200);
    let home = published(&bot, REQUESTER, 1).await;
    assert_eq!(home["type"], "home");
    let text = card_text(&home["blocks"]);
    assert!(text.contains("Your drafts waiting"), "{text}");
    assert!(text.contains("Lead Daniel Reed (create)"), "{text}");
    assert!(text.contains("Nothing written yet."), "{text}");
    let block = home["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|b| b["block_id"].as_str().filter(|b| b.starts_with("pa:")))
        .expect("the draft's buttons")
        .to_string();
    assert_eq!(block, format!("pa:{id}:1:drafted"));

    let (status, _) = bot
        .interact(&home_click(REQUESTER, &block, "crm_approve", &id))
        .await;
    assert_eq!(status, 200);
    wait_for_update(&bot, "the card in the channel", "Written to Salesforce").await;
    assert_eq!(bot.composite_writes(), 1);
    let card = bot
        .slack
        .calls_to("chat.update")
        .into_iter()
        .rfind(|c| c.body["ts"] == card_ts.as_str())
        .expect("the card redrawn");
    assert!(card_text(&card.body["blocks"]).contains("Written to Salesforce"));

    // The Home follows: the draft is gone from "waiting" and listed among the writes.
    let after = home_where(&bot, REQUESTER, |text| {
        !text.contains("Nothing written yet.")
    })
    .await;
    let text = card_text(&after["blocks"]);
    assert!(text.contains("Lead Daniel Reed"), "{text}");
    assert!(
        !after.to_string().contains(&format!("pa:{id}")),
        "no buttons left"
    );

    // The same Home button again (an older view): nothing more is written.
    bot.interact(&home_click(REQUESTER, &block, "crm_approve", &id))
        .await;
    bot.wait_for("the answer in the person's messages", |c| {
        c.iter()
            .any(|c| c.method == "chat.postMessage" && c.body["channel"] == REQUESTER)
    })
    .await;
    assert_eq!(bot.composite_writes(), 1, "written once");
}

#[tokio::test]
async fn a_draft_waiting_for_my_approval_is_on_my_home_not_on_others() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.policy.approvers = vec![crmbot::domain::policy::Who::User("U0BOSS".into())];
        c.policy.self_approve.create = false;
    })
    .await;
    bot.log(&notes).await;
    bot.event(&home_opened("EvH2", "U0BOSS"), None).await;
    let boss = card_text(&published(&bot, "U0BOSS", 1).await["blocks"]);
    let waiting = boss.split("Waiting for your approval").nth(1).unwrap_or("");
    assert!(waiting.contains("Lead Daniel Reed"), "{boss}");
    bot.event(&home_opened("EvH3", "U0PEER"), None).await;
    let peer = card_text(&published(&bot, "U0PEER", 1).await["blocks"]);
    assert!(peer.contains("Nothing waits for you."), "{peer}");
}
