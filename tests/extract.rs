//! `crmbot extract` end to end: the real binary, the local Salesforce sandbox over HTTP, and a
//! stub OpenAI-compatible model. Asserts what a user sees (the action decided for each record)
//! and what it cost (Salesforce requests).

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crmbot::config::{Config, LlmProvider};
use crmbot::domain::notes::Notes;
use crmbot::flow::drafting::Drafting;
use crmbot::llm::Llm;
use crmbot::salesforce::SalesforceClient;
use crmbot::sandbox::DEFAULT_TOKEN;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn config_for(sandbox_url: &str, model_url: &str) -> Config {
    let mut config = Config::default();
    config.salesforce.instance_url = Some(sandbox_url.parse().unwrap());
    config.salesforce.access_token = Some(SecretString::from(DEFAULT_TOKEN));
    config.llm.provider = Some(LlmProvider::Openai);
    config.llm.base_url = Some(model_url.parse().unwrap());
    config.llm.api_key = Some(SecretString::from("sk-test"));
    config
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

// Multi-threaded: the sandbox and the stub model keep serving while this test waits for the
// child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_lead_email_makes_extract_report_an_update_after_one_duplicate_request() {
    // Arrange: Salesforce already has Daniel Reed's Lead; the model returns the seed-lead draft.
    let sandbox = common::start_sandbox().await;
    let (note, gold) = common::fixture_draft("seed-lead");
    let model = common::start_stub_model(&gold).await;
    let config = config_for(&sandbox.base_url(), &model.base_url);
    let client = SalesforceClient::new(&config.salesforce).unwrap();
    let existing = client
        .create(
            "Lead",
            &object(
                json!({"FirstName": "Dan", "LastName": "Reed", "Company": "Apex Corp",
                           "Email": "daniel@apex.example"}),
            ),
        )
        .await
        .unwrap();
    let existing_id = existing.id.clone().unwrap();
    sandbox.reset_requests();

    // Act: the real binary, configured only through the public environment variables.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args([
            "extract",
            "--json",
            "--today",
            "2026-11-25",
            "--text",
            &note,
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SALESFORCE_INSTANCE_URL", sandbox.base_url())
        .env("SALESFORCE_ACCESS_TOKEN", DEFAULT_TOKEN)
        .env("LLM_PROVIDER", "openai")
        .env("LLM_BASE_URL", &model.base_url)
        .env("LLM_API_KEY", "sk-test")
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "extract failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let proposal: Value = serde_json::from_slice(&output.stdout).unwrap();
    let record = &proposal["records"][0];
    assert_eq!(record["object"], "Lead");
    assert_eq!(record["action"], "update", "{proposal:#}");
    assert_eq!(record["id"], existing_id.as_str());
    assert_eq!(record["matched_by"], "Email");
    let first_name = record["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "FirstName")
        .unwrap();
    assert_eq!(first_name["old"], "Dan");
    assert_eq!(first_name["value"], "Daniel");
    assert_eq!(proposal["salesforce"]["duplicate_check_requests"], 1);

    let requests = sandbox.requests();
    let checks: Vec<_> = requests
        .iter()
        .filter(|r| !r.path.ends_with("/describe") && !r.path.ends_with("/describe/"))
        .collect();
    assert_eq!(
        checks.len(),
        1,
        "exactly one Salesforce request besides describe: {checks:#?}"
    );
    // The Lead's own duplicate check, plus the cross checks (is Daniel already a Contact,
    // is Apex Corp a customer account), in one composite of reads.
    assert!(checks[0].path.ends_with("/composite"), "{:?}", checks[0]);
    let body: Value = serde_json::from_str(&checks[0].body).unwrap();
    let subs = body["compositeRequest"].as_array().unwrap();
    assert_eq!(subs.len(), 3, "{body:#}");
    assert!(
        subs.iter().all(|s| s["method"] == "GET"),
        "nothing written: {body:#}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" || r.path.ends_with("/composite")),
        "nothing written"
    );
    assert_eq!(model.requests.lock().unwrap().len(), 1, "one model call");
}

#[tokio::test]
async fn describe_is_fetched_once_per_object_across_100_concurrent_extractions() {
    let sandbox = common::start_sandbox().await;
    let (note, gold) = common::fixture_draft("seed-lead");
    let model = common::start_stub_model(&gold).await;
    let config = config_for(&sandbox.base_url(), &model.base_url);
    let drafting = Drafting::new(
        SalesforceClient::new(&config.salesforce).unwrap(),
        Arc::new(Llm::from_settings(&config.llm).unwrap()),
        config.objects.clone(),
        config.drafting.clone(),
        sandbox.base_url(),
    );
    let notes = Notes::new(note);

    let runs = (0..100).map(|_| {
        let drafting = drafting.clone();
        let notes = notes.clone();
        tokio::spawn(async move { drafting.draft(&notes, today()).await })
    });
    for run in futures::future::join_all(runs).await {
        let proposal = run.unwrap().unwrap();
        assert_eq!(proposal.records[0].action, "create");
    }

    let requests = sandbox.requests();
    for object in config.objects.keys() {
        let describes = requests
            .iter()
            .filter(|r| r.path.contains(&format!("/sobjects/{object}/describe")))
            .count();
        assert_eq!(
            describes, 1,
            "describe of {object} fetched {describes} times"
        );
    }
    assert_eq!(model.requests.lock().unwrap().len(), 100);
}
