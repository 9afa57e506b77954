//! Local OpenAI-compatible servers (llama.cpp, llama-cpp-python, LM Studio) as a user meets
//! them: a server that rejects `json_schema`, one whose chat template drops the system
//! message, one that is slow. Each reproduces what crmbot used to do wrong with them.

mod llm_support;

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;

use crmbot::config::{LlmProvider, ResponseFormat};
use crmbot::domain::plan::testing::sample_schema;
use crmbot::llm::plan::PlanRequest;
use crmbot::llm::{Llm, LlmError, SystemPrompt};
use llm_support::*;

/// llama-cpp-python's answer to OpenAI's `json_schema` spelling.
fn literal_error() -> serde_json::Value {
    json!({"error": {"message": "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}", "type": "internal_server_error"}})
}

fn reply_with_tokens(content: &str, prompt_tokens: u64) -> serde_json::Value {
    json!({"id": "x", "object": "chat.completion", "model": "local",
           "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}],
           "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 9}})
}

#[tokio::test]
async fn a_server_that_rejects_json_schema_gets_json_object_with_the_schema_and_keeps_it() {
    let (stub, base) = Stub::start().await;
    stub.reply(500, literal_error())
        .reply(200, openai_reply(DRAFT, "stop"))
        .reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, None)).unwrap();
    let reply = draft(&llm, "notes").await.unwrap();
    assert_eq!(reply.value["records"][0]["fields"]["LastName"], "Reed");
    let seen = stub.seen();
    assert_eq!(
        seen.len(),
        2,
        "the 500 is not retried: the next format is tried"
    );
    assert_eq!(seen[0].body["response_format"]["type"], "json_schema");
    assert_eq!(seen[1].body["response_format"]["type"], "json_object");
    let schema = &seen[1].body["response_format"]["schema"];
    assert_eq!(
        schema["$defs"]["Lead"]["properties"]["fields"]["properties"]["Status"]["anyOf"][0]["enum"],
        json!(["Open - Not Contacted", "Working - Contacted"]),
        "nullable enums as anyOf, which llama.cpp's grammar converter reads"
    );
    assert!(
        schema.to_string().contains("maxLength") && schema.to_string().contains("maxItems"),
        "a local grammar gets every bound"
    );
    let carrier = llm.carrier().unwrap();
    assert_eq!(carrier.format, "json_object_schema");
    assert!(carrier.fallback.unwrap().contains("500"));
    assert_eq!(reply.calls[0].carrier, "json_object_schema");

    draft(&llm, "notes").await.unwrap();
    let seen = stub.seen();
    assert_eq!(seen.len(), 3, "the working format is kept: one request");
    assert_eq!(seen[2].body["response_format"]["type"], "json_object");
}

#[tokio::test]
async fn a_server_that_rejects_both_gets_the_schema_in_the_prompt() {
    let (stub, base) = Stub::start().await;
    stub.reply(500, literal_error())
        .reply(
            400,
            json!({"error": {"message": "response_format type must be 'json_schema' or 'text'"}}),
        )
        .reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, None)).unwrap();
    draft(&llm, "notes").await.unwrap();
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[2].body.get("response_format").is_none());
    let system = seen[2].body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("follows this JSON Schema"), "{system}");
    assert!(system.contains("\"records\""), "{system}");
    assert_eq!(llm.carrier().unwrap().format, "prompt");
}

#[tokio::test]
async fn an_explicit_format_is_never_changed_behind_your_back() {
    let (stub, base) = Stub::start().await;
    stub.reply(400, json!({"error": {"message": "Invalid schema"}}));
    let mut s = settings(LlmProvider::Openai, &base, None);
    s.response_format = ResponseFormat::JsonSchema;
    let llm = Llm::from_settings(&s).unwrap();
    assert!(matches!(
        draft(&llm, "notes").await,
        Err(LlmError::Provider { status: 400, .. })
    ));
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_not_retried() {
    let (stub, base) = Stub::start().await;
    *stub.delay.lock().unwrap() = Some(Duration::from_millis(1500));
    stub.reply(200, openai_reply(DRAFT, "stop"))
        .reply(200, openai_reply(DRAFT, "stop"));
    let mut s = settings(LlmProvider::Openai, &base, None);
    s.timeout = Duration::from_millis(300);
    s.max_retries = 2;
    let llm = Llm::from_settings(&s).unwrap();
    assert!(matches!(draft(&llm, "notes").await, Err(LlmError::Timeout)));
    // Give a second request time to arrive, were one sent.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        stub.seen().len(),
        1,
        "the abandoned request is not sent again"
    );
}

