use chrono::TimeZone;
use serde_json::{Map, json};

use super::look::{queries, weigh};
use super::*;

fn attempt(probes: Vec<Probe>) -> Attempt {
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap();
    Attempt {
        started_at: at,
        revision: 1,
        created_since: at - Duration::minutes(5),
        retry_safe: false,
        probes,
        doubt: None,
        checks: 0,
        checked_at: None,
    }
}

fn probe(object: &str, outcome: &str, find: Find) -> Probe {
    Probe {
        object: object.into(),
        label: object.into(),
        name: format!("a {object}"),
        outcome: outcome.into(),
        find,
    }
}

fn map(v: serde_json::Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn one_query_per_object_and_kind_with_escaped_values() {
    let a = attempt(vec![
        probe(
            "Lead",
            "created",
            Find::Values {
                values: map(json!({"LastName": "O'Reed", "Email": "d@x.example"})),
                confirm: None,
            },
        ),
        probe(
            "Task",
            "created",
            Find::Key {
                field: "Crmbot_Key__c".into(),
                value: "abc-m".into(),
            },
        ),
        probe(
            "Opportunity",
            "updated",
            Find::Id {
                id: "006A".into(),
                values: map(json!({"StageName": "Closed Won", "Amount": 25000})),
            },
        ),
    ]);
    let soql: Vec<String> = queries(&a).into_iter().map(|q| q.soql).collect();
    assert_eq!(
        soql,
        [
            "SELECT Id, Email, LastName FROM Lead WHERE CreatedDate >= 2026-11-30T19:55:00Z AND ((LastName = 'O\\'Reed' AND Email = 'd@x.example')) ORDER BY CreatedDate ASC LIMIT 200",
            "SELECT Id, Amount, StageName FROM Opportunity WHERE Id IN ('006A')",
            "SELECT Id, Crmbot_Key__c FROM Task WHERE Crmbot_Key__c IN ('abc-m')",
        ]
    );
}

#[test]
fn a_name_that_is_not_an_identifier_never_reaches_soql() {
    let a = attempt(vec![probe(
        "Lead",
        "created",
        Find::Values {
            values: map(json!({"LastName = 'x' OR Id": "y", "Company": "Apex"})),
            confirm: None,
        },
    )]);
    let soql = &queries(&a)[0].soql;
    assert!(!soql.contains("OR Id"), "{soql}");
    assert!(soql.contains("Company = 'Apex'"));
}

#[test]
fn any_created_record_proves_the_write_and_updates_are_listed_with_it() {
    let a = attempt(vec![
        probe(
            "Task",
            "created",
            Find::Values {
                values: map(json!({"Subject": "Meeting: Globex"})),
                confirm: Some(("Description".into(), "draft abc".into())),
            },
        ),
        probe(
            "Opportunity",
            "updated",
            Find::Id {
                id: "006A".into(),
                values: map(json!({"StageName": "Closed Won"})),
            },
        ),
    ]);
    let qs = queries(&a);
    // Another Task with the same subject but not this draft's provenance does not count.
    let other = vec![json!({"Id": "00T1", "Subject": "Meeting: Globex", "Description": "by hand"})];
    let stale = vec![json!({"Id": "006A", "StageName": "Prospecting"})];
    assert_eq!(
        weigh(&a, &qs, &[stale.clone(), other.clone()], "https://x"),
        Evidence::Absent
    );
    let ours = vec![json!({"Id": "00T2", "Subject": "meeting: globex",
                           "Description": "notes\n\nLogged from Slack by crmbot (draft abc)."})];
    match weigh(&a, &qs, &[stale, ours], "https://x") {
        Evidence::Found(w) => {
            let ids: Vec<&str> = w.iter().map(|w| w.id.as_str()).collect();
            assert_eq!(ids, ["00T2", "006A"]);
            assert_eq!(w[0].url, "https://x/lightning/r/Task/00T2/view");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_write_of_updates_only_is_proven_when_every_record_holds_what_was_written() {
    let a = attempt(vec![probe(
        "Opportunity",
        "updated",
        Find::Id {
            id: "006000000000001".into(),
            values: map(
                json!({"StageName": "Closed Won", "Amount": 25000, "CloseDate": "2026-12-31"}),
            ),
        },
    )]);
    let qs = queries(&a);
    let held = vec![
        json!({"Id": "006000000000001AAA", "StageName": "Closed Won",
                           "Amount": 25000.0, "CloseDate": "2026-12-31"}),
    ];
    assert!(matches!(weigh(&a, &qs, &[held], "x"), Evidence::Found(_)));
    let not = vec![
        json!({"Id": "006000000000001AAA", "StageName": "Closed Won",
                          "Amount": 20000, "CloseDate": "2026-12-31"}),
    ];
    assert_eq!(weigh(&a, &qs, &[not], "x"), Evidence::Absent);
}

#[test]
fn a_probe_with_nothing_to_compare_is_never_taken_for_a_match() {
    let a = attempt(vec![
        probe(
            "Lead",
            "created",
            Find::Values {
                values: Map::new(),
                confirm: None,
            },
        ),
        probe(
            "Opportunity",
            "updated",
            Find::Id {
                id: "006A".into(),
                values: map(json!({"StageName": "Closed Won"})),
            },
        ),
    ]);
    let qs = queries(&a);
    assert_eq!(qs.len(), 1, "only the update is looked up");
    assert!(
        qs[0]
            .soql
            .starts_with("SELECT Id, StageName FROM Opportunity")
    );
    // allOrNone: the update holding proves the write the create was part of.
    let held = vec![json!({"Id": "006A", "StageName": "Closed Won"})];
    assert!(matches!(weigh(&a, &qs, &[held], "x"), Evidence::Found(w) if w.len() == 1));
    let not = vec![json!({"Id": "006A", "StageName": "Prospecting"})];
    assert_eq!(weigh(&a, &qs, &[not], "x"), Evidence::Absent);
}
