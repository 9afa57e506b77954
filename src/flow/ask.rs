//! Asking the CRM: question -> plan (the model) -> validated plan -> SOQL (code) -> rows ->
//! an answer computed in code (counts, totals, links), plus an optional summary the model
//! writes from the returned rows alone. One query request per page of results; a question
//! that asks for a change is pointed at `/crm log` and never executed.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing::{info, instrument, warn};

use super::people::{Mapping, People};
use super::policy::AnswerScope;
use super::proposal::record_url;
use super::query_schema::query_schema;
use crate::config::AskSettings;
use crate::domain::plan::{
    PlanLimits, PlanProblem, QueryField, QuerySchema, ValidatedPlan, mentions_me, validate_plan,
};
use crate::domain::schema::FieldKind;
use crate::domain::soql::compile;
use crate::domain::validate::show_number;
use crate::llm::plan::PlanRequest;
use crate::llm::{Llm, LlmCall, LlmError};
use crate::salesforce::{SalesforceClient, SalesforceError};

/// Rows sent to the model for a summary, at most.
const SUMMARY_ROWS: usize = 50;
/// Stand-in owner id while checking a plan's shape, before "$me" is looked up.
const SOMEONE: &str = "005000000000000AAA";

pub use super::people::Asker;

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("Could not plan the question: {0}")]
    Llm(#[from] LlmError),
    /// Every Salesforce error names Salesforce already.
    #[error("{0}")]
    Salesforce(#[from] SalesforceError),
}

/// A column of the answer.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub path: String,
    pub label: String,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub object: String,
    pub label: String,
    pub soql: String,
    pub plan: ValidatedPlan,
    /// The model's plan as accepted (kept per thread for follow-ups).
    pub plan_json: Value,
    pub columns: Vec<Column>,
    /// Each row's values by column path, plus its record link.
    pub rows: Vec<Row>,
    /// The plan asked for more rows than the configured maximum.
    pub capped: bool,
    /// As many rows as the limit: there may be more.
    pub maybe_more: bool,
    /// Sums of currency columns over the rows shown: (label, display).
    pub totals: Vec<(String, String)>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: Option<String>,
    pub url: Option<String>,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Rows(Box<Rows>),
    /// The query ran and matched nothing.
    NoRows {
        soql: String,
        plan_json: Value,
    },
    /// The question asks for a change: crmbot only reads; `/crm log` writes.
    Change,
    /// Not a question about the CRM.
    NotAQuestion,
    /// The offline `rules` model cannot plan questions.
    Offline,
    /// The plan was refused; the problems say why.
    Refused {
        problems: Vec<PlanProblem>,
        plan_json: Value,
    },
    /// The question is about "my" records and crmbot cannot tell who is asking in
    /// Salesforce: `words` say why and how to fix it.
    WhoAreYou {
        words: String,
        plan_json: Value,
    },
    /// Part of the question could not be turned into conditions: answering the rest would
    /// answer a different question, so nothing ran. `words` are the parts not understood.
    PartlyRead {
        words: Vec<String>,
        plan_json: Value,
    },
}

pub struct AskRequest<'a> {
    pub question: &'a str,
    pub today: NaiveDate,
    /// The last accepted plan of this thread (follow-ups refine it).
    pub previous: Option<&'a Value>,
    pub asker: &'a dyn Asker,
    /// What the answer may show (`policy.answers`); `None`: all of `[ask.objects]`.
    pub scope: Option<&'a AnswerScope>,
    /// Runs the query as this client (the asker's own, in user mode); `None`: crmbot's.
    pub client: Option<&'a SalesforceClient>,
}

/// The question use case, shared by Slack and the command line. Cheap to clone.
#[derive(Clone)]
pub struct Asking {
    sf: SalesforceClient,
    llm: Arc<Llm>,
    settings: AskSettings,
    /// Who "$me" is.
    people: People,
}

impl Asking {
    pub fn new(sf: SalesforceClient, llm: Arc<Llm>, settings: AskSettings) -> Asking {
        Asking {
            people: People::by_email(sf.clone()),
            sf,
            llm,
            settings,
        }
    }

    /// Maps askers with these people (the server's, with its table and Slack profiles).
    pub fn with_people(mut self, people: People) -> Asking {
        self.people = people;
        self
    }

    pub fn instance_url(&self) -> &str {
        self.sf.instance_url()
    }

    pub async fn schema(&self) -> Result<QuerySchema, SalesforceError> {
        self.schema_within(None).await
    }

    /// The query schema, cut to what `scope` lets answers show.
    pub async fn schema_within(
        &self,
        scope: Option<&AnswerScope>,
    ) -> Result<QuerySchema, SalesforceError> {
        let objects = match scope {
            Some(scope) => scope.apply(&self.settings.objects),
            None => self.settings.objects.clone(),
        };
        let (schema, problems) = query_schema(&self.sf, &objects).await?;
        for p in &problems {
            tracing::debug!(key = %p.key, problem = %p.message, "query schema problem");
        }
        Ok(schema)
    }

