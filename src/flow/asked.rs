//! The audit of questions: who asked what, the plan crmbot accepted, the SOQL it ran and
//! how many rows came back — never the rows themselves, which stay in Salesforce.

use serde_json::{Value, json};
use tracing::warn;

use super::action::new_id;
use super::ask::{Answer, describe};
use crate::flow::storage::{AuditEntry, AuditKind, Store};

/// Appends one `asked` record (a failure is logged: the answer is already given).
pub fn audit_question(store: &Store, user: &str, question: &str, answer: &Answer, audience: &str) {
    let (summary, detail) = match answer {
        Answer::Rows(r) => (
            format!("{} {} row(s) of {}", r.rows.len(), r.label, r.object),
            json!({"plan": r.plan_json, "soql": r.soql, "rows": r.rows.len(), "capped": r.capped}),
        ),
        Answer::NoRows { soql, plan_json } => (
            "no rows".to_string(),
            json!({"plan": plan_json, "soql": soql, "rows": 0}),
        ),
        Answer::Refused {
            problems,
            plan_json,
        } => (
            "plan refused".to_string(),
            json!({"plan": plan_json, "refused": describe(problems), "rows": 0}),
        ),
        Answer::PartlyRead { words, plan_json } => (
            "partly read, not run".to_string(),
            json!({"plan": plan_json, "unread": words, "rows": 0}),
        ),
        Answer::WhoAreYou { words, plan_json } => (
            "asker not mapped, not run".to_string(),
            json!({"plan": plan_json, "unmapped": words, "rows": 0}),
        ),
        Answer::Change => ("a change request, not run".into(), json!({"rows": 0})),
        Answer::NotAQuestion => ("not a question, not run".into(), json!({"rows": 0})),
        Answer::Offline => ("offline model, not run".into(), json!({"rows": 0})),
    };
    let mut detail = detail;
    if let Value::Object(m) = &mut detail {
        m.insert("question".into(), json!(question));
        m.insert("audience".into(), json!(audience));
    }
    let entry = AuditEntry {
        action_id: format!("ask-{}", new_id()),
        kind: AuditKind::Asked,
        actor: Some(user.to_string()),
        summary: format!("Asked by {user}: {summary}"),
        detail,
    };
    if let Err(e) = store.audit.append(entry) {
        warn!(error = %e, "question not audited");
    }
}
