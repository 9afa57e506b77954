//! The model providers against stub servers on 127.0.0.1: the request each sends (OpenAI's
//! response_format, Anthropic's forced tool), and how each reply is handled — fenced JSON,
//! refusal, truncation, rate limits, server errors, and the one repair retry.

mod llm_support;

use serde_json::{Value, json};

use crmbot::config::{LlmProvider, LlmSettings, ResponseFormat};
use crmbot::llm::{Llm, LlmError};
use llm_support::*;

#[tokio::test]
async fn openai_request_asks_for_strict_json_schema_with_fenced_notes() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(
        LlmProvider::Openai,
        &format!("{base}/v1"),
        Some("sk-test"),
    ))
    .unwrap();
    let reply = draft(&llm, "We spoke with Daniel Reed from Apex Corp.")
        .await
        .unwrap();
    assert_eq!(reply.value["records"][0]["fields"]["LastName"], "Reed");
    assert_eq!(reply.calls.len(), 1);
    assert_eq!(reply.usage().prompt_tokens, 812);
    assert_eq!(reply.usage().cached_tokens, 512);

    let seen = stub.seen();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(header(&seen[0], "authorization"), Some("Bearer sk-test"));
    let body = &seen[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["$defs"]["Lead"]["properties"]["fields"]["properties"]["Status"]["anyOf"][0]["enum"],
        json!(["Open - Not Contacted", "Working - Contacted"])
    );
    assert!(
        !schema.to_string().contains("maxLength"),
        "OpenAI strict mode takes no maxLength"
    );
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Today is 2026-11-25"), "{user}");
    assert!(
        user.contains("<notes>\nWe spoke with Daniel Reed from Apex Corp.\n</notes>"),
        "{user}"
    );
    assert!(!llm.describe().contains("sk-test"));
}

#[tokio::test]
async fn a_local_server_needs_no_key_and_can_take_json_object_or_no_format() {
    for (format, want) in [
        (ResponseFormat::JsonObject, Some("json_object")),
        (ResponseFormat::None, None),
    ] {
        let (stub, base) = Stub::start().await;
        stub.reply(200, openai_reply(DRAFT, "stop"));
        let mut s = settings(LlmProvider::Openai, &format!("{base}/v1"), None);
        s.response_format = format;
        let llm = Llm::from_settings(&s).unwrap();
        draft(&llm, "notes").await.unwrap();
        let seen = stub.seen();
        assert_eq!(header(&seen[0], "authorization"), None, "no key, no header");
        assert_eq!(seen[0].body["response_format"]["type"].as_str(), want);
    }
}

#[tokio::test]
async fn fenced_json_is_accepted() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, openai_reply(&format!("```json\n{DRAFT}\n```"), "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, Some("k"))).unwrap();
    let reply = draft(&llm, "notes").await.unwrap();
    assert_eq!(reply.value["records"][0]["object"], "Lead");
    assert_eq!(stub.seen().len(), 1, "no repair needed");
}

#[tokio::test]
async fn refusal_and_truncation_are_told_apart() {
    let (stub, base) = Stub::start().await;
    let mut refused = openai_reply("", "stop");
    refused["choices"][0]["message"]["refusal"] = json!("I can't help with that.");
    stub.reply(200, refused)
        .reply(200, openai_reply("{\"records\": [", "length"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, Some("k"))).unwrap();
    match draft(&llm, "notes").await {
        Err(LlmError::Refused { message }) => assert_eq!(message, "I can't help with that."),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        draft(&llm, "notes").await,
        Err(LlmError::Truncated)
    ));
    assert_eq!(stub.seen().len(), 2, "neither is retried");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_within_bounds() {
    let (stub, base) = Stub::start().await;
    stub.reply_with(
        429,
        json!({"error": {"message": "slow down"}}),
        ("retry-after", "0"),
    )
    .reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, Some("k"))).unwrap();
    draft(&llm, "notes").await.unwrap();
    assert_eq!(stub.seen().len(), 2);

    stub.reply_with(
        500,
        json!({"error": {"message": "boom"}}),
        ("retry-after-ms", "1"),
    )
    .reply_with(502, json!({}), ("retry-after-ms", "1"))
    .reply(200, openai_reply(DRAFT, "stop"));
    draft(&llm, "notes").await.unwrap();
    assert_eq!(stub.seen().len(), 5);

    for _ in 0..3 {
        stub.reply_with(
            429,
            json!({"error": {"message": "quota"}}),
            ("retry-after", "0"),
        );
    }
    assert!(matches!(
        draft(&llm, "notes").await,
        Err(LlmError::RateLimited { .. })
    ));
    assert_eq!(
        stub.seen().len(),
        8,
        "the first try and max_retries = 2 more"
    );

    stub.reply(
        400,
        json!({"error": {"message": "Invalid schema for response_format"}}),
    );
    match draft(&llm, "notes").await {
        Err(LlmError::Provider {
            status: 400,
            message,
        }) => assert!(message.contains("Invalid schema")),
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(stub.seen().len(), 9, "a 400 is not retried");
}

