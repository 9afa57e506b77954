//! Duplicate and lookup resolution: the queries written and the actions decided.

use serde_json::json;

use super::*;
use crate::domain::draft::{DraftField, FieldValue, LinkDraft, Severity};
use crate::domain::schema::{FieldKind, FieldSchema, LinkSchema};

fn field(name: &str, required: bool) -> FieldSchema {
    FieldSchema {
        name: name.into(),
        label: name.into(),
        kind: FieldKind::String,
        createable: true,
        updateable: true,
        required_on_create: required,
        length: Some(255),
        picklist: vec![],
        restricted_picklist: false,
        free_text: false,
    }
}

fn object(name: &str, fields: &[&str], lookup: &[&str], keys: &[&[&str]]) -> ObjectSchema {
    ObjectSchema {
        name: name.into(),
        label: name.into(),
        key_prefix: None,
        fields: fields.iter().map(|f| field(f, *f == "LastName")).collect(),
        lookup_fields: lookup.iter().map(|s| s.to_string()).collect(),
        match_keys: keys
            .iter()
            .map(|k| k.iter().map(|s| s.to_string()).collect())
            .collect(),
        links: vec![],
    }
}

fn schema() -> CrmSchema {
    let mut contact = object(
        "Contact",
        &["FirstName", "LastName", "Email"],
        &["Email"],
        &[&["Email"], &["FirstName", "LastName", "Account.Name"]],
    );
    contact.links.push(LinkSchema {
        relationship: "Account".into(),
        field: "AccountId".into(),
        target: "Account".into(),
    });
    let mut s = CrmSchema::default();
    for o in [
        object(
            "Lead",
            &["FirstName", "LastName", "Company", "Email"],
            &["Email"],
            &[&["Email"], &["FirstName", "LastName", "Company"]],
        ),
        contact,
        object("Account", &["Name"], &["Name"], &[&["Name"]]),
        object(
            "Opportunity",
            &["Name", "StageName"],
            &["Name"],
            &[&["Name"]],
        ),
        object("Task", &["Subject"], &[], &[]),
    ] {
        s.objects.insert(o.name.clone(), o);
    }
    s
}

fn record(object: &str, fields: &[(&str, &str)]) -> RecordDraft {
    RecordDraft {
        object: object.into(),
        lookup: None,
        links: vec![],
        fields: fields
            .iter()
            .map(|(n, v)| DraftField {
                name: n.to_string(),
                value: FieldValue::Text(v.to_string()),
                include: true,
                evidence: None,
            })
            .collect(),
        issues: vec![],
    }
}

fn draft(records: Vec<RecordDraft>) -> ValidatedDraft {
    ValidatedDraft {
        records,
        issues: vec![],
    }
}

fn rows(object: &str, list: Vec<Value>) -> ExistingRows {
    let mut map = ExistingRows::new();
    map.insert(
        object.into(),
        list.into_iter()
            .map(|v| v.as_object().cloned().unwrap())
            .collect(),
    );
    map
}

fn lead_daniel() -> RecordDraft {
    record(
        "Lead",
        &[
            ("FirstName", "Daniel"),
            ("LastName", "Reed"),
            ("Company", "Apex Corp"),
            ("Email", "daniel@apex.example"),
        ],
    )
}

#[test]
fn one_query_per_object_with_every_key_ored() {
    let mut maya = record(
        "Lead",
        &[
            ("FirstName", "Maya"),
            ("LastName", "O'Chen"),
            ("Company", "Northstar"),
        ],
    );
    maya.fields.push(DraftField {
        name: "Email".into(),
        value: FieldValue::Text("maya@northstar.example".into()),
        include: true,
        evidence: None,
    });
    let queries = match_queries(&draft(vec![lead_daniel(), maya]), &schema());
    assert_eq!(queries.len(), 1, "{queries:?}");
    assert_eq!(
        queries[0].soql,
        "SELECT Id, FirstName, LastName, Company, Email FROM Lead WHERE \
         (Email = 'daniel@apex.example') OR \
         (FirstName = 'Daniel' AND LastName = 'Reed' AND Company = 'Apex Corp') OR \
         (Email = 'maya@northstar.example') OR \
         (FirstName = 'Maya' AND LastName = 'O\\'Chen' AND Company = 'Northstar') LIMIT 2000"
    );
}

