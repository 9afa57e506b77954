//! Cross-object checks for new Leads: a Lead for someone who is already a Contact, or who
//! works at a customer account, duplicates a person the CRM already knows (the usual
//! mistake when a model, or the offline rules, drafts "a new person" from a meeting with an
//! existing customer). Such a Lead needs a person's decision, so it blocks approval.

use serde_json::Value;

use super::{ExistingRows, MATCH_ROW_LIMIT, MatchQuery, RecordAction, ResolvedRecord};
use crate::domain::draft::{FieldValue, Issue, IssueKind, RecordDraft, ValidatedDraft};
use crate::domain::schema::CrmSchema;
use crate::domain::soql::quote;

/// Keys of the rows these queries return in `ExistingRows`.
const ACCOUNTS: &str = "Account (companies of new leads)";
const CONTACTS: &str = "Contact (people of new leads)";

fn text(r: &RecordDraft, field: &str) -> Option<String> {
    match r.value(field) {
        Some(FieldValue::Text(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => None,
    }
}

fn new_leads(draft: &ValidatedDraft) -> impl Iterator<Item = &RecordDraft> {
    draft
        .records
        .iter()
        .filter(|r| r.object == "Lead" && r.lookup.is_none())
}

/// The queries: accounts named as a new Lead's Company, contacts with a new Lead's email or
/// name. Optional: an org that hides a field still gets its draft.
pub fn people_queries(draft: &ValidatedDraft, schema: &CrmSchema) -> Vec<MatchQuery> {
    let mut out = Vec::new();
    let mut companies: Vec<String> = new_leads(draft)
        .filter_map(|r| text(r, "Company"))
        .map(|c| quote(&c))
        .collect();
    companies.dedup();
    if schema.object("Account").is_some() && !companies.is_empty() {
        out.push(MatchQuery {
            object: ACCOUNTS.into(),
            soql: format!(
                "SELECT Id, Name, Type FROM Account WHERE Name IN ({}) LIMIT {MATCH_ROW_LIMIT}",
                companies.join(", ")
            ),
            optional: true,
        });
    }
    let mut conds = Vec::new();
    for r in new_leads(draft) {
        if let Some(e) = text(r, "Email") {
            conds.push(format!("Email = {}", quote(&e)));
        }
        if let (Some(f), Some(l)) = (text(r, "FirstName"), text(r, "LastName")) {
            conds.push(format!(
                "(FirstName = {} AND LastName = {})",
                quote(&f),
                quote(&l)
            ));
        }
    }
    conds.dedup();
    if schema.object("Contact").is_some() && !conds.is_empty() {
        out.push(MatchQuery {
            object: CONTACTS.into(),
            soql: format!(
                "SELECT Id, FirstName, LastName, Email, Account.Name FROM Contact WHERE {} LIMIT {MATCH_ROW_LIMIT}",
                conds.join(" OR ")
            ),
            optional: true,
        });
    }
    out
}

fn field<'a>(row: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    row.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Blocks each new Lead that is already a Contact, or whose Company is a customer account.
pub fn flag_known_people(resolved: &mut [ResolvedRecord], rows: &ExistingRows) {
    let empty = Vec::new();
    let accounts = rows.get(ACCOUNTS).unwrap_or(&empty);
    let contacts = rows.get(CONTACTS).unwrap_or(&empty);
    for r in resolved.iter_mut() {
        if r.draft.object != "Lead" || r.action != RecordAction::Create {
            continue;
        }
        let d = &r.draft;
        let who = [text(d, "FirstName"), text(d, "LastName")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let email = text(d, "Email").map(|e| e.to_lowercase());
        let same_person = contacts.iter().find(|c| {
            email
                .as_deref()
                .is_some_and(|e| field(c, "Email").eq_ignore_ascii_case(e))
                || (text(d, "FirstName")
                    .is_some_and(|f| field(c, "FirstName").eq_ignore_ascii_case(&f))
                    && text(d, "LastName")
                        .is_some_and(|l| field(c, "LastName").eq_ignore_ascii_case(&l)))
        });
        if let Some(c) = same_person {
            let account = c
                .get("Account")
                .and_then(|a| a.get("Name"))
                .and_then(Value::as_str)
                .map(|a| format!(" of {a}"))
                .unwrap_or_default();
            r.draft.issues.push(Issue::blocking(
                IssueKind::PossibleDuplicate,
                None,
                format!(
                    "{who} is already a Contact{account} in Salesforce: a new Lead would duplicate them. Log the meeting against that Contact, or reject this draft."
                ),
            ));
            continue;
        }
        let Some(company) = text(d, "Company") else {
            continue;
        };
        let customer = accounts.iter().find(|a| {
            field(a, "Name").eq_ignore_ascii_case(&company)
                && field(a, "Type").to_lowercase().starts_with("customer")
        });
        if customer.is_some() {
            r.draft.issues.push(Issue::blocking(
                IssueKind::PossibleDuplicate,
                None,
                format!(
                    "{company} is a customer account in Salesforce: {who} is probably a Contact of {company}, not a new Lead. Edit the draft, or reject it and log again."
                ),
            ));
        }
    }
}
