//! Each validation rule on its own.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::*;
use crate::domain::draft::Severity;

const REED: &str = "We spoke with Daniel Reed from Apex Corp, daniel@apex.example.";

#[test]
fn a_reply_that_is_not_a_draft_is_an_error_for_the_repair_retry() {
    let ctx = ValidationContext {
        notes: "",
        today: today(),
        hold_ungrounded: true,
        max_records: 10,
    };
    assert_eq!(
        validate(&json!([1]), &schema(), &ctx),
        Err(ReplyError::NotAnObject)
    );
    assert_eq!(
        validate(&json!({"record": []}), &schema(), &ctx),
        Err(ReplyError::NoRecords)
    );
    assert_eq!(
        validate(&json!({"records": []}), &schema(), &ctx)
            .unwrap()
            .records
            .len(),
        0
    );
}

#[test]
fn unknown_objects_and_malformed_records_are_dropped_with_a_warning() {
    let d = run(
        REED,
        json!({"records": [
            {"object": "Campaign", "fields": {"Name": "x"}},
            "not an object",
            {"fields": {}},
            {"object": "lead", "lookup": null, "link": null, "fields": {"LastName": "Reed", "Company": "Apex Corp"}}
        ]}),
    );
    assert_eq!(d.records.len(), 1);
    assert_eq!(
        d.records[0].object, "Lead",
        "case-insensitive, canonical name"
    );
    let issue_kinds: Vec<IssueKind> = d.issues.iter().map(|i| i.kind).collect();
    assert_eq!(
        issue_kinds,
        [
            IssueKind::UnknownObject,
            IssueKind::Malformed,
            IssueKind::UnknownObject
        ]
    );
    assert!(d.issues[0].message.contains("Campaign"));
}

#[test]
fn unknown_fields_owner_and_ids_are_dropped() {
    let r = one(
        "We spoke with Daniel Reed from Apex Corp. Budget is 50k.",
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex Corp", "Budget__c": 50000,
               "OwnerId": "005000000000001AAA", "Title": "00Q000000000001AAA"}),
    );
    let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["LastName", "Company"]);
    assert!(has(
        &r,
        IssueKind::UnknownField,
        "Budget__c",
        Severity::Warning
    ));
    assert!(has(&r, IssueKind::IdRefused, "OwnerId", Severity::Warning));
    assert!(has(&r, IssueKind::IdRefused, "Title", Severity::Warning));
    assert!(
        r.issues
            .iter()
            .any(|i| i.message.contains("Budget__c is not an allowed Lead field"))
    );
}

#[test]
fn nulls_and_empty_strings_are_simply_absent() {
    let r = one(
        REED,
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex Corp", "Phone": null, "Title": " "}),
    );
    assert_eq!(r.fields.len(), 2);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
}

#[test]
fn lookups_use_allowed_fields_and_exact_values_only() {
    let by_id = one(
        "",
        "Opportunity",
        json!({"Id": "006000000000001AAA"}),
        json!({"StageName": "Negotiation/Review"}),
    );
    assert!(by_id.is_blocked());
    assert!(
        by_id
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::LookupRefused
                && i.message.contains("only be found by Name"))
    );

    let wildcard = one(
        "",
        "Opportunity",
        json!({"Name": "*"}),
        json!({"Amount": 1000000}),
    );
    assert!(
        has(
            &wildcard,
            IssueKind::LookupRefused,
            "Name",
            Severity::Blocking
        ),
        "{:?}",
        wildcard.issues
    );
    let percent = one("", "Account", json!({"Name": "%"}), json!({}));
    assert!(percent.is_blocked());

    let id_as_name = one(
        "",
        "Opportunity",
        json!({"Name": "006000000000001AAA"}),
        json!({}),
    );
    assert!(has(
        &id_as_name,
        IssueKind::IdRefused,
        "Name",
        Severity::Blocking
    ));

    let good = one(
        "",
        "Opportunity",
        json!({"name": " Apex Corp - Enterprise Expansion "}),
        json!({}),
    );
    assert_eq!(
        good.lookup.as_ref().unwrap().criteria,
        [(
            "Name".to_string(),
            "Apex Corp - Enterprise Expansion".to_string()
        )]
    );
    assert!(!good.is_blocked());
}