#[test]
fn links_and_parent_paths_are_queried_with_their_objects() {
    let mut priya = record(
        "Contact",
        &[
            ("FirstName", "Priya"),
            ("LastName", "Natarajan"),
            ("Email", "priya@globex.example"),
        ],
    );
    priya.links.push(LinkDraft {
        relationship: "Account".into(),
        field: "AccountId".into(),
        target: "Account".into(),
        lookup: Lookup {
            criteria: vec![("Name".into(), "Globex".into())],
        },
    });
    let queries = match_queries(&draft(vec![priya]), &schema());
    let objects: Vec<&str> = queries.iter().map(|q| q.object.as_str()).collect();
    assert_eq!(objects, ["Account", "Contact"]);
    assert_eq!(
        queries[0].soql,
        "SELECT Id, Name FROM Account WHERE Name = 'Globex' LIMIT 2000"
    );
    assert!(
        queries[1]
            .soql
            .starts_with("SELECT Id, FirstName, LastName, Email, Account.Name FROM Contact WHERE"),
        "{}",
        queries[1].soql
    );
    assert!(
        queries[1].soql.contains(
            "(FirstName = 'Priya' AND LastName = 'Natarajan' AND Account.Name = 'Globex')"
        )
    );
}

#[test]
fn a_large_draft_splits_its_filter_into_bounded_queries() {
    let leads: Vec<RecordDraft> = (0..300)
        .map(|i| {
            record(
                "Lead",
                &[
                    ("LastName", &format!("Person{i}")),
                    ("Email", &format!("person{i}@conference.example")),
                ],
            )
        })
        .collect();
    let queries = match_queries(&draft(leads), &schema());
    assert!(queries.len() > 1, "one query would be too long");
    for q in &queries {
        assert!(q.soql.len() < MAX_FILTER_CHARS + 200, "{}", q.soql.len());
    }
    let total: usize = queries
        .iter()
        .map(|q| q.soql.matches("Email = ").count())
        .sum();
    assert_eq!(total, 300, "every record is checked exactly once");
}

#[test]
fn a_draft_with_nothing_to_match_needs_no_query() {
    let task = record("Task", &[("Subject", "Call back")]);
    assert!(match_queries(&draft(vec![task]), &schema()).is_empty());
}

#[test]
fn an_existing_email_turns_a_create_into_an_update_with_current_values() {
    let mut lead = lead_daniel();
    lead.fields.retain(|f| f.name != "Company");
    lead.issues.push(Issue::blocking(
        IssueKind::MissingRequired,
        Some("Company"),
        "Company is required",
    ));
    let existing = rows(
        "Lead",
        vec![
            json!({"Id": "00Q000000000001AAA", "FirstName": "Dan", "LastName": "Reed",
                    "Email": "Daniel@Apex.example", "Company": "Apex"}),
        ],
    );
    let out = resolve(&draft(vec![lead]), &schema(), &existing);
    match &out[0].action {
        RecordAction::Update {
            id,
            current,
            matched_by,
        } => {
            assert_eq!(id, "00Q000000000001AAA");
            assert_eq!(current["FirstName"], "Dan");
            assert_eq!(matched_by, "Email");
        }
        other => panic!("expected update, got {other:?}"),
    }
    let kinds: Vec<IssueKind> = out[0].draft.issues.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [IssueKind::PossibleDuplicate],
        "required fields do not apply to updates"
    );
}

#[test]
fn name_and_company_match_when_the_email_does_not() {
    let existing = rows(
        "Lead",
        vec![
            json!({"Id": "00Q000000000002AAA", "FirstName": "daniel", "LastName": "REED",
                    "Company": "apex corp", "Email": null}),
        ],
    );
    let out = resolve(&draft(vec![lead_daniel()]), &schema(), &existing);
    assert!(
        matches!(&out[0].action, RecordAction::Update { matched_by, .. } if matched_by == "FirstName + LastName + Company"),
        "{:?}",
        out[0].action
    );
}

#[test]
fn two_matches_are_ambiguous_and_block_approval() {
    let existing = rows(
        "Lead",
        vec![
            json!({"Id": "00Q000000000001AAA", "FirstName": "Daniel", "LastName": "Reed", "Email": "daniel@apex.example"}),
            json!({"Id": "00Q000000000002AAA", "FirstName": "Daniel", "LastName": "Reed", "Email": "daniel@apex.example"}),
        ],
    );
    let out = resolve(&draft(vec![lead_daniel()]), &schema(), &existing);
    match &out[0].action {
        RecordAction::Ambiguous { candidates, .. } => {
            assert_eq!(candidates.len(), 2);
            assert_eq!(candidates[0].label, "Daniel Reed (daniel@apex.example)");
        }
        other => panic!("expected ambiguous, got {other:?}"),
    }
    assert!(out[0].draft.is_blocked());
}

