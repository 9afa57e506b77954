//! Acts as the person: what crmbot creates is owned by the Salesforce User of the Slack
//! member who logged it (mapped by the email on their Slack profile, or by the
//! `[salesforce.users]` table), "my …" questions find it, and a member crmbot cannot map
//! gets what `salesforce.unmapped` says. The real server, signed Slack requests, the sandbox.

mod common;
mod slack_support;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use common::StubModel;
use crmbot::config::{OwnerChoice, UnmappedChoice};
use slack_support::*;

const DANA: &str = "dana.lee@crmbot.example";
const SAM_SLACK: &str = "U0SAM";
const NOTES: &str = "Call with Tom: send him the security questionnaire";

fn draft() -> Value {
    json!({"records": [{"object": "Task", "lookup": null, "link": null,
        "fields": {"Subject": "Send security questionnaire to Tom", "ActivityDate": "2026-11-27",
                   "Status": "Not Started", "Priority": null, "Description": null}}]})
}

fn my_open_tasks() -> Value {
    json!({"intent": "query", "object": "Task", "fields": ["Id", "Subject", "Status", "Owner.Name"],
           "filters": [{"field": "OwnerId", "op": "eq", "value": "$me"},
                       {"field": "IsClosed", "op": "eq", "value": false}],
           "sort": [], "limit": 20})
}

#[derive(Clone)]
struct Replies {
    draft: String,
    plan: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// A stub model that drafts with `draft()` and plans with `my_open_tasks()`, by the schema
/// crmbot asks for.
async fn stub_model() -> StubModel {
    stub_model_with(draft()).await
}

async fn stub_model_with(draft: Value) -> StubModel {
    let state = Replies {
        draft: draft.to_string(),
        plan: my_open_tasks().to_string(),
        requests: Arc::default(),
    };
    let requests = state.requests.clone();
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(complete))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    StubModel::external(format!("http://{addr}/v1"), requests)
}

async fn complete(State(s): State<Replies>, Json(body): Json<Value>) -> Json<Value> {
    let content = match body["response_format"]["json_schema"]["name"].as_str() {
        Some("crm_probe") => "{\"ok\": true, \"n\": 7}".to_string(),
        Some("crm_plan") => s.plan.clone(),
        Some(_) => s.draft.clone(),
        None => "One open task.".to_string(),
    };
    s.requests.lock().unwrap().push(body);
    Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "stub",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content, "refusal": null}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    }))
}

async fn bot(tune: impl FnOnce(&mut crmbot::config::Config)) -> Bot {
    Bot::start_with_model(stub_model().await, tune).await
}

fn tasks_named(bot: &Bot, subject: &str) -> Vec<serde_json::Map<String, Value>> {
    bot.sandbox
        .records("Task")
        .into_iter()
        .filter(|t| t.get("Subject").and_then(Value::as_str) == Some(subject))
        .collect()
}

/// `/crm ask` and the answer posted to its response_url.
async fn ask(bot: &Bot, user: &str, question: &str) -> String {
    let before = bot.slack.calls_to("response_url").len();
    let (status, _) = bot.command(user, &format!("ask {question}")).await;
    assert_eq!(status, 200);
    let calls = bot
        .wait_for("the answer", |c| {
            c.iter().filter(|c| c.method == "response_url").count() > before
        })
        .await;
    let answer = calls
        .iter()
        .filter(|c| c.method == "response_url")
        .nth(before)
        .unwrap();
    format!(
        "{}\n{}",
        answer.body["text"],
        card_text(&answer.body["blocks"])
    )
}

#[tokio::test]
async fn a_logged_task_is_owned_by_the_requester_and_found_by_my_open_tasks() {
    let bot = bot(|_| {}).await;
    bot.slack.set_email(REQUESTER, DANA);
    let dana = bot.sandbox.seed_id("dana").unwrap();
    let (id, ts, blocks) = bot.log(NOTES).await;
    let text = card_text(&blocks);
    assert!(
        text.contains("owned in Salesforce by Dana Lee"),
        "the card names the owner:\n{text}"
    );
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Task").await;

    let tasks = tasks_named(&bot, "Send security questionnaire to Tom");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["OwnerId"], json!(dana), "the rep owns the Task");
    let meeting: Vec<_> = bot
        .sandbox
        .records("Task")
        .into_iter()
        .filter(|t| {
            t.get("Subject")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("Meeting:"))
        })
        .collect();
    assert_eq!(meeting.len(), 1);
    assert_eq!(meeting[0]["OwnerId"], json!(dana), "and the meeting log");
    // The write carried the owner code chose, in the one composite request.
    assert_eq!(bot.composite_writes(), 1);

    let answer = ask(&bot, REQUESTER, "my open tasks").await;
    assert!(
        answer.contains("Send security questionnaire to Tom"),
        "\"my open tasks\" lists it:\n{answer}"
    );
    assert!(answer.contains(&format!("OwnerId = '{dana}'")), "{answer}");
}

