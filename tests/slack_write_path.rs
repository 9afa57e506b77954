//! The Slack write path end to end: the real `crmbot serve` on 127.0.0.1:0, a fake Slack
//! Web API, a stub OpenAI-compatible model and the local Salesforce sandbox. Requests are
//! signed as Slack signs them; the assertions are on what reached Slack and Salesforce.

mod common;
mod slack_support;

use serde_json::{Value, json};

use common::fixture_draft;
use crmbot::sandbox::{FailNext, Faults};
use slack_support::*;

fn lead_reply() -> (String, String) {
    fixture_draft("seed-lead")
}

fn has_buttons(blocks: &Value) -> bool {
    action_id(blocks).is_some()
}

fn leads_named_reed(bot: &Bot) -> Vec<serde_json::Map<String, Value>> {
    bot.sandbox
        .records("Lead")
        .into_iter()
        .filter(|r| r.get("LastName") == Some(&json!("Reed")))
        .collect()
}

#[tokio::test]
async fn log_card_approve_writes_the_lead_and_the_meeting_task_in_one_request() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start(&reply).await;

    let (status, answer) = bot.command(REQUESTER, &format!("log {notes}")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(answer["text"].as_str().unwrap().contains("Drafting"));

    let (id, ts, blocks) = bot.log_wait_existing().await;
    let text = card_text(&blocks);
    for expected in [
        "New Lead: Daniel Reed",
        "Daniel",
        "Apex Corp",
        "daniel@apex.example",
        "Approve",
        "Edit",
        "Reject",
        "<@U0REQ>",
    ] {
        assert!(text.contains(expected), "card lacks {expected:?}:\n{text}");
    }
    let post = &bot.slack.calls_to("chat.postMessage")[0];
    assert_eq!(post.body["channel"], CHANNEL);

    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Created Lead").await;

    // Exactly one Salesforce request wrote everything.
    assert_eq!(
        bot.sandbox.request_count(),
        1,
        "{:#?}",
        bot.sandbox.requests()
    );
    assert_eq!(bot.composite_writes(), 1);
    let leads = leads_named_reed(&bot);
    assert_eq!(leads.len(), 1);
    let lead_id = leads[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(leads[0]["Company"], "Apex Corp");
    let tasks: Vec<_> = bot
        .sandbox
        .records("Task")
        .into_iter()
        .filter(|t| t.get("Crmbot_Key__c") == Some(&json!(format!("{id}-m"))))
        .collect();
    assert_eq!(tasks.len(), 1, "the meeting Task, upserted by its key");
    assert_eq!(
        leads[0].get("Crmbot_Key__c"),
        Some(&json!(format!("{id}-0")))
    );
    let subject = tasks[0]["Subject"].as_str().unwrap();
    assert!(
        !subject.contains("crmbot"),
        "no marker for people: {subject}"
    );
    assert!(
        tasks[0]["Description"]
            .as_str()
            .unwrap()
            .ends_with(&format!("Logged from Slack by crmbot (draft {id}).")),
    );
    assert_eq!(tasks[0]["WhoId"], json!(lead_id));
    assert_eq!(tasks[0]["Status"], "Completed");

    // The card links to the record, says who approved, and has no buttons left.
    let text = card_text(&done["blocks"]);
    let link = format!(
        "<{}/lightning/r/Lead/{lead_id}/view|Daniel Reed>",
        bot.sandbox.base_url().trim_end_matches('/')
    );
    assert!(text.contains(&format!("Created Lead {link}")), "{text}");
    assert!(text.contains("Approved by <@U0REQ>"), "{text}");
    // Approve, Edit and Reject are gone; Undo is offered for a while.
    let all = done["blocks"].to_string();
    for gone in ["crm_approve", "crm_edit", "crm_reject"] {
        assert!(!all.contains(gone), "{gone} on the done card");
    }
    assert!(all.contains("crm_undo"));
    assert_eq!(done["ts"], json!(ts));
    assert_eq!(done["channel"], CHANNEL);

    // The audit holds the draft, the approval and the write, and its chain is intact.
    let store = &bot.running.as_ref().unwrap().app.store;
    let kinds: Vec<String> = store
        .audit
        .for_action(&id)
        .unwrap()
        .iter()
        .map(|r| r.entry.kind.as_str().to_string())
        .collect();
    for k in ["drafted", "approve_requested", "write_request", "written"] {
        assert!(kinds.iter().any(|x| x == k), "audit lacks {k}: {kinds:?}");
    }
    assert!(store.audit.verify().unwrap().is_intact());
}

#[tokio::test]
async fn twenty_concurrent_approvals_write_once() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();

    let clicks = (0..20).map(|_| bot.click(REQUESTER, "crm_approve", &id, &ts));
    let statuses = futures::future::join_all(clicks).await;
    assert!(statuses.iter().all(|s| *s == 200));
    wait_for_update(&bot, "the done card", "Created Lead").await;
    // Let the refused clicks finish too.
    bot.wait_for("19 refusals", |c| {
        c.iter()
            .filter(|c| c.method == "chat.postEphemeral")
            .count()
            >= 19
    })
    .await;

    assert_eq!(bot.composite_writes(), 1);
    assert_eq!(leads_named_reed(&bot).len(), 1);
    let refusals = bot.slack.calls_to("chat.postEphemeral");
    assert!(
        refusals.iter().all(|c| {
            let t = c.body["text"].as_str().unwrap_or("");
            t.contains("already being written") || t.contains("already written")
        }),
        "{refusals:#?}"
    );
}