#[test]
fn links_resolve_to_reference_fields_or_are_refused() {
    let d = run(
        "Priya at Globex",
        json!({"records": [{"object": "Contact", "lookup": null,
        "link": {"Account": {"Name": "Globex"}, "Owner": {"Name": "me"}},
        "fields": {"LastName": "Priya"}}]}),
    );
    let r = &d.records[0];
    assert_eq!(r.links.len(), 1);
    assert_eq!(
        (r.links[0].field.as_str(), r.links[0].target.as_str()),
        ("AccountId", "Account")
    );
    assert_eq!(
        r.links[0].lookup.criteria,
        [("Name".to_string(), "Globex".to_string())]
    );
    assert!(
        r.issues
            .iter()
            .any(|i| i.kind == IssueKind::LinkRefused && i.message.contains("Owner"))
    );
}

#[test]
fn updates_may_only_set_updateable_fields_and_need_no_required_ones() {
    let mut s = schema();
    s.objects
        .get_mut("Opportunity")
        .unwrap()
        .fields
        .iter_mut()
        .for_each(|f| {
            if f.name == "Amount" {
                f.updateable = false;
            }
        });
    let ctx = ValidationContext {
        notes: "worth $25k",
        today: today(),
        hold_ungrounded: true,
        max_records: 5,
    };
    let d = validate(
        &json!({"records": [{"object": "Opportunity", "lookup": {"Name": "Apex"}, "link": null,
        "fields": {"Amount": 25000}}]}),
        &s,
        &ctx,
    )
    .unwrap();
    let r = &d.records[0];
    assert!(r.fields.is_empty());
    assert_eq!(
        kinds(r),
        [(IssueKind::NotWritable, Some("Amount".to_string()))]
    );
}

#[test]
fn numbers_are_coerced_or_refused() {
    let r = one(
        "Apex Corp - Enterprise Expansion is now worth $25k.",
        "Opportunity",
        json!({"Name": "Apex Corp - Enterprise Expansion"}),
        json!({"Amount": "$25k"}),
    );
    assert_eq!(r.value("Amount"), Some(&FieldValue::Number(25000.0)));
    assert!(r.issues.iter().any(|i| i.kind == IssueKind::Coerced && i.message == "Amount: read \"$25k\" as 25,000"), "{:?}", r.issues);
    assert!(r.fields[0].include, "grounded: $25k is in the notes");

    let bad = one(
        "",
        "Opportunity",
        json!({"Name": "Apex"}),
        json!({"Amount": "a lot"}),
    );
    assert!(bad.fields.is_empty());
    assert!(has(&bad, IssueKind::BadValue, "Amount", Severity::Warning));
}

#[test]
fn dates_are_resolved_against_the_note_date_or_refused() {
    let r = one(
        "Initech - Platform Renewal should close end of next month.",
        "Opportunity",
        json!({"Name": "Initech - Platform Renewal"}),
        json!({"CloseDate": "end of next month"}),
    );
    assert_eq!(
        r.value("CloseDate"),
        Some(&FieldValue::Date(
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        ))
    );
    assert!(
        r.issues
            .iter()
            .any(|i| i.kind == IssueKind::Coerced && i.message.contains("2026-12-31"))
    );

    let vague = one(
        "",
        "Opportunity",
        json!({"Name": "X"}),
        json!({"CloseDate": "sometime soon"}),
    );
    assert!(vague.value("CloseDate").is_none(), "never sent as text");
    assert!(has(
        &vague,
        IssueKind::UnresolvedDate,
        "CloseDate",
        Severity::Warning
    ));
    assert!(
        vague.issues[0]
            .message
            .contains("could not read \"sometime soon\" as a date")
    );

    let iso = one(
        "Send it by Friday.",
        "Task",
        Value::Null,
        json!({"ActivityDate": "2026-11-27"}),
    );
    assert!(iso.issues.is_empty(), "{:?}", iso.issues);
    let invented = one(
        "Send it by Friday.",
        "Task",
        Value::Null,
        json!({"ActivityDate": "2026-12-04"}),
    );
    assert!(has(
        &invented,
        IssueKind::NotInNotes,
        "ActivityDate",
        Severity::Warning
    ));
}

#[test]
fn emails_must_be_addresses() {
    let r = one(
        REED,
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex Corp", "Email": "daniel at apex"}),
    );
    assert!(r.value("Email").is_none());
    assert!(has(&r, IssueKind::BadValue, "Email", Severity::Warning));
}

