//! The Edit form and choices on the card: what a person may change and how it lands.

use serde_json::json;

use super::*;
use crate::domain::draft::{Issue, IssueKind};
use crate::domain::resolve::Candidate;
use crate::flow::testing::{action, field, record};

fn schema() -> CrmSchema {
    crate::domain::validate::tests::schema()
}

fn choose(p: &Proposal, key: &str, id: &str) -> Result<Proposal, EditErrors> {
    apply_choice(p, key, id, "https://acme", &schema(), &rule())
}

fn rule() -> FreeTextRule {
    FreeTextRule {
        mode: crate::domain::free_text::FreeTextUpdates::Append,
        author: "Dana Lee".into(),
    }
}

fn ambiguous() -> Proposal {
    let mut r = record(
        "Contact",
        "ambiguous",
        vec![field("LastName", json!("Lee"))],
    );
    r.candidates = vec![
        Candidate {
            id: "003A".into(),
            label: "Kim Lee (Globex)".into(),
            current: Default::default(),
        },
        Candidate {
            id: "003B".into(),
            label: "Kim Lee (Initech)".into(),
            current: Default::default(),
        },
    ];
    r.issues.push(Issue::blocking(
        IssueKind::Ambiguous,
        None,
        "2 existing Contacts match",
    ));
    r.blocked = true;
    let mut p = action(vec![r], false).proposal;
    p.blocked = true;
    p
}

#[test]
fn the_form_offers_the_candidates_and_every_settable_field() {
    let form = edit_form(&ambiguous(), 4, &schema());
    assert_eq!(form.revision, 4);
    let r = &form.records[0];
    assert_eq!(r.choices[0].key, "r0.choose.record");
    let values: Vec<&str> = r.choices[0]
        .options
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    assert_eq!(values, ["003A", "003B", CREATE_NEW]);
    assert!(
        r.fields.iter().any(|f| f.name == "Email"),
        "fields the notes left out too"
    );
    assert_eq!(
        r.fields
            .iter()
            .find(|f| f.name == "LastName")
            .unwrap()
            .value
            .as_deref(),
        Some("Lee")
    );
}

#[test]
fn choosing_a_candidate_makes_an_update_and_unblocks() {
    let mut values = EditValues::new();
    values.insert("r0.choose.record".into(), Some("003B".into()));
    values.insert("r0.LastName".into(), Some("Lee".into()));
    let p = apply_edit(&ambiguous(), &schema(), &values, "https://acme", &rule()).unwrap();
    let r = &p.records[0];
    assert_eq!(r.action, "update");
    assert_eq!(r.id.as_deref(), Some("003B"));
    assert_eq!(
        r.url.as_deref(),
        Some("https://acme/lightning/r/Contact/003B/view")
    );
    assert!(!r.blocked && !p.blocked, "{:?}", r.issues);
}

#[test]
fn a_choice_on_the_card_changes_only_the_choice() {
    let mut p = ambiguous();
    p.records[0].fields[0].include = false;
    let next = choose(&p, "r0.choose.record", "003A").unwrap();
    assert_eq!(next.records[0].id.as_deref(), Some("003A"));
    assert!(
        !next.records[0].fields[0].include,
        "a held-back value stays held back"
    );
    assert!(!next.blocked);
    assert!(choose(&p, "r0.choose.record", "nope").is_err());
    assert!(choose(&p, "r7.choose.record", "003A").is_err());
}

#[test]
fn choosing_the_parent_of_an_ambiguous_link_clears_only_that_problem() {
    use crate::flow::testing::link;
    let mut p = ambiguous();
    let mut l = link("AccountId", "Account", "ambiguous", None, None);
    l.candidates = vec![
        Candidate {
            id: "001A".into(),
            label: "Globex (Chicago)".into(),
            current: Default::default(),
        },
        Candidate {
            id: "001B".into(),
            label: "Globex (Berlin)".into(),
            current: Default::default(),
        },
    ];
    p.records[0].links.push(l);
    p.records[0].issues.push(Issue::blocking(
        IssueKind::Ambiguous,
        Some("AccountId"),
        "2 existing Account records could be its AccountId",
    ));
    let chosen = choose(&p, "r0.choose.record", "003A").unwrap();
    assert!(
        chosen.blocked,
        "the link is still open: {:?}",
        chosen.records[0].issues
    );
    let linked = choose(&chosen, "r0.choose.AccountId", "001B").unwrap();
    assert_eq!(linked.records[0].links[0].id.as_deref(), Some("001B"));
    assert!(!linked.blocked, "{:?}", linked.records[0].issues);
}

