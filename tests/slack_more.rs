//! More of the Slack write path: updates of existing records, what the user is told when
//! Slack or the model misbehave, expiry, and a shutdown in the middle of a write. The real
//! `crmbot serve` against a fake Slack, a stub model and the local Salesforce.

mod common;
mod slack_support;

use std::time::Duration;

use serde_json::{Value, json};

use common::fixture_draft;
use crmbot::sandbox::Faults;
use slack_support::*;

#[tokio::test]
async fn an_update_of_an_existing_opportunity_shows_old_and_new_and_patches_once() {
    let (notes, reply) = fixture_draft("seed-opportunity-update");
    let bot = Bot::start(&reply).await;
    let (id, ts, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    assert!(
        text.contains("Update Opportunity: Apex Corp - Enterprise Expansion"),
        "{text}"
    );
    assert!(
        text.contains("Qualification → Proposal/Price Quote"),
        "{text}"
    );
    assert!(text.contains("20,000 → 25,000"), "{text}");
    let opp_id = bot.sandbox.seed_id("apex_expansion").expect("seeded");
    assert!(
        text.contains(&opp_id),
        "the card names the record it updates: {text}"
    );

    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Updated Opportunity").await;
    assert!(
        card_text(&done["blocks"]).contains(&format!("/lightning/r/Opportunity/{opp_id}/view"))
    );
    assert_eq!(bot.sandbox.request_count(), 1);
    let composite = &bot.sandbox.requests()[0];
    let body: Value = serde_json::from_str(&composite.body).unwrap();
    let patch = body["compositeRequest"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["method"] == "PATCH")
        .expect("a PATCH subrequest");
    assert!(
        patch["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Opportunity/{opp_id}"))
    );
    assert_eq!(patch["body"]["StageName"], "Proposal/Price Quote");
    let opp = bot
        .sandbox
        .records("Opportunity")
        .into_iter()
        .find(|o| o["Id"] == json!(opp_id))
        .unwrap();
    assert_eq!(opp["Amount"], json!(25000.0));
    let task = bot
        .sandbox
        .records("Task")
        .into_iter()
        .find(|t| t.get("Crmbot_Key__c") == Some(&json!(format!("{id}-m"))))
        .expect("the meeting task, upserted by its key");
    assert_eq!(task["WhatId"], json!(opp_id));
}

#[tokio::test]
async fn slack_rate_limits_are_waited_out_and_slack_errors_reach_the_user() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    // The card cannot be posted: the user hears why, and nothing is written.
    bot.slack.fail_next("chat.postMessage", "not_in_channel");
    let (status, _) = bot.command(REQUESTER, &format!("log {notes}")).await;
    assert_eq!(status, 200);
    let calls = bot
        .wait_for("the explanation", |c| {
            c.iter().any(|c| c.method == "response_url")
        })
        .await;
    let told = calls.iter().find(|c| c.method == "response_url").unwrap();
    let text = told.body["text"].as_str().unwrap();
    assert!(
        text.contains("not_in_channel") && text.contains("/invite @crmbot"),
        "{text}"
    );

    // A 429 on chat.update is waited out (Retry-After: 1) and the card still changes.
    let (id, ts, _) = bot.log(&notes).await;
    bot.slack.fail_next("chat.update", "ratelimited");
    assert_eq!(bot.click(REQUESTER, "crm_reject", &id, &ts).await, 200);
    // The fake records the refused call too: the card changed once the retry came.
    let calls = bot
        .wait_for("the retry after Retry-After", |c| {
            c.iter().filter(|c| c.method == "chat.update").count() == 2
        })
        .await;
    let retry = calls.iter().rfind(|c| c.method == "chat.update").unwrap();
    assert!(card_text(&retry.body["blocks"]).contains("Rejected by"));
}

#[tokio::test]
async fn shutdown_finishes_a_write_in_flight() {
    let (notes, reply) = fixture_draft("seed-lead");
    let mut bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.set_faults(Faults {
        latency: Some(Duration::from_millis(700)),
        ..Faults::default()
    });
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let running = bot.running.take().unwrap();
    let app = running.app.clone();
    running.shutdown().await;
    let a = app.actions.get(&id).unwrap().unwrap();
    assert_eq!(
        a.state.as_str(),
        "done",
        "the write finished before the server stopped"
    );
    let leads = bot
        .sandbox
        .records("Lead")
        .into_iter()
        .filter(|r| r["LastName"] == "Reed")
        .count();
    assert_eq!(leads, 1);
}

