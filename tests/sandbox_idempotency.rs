//! What crmbot's "written once" rests on, played by the sandbox as Salesforce does it: the
//! `Crmbot_Key__c` external id (unique) on the objects crmbot creates, upsert by that key
//! (single, inside a composite, and in collections), and the faults of a slow or flaky org —
//! a commit that lands after the client gave up, and answers lost after a commit.

mod sandbox_support;

use std::time::Duration;

use serde_json::json;

use crmbot::sandbox::{AfterCommit, Faults, LostAnswer};
use sandbox_support::{Sf, V, options};

const KEYED: [&str; 5] = ["Account", "Contact", "Lead", "Opportunity", "Task"];

#[tokio::test]
async fn the_default_schema_has_the_key_field_as_a_unique_external_id() {
    let sf = Sf::start().await;
    for object in KEYED {
        let d = sf.get(&format!("sobjects/{object}/describe")).await;
        let field = d.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Crmbot_Key__c")
            .unwrap_or_else(|| panic!("{object} lacks Crmbot_Key__c"))
            .clone();
        assert_eq!(field["externalId"], true, "{object}");
        assert_eq!(field["unique"], true, "{object}");
        assert_eq!(field["type"], "string");
    }
    // An org without it: the field is gone from describe, and an upsert by it is NOT_FOUND.
    let mut bare = options();
    bare.drop_fields = vec!["*.Crmbot_Key__c".into()];
    let sf = Sf::start_with(bare).await;
    let d = sf.get("sobjects/Lead/describe").await;
    assert!(
        !d.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "Crmbot_Key__c")
    );
    let r = sf
        .patch(
            "sobjects/Lead/Crmbot_Key__c/a1-0",
            json!({"LastName": "Reed", "Company": "Apex"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{:?}", r.body);
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("Crmbot_Key__c")
    );
    assert!(
        !sf.sandbox
            .records("Lead")
            .iter()
            .any(|l| l["LastName"] == "Reed")
    );
}

#[tokio::test]
async fn a_repeated_upsert_by_key_updates_the_one_record_it_created() {
    let sf = Sf::start().await;
    let body = json!({"LastName": "Reed", "Company": "Apex Corp"});
    let first = sf
        .patch("sobjects/Lead/Crmbot_Key__c/a1-0", body.clone())
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["created"], true);
    let again = sf.patch("sobjects/Lead/Crmbot_Key__c/a1-0", body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["created"], false);
    assert_eq!(again.body["id"], first.body["id"]);
    let reeds = sf
        .sandbox
        .records("Lead")
        .into_iter()
        .filter(|l| l["LastName"] == "Reed")
        .count();
    assert_eq!(reeds, 1);

    // The key is unique: a plain create carrying it is refused.
    let dup = sf
        .post(
            "sobjects/Lead/",
            json!({"LastName": "Other", "Company": "X", "Crmbot_Key__c": "A1-0"}),
        )
        .await;
    assert_eq!(
        (dup.status, dup.body[0]["errorCode"].as_str()),
        (400, Some("DUPLICATE_VALUE"))
    );
    assert_eq!(dup.body[0]["fields"], json!(["Crmbot_Key__c"]));
}

#[tokio::test]
async fn upserts_inside_a_composite_reference_each_other_and_repeat_harmlessly() {
    let sf = Sf::start().await;
    let request = json!({"allOrNone": true, "compositeRequest": [
        {"method": "PATCH", "url": format!("/services/data/{V}/sobjects/Account/Crmbot_Key__c/z9-0"),
         "referenceId": "r0", "body": {"Name": "Zeta Corp"}},
        {"method": "PATCH", "url": format!("/services/data/{V}/sobjects/Contact/Crmbot_Key__c/z9-1"),
         "referenceId": "r1", "body": {"LastName": "Zed", "AccountId": "@{r0.id}"}},
        {"method": "PATCH", "url": format!("/services/data/{V}/sobjects/Task/Crmbot_Key__c/z9-m"),
         "referenceId": "meeting", "body": {"Subject": "Meeting: Zeta", "WhoId": "@{r1.id}", "Status": "Completed"}}
    ]});
    let first = sf.post("composite", request.clone()).await;
    let statuses: Vec<_> = first.body["compositeResponse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["httpStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 201, 201], "{:?}", first.body);
    let second = sf.post("composite", request).await;
    let statuses: Vec<_> = second.body["compositeResponse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["httpStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200], "{:?}", second.body);
    let count = |object: &str, field: &str, value: &str| {
        sf.sandbox
            .records(object)
            .iter()
            .filter(|r| r[field] == value)
            .count()
    };
    assert_eq!(count("Account", "Name", "Zeta Corp"), 1);
    assert_eq!(count("Contact", "LastName", "Zed"), 1);
    assert_eq!(count("Task", "Subject", "Meeting: Zeta"), 1);
}

