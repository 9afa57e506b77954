//! The policy's other half through signed Slack requests against the real `crmbot serve`:
//! requests from another workspace do nothing; who may log and ask; what answers show and
//! who sees them; and the policy checked at start-up and printed by `crmbot config`.

mod common;
mod slack_support;

use std::time::Duration;

use serde_json::{Value, json};

use common::{fixture_draft, start_stub_model_with};
use crmbot::config::Config;
use crmbot::store::{AuditFilter, AuditKind, AuditRecord};
use slack_support::*;

const UM1: &str = "U0MGR1";

#[tokio::test]
async fn requests_from_another_workspace_do_nothing() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;

    // A command: a short refusal, nothing else.
    let (status, answer) = bot
        .command_from("T0OTHER", REQUESTER, &format!("log {notes}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("not set up for this Slack workspace"),
        "{answer}"
    );
    // An event (a mention): nothing.
    let mention = json!({"type": "event_callback", "event_id": "EvX1", "team_id": "T0OTHER",
        "api_app_id": "A1", "event_time": 1700000000,
        "event": {"type": "app_mention", "user": REQUESTER, "text": format!("<@{BOT_USER}> all deals"),
                  "ts": "1700000100.000100", "channel": CHANNEL, "event_ts": "1700000100.000100"}});
    assert_eq!(bot.event(&mention, None).await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls: Vec<_> = bot
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method != "auth.test")
        .collect();
    assert!(calls.is_empty(), "nothing sent: {calls:#?}");
    assert!(
        bot.model.requests.lock().unwrap().is_empty(),
        "no model call"
    );
    let app = &bot.running.as_ref().unwrap().app;
    assert!(app.actions.all().unwrap().is_empty(), "nothing stored");

    // A click on a real card from another workspace: nothing written, nothing said.
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();
    let before = bot.slack.calls().len();
    let (status, body) = bot.click_from("T0OTHER", REQUESTER, &id, &ts).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("not set up for this Slack workspace"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.sandbox.request_count(), 0, "no Salesforce call");
    assert_eq!(bot.slack.calls().len(), before, "nothing sent to Slack");
    assert_eq!(state_of(&bot, &id), "drafted");
}

/// A bot whose stub model plans every question as `plan`.
async fn asking(plan: &Value, tune: impl FnOnce(&mut Config)) -> Bot {
    let model = start_stub_model_with(&plan.to_string(), "A summary.").await;
    Bot::start_with_model(model, |c| {
        c.ask.summarize = false;
        tune(c)
    })
    .await
}

fn opportunities_plan() -> Value {
    json!({"intent": "query", "object": "Opportunity", "fields": ["Id", "Name", "Amount"],
           "filters": [], "sort": [], "limit": 10})
}

#[tokio::test]
async fn crm_ask_is_answered_to_the_asker_only_by_default_and_audited_without_rows() {
    let bot = asking(&opportunities_plan(), |_| {}).await;
    let (status, _) = bot.command(REQUESTER, "ask all deals").await;
    assert_eq!(status, 200);
    let answer = nth_response(&bot, 1).await;
    assert_eq!(answer["response_type"], "ephemeral");
    let text = card_text(&answer["blocks"]);
    assert!(text.contains("Initech - Platform Renewal"), "{text}");
    assert!(
        bot.slack.calls_to("chat.postMessage").is_empty(),
        "nothing posted to the channel"
    );

    let app = &bot.running.as_ref().unwrap().app;
    let asked: Vec<AuditRecord> = app
        .store
        .audit
        .list(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == AuditKind::Asked)
        .collect();
    assert_eq!(asked.len(), 1);
    let d = &asked[0].entry.detail;
    assert_eq!(asked[0].entry.actor.as_deref(), Some(REQUESTER));
    assert_eq!(d["question"], "all deals");
    assert!(
        d["soql"]
            .as_str()
            .unwrap()
            .starts_with("SELECT Id, Name, Amount FROM Opportunity")
    );
    assert!(d["rows"].as_u64().unwrap() >= 7, "{d}");
    assert_eq!(d["plan"]["object"], "Opportunity");
    assert!(
        !d.to_string().contains("Initech - Platform Renewal"),
        "no rows in the audit: {d}"
    );
}

