//! Scoring one drafted note against its expected records, value by value, as one click on
//! Approve would write it. Pure arithmetic, no I/O: the stub-model test pins every figure.
//!
//! A value is *written* when it is included, no issue names its field, and its record needs
//! no decision first (no record-level problem, not ambiguous, not "not found"). It is
//! *right* when its record matches an expected record with the expected action and the
//! value meets the field's expectation. A *leak* is written and not right; a *false alarm*
//! is right but held back or flagged.

use serde::Serialize;
use serde_json::Value;

use super::corpus::{Expect, ExpectedRecord, NoteCase};
use crate::domain::draft::IssueKind;
use crate::domain::validate::from_notes;
use crate::flow::proposal::{Proposal, ProposedRecord};

/// One wrong value one click would write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leak {
    pub note: String,
    pub object: String,
    pub field: String,
    pub value: Value,
    /// What the corpus expects, or why the value is wrong.
    pub expected: String,
}

/// The figures of one note.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NoteScore {
    pub id: String,
    pub proposed: u32,
    pub written: u32,
    pub right_written: u32,
    pub false_alarms: u32,
    /// Values the corpus requires, and how many of them one click writes right.
    pub expected_values: u32,
    pub recalled: u32,
    /// Expected records, and how many got the expected action.
    pub expected_records: u32,
    pub actions_right: u32,
    /// Proposed records that match no expected one.
    pub extra_records: u32,
    pub leaks: Vec<Leak>,
    /// The draft failed (the model's error), when it did.
    pub failed: Option<String>,
}

/// Scores a proposal (or a failed draft) against the note's expectations.
pub fn score_note(case: &NoteCase, outcome: Result<&Proposal, String>) -> NoteScore {
    let mut s = NoteScore {
        id: case.id.clone(),
        expected_records: case.expect.len() as u32,
        expected_values: case
            .expect
            .iter()
            .flat_map(|r| r.fields.values())
            .filter(|e| e.required())
            .count() as u32,
        ..NoteScore::default()
    };
    let proposal = match outcome {
        Ok(p) => p,
        Err(e) => {
            s.failed = Some(e);
            return s;
        }
    };
    let pairs = match_records(&case.expect, &proposal.records, &case.note);
    for (i, record) in proposal.records.iter().enumerate() {
        let expected = pairs
            .iter()
            .find(|(_, p)| *p == i)
            .map(|(g, _)| &case.expect[*g]);
        let action_right = expected.is_some_and(|g| g.action == record.action);
        let decided_by_person = record.action == "ambiguous"
            || record.action == "not_found"
            || record
                .issues
                .iter()
                .any(|issue| issue.is_blocking() && issue.field.is_none());
        for f in &record.fields {
            s.proposed += 1;
            // "Read $25k as 25,000" informs; it does not hold the value back.
            let flagged = record.issues.iter().any(|issue| {
                issue.field.as_deref() == Some(f.name.as_str()) && issue.kind != IssueKind::Coerced
            });
            // An update that keeps the current value changes nothing.
            let written = f.include && !flagged && !decided_by_person && f.changed;
            // Free text added below what Salesforce holds: what crmbot wrote is the addition.
            let value = f
                .added
                .clone()
                .map_or_else(|| f.value.clone(), Value::String);
            let verdict = match expected {
                None => Err("a record the notes do not call for".to_string()),
                Some(_) if !action_right => Err(format!(
                    "the record should be a {}, not a {}",
                    expected.map_or("", |g| g.action.as_str()),
                    record.action
                )),
                Some(g) => judge(g.fields.get(&f.name), &value, &case.note),
            };
            match (written, verdict) {
                (true, Ok(())) => {
                    s.written += 1;
                    s.right_written += 1;
                    if expected
                        .and_then(|g| g.fields.get(&f.name))
                        .is_some_and(Expect::required)
                    {
                        s.recalled += 1;
                    }
                }
                (true, Err(why)) => {
                    s.written += 1;
                    s.leaks.push(Leak {
                        note: case.id.clone(),
                        object: record.object.clone(),
                        field: f.name.clone(),
                        value,
                        expected: why,
                    });
                }
                (false, Ok(())) if !f.include || flagged => s.false_alarms += 1,
                (false, _) => {}
            }
        }
    }
    s.actions_right = pairs
        .iter()
        .filter(|(g, p)| case.expect[*g].action == proposal.records[*p].action)
        .count() as u32;
    s.extra_records = (proposal.records.len() - pairs.len()) as u32;
    s
}

