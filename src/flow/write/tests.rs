use serde_json::{Value, json};

use super::*;
use crate::config::SalesforceSettings;
use crate::domain::draft::{Issue, IssueKind};
use crate::flow::action::Find;
use crate::flow::proposal::ProposedRecord;
use crate::flow::testing::{action, field, link, record};
use crate::salesforce::CompositeSubresponse;

fn client() -> SalesforceClient {
    let settings = SalesforceSettings {
        instance_url: Some("https://acme.my.salesforce.com".parse().unwrap()),
        access_token: Some(secrecy::SecretString::from("token")),
        ..SalesforceSettings::default()
    };
    SalesforceClient::new(&settings).unwrap()
}

#[test]
fn parents_are_written_first_and_children_reference_them() {
    let mut contact = record(
        "Contact",
        "create",
        vec![field("LastName", json!("Natarajan"))],
    );
    contact
        .links
        .push(link("AccountId", "Account", "in_draft", None, Some(1)));
    let account = record("Account", "create", vec![field("Name", json!("Globex"))]);
    let plan = plan_write(
        &action(vec![contact, account], false),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    let refs: Vec<&str> = plan
        .request
        .subrequests
        .iter()
        .map(|s| s.reference_id.as_str())
        .collect();
    assert_eq!(refs, ["r1", "r0"]);
    assert!(plan.request.all_or_none);
    let body = plan.request.subrequests[1].body.as_ref().unwrap();
    assert_eq!(body["AccountId"], "@{r1.id}");
    assert_eq!(
        plan.request.subrequests[1].url,
        "/services/data/v62.0/sobjects/Contact"
    );
}

#[test]
fn the_meeting_task_links_the_person_and_the_deal_and_says_where_it_came_from() {
    let contact = record(
        "Contact",
        "create",
        vec![field("LastName", json!("Natarajan"))],
    );
    let mut opp = record(
        "Opportunity",
        "update",
        vec![field("StageName", json!("Closed Won"))],
    );
    opp.id = Some("006000000000001AAA".into());
    let plan = plan_write(
        &action(vec![contact, opp], true),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    let task = plan.request.subrequests.last().unwrap();
    assert_eq!(task.reference_id, "meeting");
    let body = task.body.as_ref().unwrap();
    assert_eq!(body["WhoId"], "@{r0.id}");
    assert_eq!(body["WhatId"], "006000000000001AAA");
    assert_eq!(body["Status"], "Completed");
    assert_eq!(body["ActivityDate"], "2026-11-25");
    let subject = body["Subject"].as_str().unwrap();
    assert!(!subject.contains("crmbot"), "no internal marker: {subject}");
    let description = body["Description"].as_str().unwrap();
    assert!(
        description.ends_with("Logged from Slack by crmbot (draft abc123def456)."),
        "{description}"
    );
    assert!(
        subject.starts_with("Meeting: Met Priya at Globex"),
        "{subject}"
    );
    assert!(subject.chars().count() <= 255);
    assert_eq!(plan.request.subrequests[1].method, "PATCH");
    assert!(
        plan.request.subrequests[1]
            .url
            .ends_with("/Opportunity/006000000000001AAA")
    );
}

#[test]
fn a_task_about_a_lead_has_no_what() {
    let lead = record("Lead", "create", vec![field("LastName", json!("Reed"))]);
    let opp = record("Opportunity", "create", vec![field("Name", json!("Deal"))]);
    let plan = plan_write(
        &action(vec![lead, opp], true),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    let body = plan
        .request
        .subrequests
        .last()
        .unwrap()
        .body
        .clone()
        .unwrap();
    assert_eq!(body["WhoId"], "@{r0.id}");
    assert!(body.get("WhatId").is_none());
}

#[test]
fn held_back_and_unchanged_values_are_not_sent() {
    let mut held = field("Phone", json!("555"));
    held.include = false;
    let mut same = field("Company", json!("Apex"));
    same.changed = false;
    let mut lead = record(
        "Lead",
        "update",
        vec![held, same, field("Title", json!("CTO"))],
    );
    lead.id = Some("00Q000000000001AAA".into());
    let plan = plan_write(
        &action(vec![lead.clone()], false),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    assert_eq!(
        plan.request.subrequests[0].body,
        Some(json!({"Title": "CTO"}))
    );

    lead.fields.retain(|f| f.name != "Title");
    let err = plan_write(&action(vec![lead], false), &client(), &OrgFacts::default()).unwrap_err();
    assert!(err[0].contains("Nothing to write"), "{err:?}");
}

#[test]
fn undecided_or_blocked_records_cannot_be_written() {
    let amb = record(
        "Contact",
        "ambiguous",
        vec![field("LastName", json!("Lee"))],
    );
    let mut blocked = record("Lead", "create", vec![]);
    blocked.issues.push(Issue::blocking(
        IssueKind::MissingRequired,
        Some("LastName"),
        "Last Name is required to create a Lead",
    ));
    let mut linked = record("Contact", "create", vec![field("LastName", json!("Kim"))]);
    linked
        .links
        .push(link("AccountId", "Account", "ambiguous", None, None));
    let err = plan_write(
        &action(vec![amb, blocked, linked], true),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap_err();
    let all = err.join("\n");
    assert!(all.contains("several existing records match"), "{all}");
    assert!(all.contains("Last Name is required"), "{all}");
    assert!(all.contains("several Account records"), "{all}");
}

#[test]
fn a_large_draft_is_still_one_request_through_collections() {
    let mut records: Vec<ProposedRecord> = vec![record(
        "Account",
        "create",
        vec![field("Name", json!("Globex"))],
    )];
    for i in 0..60 {
        let mut c = record(
            "Contact",
            "create",
            vec![field("LastName", json!(format!("C{i}")))],
        );
        c.links
            .push(link("AccountId", "Account", "in_draft", None, Some(0)));
        records.push(c);
    }
    let plan = plan_write(&action(records, true), &client(), &OrgFacts::default()).unwrap();
    let subs = &plan.request.subrequests;
    assert!(plan.request.all_or_none);
    assert_eq!(subs.len(), 3, "accounts, contacts, the meeting task");
    assert_eq!(subs[0].url, "/services/data/v62.0/composite/sobjects");
    assert_eq!(subs[0].reference_id, "c0_0");
    let contacts = subs[1].body.as_ref().unwrap();
    assert_eq!(contacts["allOrNone"], true);
    assert_eq!(contacts["records"].as_array().unwrap().len(), 60);
    assert_eq!(contacts["records"][0]["AccountId"], "@{c0_0[0].id}");
    assert_eq!(contacts["records"][0]["attributes"]["type"], "Contact");
    let task = subs[2].body.as_ref().unwrap();
    assert_eq!(task["WhoId"], "@{c1_0[0].id}");
    assert_eq!(task["WhatId"], "@{c0_0[0].id}");
    assert_eq!(plan.steps.len(), 62);

    // Reading the answer: rows of the collections, then the task.
    let response = CompositeResponse {
        responses: vec![
            CompositeSubresponse {
                reference_id: "c0_0".into(),
                http_status_code: 200,
                body: json!([{"id": "001A", "success": true, "errors": []}]),
            },
            CompositeSubresponse {
                reference_id: "c1_0".into(),
                http_status_code: 200,
                body: json!(
                    (0..60)
                        .map(|i| json!({"id": format!("003{i}"), "success": true, "errors": []}))
                        .collect::<Vec<_>>()
                ),
            },
            CompositeSubresponse {
                reference_id: "meeting".into(),
                http_status_code: 201,
                body: json!({"id": "00T1", "success": true, "errors": []}),
            },
        ],
    };
    let written = match read_outcome(&plan, &response, "https://acme") {
        WriteOutcome::Written(w) => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(written.len(), 62);
    assert_eq!(written[1].id, "0030");
}

#[test]
fn a_failed_collection_row_names_salesforces_reason() {
    let records = (0..30)
        .map(|i| {
            record(
                "Lead",
                "create",
                vec![field("LastName", json!(format!("L{i}")))],
            )
        })
        .collect();
    let plan = plan_write(&action(records, false), &client(), &OrgFacts::default()).unwrap();
    let mut rows: Vec<Value> = (0..30)
        .map(|_| json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "rolled back", "fields": []}]}))
        .collect();
    rows[7] = json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Company]", "fields": ["Company"]}]});
    let response = CompositeResponse {
        responses: vec![CompositeSubresponse {
            reference_id: "c0_0".into(),
            http_status_code: 200,
            body: Value::Array(rows),
        }],
    };
    let failure = match read_outcome(&plan, &response, "https://acme") {
        WriteOutcome::Refused(f) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(failure.code.as_deref(), Some("REQUIRED_FIELD_MISSING"));
    assert_eq!(failure.fields, ["Company"]);
    assert_eq!(failure.record.as_deref(), Some("Lead L7"));
}

#[test]
fn the_first_real_error_explains_a_rolled_back_write() {
    let lead = record("Lead", "create", vec![field("LastName", json!("Reed"))]);
    let plan = plan_write(&action(vec![lead], true), &client(), &OrgFacts::default()).unwrap();
    let response = CompositeResponse {
        responses: vec![
            CompositeSubresponse {
                reference_id: "r0".into(),
                http_status_code: 400,
                body: json!([{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}]),
            },
            CompositeSubresponse {
                reference_id: "meeting".into(),
                http_status_code: 400,
                body: json!([{"errorCode": "STRING_TOO_LONG", "message": "Subject: data value too large", "fields": ["Subject"]}]),
            },
        ],
    };
    let failure = match read_outcome(&plan, &response, "https://acme.my.salesforce.com") {
        WriteOutcome::Refused(f) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(failure.code.as_deref(), Some("STRING_TOO_LONG"));
    assert_eq!(failure.fields, ["Subject"]);
    assert!(!failure.transient);
}

#[test]
fn with_the_key_field_every_create_is_an_upsert_by_action_and_index() {
    let contact = record(
        "Contact",
        "create",
        vec![field("LastName", json!("Natarajan"))],
    );
    let mut opp = record(
        "Opportunity",
        "update",
        vec![field("StageName", json!("Closed Won"))],
    );
    opp.id = Some("006000000000001AAA".into());
    let facts = OrgFacts::keyed("Crmbot_Key__c", &["Contact", "Task", "Opportunity"]);
    let plan = plan_write(&action(vec![contact, opp], true), &client(), &facts).unwrap();
    let subs = &plan.request.subrequests;
    assert_eq!(subs[0].method, "PATCH");
    assert_eq!(
        subs[0].url,
        "/services/data/v62.0/sobjects/Contact/Crmbot_Key__c/abc123def456-0"
    );
    // An update stays a PATCH by id.
    assert!(subs[1].url.ends_with("/Opportunity/006000000000001AAA"));
    assert_eq!(
        subs[2].url,
        "/services/data/v62.0/sobjects/Task/Crmbot_Key__c/abc123def456-m"
    );
    assert!(plan.retry_safe);
    assert!(matches!(
        &plan.probes[0].find,
        Find::Key { field, value } if field == "Crmbot_Key__c" && value == "abc123def456-0"
    ));
    assert!(matches!(
        &plan.probes[1].find,
        Find::Id { id, values } if id == "006000000000001AAA" && values["StageName"] == "Closed Won"
    ));
}

#[test]
fn without_the_key_field_creates_are_found_by_their_values_and_the_task_by_its_provenance() {
    let lead = record(
        "Lead",
        "create",
        vec![
            field("LastName", json!("Reed")),
            field("Company", json!("Apex Corp")),
            field("Email", json!("daniel@apex.example")),
            field("Description", json!("long text is never a fingerprint")),
        ],
    );
    // The key field exists on Task only: the Lead could be created twice, so a resend is
    // not safe.
    let facts = OrgFacts::keyed("Crmbot_Key__c", &["Task"]);
    let plan = plan_write(&action(vec![lead], true), &client(), &facts).unwrap();
    assert_eq!(plan.request.subrequests[0].method, "POST");
    assert!(!plan.retry_safe);
    match &plan.probes[0].find {
        Find::Values { values, confirm } => {
            let keys: Vec<&str> = values.keys().map(String::as_str).collect();
            assert_eq!(keys, ["LastName", "Email", "Company"]);
            assert!(confirm.is_none());
        }
        other => panic!("{other:?}"),
    }
    let no_keys = plan_write(
        &action(
            vec![record(
                "Lead",
                "create",
                vec![field("LastName", json!("Reed"))],
            )],
            true,
        ),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    match &no_keys.probes[1].find {
        Find::Values { values, confirm } => {
            assert_eq!(
                values["Subject"],
                "Meeting: Met Priya at Globex about the renewal."
            );
            assert_eq!(
                confirm.as_ref().unwrap(),
                &(
                    "Description".to_string(),
                    "Logged from Slack by crmbot (draft abc123def456).".to_string()
                )
            );
            assert!(!values.contains_key("ActivityDate"), "dates stay out");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_large_keyed_draft_upserts_each_object_in_its_own_collection() {
    let mut records: Vec<ProposedRecord> = vec![record(
        "Account",
        "create",
        vec![field("Name", json!("Globex"))],
    )];
    for i in 0..30 {
        let mut c = record(
            "Contact",
            "create",
            vec![field("LastName", json!(format!("C{i}")))],
        );
        c.links
            .push(link("AccountId", "Account", "in_draft", None, Some(0)));
        records.push(c);
    }
    let facts = OrgFacts::keyed("Crmbot_Key__c", &["Account", "Contact", "Task"]);
    let plan = plan_write(&action(records, true), &client(), &facts).unwrap();
    let subs = &plan.request.subrequests;
    assert_eq!(
        subs[0].url,
        "/services/data/v62.0/composite/sobjects/Account/Crmbot_Key__c"
    );
    assert_eq!(subs[0].method, "PATCH");
    let contacts = subs[1].body.as_ref().unwrap();
    assert_eq!(contacts["records"][0]["Crmbot_Key__c"], "abc123def456-1");
    assert_eq!(
        contacts["records"][0]["AccountId"],
        format!("@{{{}[0].id}}", subs[0].reference_id)
    );
    assert!(
        subs[2]
            .url
            .ends_with("/sobjects/Task/Crmbot_Key__c/abc123def456-m")
    );
    assert!(plan.retry_safe);
    assert_eq!(plan.probes.len(), 32);
}

fn owned_by(mut a: PendingAction, id: Option<&str>, refused: bool) -> PendingAction {
    a.owner = Some(crate::flow::people::Owner {
        member: "U0REQ".into(),
        user: id.map(|id| crate::flow::people::SfUser {
            id: id.into(),
            name: "Dana Lee".into(),
        }),
        unmapped: id
            .is_none()
            .then(|| "Your Slack email x@y.example matches no active Salesforce user".into()),
        refused,
    });
    a
}

#[test]
fn creates_carry_the_owner_code_chose_and_updates_keep_theirs() {
    let lead = record("Lead", "create", vec![field("LastName", json!("Reed"))]);
    let mut opp = record(
        "Opportunity",
        "update",
        vec![field("StageName", json!("Closed Won"))],
    );
    opp.id = Some("006000000000001AAA".into());
    let dana = "005000000000002AAA";
    let a = owned_by(action(vec![lead, opp], true), Some(dana), false);
    // Keyed: the upsert by key carries the owner, so a resend sets the same one.
    let facts = OrgFacts::keyed("Crmbot_Key__c", &["Lead", "Task", "Opportunity"]);
    let plan = plan_write(&a, &client(), &facts).unwrap();
    let body = |i: usize| plan.request.subrequests[i].body.clone().unwrap();
    assert_eq!(body(0)["OwnerId"], dana, "the created Lead");
    assert!(
        body(1).get("OwnerId").is_none(),
        "an update never changes the owner"
    );
    assert_eq!(body(2)["OwnerId"], dana, "the meeting Task");
    assert!(plan.retry_safe);
    // Unkeyed: the check after an unknown outcome looks for the owner too.
    let plan = plan_write(&a, &client(), &OrgFacts::default()).unwrap();
    match &plan.probes[0].find {
        Find::Values { values, .. } => assert_eq!(values["OwnerId"], dana),
        other => panic!("{other:?}"),
    }
    // Large drafts (collections) too.
    let many: Vec<ProposedRecord> = (0..30)
        .map(|i| {
            record(
                "Lead",
                "create",
                vec![field("LastName", json!(format!("R{i}")))],
            )
        })
        .collect();
    let plan = plan_write(
        &owned_by(action(many, false), Some(dana), false),
        &client(),
        &facts,
    )
    .unwrap();
    let rows = plan.request.subrequests[0].body.as_ref().unwrap()["records"].clone();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["OwnerId"] == dana)
    );
}

#[test]
fn an_unmapped_owner_writes_as_the_integration_user_or_not_at_all() {
    let lead = || record("Lead", "create", vec![field("LastName", json!("Reed"))]);
    let plan = plan_write(
        &owned_by(action(vec![lead()], false), None, false),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap();
    assert!(
        plan.request.subrequests[0]
            .body
            .as_ref()
            .unwrap()
            .get("OwnerId")
            .is_none()
    );
    let refused = plan_write(
        &owned_by(action(vec![lead()], false), None, true),
        &client(),
        &OrgFacts::default(),
    )
    .unwrap_err();
    assert!(
        refused[0].contains("matches no active Salesforce user"),
        "{refused:?}"
    );
    assert!(refused[0].contains("salesforce.unmapped"), "{refused:?}");
}

#[test]
fn a_permission_refusal_is_said_in_plain_words() {
    let mut opp = record(
        "Opportunity",
        "update",
        vec![field("StageName", json!("Closed Won"))],
    );
    opp.id = Some("006000000000001AAA".into());
    let plan = plan_write(&action(vec![opp], false), &client(), &OrgFacts::default()).unwrap();
    let response = CompositeResponse {
        responses: vec![CompositeSubresponse {
            reference_id: "r0".into(),
            http_status_code: 400,
            body: json!([{"errorCode": "INSUFFICIENT_ACCESS_OR_READONLY",
                          "message": "insufficient access rights on object id: 006000000000001AAA"}]),
        }],
    };
    let WriteOutcome::Refused(f) = read_outcome(&plan, &response, "https://x") else {
        panic!("refused");
    };
    assert!(
        f.message
            .starts_with("crmbot's Salesforce user can't edit this Opportunity in Salesforce"),
        "{}",
        f.message
    );
    assert_eq!(f.code.as_deref(), Some("INSUFFICIENT_ACCESS_OR_READONLY"));
}
