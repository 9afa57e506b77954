//! The approval policy through signed Slack requests against the real `crmbot serve`, a
//! fake Slack (user groups included), a stub model and the local Salesforce sandbox: who may
//! approve what, risk tiers with a second approver, user groups, auto-approval. Requests
//! from other workspaces and answers are in tests/policy_answers.rs.

mod common;
mod slack_support;

use std::time::Duration;

use serde_json::{Value, json};

use common::fixture_draft;
use crmbot::config::Config;
use crmbot::sandbox::{FailNext, Faults};
use crmbot::store::{AuditFilter, AuditKind, AuditRecord};
use slack_support::*;

const UM1: &str = "U0MGR1";
const UM2: &str = "U0MGR2";
const UREP: &str = "U0REP";

fn audit_of(bot: &Bot, id: &str) -> Vec<AuditRecord> {
    let app = &bot.running.as_ref().expect("running").app;
    app.store
        .audit
        .list(&AuditFilter {
            action_id: Some(id.to_string()),
            ..AuditFilter::default()
        })
        .expect("audit")
}

const CLOSING: &str = r#"
[policy]
[[policy.tiers]]
name = "closing a deal"
object = "Opportunity"
field = "StageName"
to = ["Closed Won", "Closed Lost"]
approvers = ["@sales-managers"]
approvals = 2
"#;

