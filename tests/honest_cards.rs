//! What people see on the card is what will happen: a draft with nothing to write offers no
//! Approve, cut values say so, mentions in notes never ping anyone, and free text already in
//! Salesforce is added to, not replaced. The real `crmbot serve` against a fake Slack, a stub
//! model and the local Salesforce sandbox.

mod common;
mod slack_support;

use serde_json::Value;

use common::fixture_draft;
use slack_support::*;

fn buttons(blocks: &Value) -> Vec<String> {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_string))
        .collect()
}

fn tasks(bot: &Bot) -> usize {
    bot.sandbox.records("Task").len()
}

#[tokio::test]
async fn a_draft_with_nothing_to_write_has_no_approve_and_a_forced_click_writes_nothing() {
    let (notes, reply) = fixture_draft("nothing-to-log");
    let bot = Bot::start(&reply).await;
    let tasks_before = tasks(&bot);

    let (id, ts, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    assert!(
        !buttons(&blocks).contains(&"crm_approve".to_string()),
        "no Approve: {blocks:#}"
    );
    assert!(text.contains("Nothing to write"), "{text}");
    assert!(
        !text.contains("Approving also logs this meeting"),
        "no promise of a Task: {text}"
    );

    // A click on an old or forged Approve button still writes nothing.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let calls = bot
        .wait_for("the refusal", |c| {
            c.iter().any(|c| c.method == "chat.postEphemeral")
        })
        .await;
    let told = calls
        .iter()
        .find(|c| c.method == "chat.postEphemeral")
        .unwrap();
    assert!(
        told.body["text"]
            .as_str()
            .unwrap()
            .contains("Nothing to write"),
        "{:?}",
        told.body
    );
    assert_eq!(tasks(&bot), tasks_before, "no unlinked Task was created");
}
