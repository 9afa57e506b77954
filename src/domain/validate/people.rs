//! Checks across the records of one draft. When notes mention several people, a value must
//! be said of the record it is on: Maya's phone on Daniel's Lead is in the notes, but not
//! about Daniel. And one person must not be drafted twice (a phantom second Lead carrying
//! the first one's email).

use super::grounding::Grounding;
use crate::domain::draft::{FieldValue, Issue, IssueKind, RecordDraft, ValidatedDraft};
use crate::domain::schema::{CrmSchema, FieldKind};

/// Fields whose values name the record itself; the other values are placed relative to them.
const ANCHORS: &[&str] = &["LastName", "Name", "Email"];

/// Which records compete for a value: people with people, other objects among themselves.
fn group(r: &RecordDraft) -> String {
    if r.value("LastName").is_some() || r.value("Email").is_some() {
        "person".into()
    } else {
        r.object.clone()
    }
}

fn anchors(r: &RecordDraft, g: &Grounding) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for f in &r.fields {
        if ANCHORS.contains(&f.name.as_str())
            && let FieldValue::Text(t) = &f.value
        {
            spans.extend(g.occurrences(t));
        }
    }
    if let Some(lookup) = &r.lookup {
        for (_, v) in &lookup.criteria {
            spans.extend(g.occurrences(v));
        }
    }
    spans
}

fn distance(a: (usize, usize), b: (usize, usize)) -> usize {
    if a.1 <= b.0 {
        b.0 - a.1
    } else {
        a.0.saturating_sub(b.1)
    }
}

/// Holds back a text value whose every mention in the notes is nearest the name of another
/// record that does not carry it too (a company said once for a whole list of people stands).
pub(super) fn said_of_someone_else(
    draft: &mut ValidatedDraft,
    schema: &CrmSchema,
    g: &Grounding,
    hold: bool,
) {
    let anchor_spans: Vec<Vec<(usize, usize)>> =
        draft.records.iter().map(|r| anchors(r, g)).collect();
    let groups: Vec<String> = draft.records.iter().map(group).collect();
    let mut verdicts: Vec<(usize, String, Issue)> = Vec::new();
    for i in 0..draft.records.len() {
        let rivals: Vec<usize> = (0..draft.records.len())
            .filter(|j| *j != i && groups[*j] == groups[i] && !anchor_spans[*j].is_empty())
            .collect();
        if anchor_spans[i].is_empty() || rivals.is_empty() {
            continue;
        }
        let record = &draft.records[i];
        let object = schema.object(&record.object);
        for f in record.fields.iter().filter(|f| f.include) {
            let Some(field) = object.and_then(|o| o.field(&f.name)) else {
                continue;
            };
            let FieldValue::Text(text) = &f.value else {
                continue;
            };
            if ANCHORS.contains(&f.name.as_str())
                || field.free_text
                || !matches!(
                    field.kind,
                    FieldKind::String | FieldKind::Phone | FieldKind::Url | FieldKind::Combobox
                )
            {
                continue;
            }
            let nearest = |spans: &[(usize, usize)], m: (usize, usize)| {
                spans
                    .iter()
                    .map(|s| distance(*s, m))
                    .min()
                    .unwrap_or(usize::MAX)
            };
            let carries = |j: usize| {
                matches!(draft.records[j].value(&f.name),
                         Some(FieldValue::Text(t)) if t.eq_ignore_ascii_case(text))
            };
            let mentions = g.occurrences(text);
            let ours = mentions.iter().any(|m| {
                let own = nearest(&anchor_spans[i], *m);
                rivals
                    .iter()
                    .all(|j| nearest(&anchor_spans[*j], *m) >= own || carries(*j))
            });
            if !mentions.is_empty() && !ours {
                verdicts.push((
                    i,
                    f.name.clone(),
                    Issue::warning(
                        IssueKind::NotInNotes,
                        Some(&field.name),
                        format!(
                            "{} \"{text}\" is said of someone else in your notes{}",
                            field.label,
                            if hold {
                                "; it will not be written unless you keep it"
                            } else {
                                ""
                            }
                        ),
                    ),
                ));
            }
        }
    }
    for (i, name, issue) in verdicts {
        let record = &mut draft.records[i];
        if let Some(f) = record.fields.iter_mut().find(|f| f.name == name) {
            f.include = !hold;
            // Its words in the notes are about someone else: no quote stands for it.
            f.evidence = None;
        }
        record.issues.push(issue);
    }
}

/// Blocks a record that repeats a person already in the draft (same email, or same first
/// and last name).
pub(super) fn repeated(draft: &mut ValidatedDraft) {
    let key = |r: &RecordDraft| -> Vec<String> {
        let text = |f: &str| match r.value(f) {
            Some(FieldValue::Text(t)) => Some(t.trim().to_lowercase()),
            _ => None,
        };
        let mut keys = Vec::new();
        if let Some(e) = text("Email") {
            keys.push(format!("email {e}"));
        }
        if let (Some(a), Some(b)) = (text("FirstName"), text("LastName")) {
            keys.push(format!("name {a} {b}"));
        }
        keys
    };
    let keys: Vec<Vec<String>> = draft.records.iter().map(key).collect();
    for i in 1..draft.records.len() {
        let Some(first) = (0..i).find(|j| keys[*j].iter().any(|k| keys[i].contains(k))) else {
            continue;
        };
        let who = keys[i]
            .iter()
            .find(|k| keys[first].contains(k))
            .map(|k| k.split_once(' ').map_or(k.as_str(), |(_, v)| v).to_string())
            .unwrap_or_default();
        draft.records[i].issues.push(Issue::blocking(
            IssueKind::Repeated,
            None,
            format!(
                "{who} is already record {} of this draft; edit this record ({}) or reject the draft and log it again",
                first + 1,
                i + 1
            ),
        ));
    }
}
