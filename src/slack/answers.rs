//! An answer in Slack: the rows as lines with links to the records, counts and totals
//! computed in code, the SOQL that ran, and the model's short summary when there is one.
//! Cut to Block Kit's limits with "and N more".

use serde::Serialize;
use serde_json::Value;

use super::cards::{Card, cut, esc};
use super::templates::{TemplateError, Templates};
use crate::domain::schema::FieldKind;
use crate::domain::validate::show_number;
use crate::flow::ask::{Answer, Rows, describe, partly_read};

/// Rows shown in Slack at most; the rest is counted.
const MAX_ROWS_SHOWN: usize = 40;
const SECTION_CHARS: usize = 2_900;
const TEXT_BUDGET: usize = 10_000;

pub const CHANGE: &str = "I only read Salesforce when asked a question. To change records, log what happened with `/crm log <notes>`: you see a draft and approve it before anything is written.";
pub const NOT_A_QUESTION: &str = "I answer questions about your pipeline, e.g. _open deals over $20k closing this month?_ or _contacts at Globex_. To record a meeting, use `/crm log <notes>`.";
pub const OFFLINE: &str = "crmbot runs with the offline `rules` model, which reads only simple questions (leads, contacts, deals, accounts or tasks; at a name; open; my; over an amount; this month or quarter). Ask your admin to set LLM_API_KEY for a model.";

#[derive(Serialize)]
struct AnswerView {
    lead: String,
    chunks: Vec<String>,
    notes: Vec<String>,
    soql: Option<String>,
}

pub fn render_answer(
    templates: &Templates,
    question: &str,
    answer: &Answer,
) -> Result<Card, TemplateError> {
    let q = format!(
        "> {}",
        esc(&cut(question.trim(), 300)).replace('\n', "\n> ")
    );
    let soql_line = |soql: &str| Some(format!("Query: `{}`", esc(&cut(soql, 2_800))));
    let (view, text) = match answer {
        Answer::Rows(rows) => rows_view(&q, rows),
        Answer::NoRows { soql, .. } => (
            AnswerView {
                lead: format!("{q}\nNothing matches: no records were found."),
                chunks: vec![],
                notes: vec![],
                soql: soql_line(soql),
            },
            "Nothing matches.".to_string(),
        ),
        Answer::Refused { problems, .. } => (
            AnswerView {
                lead: format!(
                    "{q}\n:no_entry: I could not answer that safely: {}. Try rephrasing with the objects and fields crmbot may read.",
                    esc(&cut(&describe(problems), 2_000))
                ),
                chunks: vec![],
                notes: vec![],
                soql: None,
            },
            "I could not answer that.".to_string(),
        ),
        Answer::PartlyRead { words, .. } => (
            AnswerView {
                lead: format!("{q}\n:warning: {}", esc(&cut(&partly_read(words), 2_000))),
                chunks: vec![],
                notes: vec![],
                soql: None,
            },
            "I could not read all of that question, so I did not answer it.".to_string(),
        ),
        Answer::WhoAreYou { words, .. } => (
            AnswerView {
                lead: format!("{q}\n:bust_in_silhouette: {}", esc(&cut(words, 2_000))),
                chunks: vec![],
                notes: vec![],
                soql: None,
            },
            "crmbot cannot tell who you are in Salesforce.".to_string(),
        ),
        Answer::Change => simple(&q, CHANGE),
        Answer::NotAQuestion => simple(&q, NOT_A_QUESTION),
        Answer::Offline => simple(&q, OFFLINE),
    };
    let blocks = templates.render("answer", &view)?;
    Ok(Card { text, blocks })
}

fn simple(q: &str, text: &str) -> (AnswerView, String) {
    (
        AnswerView {
            lead: format!("{q}\n{text}"),
            chunks: vec![],
            notes: vec![],
            soql: None,
        },
        cut(text, 2_000),
    )
}

