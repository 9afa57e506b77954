//! Applies `drafting.free_text_updates` to a proposal: on every update, a free-text field
//! whose text Salesforce already holds gets the new text added below it (dated, signed), or
//! is held back. Runs after drafting, after an Edit and after a choice on the card, so no
//! path to the write replaces what people wrote in Salesforce before.

use serde_json::Value;

use super::proposal::{Proposal, ProposedField};
use crate::domain::draft::{Issue, IssueKind};
use crate::domain::free_text::{Appended, FreeTextUpdates, append, stamp};
use crate::domain::schema::CrmSchema;

/// How free text is added, and who is adding it (their name goes in the stamp).
#[derive(Debug, Clone)]
pub struct FreeTextRule {
    pub mode: FreeTextUpdates,
    pub author: String,
}

/// Applies the rule to every update of the proposal. Fields already settled (added, or held
/// back with the reason) are left alone, so it can run again after each change.
pub fn guard(proposal: &mut Proposal, schema: &CrmSchema, rule: &FreeTextRule) {
    let line = stamp(&proposal.today.to_string(), &rule.author);
    for record in proposal.records.iter_mut().filter(|r| r.action == "update") {
        let Some(object) = schema.object(&record.object) else {
            continue;
        };
        let mut issues = Vec::new();
        for f in record.fields.iter_mut() {
            let Some(field) = object.field(&f.name).filter(|s| s.free_text) else {
                continue;
            };
            let kept =
                |i: &Issue| i.kind == IssueKind::FreeTextKept && i.field == Some(f.name.clone());
            if f.added.is_some() || !f.include || !f.changed || record.issues.iter().any(kept) {
                continue;
            }
            let (Some(Value::String(current)), Value::String(new)) = (&f.old, &f.value) else {
                continue;
            };
            match rule.mode {
                FreeTextUpdates::Keep if !current.trim().is_empty() => {
                    let why = "Salesforce already has text here; it is kept and the notes' text is not written (drafting.free_text_updates = \"keep\")";
                    issues.push(hold_back(f, why));
                }
                FreeTextUpdates::Keep => {}
                FreeTextUpdates::Append => match append(current, new, &line, field.length) {
                    Appended::Empty => {}
                    Appended::AlreadyThere => f.changed = false,
                    Appended::Text(whole) => {
                        f.added = Some(new.trim().to_string());
                        f.display = format!("{line}\n{}", new.trim());
                        f.value = Value::String(whole);
                    }
                    Appended::TooLong { chars, max } => {
                        let why = format!(
                            "Salesforce's text with the notes' text below it would be {chars} characters, more than the {max} the field holds; Salesforce's text is kept"
                        );
                        issues.push(hold_back(f, &why));
                    }
                },
            }
        }
        record.issues.extend(issues);
    }
}

/// Keeps Salesforce's text: the field stays on the card, out of the write, with `why`.
fn hold_back(f: &mut ProposedField, why: &str) -> Issue {
    f.include = false;
    Issue::warning(
        IssueKind::FreeTextKept,
        Some(&f.name),
        format!("{}: {why}", f.label),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::flow::testing::{action, field, record};

    fn schema() -> CrmSchema {
        let mut s = crate::domain::validate::tests::schema();
        if let Some(lead) = s.objects.get_mut("Lead") {
            for f in lead.fields.iter_mut().filter(|f| f.name == "Description") {
                f.free_text = true;
                f.length = Some(200);
            }
        }
        s
    }

    fn update(old: &str, new: &str) -> Proposal {
        let mut d = field("Description", json!(new));
        d.old = Some(json!(old));
        let mut title = field("Title", json!("CTO"));
        title.old = Some(json!("VP"));
        action(vec![record("Lead", "update", vec![d, title])], true).proposal
    }

    fn rule(mode: FreeTextUpdates) -> FreeTextRule {
        FreeTextRule {
            mode,
            author: "Dana Lee".into(),
        }
    }

    #[test]
    fn append_adds_below_once_however_often_it_runs() {
        let mut p = update("Budget approved.", "Wants a pilot.");
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Append));
        let again = p.clone();
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Append));
        let d = &p.records[0].fields[0];
        assert_eq!(
            d.value,
            json!("Budget approved.\n\n[2026-11-25 · Dana Lee via crmbot]\nWants a pilot.")
        );
        assert_eq!(d.added.as_deref(), Some("Wants a pilot."));
        assert!(d.include && d.changed);
        assert_eq!(
            p.records[0].fields[0].value,
            again.records[0].fields[0].value
        );
        assert_eq!(p.records[0].fields[1].value, json!("CTO"), "not free text");
    }

    #[test]
    fn keep_holds_the_new_text_back_and_says_why_once() {
        let mut p = update("Budget approved.", "Wants a pilot.");
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Keep));
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Keep));
        let r = &p.records[0];
        assert!(!r.fields[0].include);
        assert_eq!(
            r.issues
                .iter()
                .filter(|i| i.kind == IssueKind::FreeTextKept)
                .count(),
            1
        );
        assert!(!r.blocked, "a warning, not a block");
    }

    #[test]
    fn an_empty_field_is_simply_set_and_a_create_is_untouched() {
        let mut p = update("", "Wants a pilot.");
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Keep));
        assert!(p.records[0].fields[0].include);
        assert_eq!(p.records[0].fields[0].value, json!("Wants a pilot."));
        let mut created = update("Budget approved.", "Wants a pilot.");
        created.records[0].action = "create".into();
        guard(&mut created, &schema(), &rule(FreeTextUpdates::Keep));
        assert!(created.records[0].fields[0].include);
    }

    #[test]
    fn text_that_would_not_fit_is_kept_out_with_a_warning() {
        let mut p = update(&"x".repeat(190), "Wants a pilot.");
        guard(&mut p, &schema(), &rule(FreeTextUpdates::Append));
        assert!(!p.records[0].fields[0].include);
        assert!(p.records[0].issues[0].message.contains("more than the 200"));
    }
}
