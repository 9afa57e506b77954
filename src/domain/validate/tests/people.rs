//! Checks across the records of one draft: a value said of someone else, a person twice.

use serde_json::json;

use super::*;
use crate::domain::draft::Severity;

const TWO: &str = "Booth follow-ups from the fintech expo: Daniel Reed at Apex Corp (daniel@apex.example) and Maya Chen at Northstar Labs, maya.chen@northstar.example, +1 415 555 0142. Both want pricing.";

fn lead(fields: serde_json::Value) -> serde_json::Value {
    json!({"object": "Lead", "lookup": null, "link": null, "fields": fields})
}

#[test]
fn a_value_said_of_another_person_is_held_back() {
    let d = run(
        TWO,
        json!({"records": [
            lead(json!({"FirstName": "Daniel", "LastName": "Reed", "Company": "Northstar Labs",
                        "Email": "daniel@apex.example", "Phone": "+1 415 555 0142"})),
            lead(json!({"FirstName": "Maya", "LastName": "Chen", "Company": "Apex Corp",
                        "Email": "maya.chen@northstar.example"})),
        ]}),
    );
    let daniel = &d.records[0];
    for field in ["Company", "Phone"] {
        assert!(
            has(daniel, IssueKind::NotInNotes, field, Severity::Warning),
            "{field}: {:?}",
            daniel.issues
        );
        assert!(
            !daniel
                .fields
                .iter()
                .find(|f| f.name == field)
                .unwrap()
                .include
        );
    }
    let maya = &d.records[1];
    assert!(has(
        maya,
        IssueKind::NotInNotes,
        "Company",
        Severity::Warning
    ));
    assert_eq!(maya.fields.iter().filter(|f| !f.include).count(), 1);

    // A company said once for everyone stands for everyone.
    let d = run(
        "Expo booth scans, all at Expo Corp: Ann Lee, Bo Park, Cy Diaz",
        json!({"records": [
            lead(json!({"LastName": "Lee", "Company": "Expo Corp"})),
            lead(json!({"LastName": "Park", "Company": "Expo Corp"})),
            lead(json!({"LastName": "Diaz", "Company": "Expo Corp"})),
        ]}),
    );
    assert!(d.records.iter().all(|r| r.issues.is_empty()), "{d:?}");
}

#[test]
fn the_same_person_twice_in_one_draft_is_blocked() {
    let d = run(
        TWO,
        json!({"records": [
            lead(json!({"FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp",
                        "Email": "daniel@apex.example"})),
            lead(json!({"LastName": "Manager", "Company": "Apex Corp", "Email": "Daniel@apex.example"})),
        ]}),
    );
    assert!(!d.records[0].is_blocked());
    let second = &d.records[1];
    assert!(second.is_blocked());
    let issue = second
        .issues
        .iter()
        .find(|i| i.kind == IssueKind::Repeated)
        .unwrap();
    assert!(issue.field.is_none());
    assert!(
        issue
            .message
            .contains("daniel@apex.example is already record 1"),
        "{}",
        issue.message
    );
}

#[test]
fn a_job_title_in_a_name_field_is_held_back() {
    let d = run(
        "Met the CFO and the IT Manager of Apex Corp.",
        json!({"records": [lead(json!({"LastName": "Apex", "Company": "CFO"}))]}),
    );
    let r = &d.records[0];
    assert!(
        has(r, IssueKind::BadValue, "Company", Severity::Warning),
        "{:?}",
        r.issues
    );
    assert!(
        !r.fields
            .iter()
            .find(|f| f.name == "Company")
            .unwrap()
            .include
    );
}

#[test]
fn a_website_from_an_email_domain_is_held_back() {
    let d = run(
        "Daniel Reed, daniel@apex.example, Apex Corp",
        json!({"records": [{"object": "Account", "lookup": null, "link": null,
                            "fields": {"Name": "Apex Corp", "Website": "apex.example"}}]}),
    );
    let r = &d.records[0];
    assert!(
        has(r, IssueKind::NotInNotes, "Website", Severity::Warning),
        "{:?}",
        r.issues
    );
}