#[tokio::test]
async fn answers_go_to_the_channel_when_the_policy_says_so() {
    let bot = asking(&opportunities_plan(), |c| {
        c.policy = policy("[policy.answers]\nslash_command = \"channel\"\n")
    })
    .await;
    bot.command(REQUESTER, "ask all deals").await;
    let answer = nth_response(&bot, 1).await;
    assert_eq!(answer["response_type"], "in_channel");
}

#[tokio::test]
async fn a_mention_is_answered_to_the_asker_only_when_configured() {
    let bot = asking(&opportunities_plan(), |c| {
        c.policy = policy("[policy.answers]\nmentions = \"asker\"\n")
    })
    .await;
    let mention = json!({"type": "event_callback", "event_id": "EvM1", "team_id": "T1",
        "api_app_id": "A1", "event_time": 1700000000,
        "event": {"type": "app_mention", "user": REQUESTER, "text": format!("<@{BOT_USER}> all deals"),
                  "ts": "1700000100.000100", "channel": CHANNEL, "event_ts": "1700000100.000100"}});
    assert_eq!(bot.event(&mention, None).await, 200);
    let answer = nth_ephemeral(&bot, 1).await;
    assert_eq!(answer["user"], REQUESTER);
    assert_eq!(answer["thread_ts"], "1700000100.000100");
    assert!(
        card_text(&answer["blocks"]).contains("Initech - Platform Renewal"),
        "{answer}"
    );
    assert!(bot.slack.calls_to("chat.postMessage").is_empty());
}

#[tokio::test]
async fn an_answer_about_an_object_the_policy_does_not_show_is_refused() {
    let leads = json!({"intent": "query", "object": "Lead", "fields": ["Id", "Name", "Email"],
                       "filters": [], "sort": [], "limit": 10});
    let bot = asking(&leads, |c| {
        c.policy = policy("[policy.answers]\nobjects = [\"Opportunity\", \"Account\"]\n")
    })
    .await;
    bot.sandbox.reset_requests();
    bot.command(REQUESTER, "ask all leads").await;
    let answer = nth_response(&bot, 1).await;
    let text = card_text(&answer["blocks"]);
    assert!(text.contains("could not answer that safely"), "{text}");
    assert!(text.contains("Lead"), "{text}");
    let queries = bot
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count();
    assert_eq!(queries, 0, "a refused plan never runs");

    // Someone the policy leaves unrestricted gets the answer.
    let bot = asking(&leads, |c| {
        c.policy =
            policy("[policy.answers]\nobjects = [\"Opportunity\"]\nunrestricted = [\"U0REQ\"]\n")
    })
    .await;
    bot.command(REQUESTER, "ask all leads").await;
    let answer = nth_response(&bot, 1).await;
    let text = card_text(&answer["blocks"]);
    assert!(!text.contains("could not answer that safely"), "{text}");
}

#[tokio::test]
async fn who_may_log_and_ask_is_the_policy_s_to_say() {
    let bot = asking(&opportunities_plan(), |c| {
        c.policy = policy("[policy]\nlog = [\"U0BOSS\"]\nask = [\"@sales-managers\"]\n")
    })
    .await;
    bot.slack.set_usergroup("S0MGR", "sales-managers", &[UM1]);
    let (status, answer) = bot.command(REQUESTER, "log Met Daniel Reed").await;
    assert_eq!(status, 200);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("You can't log to Salesforce with crmbot"),
        "{answer}"
    );
    bot.command(REQUESTER, "ask all deals").await;
    let refusal = nth_response(&bot, 1).await;
    assert_eq!(refusal["response_type"], "ephemeral");
    assert!(
        refusal["text"]
            .as_str()
            .unwrap()
            .contains("You can't ask crmbot about Salesforce"),
        "{refusal:?}"
    );
    assert!(
        bot.model.requests.lock().unwrap().is_empty(),
        "no model call"
    );
    // A member of the group may ask.
    bot.command(UM1, "ask all deals").await;
    nth_response(&bot, 2).await;
    assert!(!bot.model.requests.lock().unwrap().is_empty());
}

