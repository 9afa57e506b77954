use serde_json::{Value, json};
use slack_morphism::prelude::SlackBlock;

use super::*;
use crate::domain::draft::{Issue, IssueKind};
use crate::flow::action::{WriteFailure, Written};
use crate::flow::testing::{action, field, record};

fn templates() -> Templates {
    Templates::load(None).unwrap()
}

fn blocks_of(card: &Card) -> &Vec<Value> {
    card.blocks.as_array().unwrap()
}

/// Block Kit limits a message must respect, and slack-morphism's types must accept it.
fn assert_fits(card: &Card) {
    let blocks = blocks_of(card);
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    let parsed: Result<Vec<SlackBlock>, _> = serde_json::from_value(card.blocks.clone());
    assert!(parsed.is_ok(), "{parsed:?}");
    let mut total = 0;
    for b in blocks {
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
            total += t.chars().count();
        }
        if let Some(fields) = b["fields"].as_array() {
            assert!(fields.len() <= 10);
            for f in fields {
                let t = f["text"].as_str().unwrap();
                assert!(t.chars().count() <= 2000);
                total += t.chars().count();
            }
        }
        if let Some(els) = b["elements"].as_array() {
            assert!(els.len() <= 10);
        }
    }
    assert!(total <= 12_000, "{total} characters of text");
    assert!(card.text.chars().count() <= 3000);
}

#[test]
fn a_draft_card_shows_fields_issues_and_the_three_buttons() {
    let mut lead = record(
        "Lead",
        "create",
        vec![
            field("LastName", json!("Reed")),
            field("Company", json!("Apex <Corp> & Co")),
        ],
    );
    lead.fields[1].include = false;
    lead.issues.push(Issue::warning(
        IssueKind::NotInNotes,
        Some("Company"),
        "Company \"Apex\" is not in your notes",
    ));
    let card = render_card(
        &templates(),
        &action(vec![lead], true),
        Utc::now(),
        &CardSettings::default(),
    )
    .unwrap();
    assert_fits(&card);
    let blocks = blocks_of(&card);
    assert_eq!(blocks[0]["text"]["text"], "New Lead: Reed");
    let all = card.blocks.to_string();
    assert!(
        all.contains("Apex &lt;Corp&gt; &amp; Co"),
        "mrkdwn is escaped: {all}"
    );
    assert!(all.contains("not written; Edit to keep"));
    assert!(all.contains(":warning: Company"));
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    let ids: Vec<&str> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["crm_approve", "crm_edit", "crm_reject"]);
    assert_eq!(actions["elements"][0]["style"], "primary");
    assert_eq!(actions["elements"][2]["style"], "danger");
    assert!(actions["elements"][2]["confirm"].is_object());
}

#[test]
fn an_update_shows_old_and_new_values() {
    let mut amount = field("Amount", json!(25000));
    amount.display = "25,000".into();
    amount.old = Some(json!(10000));
    let mut same = field("StageName", json!("Prospecting"));
    same.old = Some(json!("Prospecting"));
    same.changed = false;
    let mut opp = record("Opportunity", "update", vec![amount, same]);
    opp.id = Some("006000000000001AAA".into());
    opp.url = Some("https://x/lightning/r/Opportunity/006000000000001AAA/view".into());
    let card = render_card(
        &templates(),
        &action(vec![opp], false),
        Utc::now(),
        &CardSettings::default(),
    )
    .unwrap();
    let all = card.blocks.to_string();
    assert!(all.contains("10,000 → 25,000"), "{all}");
    assert!(all.contains("Prospecting (no change)"), "{all}");
    assert!(all.contains(
        "update <https://x/lightning/r/Opportunity/006000000000001AAA/view|006000000000001AAA>"
    ));
    assert_eq!(
        blocks_of(&card)[0]["text"]["text"],
        "Update Opportunity: 006000000000001AAA"
    );
}

#[test]
fn a_large_draft_is_summarised_within_slacks_limits() {
    let long = "word ".repeat(2_000);
    let records = (0..60)
        .map(|i| {
            let mut fields: Vec<_> = (0..14)
                .map(|f| field(&format!("Field{f}__c"), json!(format!("value {f}"))))
                .collect();
            fields.push(field("Description", json!(long.clone())));
            fields.insert(0, field("LastName", json!(format!("Person {i}"))));
            record("Lead", "create", fields)
        })
        .collect();
    let mut a = action(records, true);
    a.notes = long.clone();
    let card = render_card(&templates(), &a, Utc::now(), &CardSettings::default()).unwrap();
    assert_fits(&card);
    let all = card.blocks.to_string();
    assert!(all.contains("more record(s)"), "the rest is summarised");
    assert!(all.contains("crm_approve"), "still approvable");
}

