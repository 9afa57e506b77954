//! A proposal as plain text, for terminals (`crmbot extract`) and logs a person reads. The
//! Slack card shows the same facts; this is its text twin.

use std::fmt::Write;

use serde_json::Value;

use super::action::WriteFailure;
use super::proposal::{NOTHING_TO_WRITE, Proposal, ProposedRecord};
use crate::domain::draft::{FieldValue, Severity};

/// Renders the whole proposal.
pub fn render(p: &Proposal) -> String {
    let mut out = String::new();
    let n = p.records.len();
    let _ = writeln!(
        out,
        "Draft of {n} record{} (note dated {})",
        if n == 1 { "" } else { "s" },
        p.today
    );
    if p.writes_nothing() {
        let _ = writeln!(out, "\n{NOTHING_TO_WRITE}.");
    }
    for (i, r) in p.records.iter().enumerate() {
        out.push('\n');
        render_record(&mut out, i + 1, r);
    }
    for issue in &p.issues {
        let _ = writeln!(out, "\n{} {}", mark(issue.severity), issue.message);
    }
    out.push('\n');
    if p.writes_nothing() {
        let _ = writeln!(out, "Approval: nothing to approve.");
    } else if p.blocked {
        let count: usize = p
            .records
            .iter()
            .flat_map(|r| &r.issues)
            .chain(&p.issues)
            .filter(|i| i.is_blocking())
            .count();
        let _ = writeln!(
            out,
            "Approval: blocked until {count} problem{} marked ✗ {} fixed.",
            if count == 1 { "" } else { "s" },
            if count == 1 { "is" } else { "are" }
        );
    } else {
        let _ = writeln!(out, "Approval: ready (nothing has been written).");
    }
    let sf = &p.salesforce;
    let _ = write!(
        out,
        "Salesforce: {} request{} ({} for the duplicate check)",
        sf.requests,
        if sf.requests == 1 { "" } else { "s" },
        sf.duplicate_check_requests
    );
    if let Some(usage) = sf.api_usage {
        let _ = write!(out, ", org API usage {}/{} today", usage.used, usage.max);
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Model: {} · {} call{} · {} prompt + {} completion tokens",
        p.llm.provider,
        p.llm.calls,
        if p.llm.calls == 1 { "" } else { "s" },
        p.llm.prompt_tokens,
        p.llm.completion_tokens
    );
    out
}

fn render_record(out: &mut String, number: usize, r: &ProposedRecord) {
    let action = match r.action.as_str() {
        "create" => "create".to_string(),
        "update" => format!(
            "update {}{}",
            r.id.as_deref().unwrap_or(""),
            r.matched_by
                .as_deref()
                .map(|m| format!(" (found by {m})"))
                .unwrap_or_default()
        ),
        "ambiguous" => "choose which existing record to update".to_string(),
        _ => "record to update not found".to_string(),
    };
    let _ = writeln!(out, "{number}. {} · {action}", r.label);
    if let Some(url) = &r.url {
        let _ = writeln!(out, "   {url}");
    }
    let width = r
        .fields
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0);
    for f in &r.fields {
        let value = match (&f.old, f.changed) {
            _ if f.added.is_some() => format!(
                "(added below the current text) {}",
                f.display.replace('\n', " ")
            ),
            (Some(old), true) => format!("{} → {}", show(old), f.display),
            (Some(_), false) => format!("{} (unchanged)", f.display),
            (None, _) => f.display.clone(),
        };
        let held = if f.include { "" } else { "   [held back]" };
        let _ = writeln!(out, "   {:width$}  {value}{held}", f.label);
    }
    for link in &r.links {
        let target = match (link.status.as_str(), &link.id, link.record) {
            ("existing", Some(id), _) => format!("existing {} {id}", link.object),
            ("in_draft", _, Some(i)) => format!("record {} of this draft", i + 1),
            ("ambiguous", _, _) => format!("several {} records match: choose one", link.object),
            _ => format!("no matching {}: not linked", link.object),
        };
        let _ = writeln!(out, "   {:width$}  → {target}", link.field);
    }
    for c in &r.candidates {
        let _ = writeln!(out, "   candidate: {} {}", c.id, c.label);
    }
    for issue in &r.issues {
        let _ = writeln!(out, "   {} {}", mark(issue.severity), issue.message);
    }
}

/// Why a write failed and what to do, each said once: messages crmbot wrote itself may
/// already say that nothing was written and to approve again.
pub fn write_failure(e: Option<&WriteFailure>) -> String {
    let what = e
        .and_then(|e| e.record.clone())
        .map_or(String::new(), |r| format!(" ({r})"));
    let fields = e
        .filter(|e| !e.fields.is_empty())
        .map_or(String::new(), |e| {
            format!(" Field: {}.", e.fields.join(", "))
        });
    let code = e
        .and_then(|e| e.code.clone())
        .map_or(String::new(), |c| format!(" [{c}]"));
    let message = e.map_or("unknown error", |e| e.message.as_str());
    let said = message.to_lowercase();
    let nothing = if said.contains("nothing was written") {
        ""
    } else {
        " Nothing was written."
    };
    let advice = match (
        said.contains("approve again"),
        e.is_some_and(|e| e.transient),
    ) {
        (true, _) => "",
        (false, true) => " Approve again to retry.",
        (false, false) => " Fix it with Edit, then approve again.",
    };
    let message: String = message
        .trim_end()
        .trim_end_matches('.')
        .chars()
        .take(1_500)
        .collect();
    format!("The write did not go through{what}: {message}{code}.{fields}{nothing}{advice}")
}

fn mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "⚠",
        Severity::Blocking => "✗",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(empty)".to_string(),
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), |f| FieldValue::Number(f).display()),
        other => other.to_string(),
    }
}