#[tokio::test]
async fn a_slack_retry_of_the_same_event_is_handled_once() {
    let bot = Bot::start("{}").await;
    let envelope = json!({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": "Ev0001", "event_time": 1700000000,
        "event": {"type": "app_mention", "user": "U0ASK", "text": "<@U0BOT> open deals?",
                  "ts": "1700000000.000500", "channel": CHANNEL, "event_ts": "1700000000.000500"}
    });
    assert_eq!(bot.event(&envelope, None).await, 200);
    assert_eq!(bot.event(&envelope, Some(1)).await, 200);
    bot.wait_for("the pointer", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let posts = bot.slack.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].body["thread_ts"], "1700000000.000500");
    assert!(posts[0].body["text"].as_str().unwrap().contains("/crm log"));

    // The bot's own message and edited messages are ignored.
    let own = json!({"type": "event_callback", "event_id": "Ev0002", "team_id": "T1", "api_app_id": "A1",
        "event": {"type": "message", "channel_type": "im", "channel": "D1", "user": BOT_USER, "bot_id": "B0BOT",
                  "text": "hi", "ts": "1700000001.000100"}});
    assert_eq!(bot.event(&own, None).await, 200);
    let verification =
        json!({"type": "url_verification", "token": "legacy", "challenge": "ch4ll3nge"});
    let res = bot
        .post_raw(
            "/slack/events",
            "application/json",
            &verification.to_string(),
            Some((SECRET, &now_ts())),
            &[],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["challenge"], "ch4ll3nge");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(bot.slack.calls_to("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn unsigned_forged_or_stale_requests_get_401_and_leave_no_trace() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start(&reply).await;
    let body = command_body(
        REQUESTER,
        &format!("log {notes}"),
        &bot.slack.response_url(),
    );
    let form = "application/x-www-form-urlencoded";
    let stale = (chrono::Utc::now().timestamp() - 301).to_string();
    let cases: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("no headers", None),
        ("wrong secret", Some(("not-the-secret", "now"))),
        ("stale timestamp", Some((SECRET, stale.as_str()))),
    ];
    let now = now_ts();
    for path in ["/slack/commands", "/slack/interactivity", "/slack/events"] {
        for (what, sig) in &cases {
            let sig = sig.map(|(s, t)| (s, if t == "now" { now.as_str() } else { t }));
            let res = bot.post_raw(path, form, &body, sig, &[]).await;
            assert_eq!(res.status().as_u16(), 401, "{path} {what}");
        }
    }
    // A right signature over a different body fails too.
    let res = bot
        .http
        .post(bot.url("/slack/commands"))
        .header("content-type", form)
        .header("x-slack-request-timestamp", now.as_str())
        .header("x-slack-signature", sign(SECRET, &now, "text=other"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let calls: Vec<_> = bot
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method != "auth.test")
        .collect();
    assert!(calls.is_empty(), "nothing may be sent: {calls:#?}");
    assert!(
        bot.model.requests.lock().unwrap().is_empty(),
        "the model was not called"
    );
    let app = &bot.running.as_ref().unwrap().app;
    assert!(app.actions.all().unwrap().is_empty(), "nothing stored");
    assert!(app.store.audit.is_empty());
}

#[tokio::test]
async fn only_the_requester_or_an_approver_may_approve_and_reject_writes_nothing() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start_with(&reply, |c| c.slack.approvers = vec!["U0BOSS".into()]).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();

    assert_eq!(bot.click("U0OTHER", "crm_approve", &id, &ts).await, 200);
    let calls = bot
        .wait_for("a refusal", |c| {
            c.iter().any(|c| c.method == "chat.postEphemeral")
        })
        .await;
    let refusal = calls
        .iter()
        .find(|c| c.method == "chat.postEphemeral")
        .unwrap();
    assert_eq!(refusal.body["user"], "U0OTHER");
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("Only <@U0REQ> or an approver")
    );
    assert_eq!(bot.sandbox.request_count(), 0, "no write");
    assert!(
        bot.slack.calls_to("chat.update").is_empty(),
        "the card is unchanged"
    );

    // An approver may reject; nothing reaches Salesforce.
    assert_eq!(bot.click("U0BOSS", "crm_reject", &id, &ts).await, 200);
    let rejected = wait_for_update(&bot, "the rejected card", "Rejected by <@U0BOSS>").await;
    assert!(!has_buttons(&rejected["blocks"]));
    assert_eq!(bot.sandbox.request_count(), 0);
    assert!(leads_named_reed(&bot).is_empty());

    // A click on a rejected draft changes nothing.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    bot.wait_for("second refusal", |c| {
        c.iter()
            .filter(|c| c.method == "chat.postEphemeral")
            .count()
            == 2
    })
    .await;
    assert_eq!(bot.sandbox.request_count(), 0);
}

