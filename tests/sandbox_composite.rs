//! Composite, tree and collections over real HTTP: references between subrequests, allOrNone
//! rollback (nothing stored after a failure), limits on sizes, and that each counts as one
//! API call in `Sforce-Limit-Info`.

mod sandbox_support;

use serde_json::{Value, json};

use sandbox_support::{Sf, V};

fn sub(method: &str, url: &str, reference: &str, body: Option<Value>) -> Value {
    let mut s = json!({"method": method, "url": format!("/services/data/{V}/{url}"), "referenceId": reference});
    if let Some(b) = body {
        s["body"] = b;
    }
    s
}

#[tokio::test]
async fn composite_resolves_references_and_counts_as_one_call() {
    let sf = Sf::start().await;
    let r = sf.post("composite", json!({"allOrNone": true, "compositeRequest": [
        sub("POST", "sobjects/Account", "acct", Some(json!({"Name": "Acme Rockets"}))),
        sub("POST", "sobjects/Contact", "con", Some(json!({"LastName": "Coyote", "AccountId": "@{acct.id}"}))),
        sub("GET", "sobjects/Contact/@{con.id}?fields=AccountId", "read", None),
        sub("POST", "sobjects/Task", "task", Some(json!({"Subject": "Call", "WhoId": "@{read.Id}", "WhatId": "@{acct.id}"}))),
    ]})).await;
    assert_eq!(r.status, 200);
    let results = r.body["compositeResponse"].as_array().unwrap();
    let statuses: Vec<_> = results
        .iter()
        .map(|x| x["httpStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 201, 200, 201], "{:#}", r.body);
    let account = results[0]["body"]["id"].as_str().unwrap();
    assert_eq!(results[2]["body"]["AccountId"], account);
    assert_eq!(
        results[0]["httpHeaders"]["Location"],
        format!("/services/data/{V}/sobjects/Account/{account}")
    );
    let task = sf
        .get(&format!(
            "sobjects/Task/{}",
            results[3]["body"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        task.body["AccountId"], account,
        "Task.AccountId derived from WhatId"
    );
    assert_eq!(r.header("sforce-limit-info").unwrap(), "api-usage=1/15000");
}

#[tokio::test]
async fn composite_all_or_none_failure_rolls_everything_back() {
    let sf = Sf::start().await;
    let accounts = sf.sandbox.records("Account").len();
    let r = sf.post("composite", json!({"allOrNone": true, "compositeRequest": [
        sub("POST", "sobjects/Account", "acct", Some(json!({"Name": "Rolled Back Inc"}))),
        sub("POST", "sobjects/Contact", "con", Some(json!({"FirstName": "No", "AccountId": "@{acct.id}"}))),
        sub("POST", "sobjects/Task", "task", Some(json!({"Subject": "Never", "WhoId": "@{con.id}"}))),
    ]})).await;
    assert_eq!(r.status, 200);
    let results = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(results[1]["httpStatusCode"], 400);
    assert_eq!(results[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    for i in [0, 2] {
        assert_eq!(results[i]["httpStatusCode"], 400);
        assert_eq!(results[i]["body"][0]["errorCode"], "PROCESSING_HALTED");
    }
    assert_eq!(
        sf.sandbox.records("Account").len(),
        accounts,
        "the Account was rolled back"
    );
    assert!(
        sf.sandbox
            .records("Task")
            .iter()
            .all(|t| t["Subject"] != "Never")
    );
}

#[tokio::test]
async fn composite_without_all_or_none_keeps_independent_work_and_skips_dependents() {
    let sf = Sf::start().await;
    let r = sf.post("composite", json!({"allOrNone": false, "compositeRequest": [
        sub("POST", "sobjects/Contact", "bad", Some(json!({"FirstName": "NoLast"}))),
        sub("POST", "sobjects/Task", "dependent", Some(json!({"Subject": "x", "WhoId": "@{bad.id}"}))),
        sub("POST", "sobjects/Account", "fine", Some(json!({"Name": "Independent Ltd"}))),
    ]})).await;
    let results = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(results[0]["httpStatusCode"], 400);
    assert_eq!(results[1]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(results[2]["httpStatusCode"], 201);
    assert!(
        sf.sandbox
            .records("Account")
            .iter()
            .any(|a| a["Name"] == "Independent Ltd")
    );
}

#[tokio::test]
async fn composite_refuses_more_than_25_subrequests_and_bad_reference_ids() {
    let sf = Sf::start().await;
    let many: Vec<Value> = (0..26)
        .map(|i| sub("GET", "limits", &format!("r{i}"), None))
        .collect();
    let r = sf
        .post("composite", json!({"compositeRequest": many}))
        .await;
    assert_eq!(r.status, 400);
    let bad = sf
        .post(
            "composite",
            json!({"compositeRequest": [sub("GET", "limits", "bad-ref", None)]}),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn tree_inserts_nested_children_or_nothing() {
    let sf = Sf::start().await;
    let ok = sf.post("composite/tree/Account", json!({"records": [{
        "attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree Co", "Industry": "Banking",
        "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Smith", "Title": "President"}]}
    }]})).await;
    assert_eq!(ok.status, 201, "{:#}", ok.body);
    assert_eq!(ok.body["hasErrors"], false);
    let account = ok.body["results"][0]["id"].as_str().unwrap();
    let contact = ok.body["results"][1]["id"].as_str().unwrap();
    assert_eq!(ok.body["results"][1]["referenceId"], "ref2");
    assert_eq!(
        sf.get(&format!("sobjects/Contact/{contact}")).await.body["AccountId"],
        account
    );

    let accounts = sf.sandbox.records("Account").len();
    let failed = sf.post("composite/tree/Account", json!({"records": [{
        "attributes": {"type": "Account", "referenceId": "a1"}, "Name": "Half Tree",
        "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "c1"}, "Email": "123"}]}
    }]})).await;
    assert_eq!(failed.status, 400);
    assert_eq!(failed.body["hasErrors"], true);
    assert_eq!(failed.body["results"][0]["referenceId"], "c1");
    assert!(failed.body["results"][0]["errors"][0]["statusCode"].is_string());
    assert_eq!(
        sf.sandbox.records("Account").len(),
        accounts,
        "the parent was not kept"
    );
}

#[tokio::test]
async fn collections_create_with_all_or_none_rolls_back_valid_rows() {
    let sf = Sf::start().await;
    let leads = sf.sandbox.records("Lead").len();
    let r = sf
        .post(
            "composite/sobjects",
            json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Lead"}, "LastName": "Good", "Company": "Fine"},
                {"attributes": {"type": "Lead"}, "LastName": "Bad"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["success"], false);
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert_eq!(r.body[1]["errors"][0]["fields"], json!(["Company"]));
    assert_eq!(sf.sandbox.records("Lead").len(), leads);

    let partial = sf
        .post(
            "composite/sobjects",
            json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Lead"}, "LastName": "Good", "Company": "Fine"},
                {"attributes": {"type": "Lead"}, "LastName": "Bad"},
            ]}),
        )
        .await;
    assert_eq!(partial.body[0]["success"], true);
    let id = partial.body[0]["id"].as_str().unwrap();
    assert_eq!(sf.sandbox.records("Lead").len(), leads + 1);

    let updated = sf
        .patch(
            "composite/sobjects",
            json!({"records": [
        {"attributes": {"type": "Lead"}, "id": id, "Company": "Finer"}]}),
        )
        .await;
    assert_eq!(
        updated.body[0],
        json!({"id": id, "success": true, "errors": []})
    );
    let rows: Vec<Value> = (0..201)
        .map(|_| json!({"attributes": {"type": "Lead"}, "LastName": "x", "Company": "y"}))
        .collect();
    let too_many = sf
        .post("composite/sobjects", json!({"records": rows}))
        .await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (400, "EXCEEDED_ID_LIMIT")
    );
}

#[tokio::test]
async fn limit_info_counts_each_call_and_limits_endpoint_agrees() {
    let sf = Sf::start().await;
    sf.get("sobjects").await;
    sf.post("composite", json!({"compositeRequest": [sub("GET", "limits", "a", None), sub("GET", "limits", "b", None)]})).await;
    let r = sf.get("limits").await;
    assert_eq!(r.header("sforce-limit-info").unwrap(), "api-usage=3/15000");
    assert_eq!(
        r.body["DailyApiRequests"],
        json!({"Max": 15000, "Remaining": 15000 - 3}),
        "this call included"
    );
    assert_eq!(sf.sandbox.api_usage(), 3);
}

#[tokio::test]
async fn composite_deletes_as_salesforce_does_and_rolls_a_delete_back() {
    let sf = Sf::start().await;
    let made = sf
        .post("composite", json!({"allOrNone": true, "compositeRequest": [
            sub("POST", "sobjects/Lead", "a", Some(json!({"LastName": "Gone", "Company": "Delete Co"}))),
            sub("POST", "sobjects/Lead", "b", Some(json!({"LastName": "Kept", "Company": "Delete Co"}))),
        ]}))
        .await;
    let ids: Vec<String> = made.body["compositeResponse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"]["id"].as_str().unwrap().to_string())
        .collect();
    // A delete answers 204 with no body, and a PATCH in the same request applies too.
    let r = sf
        .post("composite", json!({"allOrNone": true, "compositeRequest": [
            sub("DELETE", &format!("sobjects/Lead/{}", ids[0]), "del", None),
            sub("PATCH", &format!("sobjects/Lead/{}", ids[1]), "upd", Some(json!({"Company": "Kept Co"}))),
        ]}))
        .await;
    assert_eq!(r.status, 200);
    let results = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(results[0]["httpStatusCode"], 204, "{:#}", r.body);
    assert!(results[0]["body"].is_null(), "{:#}", r.body);
    assert_eq!(
        sf.get(&format!("sobjects/Lead/{}", ids[0])).await.status,
        404
    );
    assert_eq!(
        sf.get(&format!("sobjects/Lead/{}", ids[1])).await.body["Company"],
        "Kept Co"
    );
    // Deleting it again is ENTITY_IS_DELETED; all or none, so the other delete is undone.
    let r = sf
        .post(
            "composite",
            json!({"allOrNone": true, "compositeRequest": [
                sub("DELETE", &format!("sobjects/Lead/{}", ids[1]), "kept", None),
                sub("DELETE", &format!("sobjects/Lead/{}", ids[0]), "again", None),
            ]}),
        )
        .await;
    let results = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(results[1]["httpStatusCode"], 404, "{:#}", r.body);
    assert_eq!(results[1]["body"][0]["errorCode"], "ENTITY_IS_DELETED");
    assert_eq!(
        sf.get(&format!("sobjects/Lead/{}", ids[1])).await.status,
        200,
        "rolled back: the first delete did not stand"
    );
}