#[tokio::test]
async fn help_empty_and_oversized_logs_answer_at_once_and_store_nothing() {
    let bot = Bot::start_with("{}", |c| c.drafting.max_notes_chars = 100).await;
    for text in ["", "help", "log", "log   "] {
        let (status, answer) = bot.command(REQUESTER, text).await;
        assert_eq!(status, 200);
        assert_eq!(answer["response_type"], "ephemeral");
        assert!(
            answer["text"]
                .as_str()
                .unwrap()
                .contains("/crm log <notes>"),
            "{text:?}: {answer}"
        );
    }
    let (_, answer) = bot
        .command(REQUESTER, &format!("log {}", "x".repeat(101)))
        .await;
    let text = answer["text"].as_str().unwrap();
    assert!(
        text.contains("101 characters") && text.contains("at most 100"),
        "{text}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(bot.model.requests.lock().unwrap().is_empty());
    assert!(
        bot.running
            .as_ref()
            .unwrap()
            .app
            .actions
            .all()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_model_reply_that_is_not_json_is_explained_and_the_notes_are_kept() {
    let bot = Bot::start("Sure! I'd be happy to help with that.").await;
    let (status, _) = bot
        .command(REQUESTER, "log Met Daniel Reed of Apex Corp")
        .await;
    assert_eq!(status, 200);
    let calls = bot
        .wait_for("the explanation", |c| {
            c.iter().any(|c| c.method == "response_url")
        })
        .await;
    let reply = calls.iter().find(|c| c.method == "response_url").unwrap();
    let text = reply.body["text"].as_str().unwrap();
    assert!(text.contains("Met Daniel Reed of Apex Corp"), "{text}");
    assert_eq!(reply.body["response_type"], "ephemeral");
    assert!(bot.slack.calls_to("chat.postMessage").is_empty());
}

#[tokio::test]
async fn an_expired_draft_cannot_be_approved_and_its_card_says_so() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| c.drafting.expire_after_days = 0).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let expired = wait_for_update(&bot, "the expired card", "Expired").await;
    assert!(action_id(&expired["blocks"]).is_none());
    assert_eq!(bot.sandbox.request_count(), 0);
}

#[tokio::test]
async fn healthz_answers() {
    let bot = Bot::start("{}").await;
    let res = bot.http.get(bot.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn a_card_with_several_matches_offers_a_choice_and_writes_the_chosen_record() {
    let reply = json!({"records": [{"object": "Lead", "lookup": null, "link": null,
        "fields": {"FirstName": "Kim", "LastName": "Lee", "Company": "Dup Corp", "Title": "CTO"}}]});
    let bot = Bot::start(&reply.to_string()).await;
    // Two existing Leads match by name and company.
    let mut ids = Vec::new();
    for email in ["kim.a@dup.example", "kim.b@dup.example"] {
        let lead =
            json!({"FirstName": "Kim", "LastName": "Lee", "Company": "Dup Corp", "Email": email});
        ids.push(bot.create_record("Lead", lead).await);
    }
    let (id, ts, blocks) = bot.log("Met Kim Lee from Dup Corp, she is CTO now").await;
    let select = blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions" && b["elements"][0]["action_id"] == "crm_choose")
        .expect("a choice on the card")
        .clone();
    let options: Vec<String> = select["elements"][0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        options.len(),
        3,
        "two candidates and 'create new': {options:?}"
    );

    // Undecided: Approve is refused and nothing is written.
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let calls = bot
        .wait_for("the refusal", |c| {
            c.iter().any(|c| c.method == "chat.postEphemeral")
        })
        .await;
    let refusal = calls
        .iter()
        .find(|c| c.method == "chat.postEphemeral")
        .unwrap();
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("several existing records match")
    );
    assert_eq!(bot.sandbox.request_count(), 0);

    // Choosing the second Lead makes the card an update of it; Approve patches it.
    let second = options.iter().find(|o| o.ends_with(&ids[1])).unwrap();
    let block_id = select["block_id"].as_str().unwrap();
    assert_eq!(bot.select(REQUESTER, block_id, second, &ts).await, 200);
    let updated = wait_for_update(&bot, "the decided card", "revision 2").await;
    assert!(card_text(&updated["blocks"]).contains(&ids[1]));
    assert!(
        !updated["blocks"].to_string().contains("crm_choose"),
        "the choice is made"
    );
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Updated Lead").await;
    let composite: Value = serde_json::from_str(
        &bot.sandbox
            .requests()
            .iter()
            .find(|r| r.path.ends_with("/composite"))
            .unwrap()
            .body,
    )
    .unwrap();
    let patch = &composite["compositeRequest"][0];
    assert_eq!(patch["method"], "PATCH");
    assert!(patch["url"].as_str().unwrap().ends_with(&ids[1]));
    assert_eq!(
        patch["body"],
        json!({"Title": "CTO"}),
        "only what differs from the chosen record"
    );
}

#[tokio::test]
async fn a_forty_lead_draft_is_approved_in_one_request() {
    let names: Vec<String> = (0..40).map(|i| format!("Person{i}")).collect();
    let notes = format!("Expo booth scans, all at Expo Corp: {}", names.join(", "));
    let records: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"object": "Lead", "lookup": null, "link": null,
                        "fields": {"LastName": n, "Company": "Expo Corp"}})
        })
        .collect();
    let bot = Bot::start(&json!({"records": records}).to_string()).await;
    let (id, ts, blocks) = bot.log(&notes).await;
    assert!(blocks.as_array().unwrap().len() <= 50);
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    assert_eq!(
        bot.sandbox.request_count(),
        1,
        "one request for 40 leads and the task"
    );
    let created = bot
        .sandbox
        .records("Lead")
        .into_iter()
        .filter(|l| l["Company"] == "Expo Corp")
        .count();
    assert_eq!(created, 40);
}
