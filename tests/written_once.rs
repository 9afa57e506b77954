//! "A person approves, Salesforce stores — once", under what the real world does: answers
//! lost after Salesforce committed (504, an empty 200, no answer in time), a slow org still
//! committing when crmbot looks, an org without the key field, a click on an older card, an
//! audit log that cannot be written, and a database that lost its tail. The real server on
//! 127.0.0.1 with the fake Slack, a stub model and the sandbox; the assertions are on what
//! reached Salesforce and what the card says.

mod common;
mod slack_support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use common::{fixture_draft, start_stub_model};
use crmbot::sandbox::{AfterCommit, FailNext, Faults, LostAnswer, SandboxOptions};
use slack_support::*;

const COMPOSITE: &str = "/services/data/v62.0/composite";

fn reeds(bot: &Bot) -> usize {
    bot.sandbox
        .records("Lead")
        .iter()
        .filter(|r| r.get("LastName") == Some(&json!("Reed")))
        .count()
}

fn meeting_tasks(bot: &Bot) -> usize {
    bot.sandbox
        .records("Task")
        .iter()
        .filter(|t| {
            t.get("Subject")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("Meeting: We spoke with Daniel Reed"))
        })
        .count()
}

fn state(bot: &Bot, id: &str) -> String {
    bot.running
        .as_ref()
        .unwrap()
        .app
        .actions
        .get(id)
        .unwrap()
        .unwrap()
        .state
        .as_str()
        .to_string()
}