#[tokio::test]
async fn collection_upserts_say_created_and_refuse_a_key_given_twice() {
    let sf = Sf::start().await;
    let rows = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "Crmbot_Key__c": "c1-0", "LastName": "One", "Company": "A"},
        {"attributes": {"type": "Lead"}, "Crmbot_Key__c": "c1-1", "LastName": "Two", "Company": "B"}
    ]});
    let first = sf
        .patch("composite/sobjects/Lead/Crmbot_Key__c", rows.clone())
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body[0]["created"], true, "{:?}", first.body);
    assert_eq!(first.body[1]["created"], true);
    let again = sf
        .patch("composite/sobjects/Lead/Crmbot_Key__c", rows)
        .await;
    assert_eq!(again.body[0]["created"], false);
    assert_eq!(again.body[0]["id"], first.body[0]["id"]);

    let twice = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "Crmbot_Key__c": "c2-0", "LastName": "Three", "Company": "C"},
        {"attributes": {"type": "Lead"}, "Crmbot_Key__c": "C2-0", "LastName": "Four", "Company": "D"},
        {"attributes": {"type": "Lead"}, "Crmbot_Key__c": "c2-1", "LastName": "Five", "Company": "E"}
    ]});
    let r = sf
        .patch("composite/sobjects/Lead/Crmbot_Key__c", twice)
        .await;
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"], "DUPLICATE_EXTERNAL_ID",
        "{:?}",
        r.body
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "DUPLICATE_EXTERNAL_ID"
    );
    assert_eq!(
        r.body[2]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert!(
        !sf.sandbox
            .records("Lead")
            .iter()
            .any(|l| l["LastName"] == "Five")
    );
    let missing = sf
        .patch(
            "composite/sobjects/Lead/Nope__c",
            json!({"records": [{"attributes": {"type": "Lead"}, "Nope__c": "x"}]}),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn a_slow_commit_lands_after_the_client_gave_up_and_is_invisible_until_then() {
    let mut slow = options();
    slow.faults = Faults {
        commit_delay: Some(Duration::from_millis(600)),
        ..Faults::default()
    };
    let sf = Sf::start_with(slow).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let sent = impatient
        .post(sf.url("sobjects/Lead/"))
        .bearer_auth(&sf.token)
        .json(&json!({"LastName": "Late", "Company": "Slow Org"}))
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()));
    // Reads are not delayed, and do not see the write before it commits.
    let early = sf
        .query("SELECT Id FROM Lead WHERE LastName = 'Late'")
        .await;
    assert_eq!(early.body["totalSize"], 0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let late = sf
        .query("SELECT Id FROM Lead WHERE LastName = 'Late'")
        .await;
    assert_eq!(
        late.body["totalSize"], 1,
        "the write committed without its client"
    );
}

#[tokio::test]
async fn answers_lost_after_the_commit_still_leave_the_write_done() {
    let sf = Sf::start().await;
    let path = format!("/services/data/{V}/sobjects/Lead");
    sf.sandbox.set_faults(Faults {
        after_commit: vec![
            AfterCommit::new(&path, 1, LostAnswer::GatewayTimeout),
            AfterCommit::new(&path, 1, LostAnswer::EmptyOk),
        ],
        ..Faults::default()
    });
    let gateway = sf
        .post("sobjects/Lead/", json!({"LastName": "Gw", "Company": "A"}))
        .await;
    assert_eq!(gateway.status, 504);
    let empty = sf
        .post(
            "sobjects/Lead/",
            json!({"LastName": "Empty", "Company": "B"}),
        )
        .await;
    assert_eq!(
        (empty.status, empty.body.clone()),
        (200, serde_json::Value::Null)
    );
    let names: Vec<_> = sf
        .sandbox
        .records("Lead")
        .into_iter()
        .filter_map(|l| l["LastName"].as_str().map(str::to_string))
        .collect();
    assert!(names.contains(&"Gw".to_string()) && names.contains(&"Empty".to_string()));
}

#[tokio::test]
async fn the_date_header_is_the_orgs_clock() {
    let sf = Sf::start().await;
    let r = sf.get("limits").await;
    let date = r.header("date").unwrap();
    let parsed = chrono::DateTime::parse_from_rfc2822(&date).unwrap();
    assert_eq!(parsed.date_naive(), sandbox_support::today(), "{date}");
}
