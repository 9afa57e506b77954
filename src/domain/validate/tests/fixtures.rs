//! The shared fixtures: gold drafts and bad replies.

use chrono::NaiveDate;
use serde_json::Value;

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_gold_draft_validates_without_blocking_or_ungrounded_values() {
    for case in fixture("drafts.json")["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let d = run(case["note"].as_str().unwrap(), case["gold"].clone());
        assert_eq!(
            d.records.len(),
            case["gold"]["records"].as_array().unwrap().len(),
            "{id}"
        );
        assert!(d.issues.is_empty(), "{id}: {:?}", d.issues);
        for r in &d.records {
            let unexpected: Vec<&Issue> = r
                .issues
                .iter()
                .filter(|i| {
                    i.is_blocking()
                        || i.kind == IssueKind::UnknownField
                        || i.kind == IssueKind::IdRefused
                })
                .collect();
            assert!(unexpected.is_empty(), "{id}: {unexpected:?}");
            // Grounded text and numbers stay in the write; only picklist inferences may be
            // unsupported by the words of the notes, and they are exempt.
            assert!(r.fields.iter().all(|f| f.include), "{id}: {:?}", r.issues);
        }
    }
}

#[test]
fn bad_replies_end_as_their_fixture_says() {
    let cases = fixture("bad_replies.json");
    for case in cases["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let note = case["note"].as_str().unwrap();
        let Ok(reply) = serde_json::from_str::<Value>(case["reply"].as_str().unwrap()) else {
            // not-json, fenced-json and too-many-records are the model layer's and the
            // cut's business; they are tested there and above.
            continue;
        };
        let d = run(note, reply);
        let all: Vec<&Issue> = d.records.iter().flat_map(|r| &r.issues).collect();
        let any = |kind: IssueKind, field: Option<&str>| {
            all.iter()
                .any(|i| i.kind == kind && (field.is_none() || i.field.as_deref() == field))
        };
        match id {
            "unknown-field" => {
                assert!(any(IssueKind::UnknownField, Some("Budget__c")), "{id}");
                assert!(d.records[0].value("Budget__c").is_none());
            }
            "owner-id" => {
                assert!(any(IssueKind::IdRefused, Some("OwnerId")), "{id}");
                assert!(d.records[0].value("OwnerId").is_none());
            }
            "id-in-value" => assert!(
                d.records[0].is_blocked() && any(IssueKind::LookupRefused, None),
                "{id}"
            ),
            "bad-picklist" => assert!(
                d.is_blocked() && any(IssueKind::BadPicklist, Some("Status")),
                "{id}"
            ),
            "hallucinated-email" => {
                assert!(any(IssueKind::NotInNotes, Some("Email")), "{id}");
                assert!(
                    !d.records[0]
                        .fields
                        .iter()
                        .find(|f| f.name == "Email")
                        .unwrap()
                        .include
                );
            }
            "missing-required" => {
                assert!(d.is_blocked(), "{id}");
                assert!(
                    any(IssueKind::MissingRequired, Some("LastName"))
                        && any(IssueKind::MissingRequired, Some("Company"))
                );
            }
            "amount-as-text" => {
                assert_eq!(
                    d.records[0].value("Amount"),
                    Some(&FieldValue::Number(25000.0)),
                    "{id}"
                );
                assert_eq!(d.records[0].value("Amount").unwrap().display(), "25,000");
            }
            "relative-date" => assert_eq!(
                d.records[0].value("CloseDate"),
                Some(&FieldValue::Date(
                    NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
                )),
                "{id}"
            ),
            "injection" => {
                assert!(
                    d.records.iter().all(|r| r.is_blocked()),
                    "{id}: wildcard lookups name nothing"
                );
                assert!(d.records.iter().all(|r| r.value("OwnerId").is_none()));
            }
            "fenced-json" | "not-json" | "too-many-records" => {}
            other => panic!("unexpected fixture case {other}: add its expectation"),
        }
    }
}