#[tokio::test]
async fn a_closed_won_change_waits_for_a_second_distinct_approver_and_is_written_once() {
    let (notes, reply) = fixture_draft("opportunity-close-won");
    let bot = Bot::start_with(&reply, |c| c.policy = policy(CLOSING)).await;
    // The requester is a manager too: the tier still wants two others.
    bot.slack
        .set_usergroup("S0MGR", "sales-managers", &[UM1, UM2, REQUESTER]);
    let (id, ts, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    for expected in [
        "Tier *closing a deal* (Opportunity StageName from Negotiation/Review to Closed Won)",
        "needs 2 approvers from @sales-managers (not <@U0REQ>)",
    ] {
        assert!(text.contains(expected), "card lacks {expected:?}:\n{text}");
    }
    bot.sandbox.reset_requests();

    // The requester alone: refused by the tier.
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let refusal = nth_ephemeral(&bot, 1).await;
    assert_eq!(refusal["user"], REQUESTER);
    let words = refusal["text"].as_str().unwrap();
    assert!(
        words.contains("You can't approve your own draft here (tier \"closing a deal\")"),
        "{words}"
    );

    // The first manager: recorded, nothing written, the card says who and what is left.
    assert_eq!(bot.click(UM1, "crm_approve", &id, &ts).await, 200);
    let partly = wait_for_update(
        &bot,
        "the partly approved card",
        "Approved so far by <@U0MGR1>",
    )
    .await;
    let text = card_text(&partly["blocks"]);
    assert!(
        text.contains("needs a second approver from @sales-managers (not <@U0REQ>)"),
        "{text}"
    );
    assert!(text.contains("Approve (second)"), "{text}");
    let told = nth_ephemeral(&bot, 2).await;
    assert_eq!(told["user"], UM1);
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("Your approval is recorded. Nothing is written yet"),
        "{told}"
    );
    assert_eq!(state_of(&bot, &id), "partly_approved");

    // The same manager twice: refused; someone outside the group: refused.
    assert_eq!(bot.click(UM1, "crm_approve", &id, &ts).await, 200);
    let again = nth_ephemeral(&bot, 3).await;
    assert!(
        again["text"].as_str().unwrap().contains(
            "You already approved this draft; it still needs a second approver from @sales-managers"
        ),
        "{again}"
    );
    assert_eq!(bot.click(UREP, "crm_approve", &id, &ts).await, 200);
    let outsider = nth_ephemeral(&bot, 4).await;
    assert!(
        outsider["text"]
            .as_str()
            .unwrap()
            .contains("You can't approve this draft (tier \"closing a deal\")"),
        "{outsider}"
    );
    assert_eq!(
        bot.composite_writes(),
        0,
        "nothing written before the second approval"
    );

    // The second manager: written, once.
    assert_eq!(bot.click(UM2, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    let text = card_text(&done["blocks"]);
    assert!(
        text.contains("Approved by <@U0MGR1> and <@U0MGR2>"),
        "{text}"
    );
    assert_eq!(bot.composite_writes(), 1);
    let won: Vec<_> = bot
        .sandbox
        .records("Opportunity")
        .into_iter()
        .filter(|o| o["Name"] == "Initech - Platform Renewal")
        .collect();
    assert_eq!(won[0]["StageName"], "Closed Won");
    assert_eq!(bot.click(UM2, "crm_approve", &id, &ts).await, 200);
    nth_ephemeral(&bot, 5).await;
    assert_eq!(
        bot.composite_writes(),
        1,
        "a click after the write writes nothing"
    );

    // Every decision is audited with the rule that counted or refused it.
    let audit = audit_of(&bot, &id);
    let of = |kind: AuditKind| -> Vec<&AuditRecord> {
        audit.iter().filter(|r| r.entry.kind == kind).collect()
    };
    let recorded = of(AuditKind::ApprovalRecorded);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].entry.actor.as_deref(), Some(UM1));
    assert_eq!(
        recorded[0].entry.detail["policy"]["rules"],
        json!(["closing a deal"])
    );
    let approved = of(AuditKind::ApproveRequested);
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].entry.actor.as_deref(), Some(UM2));
    assert_eq!(
        approved[0].entry.detail["policy"]["approvals"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let refused: Vec<&Value> = of(AuditKind::Refused)
        .iter()
        .map(|r| &r.entry.detail["rule"])
        .collect();
    assert_eq!(
        refused
            .iter()
            .filter(|r| **r == "tier \"closing a deal\"")
            .count(),
        3,
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_edit_resets_the_approvals_of_the_earlier_revision() {
    let (notes, reply) = fixture_draft("opportunity-close-won");
    let bot = Bot::start_with(&reply, |c| c.policy = policy(CLOSING)).await;
    bot.slack
        .set_usergroup("S0MGR", "sales-managers", &[UM1, UM2]);
    let (id, ts, _) = bot.log(&notes).await;
    assert_eq!(bot.click(UM1, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "partly approved", "Approved so far by <@U0MGR1>").await;

    // The requester changes the amount: a new revision, approved afresh.
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
    let mut values = as_shown(&view);
    assert!(
        values.get("r0.Amount").is_some(),
        "an Amount input: {values}"
    );
    values["r0.Amount"] = json!({"v": {"type": "number_input", "value": "50000"}});
    let (status, body) = bot.submit(REQUESTER, &view, values).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, Value::Null, "the modal closes");
    let edited = wait_for_update(&bot, "the edited card", "revision 2").await;
    let text = card_text(&edited["blocks"]);
    assert!(!text.contains("Approved so far"), "{text}");
    assert!(
        text.contains("needs 2 approvers from @sales-managers"),
        "{text}"
    );
    assert_eq!(state_of(&bot, &id), "drafted");

    // UM1's approval counts again for revision 2, and one more is still needed.
    assert_eq!(bot.click(UM1, "crm_approve", &id, &ts).await, 200);
    wait_for_update(
        &bot,
        "partly approved again",
        "Approved so far by <@U0MGR1>",
    )
    .await;
    assert_eq!(state_of(&bot, &id), "partly_approved");
    assert_eq!(bot.click(UM2, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    assert_eq!(bot.composite_writes(), 1);
}

/// The Edit modal's state as it opens: every input holding its initial value.
fn as_shown(view: &Value) -> Value {
    let mut values = serde_json::Map::new();
    for b in view["blocks"].as_array().unwrap() {
        let (Some(id), e) = (b["block_id"].as_str(), &b["element"]) else {
            continue;
        };
        if b["type"] != "input" {
            continue;
        }
        let v = match e["type"].as_str() {
            Some("static_select") if e.get("initial_option").is_some() => {
                json!({"type": "static_select", "selected_option": e["initial_option"]})
            }
            Some("datepicker") if e.get("initial_date").is_some() => {
                json!({"type": "datepicker", "selected_date": e["initial_date"]})
            }
            Some(kind) if e.get("initial_value").is_some() => {
                json!({"type": kind, "value": e["initial_value"]})
            }
            Some(kind) => json!({"type": kind}),
            None => continue,
        };
        values.insert(id.to_string(), json!({"v": v}));
    }
    Value::Object(values)
}

#[tokio::test]
async fn a_user_group_approver_is_resolved_through_usergroups_users_list() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.policy = policy("[policy]\napprovers = [\"@sales-managers\"]\n")
    })
    .await;
    bot.slack.set_usergroup("S0MGR", "sales-managers", &[UM1]);
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();

    assert_eq!(bot.click(UREP, "crm_approve", &id, &ts).await, 200);
    let refusal = nth_ephemeral(&bot, 1).await;
    assert!(
        refusal["text"]
            .as_str()
            .unwrap()
            .contains("Only <@U0REQ> or an approver can approve this draft"),
        "{refusal}"
    );
    assert_eq!(bot.composite_writes(), 0);
    // Nor may they reject it; the refusal is audited with its rule.
    assert_eq!(bot.click(UREP, "crm_reject", &id, &ts).await, 200);
    let refusal = nth_ephemeral(&bot, 2).await;
    assert!(
        refusal["text"]
            .as_str()
            .unwrap()
            .contains("Only <@U0REQ> or an approver can reject this draft"),
        "{refusal}"
    );
    let refused: Vec<AuditRecord> = audit_of(&bot, &id)
        .into_iter()
        .filter(|r| r.entry.kind == AuditKind::Refused)
        .collect();
    assert_eq!(refused.len(), 2, "the approval and the rejection");
    assert_eq!(refused[0].entry.detail["rule"], "policy.approvers");
    assert!(
        refused[1]
            .entry
            .summary
            .starts_with("Reject by U0REP refused"),
        "{:?}",
        refused[1].entry
    );

    assert_eq!(bot.click(UM1, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Created Lead").await;
    assert!(card_text(&done["blocks"]).contains("Approved by <@U0MGR1>"));
    assert_eq!(bot.composite_writes(), 1);

    let lists = bot.slack.calls_to("usergroups.users.list");
    assert_eq!(lists.len(), 1, "members cached across clicks: {lists:#?}");
    assert_eq!(lists[0].body["usergroup"], "S0MGR");
    assert_eq!(bot.slack.calls_to("usergroups.list").len(), 1);
}

#[tokio::test]
async fn self_approval_is_refused_by_one_setting_and_allowed_by_a_more_specific_one() {
    let (notes, reply) = fixture_draft("seed-opportunity-update");
    let strict = "[policy]\napprovers = [\"U0BOSS\"]\n[policy.self_approve]\nupdate = false\n";
    let bot = Bot::start_with(&reply, |c| c.policy = policy(strict)).await;
    let (id, ts, blocks) = bot.log(&notes).await;
    assert!(
        card_text(&blocks)
            .contains("Standard tier: needs an approval from <@U0BOSS> (not <@U0REQ>)"),
        "{}",
        card_text(&blocks)
    );
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let refusal = nth_ephemeral(&bot, 1).await;
    let words = refusal["text"].as_str().unwrap();
    assert!(
        words.contains("You can't approve your own draft here (self_approve.update)"),
        "{words}"
    );
    assert_eq!(bot.composite_writes(), 0);
    let refused = audit_of(&bot, &id)
        .into_iter()
        .find(|r| r.entry.kind == AuditKind::Refused)
        .expect("the refusal is audited");
    assert_eq!(refused.entry.detail["rule"], "self_approve.update");

    // The same draft where Opportunity says otherwise: the requester approves it alone.
    let lenient = format!("{strict}objects = {{ Opportunity = true }}\n");
    let bot = Bot::start_with(&reply, |c| c.policy = policy(&lenient)).await;
    let (id, ts, _) = bot.log(&notes).await;
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Updated Opportunity").await;
    assert_eq!(bot.composite_writes(), 1);
    let approved = audit_of(&bot, &id)
        .into_iter()
        .find(|r| r.entry.kind == AuditKind::ApproveRequested)
        .expect("the approval is audited");
    assert_eq!(
        approved.entry.detail["policy"]["self_approve"],
        "self_approve.objects.Opportunity"
    );
}

#[tokio::test]
async fn by_default_a_member_cannot_close_an_existing_deal_alone() {
    let (notes, reply) = fixture_draft("opportunity-close-won");
    let bot = Bot::start(&reply).await;
    let (id, ts, blocks) = bot.log(&notes).await;
    assert!(
        card_text(&blocks).contains("Tier *closing a deal*"),
        "{}",
        card_text(&blocks)
    );
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let refusal = nth_ephemeral(&bot, 1).await;
    assert!(
        refusal["text"]
            .as_str()
            .unwrap()
            .contains("it needs an approval from anyone but <@U0REQ>"),
        "{refusal}"
    );
    assert_eq!(bot.composite_writes(), 0);
    // A colleague may: the small-team default is four eyes on a closed deal.
    assert_eq!(bot.click(UREP, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    assert_eq!(bot.composite_writes(), 1);
}

/// A draft of one Task; `subject` decides whether every value is in the notes.
fn task_reply(subject: &str) -> String {
    json!({"records": [{"object": "Task", "lookup": null, "link": null,
        "fields": {"Subject": subject, "ActivityDate": null, "Status": null, "Priority": null,
                   "Description": null}}]})
    .to_string()
}

const TASK_NOTES: &str = "Promised Priya to send the SOC 2 report by Friday.";

/// Auto-approval on, and the Task's Subject held to the notes like any value (free text is
/// exempt from the check by default; README, "Policy").
const AUTO: &str = r#"
[policy.auto_approve]
tasks = true
[objects.Task]
fields = ["Subject", "ActivityDate", "Status", "Priority", "Description"]
free_text = ["Description"]
"#;

fn auto(c: &mut Config) {
    let parsed = Config::from_toml(AUTO).expect("parses");
    c.policy = parsed.policy;
    c.objects = parsed.objects;
}

/// `/crm log` and the card it posts, buttons or not: (action id, ts, blocks).
async fn log_task(bot: &Bot) -> (String, String, Value) {
    let (status, answer) = bot.command(REQUESTER, &format!("log {TASK_NOTES}")).await;
    assert_eq!(status, 200, "{answer}");
    let calls = bot
        .wait_for("the card", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let card = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .expect("card")
        .clone();
    let app = &bot.running.as_ref().expect("running").app;
    let id = app.actions.all().expect("store")[0].id.clone();
    (id, card.ts, card.body["blocks"].clone())
}

#[tokio::test]
async fn a_task_only_draft_with_grounded_values_is_written_without_a_click() {
    let reply = task_reply("Send the SOC 2 report");
    let bot = Bot::start_with(&reply, auto).await;
    let (id, _ts, blocks) = log_task(&bot).await;
    let text = card_text(&blocks);
    assert!(text.contains("Auto-approved by the policy"), "{text}");
    assert!(
        !text.contains("Reject"),
        "no buttons while it writes: {text}"
    );
    let done = wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    let text = card_text(&done["blocks"]);
    assert!(
        text.contains("Approved by the policy without a click (`auto_approve.tasks`)"),
        "{text}"
    );
    assert_eq!(bot.composite_writes(), 1);
    let tasks: Vec<_> = bot
        .sandbox
        .records("Task")
        .into_iter()
        .filter(|t| t["Subject"] == "Send the SOC 2 report")
        .collect();
    assert_eq!(tasks.len(), 1);
    assert!(bot.slack.calls_to("chat.postEphemeral").is_empty());
    let approved = audit_of(&bot, &id)
        .into_iter()
        .find(|r| r.entry.kind == AuditKind::ApproveRequested)
        .expect("audited");
    assert_eq!(approved.entry.actor, None);
    assert_eq!(
        approved.entry.detail["policy"]["rules"],
        json!(["auto_approve.tasks"])
    );
}

#[tokio::test]
async fn an_auto_approved_write_salesforce_refuses_waits_for_a_person() {
    let reply = task_reply("Send the SOC 2 report");
    let bot = Bot::start_with(&reply, auto).await;
    bot.sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new("/services/data/v62.0/composite", 1, 400)],
        ..Faults::default()
    });
    let (id, ts, _) = log_task(&bot).await;
    let failed = wait_for_update(&bot, "the failed card", "did not go through").await;
    let text = card_text(&failed["blocks"]);
    assert!(text.contains("Approve again"), "a person may retry: {text}");
    assert!(!text.contains("Auto-approved"), "{text}");
    assert!(
        !text.contains("<@crmbot>"),
        "the failed auto-approval is no approval: {text}"
    );
    let soc2 = |bot: &Bot| {
        bot.sandbox
            .records("Task")
            .into_iter()
            .filter(|t| t["Subject"] == "Send the SOC 2 report")
            .count()
    };
    assert_eq!(soc2(&bot), 0, "refused: nothing written");
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    assert!(
        card_text(&done["blocks"]).contains("Approved by <@U0REQ>"),
        "{}",
        card_text(&done["blocks"])
    );
    assert_eq!(soc2(&bot), 1);
    assert_eq!(
        bot.composite_writes(),
        2,
        "the refused attempt and the person's"
    );
}

#[tokio::test]
async fn a_task_draft_with_a_value_not_in_the_notes_waits_for_a_click() {
    let reply = task_reply("Book the quarterly business review");
    let bot = Bot::start_with(&reply, auto).await;
    let (id, _ts, blocks) = log_task(&bot).await;
    let text = card_text(&blocks);
    assert!(!text.contains("Auto-approved"), "{text}");
    assert!(
        action_id(&blocks).is_some(),
        "Approve waits for a click: {blocks}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bot.composite_writes(), 0, "nothing written without a click");
    assert_eq!(state_of(&bot, &id), "drafted");
}
