//! The offline `rules` provider's planner: a few keywords turned into a plan, so the demo
//! and a team without a model key can still ask simple questions ("open deals at Apex
//! Corp?", "leads from trade shows this month?"). It only proposes; the plan goes through
//! the same validation as a model's. What it cannot read is left to a real model.

use regex::Regex;
use serde_json::{Value, json};

use crate::domain::plan::QuerySchema;

/// (keyword, object) in the order they are tried.
const OBJECTS: &[(&str, &str)] = &[
    ("lead", "Lead"),
    ("contact", "Contact"),
    ("people", "Contact"),
    ("deal", "Opportunity"),
    ("opportunit", "Opportunity"),
    ("pipeline", "Opportunity"),
    ("task", "Task"),
    ("follow-up", "Task"),
    ("account", "Account"),
    ("compan", "Account"),
    ("customer", "Account"),
];

/// Words that end a name ("Apex Corp closing this month").
const STOP: &[&str] = &[
    "closing", "this", "next", "last", "over", "above", "under", "below", "with", "that", "which",
    "in", "and", "or", "created", "due", "from", "since", "today", "worth", "more", "less",
];

/// A plan for `question`, or `{"intent": "offline"}` when the keywords say nothing.
pub fn plan(question: &str, schema: &QuerySchema) -> Value {
    let q = question.to_lowercase();
    let Some(object) = OBJECTS
        .iter()
        .find(|(k, o)| q.contains(k) && schema.objects.contains_key(*o))
        .map(|(_, o)| *o)
    else {
        return json!({"intent": "offline"});
    };
    let has = |f: &str| {
        schema
            .objects
            .get(object)
            .is_some_and(|o| o.fields.iter().any(|x| x.path == f))
    };
    let wanted: &[&str] = match object {
        "Opportunity" => &[
            "Id",
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "Account.Name",
        ],
        "Lead" => &["Id", "Name", "Company", "Status", "Email"],
        "Contact" => &["Id", "Name", "Title", "Email", "Account.Name"],
        "Task" => &["Id", "Subject", "Status", "ActivityDate"],
        _ => &["Id", "Name", "Industry", "Type"],
    };
    let fields: Vec<&str> = wanted.iter().copied().filter(|f| has(f)).collect();
    let mut filters = Vec::new();
    if (object == "Opportunity" || object == "Task") && q.contains("open") && has("IsClosed") {
        filters.push(json!({"field": "IsClosed", "op": "eq", "value": false}));
    }
    if object == "Opportunity" && q.contains(" won") && has("IsWon") {
        filters.push(json!({"field": "IsWon", "op": "eq", "value": true}));
    }
    if (q.contains(" my ") || q.starts_with("my ") || q.contains("mine")) && has("OwnerId") {
        filters.push(json!({"field": "OwnerId", "op": "eq", "value": "$me"}));
    }
    if let Some(name) = name_in(question) {
        let field = match object {
            "Lead" => "Company",
            "Contact" | "Opportunity" => "Account.Name",
            "Task" => "Subject",
            _ => "Name",
        };
        if has(field) {
            filters.push(json!({"field": field, "op": "like", "value": name}));
        }
    }
    if object == "Opportunity"
        && let Some(amount) = amount_in(&q)
    {
        filters.push(json!({"field": "Amount", "op": "gt", "value": amount}));
    }
    if let Some(literal) = period_in(&q) {
        let field = match object {
            "Opportunity" => "CloseDate",
            "Task" => "ActivityDate",
            _ => "CreatedDate",
        };
        if has(field) {
            filters.push(json!({"field": field, "op": "eq", "value": literal}));
        }
    }
    let sort = if object == "Opportunity" && has("CloseDate") {
        json!([{"field": "CloseDate", "direction": "asc"}])
    } else {
        json!([])
    };
    json!({"intent": "query", "object": object, "fields": fields, "filters": filters, "sort": sort})
}

/// The name after "at", "for", "named", ... as written ("Apex Corp").
fn name_in(question: &str) -> Option<String> {
    let re = Regex::new(r"(?i)\b(?:at|for|named|called|about|of)\s+(.+)").ok()?;
    let rest = re.captures(question)?.get(1)?.as_str();
    let mut words = Vec::new();
    for w in rest.split_whitespace() {
        let clean = w.trim_matches(|c: char| "?!.,;:\"".contains(c));
        if clean.is_empty() || STOP.contains(&clean.to_lowercase().as_str()) {
            break;
        }
        // A name starts with a capital; "for the quarter" names nothing.
        if words.is_empty() && !clean.chars().next().is_some_and(char::is_uppercase) {
            return None;
        }
        words.push(clean.to_string());
        if w.ends_with(['?', '!', '.', ',', ';']) {
            break;
        }
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// "over $20k" -> 20000.
fn amount_in(q: &str) -> Option<f64> {
    let re =
        Regex::new(r"(?:over|above|more than|greater than|>)\s*\$?\s*([0-9][0-9,.]*)\s*(k|m)?\b")
            .ok()?;
    let c = re.captures(q)?;
    let n: f64 = c.get(1)?.as_str().replace(',', "").parse().ok()?;
    Some(match c.get(2).map(|m| m.as_str()) {
        Some("k") => n * 1_000.0,
        Some("m") => n * 1_000_000.0,
        _ => n,
    })
}

fn period_in(q: &str) -> Option<&'static str> {
    [
        ("this month", "THIS_MONTH"),
        ("next month", "NEXT_MONTH"),
        ("last month", "LAST_MONTH"),
        ("this quarter", "THIS_QUARTER"),
        ("next quarter", "NEXT_QUARTER"),
        ("last quarter", "LAST_QUARTER"),
        ("this week", "THIS_WEEK"),
        ("next week", "NEXT_WEEK"),
        ("last week", "LAST_WEEK"),
        ("this year", "THIS_YEAR"),
        ("today", "TODAY"),
    ]
    .into_iter()
    .find(|(k, _)| q.contains(k))
    .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::testing::sample_schema;

    #[test]
    fn open_deals_at_a_company_this_quarter() {
        let p = plan(
            "Show me open deals at Apex Corp closing this quarter?",
            &sample_schema(),
        );
        assert_eq!(p["object"], "Opportunity");
        let filters = p["filters"].to_string();
        assert!(
            filters.contains(r#"{"field":"IsClosed","op":"eq","value":false}"#),
            "{filters}"
        );
        assert!(
            filters.contains(r#"{"field":"Account.Name","op":"like","value":"Apex Corp"}"#),
            "{filters}"
        );
        assert!(
            filters.contains(r#""CloseDate","op":"eq","value":"THIS_QUARTER""#),
            "{filters}"
        );
    }

    #[test]
    fn amounts_mine_and_names() {
        let p = plan("my deals over $20k?", &sample_schema());
        let filters = p["filters"].to_string();
        assert!(filters.contains(r#""value":"$me""#), "{filters}");
        assert!(
            filters.contains(r#""Amount","op":"gt","value":20000.0"#),
            "{filters}"
        );
        let p = plan("leads at Northstar Labs", &sample_schema());
        assert_eq!(p["object"], "Lead");
        assert!(
            p["filters"]
                .to_string()
                .contains(r#""Company","op":"like","value":"Northstar Labs""#)
        );
        assert_eq!(plan("how are you", &sample_schema())["intent"], "offline");
    }
}