#[tokio::test]
async fn edit_shows_inline_errors_then_saves_a_new_revision() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;

    assert_eq!(bot.click(REQUESTER, "crm_edit", &id, &ts).await, 200);
    let calls = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let open = calls.iter().find(|c| c.method == "views.open").unwrap();
    assert_eq!(open.body["trigger_id"], "111.222.trigger");
    let view = open.body["view"].clone();
    let blocks = view["blocks"].as_array().unwrap();
    let status = blocks
        .iter()
        .find(|b| b["block_id"] == "r0.Status")
        .expect("a Status input");
    assert_eq!(status["element"]["type"], "static_select");
    let last = blocks
        .iter()
        .find(|b| b["block_id"] == "r0.LastName")
        .expect("a LastName input");
    assert_eq!(last["element"]["initial_value"], "Reed");

    let values = |status: &str| {
        json!({
            "r0.FirstName": {"v": {"type": "plain_text_input", "value": "Daniel"}},
            "r0.LastName": {"v": {"type": "plain_text_input", "value": "Reed"}},
            "r0.Company": {"v": {"type": "plain_text_input", "value": "Apex Corp"}},
            "r0.Email": {"v": {"type": "plain_text_input", "value": "daniel@apex.example"}},
            "r0.Status": {"v": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": status}, "value": status}}},
        })
    };
    let (code, answer) = bot.submit(REQUESTER, &view, values("Hot")).await;
    assert_eq!(code, 200);
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(
        answer["errors"]["r0.Status"]
            .as_str()
            .unwrap()
            .contains("'Hot' is not a Lead"),
        "{answer}"
    );
    assert!(
        bot.slack.calls_to("chat.update").is_empty(),
        "nothing changed yet"
    );

    let (code, answer) = bot
        .submit(REQUESTER, &view, values("Working - Contacted"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(answer, Value::Null, "the modal closes");
    let updated = wait_for_update(&bot, "the edited card", "Working - Contacted").await;
    assert!(has_buttons(&updated["blocks"]));
    assert!(card_text(&updated["blocks"]).contains("revision 2"));

    // Approving writes the edited value.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    let leads = leads_named_reed(&bot);
    assert_eq!(leads[0]["Status"], "Working - Contacted");
}

#[tokio::test]
async fn a_salesforce_503_leaves_the_write_unknown_and_approving_again_is_safe_with_the_key() {
    let (notes, reply) = lead_reply();
    let bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new("/services/data/v62.0/composite", 1, 503)],
        ..Faults::default()
    });
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    // A 503 proves nothing: crmbot looks for the write (one query) and says it is checking.
    let unknown = wait_for_update(
        &bot,
        "the checking card",
        "Checking whether Salesforce saved",
    )
    .await;
    let text = card_text(&unknown["blocks"]);
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(text.contains("Approving again is safe"), "{text}");
    assert!(!text.contains("Nothing was written"), "{text}");
    assert!(leads_named_reed(&bot).is_empty());
    assert_eq!(bot.composite_writes(), 1, "a write is not retried blindly");
    assert_eq!(bot.sandbox.request_count(), 2, "the write and one check");

    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    assert_eq!(leads_named_reed(&bot).len(), 1);
    assert_eq!(bot.composite_writes(), 2);
}