    pub async fn ask(&self, req: &AskRequest<'_>) -> Result<Answer, AskError> {
        self.ask_traced(req).await.map(|(answer, _)| answer)
    }

    /// `ask`, plus every model call it made (plan, repair, summary).
    #[instrument(skip_all, fields(question_len = req.question.len()))]
    pub async fn ask_traced(
        &self,
        req: &AskRequest<'_>,
    ) -> Result<(Answer, Vec<LlmCall>), AskError> {
        tracing::debug!(question = req.question, "ask");
        if asks_for_change(req.question) {
            return Ok((Answer::Change, Vec::new()));
        }
        let schema = self.schema_within(req.scope).await?;
        let limits = PlanLimits {
            default_limit: self.settings.default_limit,
            max_limit: self.settings.max_limit,
        };
        let check = |v: &Value| -> Result<(), String> {
            if !is_query(v) {
                return Ok(());
            }
            validate_plan(v, &schema, &limits, Some(SOMEONE))
                .map(|_| ())
                .map_err(|problems| describe(&problems))
        };
        let reply = self
            .llm
            .plan(
                &PlanRequest {
                    question: req.question,
                    today: req.today,
                    schema: &schema,
                    previous: req.previous,
                    max_limit: self.settings.max_limit,
                },
                &check,
            )
            .await?;
        let mut calls = reply.calls;
        let plan_json = reply.value;
        match plan_json["intent"].as_str() {
            Some("offline") => return Ok((Answer::Offline, calls)),
            Some("change") => return Ok((Answer::Change, calls)),
            _ if !is_query(&plan_json) => return Ok((Answer::NotAQuestion, calls)),
            _ => {}
        }
        let words = unread(&plan_json);
        if !words.is_empty() {
            info!(unread = words.len(), "question partly read; refused");
            return Ok((Answer::PartlyRead { words, plan_json }, calls));
        }
        let me = if mentions_me(&plan_json) {
            match self.people.map(req.asker).await {
                Mapping::User(user) => Some(user.id),
                Mapping::Unmapped(why) => {
                    let words = format!(
                        "{why}, so crmbot cannot tell which records are yours. {}",
                        req.asker.name_yourself()
                    );
                    return Ok((Answer::WhoAreYou { words, plan_json }, calls));
                }
            }
        } else {
            None
        };
        let plan = match validate_plan(&plan_json, &schema, &limits, me.as_deref()) {
            Ok(p) => p,
            Err(problems) => {
                return Ok((
                    Answer::Refused {
                        problems,
                        plan_json,
                    },
                    calls,
                ));
            }
        };
        let soql = compile(&plan);
        let result = req.client.unwrap_or(&self.sf).query(&soql).await?;
        info!(rows = result.records.len(), "answered");
        if result.records.is_empty() {
            return Ok((Answer::NoRows { soql, plan_json }, calls));
        }
        let Some(object) = schema.objects.get(&plan.object) else {
            return Ok((Answer::NoRows { soql, plan_json }, calls));
        };
        let columns: Vec<Column> = plan
            .fields
            .iter()
            .filter(|f| f.as_str() != "Id")
            .map(|path| {
                let field: Option<&QueryField> = object.fields.iter().find(|f| &f.path == path);
                Column {
                    path: path.clone(),
                    label: field.map_or_else(|| path.clone(), |f| f.label.clone()),
                    kind: field.map_or(FieldKind::String, |f| f.kind),
                }
            })
            .collect();
        let rows: Vec<Row> = result
            .records
            .iter()
            .map(|r| {
                let id = r.get("Id").and_then(Value::as_str).map(str::to_string);
                Row {
                    url: id
                        .as_ref()
                        .map(|id| record_url(self.sf.instance_url(), &plan.object, id)),
                    id,
                    values: columns.iter().map(|c| path_value(r, &c.path)).collect(),
                }
            })
            .collect();
        let totals = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == FieldKind::Currency)
            .map(|(i, c)| {
                let sum: f64 = rows.iter().filter_map(|r| r.values[i].as_f64()).sum();
                (c.label.clone(), show_number(sum))
            })
            .collect();
        let maybe_more = rows.len() as u32 >= plan.limit;
        let mut answer = Rows {
            object: plan.object.clone(),
            label: object.label.clone(),
            soql,
            capped: plan.capped,
            plan,
            plan_json,
            columns,
            rows,
            maybe_more,
            totals,
            summary: None,
        };
        if self.settings.summarize
            && let Some((text, summary_calls)) = self.summary(req.question, &answer).await
        {
            answer.summary = Some(text);
            calls.extend(summary_calls);
        }
        Ok((Answer::Rows(Box::new(answer)), calls))
    }

    async fn summary(&self, question: &str, answer: &Rows) -> Option<(String, Vec<LlmCall>)> {
        let rows: Vec<Value> = answer
            .rows
            .iter()
            .take(SUMMARY_ROWS)
            .map(|r| {
                let m: Map<String, Value> = answer
                    .columns
                    .iter()
                    .zip(&r.values)
                    .map(|(c, v)| (c.label.clone(), v.clone()))
                    .collect();
                Value::Object(m)
            })
            .collect();
        let more = answer.maybe_more || answer.rows.len() > SUMMARY_ROWS;
        match self
            .llm
            .summarize(question, &json!(rows), rows.len(), more)
            .await
        {
            Ok(s) => s.filter(|(t, _)| !t.is_empty()),
            Err(e) => {
                warn!(error = %e, "summary skipped");
                None
            }
        }
    }
}

