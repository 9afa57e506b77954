//! The Salesforce client against the local sandbox over real HTTP: the same code that talks to
//! production, end to end — describe, queries with paging, every write path, Salesforce's
//! errors decoded, and the sandbox's faults seen as a client sees them.

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crmbot::config::SalesforceSettings;
use crmbot::salesforce::{
    CompositeRequest, CompositeSubrequest, SalesforceClient, SalesforceError,
};
use crmbot::sandbox::{self, DEFAULT_TOKEN, FailNext, Faults, RunningSandbox, SandboxOptions};

async fn start(options: SandboxOptions) -> (RunningSandbox, SalesforceClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = sandbox::start(listener, options).await.unwrap();
    let client = SalesforceClient::new(&SalesforceSettings {
        instance_url: Some(sandbox.base_url().parse().unwrap()),
        access_token: Some(SecretString::from(DEFAULT_TOKEN)),
        max_retries: 2,
        ..SalesforceSettings::default()
    })
    .unwrap();
    (sandbox, client)
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn describe_create_query_update_round_trip() {
    let (sandbox, client) = start(SandboxOptions::default()).await;
    let lead = client.describe("Lead").await.unwrap();
    assert_eq!(lead.key_prefix.as_deref(), Some("00Q"));
    let status = lead.fields.iter().find(|f| f.name == "Status").unwrap();
    assert_eq!(status.field_type, "picklist");
    assert!(
        status
            .picklist_values
            .iter()
            .any(|p| p.value == "Open - Not Contacted")
    );

    let saved = client
        .create("Lead", &fields(json!({"LastName": "O'Brien", "Company": "O'Reilly & Sons Ltd", "Email": "sean@oreilly.example"})))
        .await
        .unwrap();
    let id = saved.id.unwrap();
    assert!(id.starts_with("00Q") && id.len() == 18, "{id}");

    let found = client
        .query(r"SELECT Id, Company FROM Lead WHERE LastName = 'O\'Brien'")
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(found.records[0]["Company"], "O'Reilly & Sons Ltd");
    assert!(!found.records[0].contains_key("attributes"));

    client
        .update("Lead", &id, &fields(json!({"Title": "CTO"})))
        .await
        .unwrap();
    let stored = sandbox.records("Lead");
    let row = stored.iter().find(|r| r["Id"] == id.as_str()).unwrap();
    assert_eq!(row["Title"], "CTO");
}

#[tokio::test]
async fn a_query_pages_through_next_records_url_one_request_per_page() {
    let (sandbox, client) = start(SandboxOptions {
        page_size: 2,
        ..SandboxOptions::default()
    })
    .await;
    sandbox.reset_requests();
    let result = client
        .query("SELECT Id, Name FROM Account ORDER BY Name")
        .await
        .unwrap();
    let names: Vec<&str> = result
        .records
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Apex Corp",
            "Globex",
            "Initech",
            "Northstar Labs",
            "O'Reilly & Sons Ltd"
        ]
    );
    assert_eq!(sandbox.request_count(), 3, "5 rows at 2 a page");
}