#[test]
fn a_lookup_that_finds_nothing_blocks_and_never_creates() {
    let mut opp = record("Opportunity", &[("StageName", "Closed Won")]);
    opp.lookup = Some(Lookup {
        criteria: vec![("Name".into(), "%".into())],
    });
    let existing = rows(
        "Opportunity",
        vec![json!({"Id": "006000000000001AAA", "Name": "Apex Corp - Enterprise Expansion"})],
    );
    let out = resolve(&draft(vec![opp]), &schema(), &existing);
    assert_eq!(out[0].action, RecordAction::NotFound);
    let issue = out[0].draft.issues.last().unwrap();
    assert_eq!(
        (issue.kind, issue.severity),
        (IssueKind::NotFound, Severity::Blocking)
    );
}

#[test]
fn a_task_is_linked_to_the_person_and_the_deal_of_its_draft() {
    let mut opp = record("Opportunity", &[("StageName", "Closed Won")]);
    opp.lookup = Some(Lookup {
        criteria: vec![("Name".into(), "Initech - Renewal".into())],
    });
    let contact = record("Contact", &[("LastName", "Natarajan")]);
    let task = record("Task", &[("Subject", "Send SOC 2 report")]);
    let existing = rows(
        "Opportunity",
        vec![json!({"Id": "006000000000001AAA", "Name": "Initech - Renewal"})],
    );
    let out = resolve(&draft(vec![opp, contact, task]), &schema(), &existing);
    let links: Vec<(&str, &LinkTarget)> = out[2]
        .links
        .iter()
        .map(|l| (l.field.as_str(), &l.target))
        .collect();
    assert_eq!(
        links,
        [
            ("WhoId", &LinkTarget::InDraft { record: 1 }),
            (
                "WhatId",
                &LinkTarget::Existing {
                    id: "006000000000001AAA".into()
                }
            )
        ]
    );
}

#[test]
fn a_task_next_to_a_lead_gets_no_what_id() {
    let opp = record("Opportunity", &[("Name", "New deal")]);
    let task = record("Task", &[("Subject", "Demo")]);
    let out = resolve(
        &draft(vec![lead_daniel(), opp, task]),
        &schema(),
        &ExistingRows::new(),
    );
    let fields: Vec<&str> = out[2].links.iter().map(|l| l.field.as_str()).collect();
    assert_eq!(fields, ["WhoId"]);
}

/// A Contact linked to the Account named `account`.
fn contact_at(account: &str) -> RecordDraft {
    let mut contact = record("Contact", &[("LastName", "Natarajan")]);
    contact.links.push(LinkDraft {
        relationship: "Account".into(),
        field: "AccountId".into(),
        target: "Account".into(),
        lookup: Lookup {
            criteria: vec![("Name".into(), account.into())],
        },
    });
    contact
}

#[test]
fn a_link_to_a_parent_created_in_the_same_draft_points_at_it() {
    let account = record("Account", &[("Name", "Globex")]);
    let contact = contact_at("globex");
    let out = resolve(
        &draft(vec![account, contact]),
        &schema(),
        &ExistingRows::new(),
    );
    assert_eq!(out[1].links[0].target, LinkTarget::InDraft { record: 0 });
}

#[test]
fn a_link_several_parents_could_be_blocks_approval_and_says_so() {
    let contact = contact_at("Globex");
    let found = rows(
        "Account",
        vec![
            json!({"Id": "001A", "Name": "Globex"}),
            json!({"Id": "001B", "Name": "Globex"}),
        ],
    );
    let out = resolve(&draft(vec![contact]), &schema(), &found);
    assert!(matches!(
        out[0].links[0].target,
        LinkTarget::Ambiguous { .. }
    ));
    assert!(out[0].draft.is_blocked(), "{:?}", out[0].draft.issues);
    let issue = out[0]
        .draft
        .issues
        .iter()
        .find(|i| i.kind == IssueKind::Ambiguous)
        .expect("an issue says why");
    assert_eq!(issue.field.as_deref(), Some("AccountId"));
    assert!(
        issue.message.contains("2 existing Account records"),
        "{}",
        issue.message
    );
}