#[tokio::test]
async fn the_system_prompt_can_travel_in_the_user_turn() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, openai_reply(DRAFT, "stop"));
    let mut s = settings(LlmProvider::Openai, &base, None);
    s.system_in_user = Some(true);
    let llm = Llm::from_settings(&s).unwrap();
    draft(&llm, "We spoke with Daniel Reed.").await.unwrap();
    let messages = stub.seen()[0].body["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    let text = messages[0]["content"].as_str().unwrap();
    assert!(
        text.starts_with("You are a CRM data-entry assistant"),
        "{text}"
    );
    assert!(text.contains("<notes>\nWe spoke with Daniel Reed.\n</notes>"));
}

#[tokio::test]
async fn the_probe_sees_a_dropped_system_prompt_in_the_token_count_and_moves_it() {
    // The gemma chat format drops the system message: ~15 prompt tokens for ~250 sent.
    let (stub, base) = Stub::start().await;
    stub.reply(500, literal_error())
        .reply(200, reply_with_tokens(r#"{"ok": true, "n": 7}"#, 15))
        .reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, None)).unwrap();
    let report = llm.probe().await.unwrap().unwrap();
    assert_eq!(report.carrier.format, "json_object_schema");
    assert!(report.reply_ok);
    assert_eq!(
        report.system,
        SystemPrompt::MovedToUser { prompt_tokens: 15 }
    );
    let line = report.describe();
    assert!(
        line.contains("json_object_schema") && line.contains("moved into the user turn"),
        "{line}"
    );
    draft(&llm, "notes").await.unwrap();
    let messages = &stub.seen()[2].body["messages"];
    assert_eq!(messages[0]["role"], "user", "{messages}");

    // Told to keep it in the system turn, crmbot keeps it there and says it is dropped.
    let (stub, base) = Stub::start().await;
    stub.reply(200, reply_with_tokens(r#"{"ok": true, "n": 7}"#, 15));
    let mut s = settings(LlmProvider::Openai, &base, None);
    s.system_in_user = Some(false);
    let llm = Llm::from_settings(&s).unwrap();
    let report = llm.probe().await.unwrap().unwrap();
    assert_eq!(report.system, SystemPrompt::Dropped { prompt_tokens: 15 });
    assert!(report.describe().contains("LLM_SYSTEM_IN_USER=true"));

    // A server that reads it.
    let (stub, base) = Stub::start().await;
    stub.reply(200, reply_with_tokens(r#"{"ok": true, "n": 7}"#, 260));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, None)).unwrap();
    let report = llm.probe().await.unwrap().unwrap();
    assert_eq!(report.system, SystemPrompt::Seen { prompt_tokens: 260 });
    assert_eq!(stub.seen()[0].body["messages"][0]["role"], "system");
}

#[tokio::test]
async fn a_question_gets_a_question_shaped_repair_prompt() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, openai_reply("I think you mean the Apex deals.", "stop"))
        .reply(200, openai_reply(r#"{"intent":"query","object":"Opportunity","fields":["Id","Name"],"filters":[],"sort":[],"limit":5,"unread":[]}"#, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, None)).unwrap();
    let schema = sample_schema();
    let reply = llm
        .plan(
            &PlanRequest {
                question: "deals?",
                today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                schema: &schema,
                previous: None,
                max_limit: 200,
            },
            &|_| Ok(()),
        )
        .await
        .unwrap();
    assert_eq!(reply.value["object"], "Opportunity");
    let seen = stub.seen();
    let repair = seen[1].body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        repair.contains("\"intent\"") && repair.contains("\"filters\""),
        "{repair}"
    );
    assert!(!repair.contains("records"), "{repair}");
    let plan_schema = &seen[0].body["response_format"]["json_schema"]["schema"];
    assert_eq!(plan_schema["properties"]["filters"]["maxItems"], 10);
    assert!(plan_schema["required"].to_string().contains("unread"));
}
