//! Engine tests over a small in-memory source (the corpus in tests/soql/ covers the rest over
//! HTTP with the real sandbox).

use serde_json::{Map, Value, json};

use super::*;

/// Tasks pointing at an Opportunity / a Contact and at an Account / a Lead.
struct Mini {
    records: Vec<(String, Map<String, Value>)>,
}

const ACCOUNT: &str = "001Sd0000000004IAA";
const OPPORTUNITY: &str = "006Sd0000000017IAA";
const CONTACT: &str = "003Sd0000000009IAA";
const LEAD: &str = "00QSd0000000014IAA";

fn rec(object: &str, fields: Value) -> (String, Map<String, Value>) {
    (object.to_string(), fields.as_object().cloned().unwrap())
}

impl Mini {
    fn new() -> Mini {
        Mini {
            records: vec![
                rec(
                    "Account",
                    json!({"Id": ACCOUNT, "Name": "Apex Corp", "Type": "Prospect"}),
                ),
                rec(
                    "Opportunity",
                    json!({"Id": OPPORTUNITY, "Name": "Apex - Expansion", "Type": "New Customer"}),
                ),
                rec("Contact", json!({"Id": CONTACT, "Name": "Alex Kim"})),
                rec("Lead", json!({"Id": LEAD, "Name": "Jordan Blake"})),
                rec(
                    "Task",
                    json!({"Id": "00TSd0000000024IAA", "Subject": "Call",
                           "WhoId": CONTACT, "WhatId": OPPORTUNITY}),
                ),
                rec(
                    "Task",
                    json!({"Id": "00TSd0000000025IAA", "Subject": "Visit",
                           "WhoId": LEAD, "WhatId": ACCOUNT}),
                ),
            ],
        }
    }
}

impl SoqlSource for Mini {
    fn object(&self, name: &str) -> Option<String> {
        ["Account", "Opportunity", "Contact", "Lead", "Task"]
            .into_iter()
            .find(|o| o.eq_ignore_ascii_case(name))
            .map(str::to_string)
    }

    fn field(&self, object: &str, field: &str) -> Option<FieldInfo> {
        let kind = match field.to_ascii_lowercase().as_str() {
            "id" => "id",
            "whoid" | "whatid" if object == "Task" => "reference",
            "subject" if object == "Task" => "string",
            "name" if object != "Task" => "string",
            "type" if matches!(object, "Account" | "Opportunity") => "picklist",
            _ => return None,
        };
        let name = ["Id", "WhoId", "WhatId", "Subject", "Name", "Type"]
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(field))?;
        Some(FieldInfo {
            name: name.to_string(),
            kind: kind.to_string(),
        })
    }

    fn relationship(&self, object: &str, relationship: &str) -> Option<RelationshipInfo> {
        let (name, field, targets) = match (object, relationship.to_ascii_lowercase().as_str()) {
            ("Task", "who") => ("Who", "WhoId", ["Contact", "Lead"]),
            ("Task", "what") => ("What", "WhatId", ["Account", "Opportunity"]),
            _ => return None,
        };
        Some(RelationshipInfo {
            name: name.into(),
            field: field.into(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
        })
    }

    fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        self.records
            .iter()
            .filter(|(o, _)| o == object)
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn record(&self, id: &str) -> Option<(String, Map<String, Value>)> {
        self.records.iter().find(|(_, r)| r["Id"] == id).cloned()
    }
}

fn run(soql: &str) -> Result<QueryOutput, SoqlError> {
    let ctx = ExecContext {
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        api_version: "v62.0",
    };
    execute(&parse(soql)?, &Mini::new(), &ctx)
}

fn subjects(soql: &str) -> Vec<String> {
    run(soql)
        .unwrap_or_else(|e| panic!("{soql}: {e}"))
        .rows
        .iter()
        .map(|r| r["Subject"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn type_through_a_polymorphic_relationship_is_the_referenced_object() {
    assert_eq!(
        subjects("SELECT Subject FROM Task WHERE What.Type = 'Opportunity'"),
        ["Call"]
    );
    assert_eq!(
        subjects("SELECT Subject FROM Task WHERE Who.Type = 'Lead'"),
        ["Visit"]
    );
    assert_eq!(
        subjects("SELECT Subject FROM Task WHERE What.Type IN ('Account') ORDER BY Who.Type"),
        ["Visit"]
    );
    let out = run("SELECT Subject, What.Type, What.Name FROM Task ORDER BY Subject").unwrap();
    assert_eq!(out.rows[0]["What"]["Type"], "Opportunity");
    assert_eq!(out.rows[0]["What"]["Name"], "Apex - Expansion");
    assert_eq!(out.rows[1]["What"]["Type"], "Account");
    assert_eq!(out.rows[1]["What"]["attributes"]["type"], "Account");
}

#[test]
fn an_eighteen_character_id_matches_in_any_case_and_odd_text_never_panics() {
    for id in [
        "006Sd0000000017IAA",
        "006sd0000000017iaa",
        "006SD0000000017IAA",
        "006Sd0000000017",
    ] {
        assert_eq!(
            subjects(&format!("SELECT Subject FROM Task WHERE WhatId = '{id}'")),
            ["Call"],
            "{id}"
        );
    }
    assert!(
        subjects("SELECT Subject FROM Task WHERE WhatId = '006sd0000000017'").is_empty(),
        "the 15-character form is case-sensitive"
    );
    // Text that is no id is refused as Salesforce refuses it (not an empty answer).
    for odd in [
        "aa\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "not-an-id",
        "006Sd00000",
    ] {
        let e = run(&format!("SELECT Subject FROM Task WHERE WhatId = '{odd}'")).unwrap_err();
        assert_eq!(e.error_code(), "INVALID_QUERY_FILTER_OPERATOR", "{odd}");
        assert_eq!(e.to_string(), format!("invalid ID field: {odd}"));
    }
}