/// The real binary with only `crmbot.toml` (and no environment of ours).
fn crmbot(args: &[&str], toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crmbot.toml"), toml).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

#[test]
fn a_policy_with_a_typo_is_refused_at_start_up_naming_it() {
    let out = crmbot(
        &["serve"],
        "[policy]\napprovers = [\"@sales-managers\"]\nself_aprove = { update = false }\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("self_aprove"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn crmbot_config_prints_the_effective_policy() {
    let out = crmbot(
        &["config"],
        "[policy]\napprovers = [\"@sales-managers\"]\n[policy.auto_approve]\ntasks = true\n",
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    for expected in [
        "[policy]",
        "name = \"closing a deal\"",
        "approvers = [\"@sales-managers\"]",
        "# - Tier \"closing a deal\": Opportunity StageName to Closed Won or Closed Lost (creates and updates) needs 1 distinct approver(s) from @sales-managers, not the requester.",
        "# - Auto-approval: a draft of Tasks only, every value from the notes, is written without a click.",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing:\n{shown}");
    }
}

/// The ```toml blocks of the README's worked policy examples.
fn readme_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("### Three worked examples")
        .expect("the examples");
    let section = &readme[start..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_readme_policy_examples_load_and_mean_what_they_say() {
    use crmbot::domain::policy::{Change, RecordFacts};
    let examples = readme_examples();
    assert_eq!(examples.len(), 3, "three worked examples");
    let configs: Vec<Config> = examples
        .iter()
        .map(|text| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("crmbot.toml");
            std::fs::write(&path, text).unwrap();
            Config::load_with(Some(&path), |_| None).unwrap_or_else(|e| panic!("{e}\n{text}"))
        })
        .collect();
    let won = RecordFacts {
        object: "Opportunity".into(),
        create: false,
        changes: vec![Change {
            field: "StageName".into(),
            old: Some(json!("Negotiation/Review")),
            new: json!("Closed Won"),
        }],
        grounded: true,
    };
    let lead = RecordFacts {
        object: "Lead".into(),
        create: true,
        changes: vec![Change {
            field: "LastName".into(),
            old: None,
            new: json!("Reed"),
        }],
        grounded: true,
    };
    let rules = |c: &Config, r: &RecordFacts| {
        c.policy_rules()
            .assess("U0REP", std::slice::from_ref(r), false)
            .requirements
    };
    // A small team: the requester approves a lead alone, not a closed deal.
    assert!(rules(&configs[0], &lead)[0].self_approve);
    assert!(configs[0].policy_rules().auto_approve_tasks);
    assert!(!rules(&configs[0], &won)[0].self_approve);
    // Managers: a deal moved to Closed Won is in both stage tiers, two managers in all.
    let names: Vec<String> = rules(&configs[1], &won)
        .into_iter()
        .map(|r| r.rule)
        .collect();
    assert_eq!(names, ["stage change", "closing a deal"]);
    assert!(rules(&configs[1], &lead)[0].self_approve);
    // Locked down: nobody approves their own lead.
    assert!(!rules(&configs[2], &lead)[0].self_approve);
    assert_eq!(
        configs[2].effective_policy().answers.hide,
        ["Opportunity.Amount"]
    );
}

#[test]
fn the_example_configuration_spells_out_the_default_policy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crmbot.example.toml");
    let example = Config::load_with(Some(std::path::Path::new(path)), |_| None).expect("loads");
    assert_eq!(
        example.effective_policy(),
        Config::default().effective_policy()
    );
}