#[test]
fn the_done_card_links_each_record_and_drops_the_buttons() {
    let mut a = action(
        vec![record(
            "Lead",
            "create",
            vec![field("LastName", json!("Reed"))],
        )],
        true,
    );
    a.state = ActionState::Done;
    a.decided_by = Some("U9".into());
    a.decided_at = Some(Utc::now());
    a.written = vec![Written {
        object: "Lead".into(),
        label: "Lead".into(),
        outcome: "created".into(),
        id: "00Q1".into(),
        name: "Daniel Reed".into(),
        url: "https://acme/lightning/r/Lead/00Q1/view".into(),
    }];
    let card = render_card(&templates(), &a, Utc::now(), &CardSettings::default()).unwrap();
    assert_fits(&card);
    let all = card.blocks.to_string();
    assert!(
        all.contains("Created Lead <https://acme/lightning/r/Lead/00Q1/view|Daniel Reed>"),
        "{all}"
    );
    assert!(all.contains("Approved by <@U9>"));
    assert!(!all.contains("crm_approve"));
    assert!(all.contains("crm_undo") && all.contains("Undo is possible until"));
    // After the window, and when Undo is off, no Undo.
    let later = Utc::now() + chrono::Duration::minutes(16);
    let card = render_card(&templates(), &a, later, &CardSettings::default()).unwrap();
    assert!(!card.blocks.to_string().contains("crm_undo"));
    let off = CardSettings {
        undo_window: std::time::Duration::ZERO,
        ..CardSettings::default()
    };
    let card = render_card(&templates(), &a, Utc::now(), &off).unwrap();
    assert!(!card.blocks.to_string().contains("crm_undo"));
}

#[test]
fn the_undone_card_says_what_was_undone_and_what_was_left_alone() {
    let mut a = reed();
    a.state = ActionState::Undone;
    let line = |label: &str, name: &str, what: &str| crate::flow::action::UndoLine {
        label: label.into(),
        name: name.into(),
        id: "00Q1".into(),
        url: "https://acme/lightning/r/Lead/00Q1/view".into(),
        what: what.into(),
    };
    a.undo = Some(crate::flow::action::UndoReport {
        by: "U9".into(),
        at: Utc::now(),
        undone: vec![line("Lead", "Daniel Reed", "deleted")],
        left: vec![line(
            "Opportunity",
            "Apex <Deal>",
            "changed in Salesforce since: Amount is now 55,000",
        )],
        error: None,
        doubt: None,
    });
    let card = render_card(&templates(), &a, Utc::now(), &CardSettings::default()).unwrap();
    assert_fits(&card);
    let all = card.blocks.to_string();
    assert!(all.contains("Write undone"), "{all}");
    assert!(all.contains("Lead <https://acme/lightning/r/Lead/00Q1/view|Daniel Reed>: deleted"));
    assert!(all.contains("Left alone: Opportunity"));
    assert!(
        all.contains("Apex &lt;Deal&gt;"),
        "names are escaped: {all}"
    );
    assert!(all.contains("Undone by <@U9>"));
    assert!(!all.contains("crm_undo") && !all.contains("crm_approve"));
}

/// A one-Lead draft (Daniel Reed) with the meeting Task.
fn reed() -> PendingAction {
    action(
        vec![record(
            "Lead",
            "create",
            vec![field("LastName", json!("Reed"))],
        )],
        true,
    )
}

/// `reed()` after a write that failed with `error`.
fn failed(error: WriteFailure) -> PendingAction {
    let mut a = reed();
    a.state = ActionState::Failed;
    a.error = Some(error);
    a
}

#[test]
fn a_failed_card_shows_salesforces_message_and_field() {
    let a = failed(WriteFailure {
        message: "Email: invalid email address: bob@".into(),
        code: Some("INVALID_EMAIL_ADDRESS".into()),
        fields: vec!["Email".into()],
        record: Some("Lead Reed".into()),
        transient: false,
    });
    let card = render_card(&templates(), &a, Utc::now(), &CardSettings::default()).unwrap();
    let all = card.blocks.to_string();
    assert!(all.contains("invalid email address"), "{all}");
    assert!(all.contains("Field: Email"));
    assert!(all.contains("INVALID_EMAIL_ADDRESS"));
    assert!(all.contains("Approve again"));
}

#[test]
fn the_notes_excerpt_is_as_long_as_configured_or_absent() {
    let mut a = reed();
    a.notes = "Met Daniel Reed. ".repeat(100);
    let excerpt = |chars: usize| {
        let settings = CardSettings {
            notes_excerpt_chars: chars,
            ..CardSettings::default()
        };
        let card = render_card(&templates(), &a, Utc::now(), &settings).unwrap();
        blocks_of(&card)
            .iter()
            .find(|b| b["block_id"].as_str().is_some_and(|id| id.ends_with(":x")))
            .map(|b| b["elements"][0]["text"].as_str().unwrap().to_string())
    };
    let default = excerpt(280).expect("an excerpt by default");
    assert!(default.contains("Met Daniel Reed."), "{default}");
    assert!(!default.contains(&a.notes), "never the whole notes");
    let short = excerpt(40).unwrap();
    let quoted = short.split('“').nth(1).unwrap().trim_end_matches('”');
    assert!(quoted.chars().count() <= 40, "{short}");
    assert_eq!(excerpt(0), None, "0 turns the excerpt off");
}

#[test]
fn a_failure_that_explains_itself_is_not_said_twice() {
    let a = failed(WriteFailure {
        message: "crmbot stopped before this write reached Salesforce; nothing was written. Approve again to write it.".into(),
        code: None,
        fields: vec![],
        record: None,
        transient: true,
    });
    let card = render_card(&templates(), &a, Utc::now(), &CardSettings::default()).unwrap();
    let status = blocks_of(&card)
        .iter()
        .find(|b| b["block_id"].as_str().is_some_and(|id| id.ends_with(":s")))
        .map(|b| b["text"]["text"].as_str().unwrap().to_string())
        .unwrap();
    let lower = status.to_lowercase();
    assert_eq!(lower.matches("nothing was written").count(), 1, "{status}");
    assert_eq!(lower.matches("approve again").count(), 1, "{status}");
    assert!(!status.contains(".."), "{status}");
    assert!(
        !status.contains("Salesforce did not accept"),
        "Salesforce never saw it: {status}"
    );
}