#[tokio::test]
async fn the_table_in_crmbot_toml_overrides_the_email_match() {
    let bot = bot(|c| {
        c.salesforce
            .users
            .insert(SAM_SLACK.into(), "sam.ortiz@crmbot.sandbox".into());
    })
    .await;
    // Sam's Slack email is not the one Salesforce has; the table maps him anyway.
    bot.slack.set_email(SAM_SLACK, "sam@personal.example");
    let sam = bot.sandbox.seed_id("sam").unwrap();
    let (id, ts, blocks) = bot.log_as(SAM_SLACK, NOTES).await;
    assert!(card_text(&blocks).contains("owned in Salesforce by Sam Ortiz"));
    assert_eq!(bot.click(SAM_SLACK, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Task").await;
    let tasks = tasks_named(&bot, "Send security questionnaire to Tom");
    assert_eq!(tasks[0]["OwnerId"], json!(sam));
}

#[tokio::test]
async fn an_unmapped_member_falls_back_to_the_integration_user_and_is_told() {
    let bot = bot(|c| c.salesforce.unmapped = UnmappedChoice::Integration).await;
    bot.slack.set_email(REQUESTER, "nobody@elsewhere.example");
    let (id, ts, blocks) = bot.log(NOTES).await;
    let text = card_text(&blocks);
    assert!(
        text.contains("nobody@elsewhere.example matches no active Salesforce user")
            && text.contains("owned by crmbot's integration user"),
        "{text}"
    );
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Task").await;
    let tasks = tasks_named(&bot, "Send security questionnaire to Tom");
    assert_eq!(tasks[0]["OwnerId"], json!(bot.sandbox.api_user_id()));
}

#[tokio::test]
async fn an_unmapped_member_is_refused_when_the_setting_says_refuse() {
    let bot = bot(|c| c.salesforce.unmapped = UnmappedChoice::Refuse).await;
    // An inactive User does not count.
    bot.slack
        .set_email(REQUESTER, "morgan.reyes@crmbot.example");
    let (id, ts, blocks) = bot.log(NOTES).await;
    let text = card_text(&blocks);
    assert!(
        text.contains("matches no active Salesforce user") && text.contains("approving is refused"),
        "{text}"
    );
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let told = nth_ephemeral(&bot, 1).await;
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("salesforce.unmapped"),
        "{told}"
    );
    assert_eq!(bot.composite_writes(), 0, "nothing was written");
    assert!(tasks_named(&bot, "Send security questionnaire to Tom").is_empty());
    assert_eq!(state_of(&bot, &id), "drafted");
}

#[tokio::test]
async fn the_approver_owns_what_they_approve_when_the_setting_says_approver() {
    let bot = bot(|c| {
        c.salesforce.owner = OwnerChoice::Approver;
        c.policy = policy("[policy]\napprovers = [\"U0SAM\"]\n");
    })
    .await;
    bot.slack.set_email(REQUESTER, DANA);
    bot.slack.set_email(SAM_SLACK, "sam.ortiz@crmbot.example");
    let sam = bot.sandbox.seed_id("sam").unwrap();
    let (id, ts, _) = bot.log(NOTES).await;
    assert_eq!(bot.click(SAM_SLACK, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Created Task").await;
    assert!(
        card_text(&done["blocks"]).contains("owned in Salesforce by Sam Ortiz (who approved it)"),
        "{}",
        card_text(&done["blocks"])
    );
    let tasks = tasks_named(&bot, "Send security questionnaire to Tom");
    assert_eq!(tasks[0]["OwnerId"], json!(sam));
}

#[tokio::test]
async fn my_question_from_an_unmapped_member_says_how_to_get_mapped() {
    let bot = bot(|_| {}).await;
    bot.slack.set_email(REQUESTER, "nobody@elsewhere.example");
    bot.sandbox.reset_requests();
    let answer = ask(&bot, REQUESTER, "my open tasks").await;
    assert!(
        answer.contains("nobody@elsewhere.example matches no active Salesforce user")
            && answer.contains("[salesforce.users]"),
        "{answer}"
    );
    let queries: Vec<String> = bot
        .sandbox
        .requests()
        .iter()
        .filter_map(|r| r.param("q"))
        .collect();
    assert!(
        queries.iter().all(|q| q.contains("FROM User")),
        "no Task query ran: {queries:?}"
    );
}

#[tokio::test]
async fn a_write_salesforce_does_not_permit_is_explained_on_the_card_and_nothing_is_written() {
    // crmbot's Salesforce user is Riley, who may read but not edit Opportunities.
    let mut seed: Value =
        serde_json::from_str(include_str!("../src/sandbox/default_seed.json")).unwrap();
    seed["api_user"] = json!("riley");
    let model = stub_model_with(json!({"records": [{"object": "Opportunity", "lookup": null,
        "link": null, "fields": {"Name": "Apex Corp - Security add-on", "StageName": "Prospecting",
        "CloseDate": "2026-12-31", "Amount": 12000}}]}))
    .await;
    let bot = Bot::start_custom(
        model,
        None,
        |o| o.seed = crmbot::sandbox::Seed::Json(seed),
        |c| c.drafting.meeting_task = false,
    )
    .await;
    let before = bot.sandbox.records("Opportunity").len();
    let (id, ts, _) = bot
        .log("New deal: Apex Corp - Security add-on, 12000, stage Prospecting, closing 2026-12-31")
        .await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let failed = wait_for_update(&bot, "the failed card", "can't create this Opportunity").await;
    let text = card_text(&failed["blocks"]);
    assert!(
        text.contains("its permissions there do not allow it"),
        "{text}"
    );
    assert_eq!(
        bot.sandbox.records("Opportunity").len(),
        before,
        "nothing was written"
    );
    let riley = bot.sandbox.seed_id("riley").unwrap();
    let write = bot
        .sandbox
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/composite"))
        .unwrap();
    assert_eq!(
        write.user.as_deref(),
        Some(riley.as_str()),
        "the sandbox knows who tried"
    );
}
