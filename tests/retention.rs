//! What the database keeps stays small: a prompt is audited once (by its SHA-256) however
//! many drafts use it, decided actions are compacted after `store.keep_decided_days` while
//! the audit chain stays whole and verifiable, and start-up reads only undecided actions.

mod common;
mod slack_support;

use common::fixture_draft;
use crmbot::store::{AuditFilter, AuditKind, MIRROR_FILE};
use slack_support::*;

fn app(bot: &Bot) -> &crmbot::slack::SlackApp {
    &bot.running.as_ref().expect("running").app
}

#[tokio::test]
async fn the_prompt_is_stored_once_and_drafted_records_name_it_by_hash() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    bot.log(&notes).await;
    bot.log(&notes).await;
    let audit = &app(&bot).store.audit;
    let all = audit.list(&AuditFilter::default()).unwrap();
    let prompts: Vec<_> = all
        .iter()
        .filter(|r| r.entry.kind == AuditKind::Prompt)
        .collect();
    let drafted: Vec<_> = all
        .iter()
        .filter(|r| r.entry.kind == AuditKind::Drafted)
        .collect();
    assert_eq!(drafted.len(), 2);
    assert_eq!(prompts.len(), 1, "one copy of the prompt for both drafts");
    let sha = prompts[0].entry.detail["sha256"].as_str().unwrap();
    for d in &drafted {
        assert_eq!(d.entry.detail["prompt_sha256"], sha);
        assert!(d.entry.detail.get("prompt").is_none(), "no copy inline");
        assert!(
            d.entry.detail["prompt_user"]
                .as_str()
                .unwrap()
                .contains("Daniel Reed"),
            "the user turn, with the notes, stays with the draft"
        );
    }
    let text = audit.prompt_text(sha).unwrap().expect("the prompt's text");
    assert!(text.len() > 1_000, "the system prompt: {text}");
    assert!(audit.verify().unwrap().is_intact());
    let mirror = std::fs::read_to_string(bot.config.data_dir.join(MIRROR_FILE)).unwrap();
    assert_eq!(
        mirror.lines().count(),
        all.len(),
        "the mirror holds every record"
    );
    assert!(mirror.contains(&format!("\"sha256\":\"{sha}\"")));
}

#[tokio::test]
async fn decided_actions_are_compacted_after_the_retention_and_the_audit_stays_whole() {
    let (notes, reply) = fixture_draft("seed-lead");
    let mut bot = Bot::start_with(&reply, |c| c.store.keep_decided_days = 30).await;
    let (written, ts, _) = bot.log(&notes).await;
    bot.click(REQUESTER, "crm_approve", &written, &ts).await;
    wait_for_update(&bot, "the written card", "Approved by").await;
    let (rejected, ts, _) = bot.log(&notes).await;
    bot.click(REQUESTER, "crm_reject", &rejected, &ts).await;
    wait_for_update(&bot, "the rejected card", "Rejected").await;
    let (open, _, _) = bot.log(&notes).await;

    let undecided = |bot: &Bot| -> Vec<String> {
        app(bot)
            .actions
            .undecided()
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(undecided(&bot), vec![open.clone()], "only the open draft");

    let now = chrono::Utc::now();
    let (_, _, compacted) = crmbot::server::housekeep(app(&bot), now + chrono::Duration::days(29));
    assert_eq!(compacted, 0, "kept for 30 days");
    let (_, _, compacted) = crmbot::server::housekeep(app(&bot), now + chrono::Duration::days(31));
    assert_eq!(compacted, 2, "the written and the rejected action");
    let actions = &app(&bot).actions;
    assert!(actions.get(&written).unwrap().is_none());
    assert!(actions.get(&rejected).unwrap().is_none());
    assert!(actions.get(&open).unwrap().is_some(), "undecided: kept");

    let audit = &app(&bot).store.audit;
    assert!(audit.verify().unwrap().is_intact(), "the chain is whole");
    assert!(
        audit
            .for_action(&written)
            .unwrap()
            .iter()
            .any(|r| r.entry.kind == AuditKind::Written),
        "the history of a compacted action stays in the audit"
    );

    // A restart starts from the undecided ones, and serves on.
    bot.restart().await;
    assert_eq!(undecided(&bot), vec![open]);
    bot.log(&notes).await;
}