fn rows_view(q: &str, a: &Rows) -> (AnswerView, String) {
    let count = a.rows.len();
    let noun = if count == 1 {
        a.label.clone()
    } else {
        format!("{} records", a.label)
    };
    let mut lead = format!("{q}\n*{count} {noun}*");
    if let Some(s) = &a.summary {
        lead.push_str(&format!("\n{}", esc(&cut(s, 1_500))));
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut used = lead.chars().count();
    let mut shown = 0;
    for row in a.rows.iter().take(MAX_ROWS_SHOWN) {
        let line = row_line(a, row);
        let len = line.chars().count() + 1;
        if used + len > TEXT_BUDGET {
            break;
        }
        if current.chars().count() + len > SECTION_CHARS {
            chunks.push(std::mem::take(&mut current));
        }
        current.push_str(&line);
        current.push('\n');
        used += len;
        shown += 1;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let mut notes = Vec::new();
    if shown < count {
        notes.push(format!("…and {} more not shown here.", count - shown));
    }
    for (label, total) in &a.totals {
        notes.push(format!("Total {}: {total} over {count} rows", esc(label)));
    }
    if a.capped {
        notes.push(format!(
            "Capped at {} rows, the most crmbot shows at once.",
            a.plan.limit
        ));
    } else if a.maybe_more {
        notes.push(format!(
            "Showing the first {} — there may be more; ask for more or narrow the question.",
            a.plan.limit
        ));
    }
    let text = format!("{count} {noun}");
    (
        AnswerView {
            lead: cut(&lead, SECTION_CHARS),
            chunks,
            notes,
            soql: Some(format!("Query: `{}`", esc(&cut(&a.soql, 2_800)))),
        },
        text,
    )
}

fn row_line(a: &Rows, row: &crate::flow::ask::Row) -> String {
    let name_col = a
        .columns
        .iter()
        .position(|c| matches!(c.path.as_str(), "Name" | "Subject"));
    let mut parts: Vec<String> = Vec::new();
    for (i, (c, v)) in a.columns.iter().zip(&row.values).enumerate() {
        let shown = display(c.kind, v);
        if Some(i) == name_col {
            let name = esc(&cut(&shown, 120));
            parts.insert(
                0,
                match &row.url {
                    Some(url) => format!("<{url}|{name}>"),
                    None => name,
                },
            );
        } else if !shown.is_empty() {
            parts.push(esc(&cut(&shown, 80)));
        }
    }
    if name_col.is_none()
        && let Some(url) = &row.url
    {
        parts.insert(0, format!("<{url}|open>"));
    }
    format!("• {}", parts.join(" · "))
}

fn display(kind: FieldKind, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Number(n) => match (kind, n.as_f64()) {
            (FieldKind::Currency | FieldKind::Double | FieldKind::Int, Some(f)) => show_number(f),
            (FieldKind::Percent, Some(f)) => format!("{}%", show_number(f)),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{PlanProblem, ValidatedPlan};
    use crate::flow::ask::{Column, Row};
    use serde_json::json;
    use slack_morphism::prelude::SlackBlock;

    fn rows(n: usize) -> Rows {
        Rows {
            object: "Opportunity".into(),
            label: "Opportunity".into(),
            soql: "SELECT Id, Name, Amount FROM Opportunity LIMIT 20".into(),
            plan: ValidatedPlan {
                object: "Opportunity".into(),
                fields: vec!["Id".into(), "Name".into(), "Amount".into()],
                filters: vec![],
                sort: vec![],
                limit: 20,
                capped: false,
            },
            plan_json: json!({}),
            columns: vec![
                Column {
                    path: "Name".into(),
                    label: "Name".into(),
                    kind: FieldKind::String,
                },
                Column {
                    path: "Amount".into(),
                    label: "Amount".into(),
                    kind: FieldKind::Currency,
                },
            ],
            rows: (0..n)
                .map(|i| Row {
                    id: Some(format!("006{i:015}")),
                    url: Some(format!("https://x/lightning/r/Opportunity/006{i:015}/view")),
                    values: vec![
                        json!(format!("Deal <{i}> & co {}", "x".repeat(200))),
                        json!(25000),
                    ],
                })
                .collect(),
            capped: false,
            maybe_more: n >= 20,
            totals: vec![("Amount".into(), "50,000".into())],
            summary: Some("Two deals.".into()),
        }
    }

    fn fits(card: &Card) {
        let blocks = card.blocks.as_array().unwrap();
        assert!(blocks.len() <= 50);
        let parsed: Result<Vec<SlackBlock>, _> = serde_json::from_value(card.blocks.clone());
        assert!(parsed.is_ok(), "{parsed:?}");
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
    }

    #[test]
    fn rows_link_to_records_with_totals_and_the_query() {
        let t = Templates::load(None).unwrap();
        let card = render_answer(&t, "big deals?", &Answer::Rows(Box::new(rows(2)))).unwrap();
        fits(&card);
        let all = card.blocks.to_string();
        assert!(
            all.contains(
                "<https://x/lightning/r/Opportunity/006000000000000000/view|Deal &lt;0&gt; &amp; co"
            ),
            "{all}"
        );
        assert!(all.contains("Total Amount: 50,000 over 2 rows"));
        assert!(all.contains("Query: `SELECT Id, Name, Amount FROM Opportunity LIMIT 20`"));
        assert!(all.contains("Two deals."));
    }

    #[test]
    fn many_rows_are_cut_with_and_n_more() {
        let t = Templates::load(None).unwrap();
        let card = render_answer(&t, "all deals", &Answer::Rows(Box::new(rows(200)))).unwrap();
        fits(&card);
        assert!(card.blocks.to_string().contains("more not shown here"));
    }

    #[test]
    fn refusals_and_pointers_render() {
        let t = Templates::load(None).unwrap();
        for a in [
            Answer::Change,
            Answer::NotAQuestion,
            Answer::Offline,
            Answer::NoRows {
                soql: "SELECT Id FROM Lead".into(),
                plan_json: json!({}),
            },
            Answer::Refused {
                problems: vec![PlanProblem {
                    path: "object".into(),
                    message: "User is not queryable".into(),
                }],
                plan_json: json!({}),
            },
            Answer::PartlyRead {
                words: vec!["gone quiet since September".into()],
                plan_json: json!({}),
            },
            Answer::WhoAreYou {
                words: "Your Slack email a@b.example matches no active Salesforce user".into(),
                plan_json: json!({}),
            },
        ] {
            let card = render_answer(&t, "q", &a).unwrap();
            fits(&card);
        }
    }
}
