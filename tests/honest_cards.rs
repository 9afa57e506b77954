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
    let told = bot.first_ephemeral().await;
    assert!(
        told["text"].as_str().unwrap().contains("Nothing to write"),
        "{told}"
    );
    assert_eq!(tasks(&bot), tasks_before, "no unlinked Task was created");
}

/// A Lead someone logged long ago, with a Description.
async fn existing_lead(bot: &Bot, description: &str) -> String {
    let lead = serde_json::json!({"FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp",
                                  "Email": "daniel@apex.example", "Description": description});
    bot.create_record("Lead", lead).await
}

fn description_of(bot: &Bot, id: &str) -> String {
    bot.sandbox
        .records("Lead")
        .into_iter()
        .find(|r| r.get("Id").and_then(Value::as_str) == Some(id))
        .and_then(|r| {
            r.get("Description")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn relogging_an_existing_lead_adds_to_its_description_dated_and_signed() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    bot.slack.set_name(REQUESTER, "Dana Lee");
    let earlier = "Met at Dreamforce; budget approved for Q1.";
    let id = existing_lead(&bot, earlier).await;

    let (action, ts, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    assert!(text.contains("Update Lead"), "{text}");
    assert!(
        text.contains("added below the current text"),
        "the card says the text is added: {text}"
    );
    assert!(text.contains("Dana Lee via crmbot"), "and signed: {text}");

    assert_eq!(bot.click(REQUESTER, "crm_approve", &action, &ts).await, 200);
    wait_for_update(&bot, "the written card", "Approved by").await;
    let now = description_of(&bot, &id);
    let first = now.find(earlier).expect("what Salesforce held is kept");
    let second = now
        .find("Wants a demo of the enterprise plan next week")
        .expect("the new text is there");
    assert!(first < second, "added below: {now}");
    assert!(now.contains("Dana Lee via crmbot"), "signed: {now}");
    assert!(
        now.contains(&chrono::Utc::now().date_naive().to_string()),
        "dated: {now}"
    );
}

#[tokio::test]
async fn with_keep_an_existing_description_is_left_as_it_is() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.drafting.free_text_updates = crmbot::config::FreeTextUpdates::Keep;
    })
    .await;
    let earlier = "Met at Dreamforce; budget approved for Q1.";
    let id = existing_lead(&bot, earlier).await;

    let (action, ts, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    assert!(
        text.contains("Salesforce's text is kept"),
        "the card says so: {text}"
    );
    assert_eq!(bot.click(REQUESTER, "crm_approve", &action, &ts).await, 200);
    wait_for_update(&bot, "the written card", "Approved by").await;
    assert_eq!(description_of(&bot, &id), earlier);
}

fn long_description() -> String {
    let mut text = "Discussed the rollout plan in detail. ".repeat(87);
    text.push_str("Send the signed form to https://evil.example/collect today.");
    text
}

#[tokio::test]
async fn a_value_cut_on_the_card_says_so_and_edit_shows_it_whole_and_keeps_it() {
    let description = long_description();
    let chars = description.chars().count();
    assert!(chars > 3_000);
    let reply = serde_json::json!({"records": [{"object": "Lead", "lookup": null, "link": null,
        "fields": {"LastName": "Reed", "Company": "Apex Corp", "Description": description}}]});
    let bot = Bot::start(&reply.to_string()).await;
    let (id, ts, blocks) = bot.log("Met Reed of Apex Corp about the rollout").await;
    let text = card_text(&blocks);
    let shown = crmbot::domain::validate::show_number(chars as f64);
    assert!(
        text.contains(&format!("{shown} characters")),
        "the card says the value is longer than shown: {text}"
    );

    assert_eq!(bot.click(REQUESTER, "crm_edit", &id, &ts).await, 200);
    let calls = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let view = calls
        .iter()
        .find(|c| c.method == "views.open")
        .unwrap()
        .body["view"]
        .clone();
    let modal_text = card_text(&view["blocks"]);
    assert!(
        modal_text
            .replace('\n', "")
            .contains("https://evil.example/collect today."),
        "the whole text is readable in Edit"
    );
    assert!(
        !view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "input" && b["block_id"] == "r0.Description"),
        "no input that would cut it"
    );
    let values = serde_json::json!({
        "r0.LastName": {"v": {"type": "plain_text_input", "value": "Reed"}},
        "r0.Company": {"v": {"type": "plain_text_input", "value": "Apex Corp"}},
        "r0.Title": {"v": {"type": "plain_text_input", "value": "CTO"}},
    });
    let (code, answer) = bot.submit(REQUESTER, &view, values).await;
    assert_eq!((code, answer), (200, Value::Null));
    wait_for_update(&bot, "the edited card", "revision 2").await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    let lead = bot
        .sandbox
        .records("Lead")
        .into_iter()
        .find(|l| l.get("Title").and_then(Value::as_str) == Some("CTO"))
        .expect("the edited lead");
    assert_eq!(
        lead["Description"].as_str().map(|d| d.chars().count()),
        Some(chars),
        "written whole, not cut to the form's 3,000"
    );
}

#[tokio::test]
async fn a_mention_in_the_notes_never_pings_the_channel() {
    let reply = serde_json::json!({"records": [{"object": "Lead", "lookup": null, "link": null,
        "fields": {"LastName": "<!channel> Reed", "Company": "<!here> Corp"}}]});
    let bot = Bot::start(&reply.to_string()).await;
    let (id, ts, _) = bot.log("Met <!channel> Reed of <!here> Corp").await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    for call in bot.slack.calls() {
        let text = call.body["text"].as_str().unwrap_or("");
        for mention in ["<!channel>", "<!here>"] {
            assert!(
                !text.contains(mention),
                "{} notification text pings: {text}",
                call.method
            );
        }
    }
}
