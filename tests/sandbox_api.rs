//! The sandbox's REST surface over real HTTP: auth, versions, describe, record round trips,
//! upsert, and Salesforce's validation errors with their statuses and bodies.

mod sandbox_support;

use serde_json::{Value, json};

use sandbox_support::{Sf, V};

#[tokio::test]
async fn api_calls_without_a_valid_token_get_salesforce_401_shape() {
    let sf = Sf::start().await;
    let no_token =
        sandbox_support::read(sf.http.get(sf.url("sobjects")).send().await.unwrap()).await;
    let bad_token = sandbox_support::read(
        sf.http
            .get(sf.url("sobjects"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    for r in [no_token, bad_token] {
        assert_eq!(r.status, 401);
        assert_eq!(
            r.body,
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        );
    }
    assert_eq!(sf.sandbox.api_usage(), 0, "refused calls are not counted");
}

#[tokio::test]
async fn versions_need_no_auth_and_list_v62() {
    let sf = Sf::start().await;
    let r =
        sandbox_support::read(sf.http.get(sf.url("/services/data/")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    let v62 = list.iter().find(|v| v["version"] == "62.0").unwrap();
    assert_eq!(v62["url"], "/services/data/v62.0");
    assert_eq!(v62["label"], "Winter '25");
    assert_eq!(list.last().unwrap()["version"], "68.0");
}

#[tokio::test]
async fn describe_has_the_keys_and_values_clients_rely_on() {
    let sf = Sf::start().await;
    let r = sf.get("sobjects/Lead/describe").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["keyPrefix"], "00Q");
    let fields = r.body["fields"].as_array().unwrap();
    let field = |n: &str| fields.iter().find(|f| f["name"] == n).unwrap().clone();
    let status = field("Status");
    for key in [
        "name",
        "label",
        "type",
        "length",
        "createable",
        "updateable",
        "nillable",
        "defaultedOnCreate",
        "defaultValue",
        "restrictedPicklist",
        "dependentPicklist",
        "controllerName",
        "picklistValues",
        "referenceTo",
        "relationshipName",
        "externalId",
        "unique",
        "idLookup",
        "calculated",
        "autoNumber",
        "custom",
        "filterable",
        "sortable",
        "groupable",
        "nameField",
        "precision",
        "scale",
        "digits",
        "byteLength",
    ] {
        assert!(status.get(key).is_some(), "Status lacks {key}");
    }
    assert_eq!(status["restrictedPicklist"], true);
    assert_eq!(
        status["picklistValues"][0],
        json!({"active": true, "defaultValue": true,
        "label": "Open - Not Contacted", "validFor": null, "value": "Open - Not Contacted"})
    );
    let last = field("LastName");
    assert_eq!(
        (
            last["createable"].clone(),
            last["nillable"].clone(),
            last["defaultedOnCreate"].clone()
        ),
        (json!(true), json!(false), json!(false))
    );
    assert_eq!(
        field("Name")["createable"],
        false,
        "compound Name is read-only"
    );
    let owner = field("OwnerId");
    assert_eq!(
        (
            owner["referenceTo"].clone(),
            owner["relationshipName"].clone()
        ),
        (json!(["User"]), json!("Owner"))
    );

    let task = sf.get("sobjects/Task/describe").await;
    let who = task.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "WhoId")
        .unwrap()
        .clone();
    assert_eq!(who["referenceTo"], json!(["Contact", "Lead"]));
    assert_eq!(who["relationshipName"], "Who");
    let opp = sf.get("sobjects/Opportunity/describe").await;
    let stage = opp.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "StageName")
        .unwrap()
        .clone();
    assert_eq!(stage["picklistValues"].as_array().unwrap().len(), 10);
    let account = sf.get("sobjects/Account/describe").await;
    let kids: Vec<&str> = account.body["childRelationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["relationshipName"].as_str())
        .collect();
    assert!(
        kids.contains(&"Contacts") && kids.contains(&"Opportunities"),
        "{kids:?}"
    );

    let global = sf.get("sobjects").await;
    let names: Vec<&str> = global.body["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    for o in ["Lead", "Contact", "Account", "Opportunity", "Task", "User"] {
        assert!(names.contains(&o), "{o} missing from global describe");
    }
    // As Salesforce answers it: 404 NOT_FOUND, "The requested resource does not exist".
    let unknown = sf.get("sobjects/Foo/describe").await;
    assert_eq!((unknown.status, unknown.code()), (404, "NOT_FOUND"));
    assert_eq!(
        unknown.body[0]["message"],
        "The requested resource does not exist"
    );
    // A malformed id literal is refused, not answered with no rows.
    let bad_id = sf.query("SELECT Id FROM Lead WHERE Id = 'not-an-id'").await;
    assert_eq!(
        (bad_id.status, bad_id.code()),
        (400, "INVALID_QUERY_FILTER_OPERATOR")
    );
    assert_eq!(bad_id.body[0]["message"], "invalid ID field: not-an-id");
    let later = sf
        .call_with(
            "GET",
            "sobjects/Lead/describe",
            None,
            &[("If-Modified-Since", "Fri, 1 Jan 2100 00:00:00 GMT")],
        )
        .await;
    assert_eq!((later.status, later.body.clone()), (304, Value::Null));
}

#[tokio::test]
async fn create_get_patch_delete_round_trip_with_salesforce_statuses() {
    let sf = Sf::start().await;
    let created = sf.post("sobjects/Lead/", json!({"FirstName": "Ada", "LastName": "Byron", "Company": "Engines Ltd", "Email": "ada@engines.example"})).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.body,
        json!({"id": id, "success": true, "errors": []})
    );
    assert!(id.starts_with("00Q") && id.len() == 18);
    assert_eq!(
        created.header("location").unwrap(),
        format!("/services/data/{V}/sobjects/Lead/{id}")
    );

    let got = sf.get(&format!("sobjects/Lead/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["attributes"],
        json!({"type": "Lead", "url": format!("/services/data/{V}/sobjects/Lead/{id}")})
    );
    assert_eq!(got.body["Name"], "Ada Byron");
    assert_eq!(
        got.body["Status"], "Open - Not Contacted",
        "picklist default applied"
    );
    assert_eq!(got.body["OwnerId"], sf.sandbox.api_user_id().as_str());
    let some = sf
        .get(&format!("sobjects/Lead/{id}?fields=Email,Company"))
        .await;
    assert_eq!(some.body["Email"], "ada@engines.example");
    assert!(
        some.body.get("Status").is_none(),
        "only the asked fields: {:?}",
        some.body
    );
    let fifteen = sf.get(&format!("sobjects/Lead/{}", &id[..15])).await;
    assert_eq!(
        fifteen.body["Id"],
        id.as_str(),
        "15-character ids are accepted"
    );

    let patched = sf
        .patch(
            &format!("sobjects/Lead/{id}"),
            json!({"Company": "Analytical Engines"}),
        )
        .await;
    assert_eq!((patched.status, patched.body.clone()), (204, Value::Null));
    assert_eq!(
        sf.get(&format!("sobjects/Lead/{id}")).await.body["Company"],
        "Analytical Engines"
    );

    let deleted = sf
        .call("DELETE", &format!("sobjects/Lead/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    let again = sf
        .call("DELETE", &format!("sobjects/Lead/{id}"), None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.body,
        json!([{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}])
    );
    let gone = sf.get(&format!("sobjects/Lead/{id}")).await;
    assert_eq!((gone.status, gone.code()), (404, "ENTITY_IS_DELETED"));
    let never = sf.get("sobjects/Lead/00QSb0000000000MAA").await;
    assert_eq!(never.status, 404);
    assert_eq!(
        never.body,
        json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    );
}

#[tokio::test]
async fn each_validation_error_has_salesforce_status_code_and_fields() {
    let sf = Sf::start().await;
    let apex = sf.sandbox.seed_id("apex").unwrap();
    let cases: Vec<(&str, Value, &str, Option<Value>)> = vec![
        (
            "Lead",
            json!({"LastName": "Reed"}),
            "REQUIRED_FIELD_MISSING",
            Some(json!(["Company"])),
        ),
        (
            "Opportunity",
            json!({"Name": "x"}),
            "REQUIRED_FIELD_MISSING",
            Some(json!(["StageName", "CloseDate"])),
        ),
        (
            "Lead",
            json!({"LastName": "Reed", "Company": "A", "Budget__c": 5}),
            "INVALID_FIELD",
            None,
        ),
        (
            "Lead",
            json!({"Id": "00QSb0000000000MAA", "LastName": "Reed", "Company": "A"}),
            "INVALID_FIELD",
            None,
        ),
        (
            "Opportunity",
            json!({"Name": "x", "StageName": "Won-ish", "CloseDate": "2026-12-01"}),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            Some(json!(["StageName"])),
        ),
        (
            "Lead",
            json!({"LastName": "R".repeat(81), "Company": "A"}),
            "STRING_TOO_LONG",
            Some(json!(["LastName"])),
        ),
        (
            "Contact",
            json!({"LastName": "Reed", "AccountId": "not-an-id"}),
            "MALFORMED_ID",
            Some(json!(["AccountId"])),
        ),
        (
            "Contact",
            json!({"LastName": "Reed", "AccountId": sf.sandbox.seed_id("dana").unwrap()}),
            "MALFORMED_ID",
            Some(json!(["AccountId"])),
        ),
        (
            "Opportunity",
            json!({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01", "IsWon": true}),
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            Some(json!(["IsWon"])),
        ),
        (
            "Contact",
            json!({"LastName": "Reed", "Email": "not an email"}),
            "INVALID_EMAIL_ADDRESS",
            Some(json!(["Email"])),
        ),
        ("Nope__c", json!({"Name": "x"}), "INVALID_TYPE", None),
    ];
    for (object, body, code, fields) in cases {
        let r = sf.post(&format!("sobjects/{object}/"), body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, code),
            "{object} {body}: {:?}",
            r.body
        );
        assert!(r.body[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(f) = fields {
            assert_eq!(r.body[0]["fields"], f, "{code}");
        }
    }
    let missing = sf.post("sobjects/Lead/", json!({"LastName": "Reed"})).await;
    assert_eq!(
        missing.body[0]["message"],
        "Required fields are missing: [Company]"
    );
    let id_given = sf
        .post(
            "sobjects/Lead/",
            json!({"Id": "00QSb0000000000MAA", "LastName": "R", "Company": "A"}),
        )
        .await;
    assert_eq!(
        id_given.body[0]["message"],
        "The Id field should not be specified in the sobject data."
    );
    let wrong_object = sf.get(&format!("sobjects/Contact/{apex}")).await;
    assert_eq!(
        (wrong_object.status, wrong_object.code()),
        (400, "MALFORMED_ID")
    );
    assert_eq!(
        sf.sandbox.records("Lead").len(),
        3,
        "no failed create stored a Lead"
    );
}

#[tokio::test]
async fn opportunity_stage_drives_is_closed_and_is_won() {
    let sf = Sf::start().await;
    let id = sf.create("Opportunity", json!({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-01", "Amount": 5000})).await;
    let open = sf.get(&format!("sobjects/Opportunity/{id}")).await.body;
    assert_eq!(
        (
            open["IsClosed"].clone(),
            open["IsWon"].clone(),
            open["Probability"].clone()
        ),
        (json!(false), json!(false), json!(10.0))
    );
    sf.patch(
        &format!("sobjects/Opportunity/{id}"),
        json!({"StageName": "Closed Won"}),
    )
    .await;
    let won = sf.get(&format!("sobjects/Opportunity/{id}")).await.body;
    assert_eq!(
        (won["IsClosed"].clone(), won["IsWon"].clone()),
        (json!(true), json!(true))
    );
}

#[tokio::test]
async fn duplicate_email_is_refused_unless_allow_save_is_sent() {
    let sf = Sf::start().await;
    let alex = sf.sandbox.seed_id("alex_kim").unwrap();
    let body = json!({"LastName": "Kim", "Company": "Apex Corp", "Email": "ALEX.KIM@apex.example"});
    let refused = sf.post("sobjects/Lead/", body.clone()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "DUPLICATES_DETECTED")
    );
    let dup = &refused.body[0]["duplicateResut"];
    assert_eq!(dup["allowSave"], true);
    assert_eq!(dup["duplicateRule"], "Standard_Lead_Duplicate_Rule");
    assert_eq!(dup["matchResults"][0]["entityType"], "Contact");
    assert_eq!(
        dup["matchResults"][0]["matchRecords"][0]["record"]["Id"],
        alex.as_str()
    );
    let leads_before = sf.sandbox.records("Lead").len();

    let saved = sf
        .call_with(
            "POST",
            "sobjects/Lead/",
            Some(body),
            &[("Sforce-Duplicate-Rule-Header", "allowSave=true")],
        )
        .await;
    assert_eq!(saved.status, 201, "{:?}", saved.body);
    assert_eq!(sf.sandbox.records("Lead").len(), leads_before + 1);
}

#[tokio::test]
async fn upsert_by_external_id_creates_updates_and_refuses_ambiguity() {
    let mut options = sandbox_support::options();
    options.extra_schema_json = Some(json!({"objects": [{"name": "Account", "fields": [
        {"name": "Crmbot_Key__c", "type": "string", "length": 64, "externalId": true}]}]}));
    let sf = Sf::start_with(options).await;
    let created = sf
        .patch(
            "sobjects/Account/Crmbot_Key__c/K-1",
            json!({"Name": "Keyed"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["created"], true);
    let id = created.body["id"].as_str().unwrap().to_string();
    let updated = sf
        .patch(
            "sobjects/Account/Crmbot_Key__c/K-1",
            json!({"Name": "Keyed 2"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        updated.body,
        json!({"id": id, "success": true, "errors": [], "created": false})
    );
    assert_eq!(
        sf.get(&format!("sobjects/Account/{id}")).await.body["Name"],
        "Keyed 2"
    );

    sf.create(
        "Account",
        json!({"Name": "Twin A", "Crmbot_Key__c": "TWIN"}),
    )
    .await;
    sf.create(
        "Account",
        json!({"Name": "Twin B", "Crmbot_Key__c": "twin"}),
    )
    .await;
    let accounts = sf.sandbox.records("Account").len();
    let several = sf
        .patch(
            "sobjects/Account/Crmbot_Key__c/TWIN",
            json!({"Name": "Which?"}),
        )
        .await;
    assert_eq!(several.status, 300);
    assert_eq!(several.body.as_array().unwrap().len(), 2);
    assert_eq!(sf.sandbox.records("Account").len(), accounts);
    let bad_field = sf
        .patch("sobjects/Account/Name/Globex", json!({"Website": "x"}))
        .await;
    assert_eq!((bad_field.status, bad_field.code()), (404, "NOT_FOUND"));
    let update_only = sf
        .patch(
            "sobjects/Account/Crmbot_Key__c/K-404?updateOnly=true",
            json!({"Name": "n"}),
        )
        .await;
    assert_eq!(update_only.status, 404);
}