/// The ambiguous draft with a Description, the second candidate's current values known,
/// and that candidate chosen.
fn chosen_with_description() -> Proposal {
    let mut p = ambiguous();
    p.records[0]
        .fields
        .push(field("Description", json!("Wants a pilot.")));
    p.records[0].candidates[1].current = json!({"Id": "003B", "LastName": "Lee",
        "Description": "Budget approved."})
    .as_object()
    .cloned()
    .unwrap();
    choose(&p, "r0.choose.record", "003B").unwrap()
}

#[test]
fn choosing_an_existing_record_adds_to_its_free_text_instead_of_replacing_it() {
    let next = chosen_with_description();
    let r = &next.records[0];
    assert!(!r.fields[0].changed, "LastName is what Salesforce has");
    assert_eq!(r.fields[0].old, Some(json!("Lee")));
    let d = &r.fields[1];
    assert_eq!(
        d.value,
        json!("Budget approved.\n\n[2026-11-25 · Dana Lee via crmbot]\nWants a pilot.")
    );
}

#[test]
fn an_edit_keeps_an_added_text_it_did_not_touch_and_signs_one_it_changed() {
    let chosen = chosen_with_description();
    let form = edit_form(&chosen, 2, &schema());
    let shown = form.records[0]
        .fields
        .iter()
        .find(|f| f.name == "Description")
        .unwrap();
    assert_eq!(
        shown.value.as_deref(),
        Some("Wants a pilot."),
        "only the addition"
    );
    let mut values: EditValues = form.records[0]
        .fields
        .iter()
        .map(|f| (f.key.clone(), f.value.clone()))
        .collect();
    let kept = apply_edit(&chosen, &schema(), &values, "https://acme", &rule()).unwrap();
    let d = |p: &Proposal| {
        p.records[0]
            .fields
            .iter()
            .find(|f| f.name == "Description")
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(d(&kept), d(&chosen));
    values.insert("r0.Description".into(), Some("Wants a pilot in Q1.".into()));
    let editor = FreeTextRule {
        author: "Sam Ortiz".into(),
        ..rule()
    };
    let changed = apply_edit(&chosen, &schema(), &values, "https://acme", &editor).unwrap();
    assert_eq!(
        d(&changed),
        json!("Budget approved.\n\n[2026-11-25 · Sam Ortiz via crmbot]\nWants a pilot in Q1.")
    );
}

#[test]
fn an_open_choice_stays_blocked_and_an_unknown_one_is_an_inline_error() {
    let mut values = EditValues::new();
    values.insert("r0.LastName".into(), Some("Lee".into()));
    let p = apply_edit(&ambiguous(), &schema(), &values, "https://acme", &rule()).unwrap();
    assert_eq!(p.records[0].action, "ambiguous");
    assert!(p.blocked);
    values.insert("r0.choose.record".into(), Some("003Z".into()));
    let errors = apply_edit(&ambiguous(), &schema(), &values, "https://acme", &rule()).unwrap_err();
    assert_eq!(
        errors.get("r0.choose.record").map(String::as_str),
        Some("Choose one of the listed records")
    );
}

#[test]
fn with_keep_an_edit_does_not_let_the_held_back_text_through() {
    let keep = FreeTextRule {
        mode: crate::domain::free_text::FreeTextUpdates::Keep,
        author: "Dana Lee".into(),
    };
    let mut p = ambiguous();
    p.records[0]
        .fields
        .push(field("Description", json!("Wants a pilot.")));
    p.records[0].candidates[1].current =
        json!({"Id": "003B", "LastName": "Lee", "Description": "Budget approved."})
            .as_object()
            .cloned()
            .unwrap();
    let chosen = apply_choice(
        &p,
        "r0.choose.record",
        "003B",
        "https://acme",
        &schema(),
        &keep,
    )
    .unwrap();
    let held = |p: &Proposal| {
        p.records[0]
            .fields
            .iter()
            .find(|f| f.name == "Description")
            .is_some_and(|f| !f.include)
    };
    assert!(held(&chosen));
    let form = edit_form(&chosen, 2, &schema());
    let values: EditValues = form.records[0]
        .fields
        .iter()
        .map(|f| (f.key.clone(), f.value.clone()))
        .collect();
    let saved = apply_edit(&chosen, &schema(), &values, "https://acme", &keep).unwrap();
    assert!(held(&saved), "still held back after a save");
}