#[test]
fn picklists_take_the_org_spelling_or_block() {
    let r = one(
        "Initech signed, closed won at 48k",
        "Opportunity",
        json!({"Name": "Initech"}),
        json!({"StageName": "closed won"}),
    );
    assert_eq!(
        r.value("StageName"),
        Some(&FieldValue::Text("Closed Won".into()))
    );
    assert!(!r.is_blocked());

    let hot = one(
        "Daniel Reed at Apex Corp is a hot lead.",
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex Corp", "Status": "Hot"}),
    );
    assert!(has(
        &hot,
        IssueKind::BadPicklist,
        "Status",
        Severity::Blocking
    ));
    let status = hot
        .fields
        .iter()
        .find(|f| f.name == "Status")
        .expect("kept on the card");
    assert!(!status.include, "but out of the write");
    assert!(
        hot.issues
            .iter()
            .any(|i| i.message.starts_with("'Hot' is not a Lead Status value"))
    );
}

#[test]
fn overlong_text_blocks() {
    let long = "x".repeat(300);
    let r = one(
        &long,
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex", "Title": long}),
    );
    assert!(has(&r, IssueKind::TooLong, "Title", Severity::Blocking));
}

#[test]
fn missing_required_fields_block_a_create() {
    let r = one(
        "Talked to Maya about pricing.",
        "Lead",
        Value::Null,
        json!({"FirstName": "Maya", "LastName": null, "Company": null}),
    );
    assert!(has(
        &r,
        IssueKind::MissingRequired,
        "LastName",
        Severity::Blocking
    ));
    assert!(has(
        &r,
        IssueKind::MissingRequired,
        "Company",
        Severity::Blocking
    ));
    assert!(
        r.issues
            .iter()
            .any(|i| i.message == "LastName is required to create a Lead")
    );
}

#[test]
fn values_not_in_the_notes_are_flagged_and_held_back() {
    let r = one(
        "We spoke with Daniel Reed from Apex Corp about the enterprise plan.",
        "Lead",
        Value::Null,
        json!({"FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp",
               "Email": "daniel.reed@apexcorp.com", "Description": "Spoke about the enterprise plan"}),
    );
    assert!(has(&r, IssueKind::NotInNotes, "Email", Severity::Warning));
    let email = r.fields.iter().find(|f| f.name == "Email").unwrap();
    assert!(!email.include);
    assert!(
        r.fields
            .iter()
            .filter(|f| f.name != "Email")
            .all(|f| f.include),
        "free text drawn from the notes stands"
    );
    assert_eq!(r.issues.len(), 1, "{:?}", r.issues);
    let invented = one(
        "We spoke with Daniel Reed from Apex Corp about the enterprise plan.",
        "Lead",
        Value::Null,
        json!({"LastName": "Reed", "Company": "Apex Corp",
               "Description": "Salesforce Lead for Salesforce", "LeadSource": "Web"}),
    );
    for field in ["Description", "LeadSource"] {
        assert!(
            has(&invented, IssueKind::NotInNotes, field, Severity::Warning),
            "{field}: {:?}",
            invented.issues
        );
    }
    assert!(invented.fields.iter().filter(|f| !f.include).count() == 2);

    let amount = one(
        "Worth 30k",
        "Opportunity",
        json!({"Name": "X"}),
        json!({"Amount": 1000000}),
    );
    assert!(has(
        &amount,
        IssueKind::NotInNotes,
        "Amount",
        Severity::Warning
    ));
}

#[test]
fn holding_back_can_be_turned_off() {
    let ctx = ValidationContext {
        notes: "Daniel Reed",
        today: today(),
        hold_ungrounded: false,
        max_records: 5,
    };
    let d = validate(&json!({"records": [{"object": "Lead", "fields": {"LastName": "Reed", "Company": "Globex"}}]}), &schema(), &ctx).unwrap();
    assert!(d.records[0].fields.iter().all(|f| f.include));
    assert!(
        d.records[0]
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::NotInNotes)
    );
}

#[test]
fn too_many_records_are_cut_with_a_warning() {
    let records: Vec<Value> = (0..300)
        .map(|i| json!({"object": "Lead", "fields": {"LastName": format!("P{i}"), "Company": "X"}}))
        .collect();
    let ctx = ValidationContext {
        notes: "",
        today: today(),
        hold_ungrounded: true,
        max_records: 200,
    };
    let d = validate(&json!({"records": records}), &schema(), &ctx).unwrap();
    assert_eq!(d.records.len(), 200);
    assert!(
        d.issues[0].message.contains("300 records") && d.issues[0].message.contains("100 left out")
    );
}

#[test]
fn fields_follow_schema_order() {
    let r = one(
        REED,
        "Lead",
        Value::Null,
        json!({"Email": "daniel@apex.example", "Company": "Apex Corp", "LastName": "Reed"}),
    );
    let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["LastName", "Company", "Email"]);
}