#[tokio::test]
async fn salesforce_errors_arrive_decoded() {
    let (_sandbox, client) = start(SandboxOptions::default()).await;
    let missing = client
        .create("Lead", &fields(json!({"LastName": "Reed"})))
        .await
        .unwrap_err();
    assert_eq!(missing.codes(), ["REQUIRED_FIELD_MISSING"]);
    assert!(missing.to_string().contains("Company"), "{missing}");

    let picklist = client
        .create(
            "Lead",
            &fields(json!({"LastName": "Reed", "Company": "Apex", "Status": "Hot"})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        picklist.codes(),
        ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    );

    client
        .create(
            "Lead",
            &fields(json!({"LastName": "Reed", "Company": "Apex", "Email": "dupe@apex.example"})),
        )
        .await
        .unwrap();
    match client
        .create(
            "Contact",
            &fields(json!({"LastName": "Reed", "Email": "DUPE@apex.example"})),
        )
        .await
    {
        Err(SalesforceError::Rejected { errors, .. }) => {
            assert_eq!(errors[0].code, "DUPLICATES_DETECTED");
            assert_eq!(errors[0].duplicates.len(), 1, "the matching Lead's id");
        }
        other => panic!("expected a duplicate rejection, got {other:?}"),
    }

    let malformed = client
        .query("SELECT Id FROM Lead GROUP BY Id")
        .await
        .unwrap_err();
    assert_eq!(malformed.codes(), ["MALFORMED_QUERY"]);
    assert!(
        client
            .describe("NoSuchThing__c")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn a_composite_writes_everything_or_nothing_in_one_request() {
    let (sandbox, client) = start(SandboxOptions::default()).await;
    let composite = |contact_last_name: Option<&str>| CompositeRequest {
        all_or_none: true,
        collate_subrequests: false,
        subrequests: vec![
            CompositeSubrequest {
                method: "POST".into(),
                url: client.sobject_url("Account"),
                reference_id: "acct".into(),
                body: Some(json!({"Name": "Hispania Datos S.L."})),
            },
            CompositeSubrequest {
                method: "POST".into(),
                url: client.sobject_url("Contact"),
                reference_id: "person".into(),
                body: Some(json!({"LastName": contact_last_name, "AccountId": "@{acct.id}"})),
            },
        ],
    };
    sandbox.reset_requests();
    let failed = client.composite(&composite(None)).await.unwrap();
    assert_eq!(failed.responses[1].http_status_code, 400);
    assert!(
        sandbox
            .records("Account")
            .iter()
            .all(|a| a["Name"] != "Hispania Datos S.L."),
        "rolled back"
    );

    let ok = client
        .composite(&composite(Some("Fernández")))
        .await
        .unwrap();
    let account_id = ok.responses[0].body["id"].as_str().unwrap().to_string();
    let contact = sandbox
        .records("Contact")
        .into_iter()
        .find(|c| c["LastName"] == "Fernández")
        .unwrap();
    assert_eq!(contact["AccountId"], account_id.as_str());
    assert_eq!(sandbox.request_count(), 2, "one request per composite");
}

#[tokio::test]
async fn collections_and_upsert_by_external_id() {
    let options = SandboxOptions {
        extra_schema_json: Some(json!({"objects": [{"name": "Account", "fields": [
            {"name": "Crmbot_Key__c", "type": "string", "length": 64, "externalId": true}]}]})),
        ..SandboxOptions::default()
    };
    let (_sandbox, client) = start(options).await;
    let saved = client
        .collections_create(
            &[
                (
                    "Lead".into(),
                    fields(json!({"LastName": "Chen", "Company": "Northstar Labs"})),
                ),
                (
                    "Lead".into(),
                    fields(json!({"LastName": "Liu", "Company": "Globex"})),
                ),
            ],
            true,
        )
        .await
        .unwrap();
    assert!(saved.iter().all(|s| s.success), "{saved:?}");
    let ids: Vec<String> = saved.iter().map(|s| s.id.clone().unwrap()).collect();
    let updated = client
        .collections_update(
            &[(
                "Lead".into(),
                ids[0].clone(),
                fields(json!({"Title": "CTO"})),
            )],
            true,
        )
        .await
        .unwrap();
    assert!(updated[0].success);

    let body = fields(json!({"Name": "Keyed Corp"}));
    let first = client
        .upsert("Account", "Crmbot_Key__c", "key one/1", &body)
        .await
        .unwrap();
    let second = client
        .upsert("Account", "Crmbot_Key__c", "key one/1", &body)
        .await
        .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
}

#[tokio::test]
async fn outages_limits_and_expired_sessions_look_like_salesforce_to_the_client() {
    let (sandbox, client) = start(SandboxOptions::default()).await;
    sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new("/services/data/v62.0/query", 1, 503)],
        ..Faults::default()
    });
    sandbox.reset_requests();
    client.query("SELECT Id FROM Account").await.unwrap();
    assert_eq!(
        sandbox.request_count(),
        2,
        "the read was retried once after the 503"
    );

    sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new("/services/data/v62.0/sobjects/Lead", 1, 503)],
        ..Faults::default()
    });
    sandbox.reset_requests();
    let err = client
        .create(
            "Lead",
            &fields(json!({"LastName": "Reed", "Company": "Apex"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SalesforceError::Unavailable { status: 503 }),
        "{err:?}"
    );
    assert_eq!(
        sandbox.request_count(),
        1,
        "a write is never retried blindly"
    );

    sandbox.set_faults(Faults {
        limit_after: Some(0),
        ..Faults::default()
    });
    let limited = client.query("SELECT Id FROM Account").await.unwrap_err();
    assert!(
        matches!(limited, SalesforceError::LimitExceeded { .. }),
        "{limited:?}"
    );

    let stranger = SalesforceClient::new(&SalesforceSettings {
        instance_url: Some(sandbox.base_url().parse().unwrap()),
        access_token: Some(SecretString::from("wrong-token")),
        ..SalesforceSettings::default()
    })
    .unwrap();
    sandbox.set_faults(Faults::default());
    let denied = stranger.query("SELECT Id FROM Account").await.unwrap_err();
    assert!(
        matches!(denied, SalesforceError::Unauthorized { .. }),
        "{denied:?}"
    );
    assert!(!denied.to_string().contains("wrong-token"));
    let usage = client.stats().api_usage.unwrap();
    assert!(usage.used > 0 && usage.max == 15_000, "{usage:?}");
}
