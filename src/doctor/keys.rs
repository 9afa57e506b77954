//! The idempotency key: whether each object crmbot creates has the external-id field that
//! makes a repeated write harmless (`salesforce.key_field`, `Crmbot_Key__c` by default), and
//! the exact Setup steps an admin follows to add it where it is missing. Without it crmbot
//! still writes once, by checking Salesforce before any second attempt — but an admin should
//! know which guarantee their org has.

use super::{Check, SALESFORCE};
use crate::config::Config;
use crate::salesforce::SalesforceClient;

pub(super) const NAME: &str = "idempotency key";

/// One check: ok when every created object has the field, a warning naming the others.
pub(super) async fn check(client: &SalesforceClient, config: &Config) -> Check {
    let field = config.salesforce.key_field.trim();
    if field.is_empty() {
        return Check::skipped(
            SALESFORCE,
            NAME,
            "salesforce.key_field is empty: creates are never upserts",
        );
    }
    let mut objects: Vec<String> = config.objects.keys().cloned().collect();
    if config.drafting.meeting_task && !objects.iter().any(|o| o == "Task") {
        objects.push("Task".into());
    }
    let mut with = Vec::new();
    let mut without = Vec::new();
    for object in &objects {
        // A missing object is the "writable fields" check's problem.
        if let Ok(d) = client.describe(object).await {
            let keyed = d
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(field) && f.external_id);
            if keyed {
                with.push(object.clone());
            } else {
                without.push(object.clone());
            }
        }
    }
    if without.is_empty() {
        return Check::ok(
            SALESFORCE,
            NAME,
            format!(
                "{field} on {}: every create is an upsert by key, so a repeated request cannot create a second record",
                with.join(", ")
            ),
        );
    }
    let detail = format!(
        "{} lack{} {field}{}: if crmbot cannot tell whether a write landed, it waits up to salesforce.write_time_limit and checks Salesforce before writing again, instead of being able to resend at once",
        without.join(", "),
        if without.len() == 1 { "s" } else { "" },
        if with.is_empty() {
            String::new()
        } else {
            format!(" ({} have it)", with.join(", "))
        }
    );
    Check::warning(SALESFORCE, NAME, detail, setup_steps(field, &without))
}

/// What an admin clicks in Setup, per object.
pub fn setup_steps(field: &str, objects: &[String]) -> String {
    let label = field.trim_end_matches("__c").replace('_', " ");
    let name = field.trim_end_matches("__c");
    let places: Vec<String> = objects
        .iter()
        .map(|o| match o.as_str() {
            // Task and Event fields are created on Activity.
            "Task" | "Event" => "Activity (for Task)".to_string(),
            other => other.to_string(),
        })
        .collect();
    format!(
        "in Salesforce Setup, for each of {}: Object Manager → the object → Fields & Relationships → New → Text → Field Label \"{label}\", Length 64, Field Name \"{name}\" (API name {field}) → tick \"Unique\" (treat \"ABC\" and \"abc\" as duplicates) and \"External ID\" → Next → make it visible to the profile or permission set of crmbot's integration user → Next → leave every page layout unticked → Save; then run `crmbot doctor` again",
        places.join(", ")
    )
}