/// The answer as terminal text (`crmbot ask`).
pub fn render_text(answer: &Answer) -> String {
    match answer {
        Answer::Rows(r) => {
            let mut out = format!("{} {} record(s)\n", r.rows.len(), r.label);
            for row in &r.rows {
                let cells: Vec<String> = row
                    .values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        Value::Null => "-".into(),
                        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), show_number),
                        other => other.to_string(),
                    })
                    .collect();
                out.push_str(&format!("  {}\n", cells.join(" | ")));
            }
            for (label, total) in &r.totals {
                out.push_str(&format!("Total {label}: {total}\n"));
            }
            if r.capped || r.maybe_more {
                out.push_str(&format!("(the first {} rows; there may be more)\n", r.plan.limit));
            }
            if let Some(s) = &r.summary {
                out.push_str(&format!("\n{s}\n"));
            }
            out.push_str(&format!("\nSOQL: {}\n", r.soql));
            out
        }
        Answer::NoRows { soql, .. } => format!("Nothing matches.\nSOQL: {soql}\n"),
        Answer::Refused { problems, .. } => format!("Refused: {}\n", describe(problems)),
        Answer::PartlyRead { words, .. } => format!("{}\n", partly_read(words)),
        Answer::WhoAreYou { words, .. } => format!("{words}\n"),
        Answer::Change => "That asks for a change; crmbot only reads here. Use `/crm log` in Slack (or `crmbot extract`) to draft changes.\n".into(),
        Answer::NotAQuestion => "That is not a question about your CRM records.\n".into(),
        Answer::Offline => "The offline rules model could not read that question (it knows a few keywords: leads, contacts, deals, accounts, tasks; at/for a name; open; my; over an amount; this month/quarter/week). Set LLM_API_KEY (or LLM_PROVIDER and LLM_BASE_URL) for a model.\n".into(),
    }
}

/// What a person reads when part of the question could not be used.
pub fn partly_read(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    format!(
        "I could not use {} of your question, so I did not answer it (answering the rest would answer a different question). Ask again without {}, or with conditions on fields crmbot can read.",
        quoted.join(", "),
        if words.len() == 1 { "it" } else { "them" }
    )
}

/// The parts of the question a plan says it does not express.
fn unread(plan: &Value) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in plan["unread"].as_array().into_iter().flatten() {
        let Some(w) = w.as_str().map(str::trim).filter(|w| !w.is_empty()) else {
            continue;
        };
        let w: String = w.chars().take(80).collect();
        if !words.contains(&w) && words.len() < 10 {
            words.push(w);
        }
    }
    words
}

/// The plan problems as one sentence list, for the person and for the repair prompt.
pub fn describe(problems: &[PlanProblem]) -> String {
    problems
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A plan to run: intent "query", or no intent (design.md's shape) with an object.
fn is_query(plan: &Value) -> bool {
    match plan["intent"].as_str() {
        Some("query") | None => plan["object"].is_string(),
        Some(_) => false,
    }
}

/// `Account.Name` -> row["Account"]["Name"].
fn path_value(row: &Map<String, Value>, path: &str) -> Value {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Value::Null;
    };
    let mut cur = row.get(first).cloned().unwrap_or(Value::Null);
    for p in parts {
        cur = cur.get(p).cloned().unwrap_or(Value::Null);
    }
    cur
}

/// "close the Apex deal", "update ...": a request to change something, not a question.
pub fn asks_for_change(question: &str) -> bool {
    const VERBS: &[&str] = &[
        "close", "update", "create", "delete", "remove", "mark", "set", "change", "assign", "add",
        "log", "move", "rename", "reassign", "convert", "edit", "insert", "make",
    ];
    let first = question
        .trim()
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    let first = if first == "please" {
        question
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_lowercase()
    } else {
        first
    };
    VERBS.contains(&first.trim_matches(|c: char| !c.is_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_requests_are_told_apart_from_questions() {
        assert!(asks_for_change("close the Apex deal"));
        assert!(asks_for_change("Please update Initech's amount to 50k"));
        assert!(asks_for_change("  Mark Globex as won"));
        assert!(!asks_for_change("What's the status of Apex?"));
        assert!(!asks_for_change("open deals over $20k closing this month?"));
        assert!(!asks_for_change("Which deals did we close last month?"));
    }

    #[test]
    fn relationship_paths_read_nested_values() {
        let row: Map<String, Value> = serde_json::from_value(
            json!({"Name": "Deal", "Account": {"Name": "Apex"}, "Owner": null}),
        )
        .unwrap();
        assert_eq!(path_value(&row, "Account.Name"), json!("Apex"));
        assert_eq!(path_value(&row, "Owner.Name"), Value::Null);
        assert_eq!(path_value(&row, "Name"), json!("Deal"));
    }
}