async fn wait_state(bot: &Bot, id: &str, want: &str) {
    for _ in 0..200 {
        if state(bot, id) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never became {want}: it is {}", state(bot, id));
}

/// Settings that let a test see an unknown write settle in seconds, not minutes.
fn quick(config: &mut crmbot::config::Config) {
    config.salesforce.timeout = Duration::from_millis(700);
    config.salesforce.write_time_limit = Duration::from_millis(2_500);
    config.salesforce.recheck_interval = Duration::from_millis(200);
}

async fn bot_with(sandbox: impl FnOnce(&mut SandboxOptions)) -> (Bot, String) {
    let (notes, reply) = fixture_draft("seed-lead");
    let model = start_stub_model(&reply).await;
    (Bot::start_custom(model, None, sandbox, quick).await, notes)
}

#[tokio::test]
async fn answers_lost_after_the_commit_are_settled_as_written_without_a_second_write() {
    for lost in [
        LostAnswer::GatewayTimeout,
        LostAnswer::EmptyOk,
        LostAnswer::Silence(Duration::from_secs(3)),
    ] {
        // Without the key field, so nothing but the check stands between a doubt and a
        // duplicate.
        let (bot, notes) = bot_with(|o| o.drop_fields = vec!["*.Crmbot_Key__c".into()]).await;
        let (id, ts, _) = bot.log(&notes).await;
        bot.sandbox.set_faults(Faults {
            after_commit: vec![AfterCommit::new(COMPOSITE, 1, lost)],
            ..Faults::default()
        });
        assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
        let done = wait_for_update(&bot, "the done card", "Written to Salesforce").await;
        let text = card_text(&done["blocks"]);
        assert!(text.contains("Created Lead"), "{lost:?}: {text}");
        assert!(text.contains("Created Task"), "{lost:?}: {text}");
        assert_eq!(bot.composite_writes(), 1, "{lost:?}: written once");
        assert_eq!((reeds(&bot), meeting_tasks(&bot)), (1, 1), "{lost:?}");
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
            kinds.contains(&"write_unknown".to_string()) && kinds.contains(&"reconciled".into()),
            "{lost:?}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_commit_is_waited_for_and_never_written_again_without_the_key_field() {
    let (bot, notes) = bot_with(|o| {
        o.drop_fields = vec!["*.Crmbot_Key__c".into()];
        o.faults.commit_delay = Some(Duration::from_millis(1_200));
    })
    .await;
    let (id, ts, _) = bot.log(&notes).await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    // crmbot gives up waiting at 0.7 s; the org commits at 1.2 s. The first look finds
    // nothing — which proves nothing.
    let checking = wait_for_update(
        &bot,
        "the checking card",
        "Checking whether Salesforce saved",
    )
    .await;
    let text = card_text(&checking["blocks"]);
    assert!(text.contains("did not answer in time"), "{text}");
    assert!(text.contains("Nothing will be written again"), "{text}");
    assert!(
        action_id(&checking["blocks"]).is_none(),
        "no buttons while unknown"
    );
    // An Approve meanwhile (from the old card) writes nothing.
    let block = format!("pa:{id}:1");
    assert_eq!(
        bot.click_block(REQUESTER, "crm_approve", &id, &ts, &block)
            .await,
        200
    );
    bot.wait_ephemeral("still checking").await;
    // The timer finds the write once it has committed.
    wait_state(&bot, &id, "done").await;
    wait_for_update(&bot, "the done card", "Created Lead").await;
    assert_eq!(bot.composite_writes(), 1);
    assert_eq!((reeds(&bot), meeting_tasks(&bot)), (1, 1));
}

#[tokio::test]
async fn a_write_that_never_landed_is_declared_so_only_after_the_time_limit() {
    let (bot, notes) = bot_with(|o| o.drop_fields = vec!["*.Crmbot_Key__c".into()]).await;
    let (id, ts, _) = bot.log(&notes).await;
    // A 500 before anything was stored: crmbot cannot know that.
    bot.sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new(COMPOSITE, 1, 500)],
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the checking card", "Salesforce answered HTTP 500").await;
    wait_state(&bot, &id, "failed").await;
    assert!(
        started.elapsed() >= Duration::from_millis(2_500),
        "absent is only trusted after the time limit"
    );
    let failed = wait_for_update(&bot, "the failed card", "no trace of this write").await;
    assert!(
        action_id(&failed["blocks"]).is_some(),
        "Approve again is offered"
    );
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_state(&bot, &id, "done").await;
    assert_eq!(bot.composite_writes(), 2);
    assert_eq!((reeds(&bot), meeting_tasks(&bot)), (1, 1));
}

#[tokio::test]
async fn with_the_key_field_approving_an_unknown_write_again_cannot_duplicate_it() {
    let (bot, notes) =
        bot_with(|o| o.faults.commit_delay = Some(Duration::from_millis(1_500))).await;
    let (id, ts, _) = bot.log(&notes).await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let checking = wait_for_update(&bot, "the checking card", "Approving again is safe").await;
    assert!(action_id(&checking["blocks"]).is_some());
    // Approve again at once, while the first request is still committing: the second is
    // an upsert by the same keys.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_state(&bot, &id, "done").await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!((reeds(&bot), meeting_tasks(&bot)), (1, 1));
    let upserts = bot
        .sandbox
        .requests()
        .iter()
        .filter_map(|r| r.json())
        .flat_map(|b| {
            b["compositeRequest"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|s| {
            s["method"] == "PATCH"
                && s["url"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with(&format!("/Lead/Crmbot_Key__c/{id}-0"))
        })
        .count();
    assert!(upserts >= 1, "creates go by key");
}

#[tokio::test]
async fn approve_on_an_older_card_writes_nothing_and_shows_the_current_one() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    let old_block = bot.card_buttons_block(&ts).unwrap();
    assert_eq!(old_block, format!("pa:{id}:1"));
    // The draft is edited (in another window): revision 2, a Title the old card lacks.
    assert_eq!(bot.click(REQUESTER, "crm_edit", &id, &ts).await, 200);
    let view = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await
        .into_iter()
        .find(|c| c.method == "views.open")
        .unwrap()
        .body["view"]
        .clone();
    let (code, _) = bot
        .submit(
            REQUESTER,
            &view,
            json!({
                "r0.FirstName": {"v": {"type": "plain_text_input", "value": "Daniel"}},
                "r0.LastName": {"v": {"type": "plain_text_input", "value": "Reed"}},
                "r0.Company": {"v": {"type": "plain_text_input", "value": "Apex Corp"}},
                "r0.Email": {"v": {"type": "plain_text_input", "value": "daniel@apex.example"}},
                "r0.Title": {"v": {"type": "plain_text_input", "value": "Chief Risk Officer"}},
            }),
        )
        .await;
    assert_eq!(code, 200);
    let before = bot.slack.calls_to("chat.update").len();
    bot.sandbox.reset_requests();
    assert_eq!(
        bot.click_block(REQUESTER, "crm_approve", &id, &ts, &old_block)
            .await,
        200
    );
    let calls = bot.wait_ephemeral("changed since you looked").await;
    assert!(
        bot.sandbox.requests().is_empty(),
        "nothing reached Salesforce"
    );
    assert_eq!(reeds(&bot), 0);
    assert_eq!(state(&bot, &id), "drafted");
    // The card is redrawn as it is now (revision 2, with its buttons).
    let redrawn = calls
        .iter()
        .filter(|c| c.method == "chat.update")
        .skip(before)
        .last()
        .expect("the current card");
    assert!(card_text(&redrawn.body["blocks"]).contains("revision 2"));
    assert_eq!(bot.card_buttons_block(&ts).unwrap(), format!("pa:{id}:2"));
    // From the current card, Approve writes.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_state(&bot, &id, "done").await;
    assert_eq!(reeds(&bot), 1);
}

#[tokio::test]
async fn no_audit_record_no_write() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    let app = &bot.running.as_ref().unwrap().app;
    app.store.audit.set_failing(true);
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    bot.wait_ephemeral("could not record this approval").await;
    let sent: Vec<String> = bot
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.path.clone())
        .collect();
    assert!(sent.is_empty(), "no Salesforce write at all: {sent:?}");
    assert_eq!(state(&bot, &id), "drafted", "the draft waits as it was");
    app.store.audit.set_failing(false);
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_state(&bot, &id, "done").await;
    assert_eq!(reeds(&bot), 1);
}

/// Copies the sled files of `from` (not the audit mirror) into `to`.
fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "audit.jsonl" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_database(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn crmbot_cli(data: &Path, args: &[&str]) -> std::process::Output {
    let cwd = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(args)
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRMBOT_DATA_DIR", data)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_database_restored_from_an_older_copy_is_refused_until_recovered() {
    let (notes, reply) = fixture_draft("seed-lead");
    let mut bot = Bot::start(&reply).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.running.take().unwrap().shutdown().await;
    let data = bot.config.data_dir.clone();
    let backup = bot.data.path().join("backup");
    copy_database(&data, &backup);

    // After the backup, the draft is approved and written.
    bot.restart_stopped().await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_state(&bot, &id, "done").await;
    bot.running.take().unwrap().shutdown().await;

    // The operator restores the older database (the mirror stays as it is).
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "audit.jsonl" {
            let p = entry.path();
            if p.is_dir() {
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    copy_database(&backup, &data);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = match crmbot::server::start(&bot.config, listener).await {
        Ok(_) => panic!("served from a rolled-back database"),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("lost its last"), "{refused}");
    assert!(refused.contains("crmbot audit recover"), "{refused}");

    let verify = crmbot_cli(&data, &["audit", "verify"]);
    let out = String::from_utf8_lossy(&verify.stdout).to_string();
    assert_eq!(verify.status.code(), Some(1), "{out}");
    assert!(out.contains("missing from the database"), "{out}");

    let recover = crmbot_cli(&data, &["audit", "recover"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&recover.stdout),
        String::from_utf8_lossy(&recover.stderr)
    );
    assert_eq!(recover.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("draft {id}: drafted -> done")),
        "{out}"
    );

    // Served again, the draft is known to be written: Approve writes nothing more.
    bot.restart_stopped().await;
    assert_eq!(state(&bot, &id), "done");
    bot.sandbox.reset_requests();
    let old_card = format!("pa:{id}:1");
    assert_eq!(
        bot.click_block(REQUESTER, "crm_approve", &id, &ts, &old_card)
            .await,
        200
    );
    bot.wait_ephemeral("already written").await;
    assert_eq!(bot.composite_writes(), 0);
    assert_eq!(reeds(&bot), 1);
}