#[tokio::test]
async fn a_reply_that_is_not_json_gets_exactly_one_repair_retry() {
    // bad_replies.json "not-json": one repair retry, then a clear failure.
    let (stub, base) = Stub::start().await;
    let prose = "Sure! Here is the lead: Daniel Reed, Apex Corp.";
    stub.reply(200, openai_reply(prose, "stop"))
        .reply(200, openai_reply(prose, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, Some("k"))).unwrap();
    match draft(&llm, "We spoke with Daniel Reed from Apex Corp.").await {
        Err(e @ LlmError::NotJson { .. }) => assert!(e.to_string().contains("not usable JSON")),
        other => panic!("expected NotJson, got {other:?}"),
    }
    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    let repair = seen[1].body["messages"].as_array().unwrap();
    assert_eq!(repair[2]["role"], "assistant");
    assert_eq!(repair[2]["content"], prose);
    assert!(
        repair[3]["content"]
            .as_str()
            .unwrap()
            .contains("it is not a JSON object")
    );
}

#[tokio::test]
async fn a_repaired_reply_is_accepted_and_both_calls_are_recorded() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, openai_reply(r#"{"record": []}"#, "stop"))
        .reply(200, openai_reply(DRAFT, "stop"));
    let llm = Llm::from_settings(&settings(LlmProvider::Openai, &base, Some("k"))).unwrap();
    let reply = draft(&llm, "notes").await.unwrap();
    let purposes: Vec<&str> = reply.calls.iter().map(|c| c.purpose.as_str()).collect();
    assert_eq!(purposes, ["draft", "repair"]);
    assert_eq!(reply.usage().prompt_tokens, 1624);
    let repair = &stub.seen()[1].body["messages"][3]["content"];
    assert!(
        repair
            .as_str()
            .unwrap()
            .contains("no \\\"records\\\" array")
            || repair.as_str().unwrap().contains("no \"records\" array"),
        "{repair}"
    );
}

fn anthropic_reply(input: Value, stop: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
           "content": [{"type": "text", "text": "Here you go."},
                       {"type": "tool_use", "id": "toolu_1", "name": "crm_draft", "input": input}],
           "stop_reason": stop,
           "usage": {"input_tokens": 700, "output_tokens": 80, "cache_read_input_tokens": 100}})
}

#[tokio::test]
async fn anthropic_forces_the_draft_tool_and_reads_its_input() {
    let (stub, base) = Stub::start().await;
    let draft_value: Value = serde_json::from_str(DRAFT).unwrap();
    stub.reply(200, anthropic_reply(draft_value.clone(), "tool_use"));
    let llm = Llm::from_settings(&settings(LlmProvider::Anthropic, &base, Some("sk-ant"))).unwrap();
    let reply = draft(&llm, "We spoke with Daniel Reed from Apex Corp.")
        .await
        .unwrap();
    assert_eq!(reply.value, draft_value);
    assert_eq!(reply.usage().prompt_tokens, 700);

    let seen = stub.seen();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(header(&seen[0], "x-api-key"), Some("sk-ant"));
    assert_eq!(header(&seen[0], "anthropic-version"), Some("2023-06-01"));
    let body = &seen[0].body;
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "crm_draft"})
    );
    assert_eq!(body["tools"][0]["name"], "crm_draft");
    assert_eq!(
        body["tools"][0]["input_schema"]["additionalProperties"],
        false
    );
    assert!(
        body["system"]
            .as_str()
            .unwrap()
            .contains("CRM data-entry assistant")
    );
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<notes>")
    );
}

#[tokio::test]
async fn anthropic_truncation_and_overload_are_handled() {
    let (stub, base) = Stub::start().await;
    stub.reply(200, anthropic_reply(json!({}), "max_tokens"));
    let llm = Llm::from_settings(&settings(LlmProvider::Anthropic, &base, Some("k"))).unwrap();
    assert!(matches!(
        draft(&llm, "notes").await,
        Err(LlmError::Truncated)
    ));

    stub.reply_with(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ("retry-after", "0"),
    )
    .reply(
        200,
        anthropic_reply(serde_json::from_str(DRAFT).unwrap(), "tool_use"),
    );
    draft(&llm, "notes").await.unwrap();
    assert_eq!(stub.seen().len(), 3, "the 529 was retried once");
}

#[tokio::test]
async fn the_public_endpoints_need_a_key() {
    let mut s = LlmSettings {
        provider: Some(LlmProvider::Openai),
        ..LlmSettings::default()
    };
    let err = Llm::from_settings(&s).err().unwrap();
    assert!(err.to_string().contains("LLM_API_KEY"), "{err}");
    s.provider = Some(LlmProvider::Rules);
    assert_eq!(
        Llm::from_settings(&s).unwrap().describe(),
        "rules (offline)"
    );
}