#[tokio::test]
async fn a_write_interrupted_by_a_crash_is_reconciled_not_repeated() {
    let (notes, reply) = lead_reply();
    let mut bot = Bot::start(&reply).await;

    // The write reached Salesforce, then the process died before it recorded Done.
    let (id, ts, _) = bot.log(&notes).await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    bot.running.take().unwrap().shutdown().await;
    set_state(&bot, &id, "writing");
    bot.sandbox.reset_requests();
    let updates_before = bot.slack.calls_to("chat.update").len();
    bot.restart_stopped().await;
    let a = bot
        .running
        .as_ref()
        .unwrap()
        .app
        .actions
        .get(&id)
        .unwrap()
        .unwrap();
    assert_eq!(a.state.as_str(), "done");
    assert_eq!(bot.composite_writes(), 0, "never written twice");
    assert_eq!(
        bot.sandbox.request_count(),
        1,
        "one request looks for the write"
    );
    assert_eq!(leads_named_reed(&bot).len(), 1);
    // The card lists every record the write made, and no internal marker.
    let calls = bot
        .wait_for("the reconciled card", |c| {
            c.iter().filter(|c| c.method == "chat.update").count() > updates_before
        })
        .await;
    let card = calls.iter().rfind(|c| c.method == "chat.update").unwrap();
    let text = card_text(&card.body["blocks"]);
    assert!(text.contains("Created Lead"), "{text}");
    assert!(text.contains("Created Task"), "{text}");
    assert!(!text.contains("[crmbot"), "{text}");
    let kinds: Vec<String> = bot
        .running
        .as_ref()
        .unwrap()
        .app
        .store
        .audit
        .for_action(&id)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind.to_string())
        .collect();
    assert!(
        kinds.ends_with(&[
            "write_unknown".into(),
            "reconciled".into(),
            "written".into()
        ]),
        "{kinds:?}"
    );
}

/// The process died after the card was posted but before it stored where (its ts), with
/// the write under way: the restart settles the write but cannot find the card. The next
/// click on the card says where it is, and the card shows what was written.
#[tokio::test]
async fn a_card_whose_place_was_never_stored_is_redrawn_by_the_next_click() {
    let (notes, reply) = lead_reply();
    let mut bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Lead").await;
    bot.running.take().unwrap().shutdown().await;
    rewrite_stored(&bot, &id, |a| {
        a["state"] = json!("writing");
        a["card_ts"] = Value::Null;
    });
    let updates_before = bot.slack.calls_to("chat.update").len();
    bot.restart_stopped().await;
    let app = &bot.running.as_ref().unwrap().app;
    assert_eq!(
        app.actions.get(&id).unwrap().unwrap().state.as_str(),
        "done"
    );
    assert_eq!(
        bot.slack.calls_to("chat.update").len(),
        updates_before,
        "nowhere to redraw yet"
    );

    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let card = bot
        .wait_for("the card redrawn where it was clicked", |c| {
            c.iter().filter(|c| c.method == "chat.update").count() > updates_before
        })
        .await;
    let update = card.iter().rfind(|c| c.method == "chat.update").unwrap();
    assert_eq!(update.body["ts"], json!(ts));
    let text = card_text(&update.body["blocks"]);
    assert!(text.contains("Created Lead"), "{text}");
    assert_eq!(bot.composite_writes(), 1, "written once, before the crash");
    assert_eq!(leads_named_reed(&bot).len(), 1);
    let app = &bot.running.as_ref().unwrap().app;
    assert_eq!(
        app.actions.get(&id).unwrap().unwrap().card_ts.as_deref(),
        Some(ts.as_str()),
        "remembered for later redraws"
    );
}

/// Rewrites an action's state in the stopped server's database (a crash mid-write).
fn set_state(bot: &Bot, id: &str, state: &str) {
    rewrite_stored(bot, id, |a| a["state"] = json!(state));
}

/// Changes an action as stored in the stopped server's database.
fn rewrite_stored(bot: &Bot, id: &str, change: impl Fn(&mut Value)) {
    let store = crmbot::store::Store::open(&bot.config.data_dir).expect("open db");
    // Through the state index, as crmbot's own changes go (an open action is indexed
    // before it is stored, so a process that dies mid-write leaves it findable).
    let records = store
        .indexed_records::<Value>(
            "actions",
            |a| !matches!(a["state"].as_str(), Some("done" | "rejected" | "expired")),
            |_| 0,
        )
        .expect("actions");
    records
        .update(id, |a| {
            let mut a = a.clone();
            change(&mut a);
            Ok::<_, ()>(crmbot::store::Update::Set(a, ()))
        })
        .expect("update")
        .expect("set");
    store.flush().expect("flush");
}