/// Is `value` what `expect` asks for? `Err` says why not.
fn judge(expect: Option<&Expect>, value: &Value, notes: &str) -> Result<(), String> {
    let shown = |v: &Value| match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    match expect {
        None | Some(Expect::Exact(Value::Null)) => Err("nothing (the notes do not say)".into()),
        Some(Expect::Exact(want)) => same(want, value).then_some(()).ok_or_else(|| shown(want)),
        Some(Expect::OneOf { one_of }) => one_of
            .iter()
            .any(|w| same(w, value))
            .then_some(())
            .ok_or_else(|| format!("one of {}", Value::Array(one_of.clone()))),
        Some(Expect::Optional { optional }) => {
            let allowed: Vec<Value> = match optional {
                Value::Array(items) => items.clone(),
                one => vec![one.clone()],
            };
            allowed
                .iter()
                .any(|w| same(w, value))
                .then_some(())
                .ok_or_else(|| format!("nothing, or {}", Value::Array(allowed)))
        }
        Some(Expect::FromNotes { .. }) => match value.as_str() {
            Some(text) if from_notes(notes, text) => Ok(()),
            _ => Err("text drawn from the notes".into()),
        },
    }
}

/// Values compare as Salesforce would store them: numbers by value, text ignoring case and
/// runs of spaces.
fn same(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 0.005,
            _ => false,
        },
        (Value::String(a), Value::String(b)) => norm(a) == norm(b),
        (Value::String(a), Value::Number(b)) => a.parse::<f64>().ok() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Pairs (expected index, proposed index): each expected record takes the proposed record
/// of its object that agrees with it most (an exact value counts twice, free text drawn from
/// the notes once; at least one agreement), greedily.
fn match_records(
    expected: &[ExpectedRecord],
    proposed: &[ProposedRecord],
    notes: &str,
) -> Vec<(usize, usize)> {
    let mut taken = vec![false; proposed.len()];
    let mut pairs = Vec::new();
    for (gi, g) in expected.iter().enumerate() {
        let best = proposed
            .iter()
            .enumerate()
            .filter(|(pi, p)| !taken[*pi] && p.object.eq_ignore_ascii_case(&g.object))
            .map(|(pi, p)| {
                // An exact value says more about which record this is than free text.
                let agree: usize = p
                    .fields
                    .iter()
                    .filter_map(|f| {
                        let e = g.fields.get(&f.name)?;
                        judge(Some(e), &f.value, notes).ok()?;
                        Some(if matches!(e, Expect::FromNotes { .. }) {
                            1
                        } else {
                            2
                        })
                    })
                    .sum();
                (pi, agree)
            })
            .filter(|(_, agree)| *agree > 0)
            .max_by_key(|(pi, agree)| (*agree, std::cmp::Reverse(*pi)));
        if let Some((pi, _)) = best {
            taken[pi] = true;
            pairs.push((gi, pi));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::draft::Issue;
    use crate::flow::proposal::{LlmSummary, ProposedField, SalesforceSummary};
    use crate::flow::testing::{self, record};
    use serde_json::json;

    fn field(name: &str, value: Value, include: bool) -> ProposedField {
        ProposedField {
            include,
            ..testing::field(name, value)
        }
    }

    fn proposal(records: Vec<ProposedRecord>) -> Proposal {
        Proposal {
            version: 1,
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            records,
            issues: vec![],
            blocked: false,
            llm: LlmSummary::new("stub".into(), &[]),
            salesforce: SalesforceSummary::default(),
        }
    }

    fn case() -> NoteCase {
        serde_json::from_value(json!({
            "id": "two", "today": "2026-11-25",
            "note": "Met Daniel Reed (Apex Corp), daniel@apex.example, and Maya Chen of Northstar Labs.",
            "expect": [
                {"object": "Lead", "action": "create", "fields": {
                    "FirstName": "Daniel", "LastName": "Reed", "Company": "Apex Corp",
                    "Email": "daniel@apex.example", "Description": {"from_notes": true}}},
                {"object": "Lead", "action": "create", "fields": {
                    "FirstName": "Maya", "LastName": "Chen", "Company": "Northstar Labs",
                    "LeadSource": {"optional": "Trade Show"}}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn every_figure_of_a_mixed_draft() {
        let mut maya = record(
            "Lead",
            "create",
            vec![
                field("FirstName", json!("Maya"), true),
                field("LastName", json!("Chen"), true),
                // Wrong and flagged: not a leak.
                field("Company", json!("Apex Corp"), true),
                // Invented and written: a leak.
                field("Phone", json!("+1 555 0100"), true),
                // Right but held back: a false alarm.
                field("LeadSource", json!("Trade Show"), false),
            ],
        );
        maya.issues.push(Issue::warning(
            IssueKind::NotInNotes,
            Some("Company"),
            "flag",
        ));
        let daniel = record(
            "Lead",
            "create",
            vec![
                field("FirstName", json!("Daniel"), true),
                field("LastName", json!("Reed"), true),
                field("Email", json!("DANIEL@apex.example"), true),
                field("Description", json!("Met Daniel Reed of Apex Corp"), true),
            ],
        );
        // A record nobody asked for: its written value leaks.
        let phantom = record(
            "Lead",
            "create",
            vec![field("LastName", json!("Manager"), true)],
        );
        let s = score_note(&case(), Ok(&proposal(vec![maya, daniel, phantom])));
        assert_eq!(s.proposed, 10);
        assert_eq!(s.written, 8);
        assert_eq!(s.right_written, 6);
        assert_eq!(s.leaks.len(), 2);
        assert_eq!(s.false_alarms, 1);
        // Required: Daniel 4, Maya 3; recalled: Daniel 3 (+ Description is optional), Maya 2.
        assert_eq!((s.expected_values, s.recalled), (7, 5));
        assert_eq!(
            (s.expected_records, s.actions_right, s.extra_records),
            (2, 2, 1)
        );
        assert_eq!(s.leaks[0].field, "Phone");
        assert_eq!(s.leaks[1].expected, "a record the notes do not call for");
    }

    #[test]
    fn a_wrong_action_makes_its_written_values_leaks_unless_a_person_must_decide() {
        let c = case();
        let updated = record(
            "Lead",
            "update",
            vec![
                field("FirstName", json!("Daniel"), true),
                field("LastName", json!("Reed"), true),
            ],
        );
        let s = score_note(&c, Ok(&proposal(vec![updated])));
        assert_eq!((s.written, s.leaks.len(), s.actions_right), (2, 2, 0));
        let ambiguous = record(
            "Lead",
            "ambiguous",
            vec![field("FirstName", json!("Daniel"), true)],
        );
        let s = score_note(&c, Ok(&proposal(vec![ambiguous])));
        assert_eq!((s.written, s.leaks.len()), (0, 0));
    }

    #[test]
    fn a_failed_draft_proposes_nothing_and_misses_everything() {
        let s = score_note(&case(), Err("timeout".into()));
        assert_eq!(
            (s.proposed, s.written, s.recalled, s.expected_values),
            (0, 0, 0, 7)
        );
        assert_eq!(s.failed.as_deref(), Some("timeout"));
    }
}
