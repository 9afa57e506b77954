//! `crmbot eval`: runs a labelled corpus through the configured model and the whole drafting
//! and question pipeline against an in-process sandbox with its demo data (nothing is
//! written: drafting and questions only read), and measures what one click on Approve would
//! write — field precision and recall, the leak rate, false alarms, action accuracy — and how
//! questions fare, with the model's calls, retries, tokens and latency.

pub mod corpus;
mod report;
pub mod score;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::domain::notes::Notes;
use crate::domain::soql::quote;
use crate::flow::ask::{Answer, AskRequest, Asker, Asking};
use crate::flow::drafting::Drafting;
use crate::llm::{Llm, LlmCall};
use crate::salesforce::SalesforceClient;
use corpus::{Corpus, NoteCase, QuestionCase};
pub use report::{Report, render_table};
use score::{NoteScore, score_note};

/// Who asks the corpus's questions ("my deals"): a user of the sandbox's demo data.
pub const ASKER_EMAIL: &str = "dana.lee@crmbot.example";

/// The figures of one question.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionScore {
    pub id: String,
    /// rows, no_rows, refused, partly_read, change, offline, not_a_question, failed.
    pub outcome: String,
    pub expects_rows: bool,
    /// A plan was accepted and ran.
    pub plan_valid: bool,
    /// The rows are exactly the expected ones (or a refusal was expected and given).
    pub correct: bool,
    /// Rows were listed that are not the expected answer: a wrong answer presented as right.
    pub wrong_answer: bool,
    pub got: Vec<String>,
    pub detail: String,
}

/// Cost of one item (a note or a question).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    pub calls: usize,
    pub retries: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: u64,
}

impl Cost {
    fn of(calls: &[LlmCall], latency_ms: u64) -> Cost {
        let real: Vec<&LlmCall> = calls.iter().filter(|c| c.provider != "rules").collect();
        Cost {
            calls: real.len(),
            retries: real.iter().map(|c| c.retries).sum::<u32>()
                + real.iter().filter(|c| c.purpose == "repair").count() as u32,
            prompt_tokens: real.iter().map(|c| c.usage.prompt_tokens).sum(),
            completion_tokens: real.iter().map(|c| c.usage.completion_tokens).sum(),
            latency_ms,
        }
    }
}

struct EvalAsker;

impl Asker for EvalAsker {
    fn key(&self) -> String {
        "eval".into()
    }
    fn email(&self) -> futures::future::BoxFuture<'_, Option<String>> {
        Box::pin(async { Some(ASKER_EMAIL.to_string()) })
    }
}

/// Why the eval could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot start the local Salesforce: {0}")]
    Sandbox(String),
    #[error("Salesforce client: {0}")]
    Salesforce(#[from] crate::salesforce::SalesforceError),
    #[error("model: {0}")]
    Llm(#[from] crate::llm::LlmError),
}

/// Runs the corpus. `progress(done, total, id)` is called after each item.
pub async fn run(
    config: &Config,
    corpus: &Corpus,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Report, EvalError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| EvalError::Sandbox(e.to_string()))?;
    let sandbox = crate::sandbox::start(listener, crate::sandbox::SandboxOptions::default())
        .await
        .map_err(|e| EvalError::Sandbox(e.to_string()))?;
    let mut config = config.clone();
    let base = sandbox.base_url();
    config.salesforce.instance_url = base.parse().ok();
    config.salesforce.access_token =
        Some(secrecy::SecretString::from(crate::sandbox::DEFAULT_TOKEN));
    let client = SalesforceClient::new(&config.salesforce)?;
    let llm = Arc::new(Llm::from_settings(&config.llm)?);
    let probe = llm.startup_report().await;
    let drafting = Drafting::new(
        client.clone(),
        llm.clone(),
        config.objects.clone(),
        config.drafting.clone(),
        base.trim_end_matches('/').to_string(),
    );
    let asking = Asking::new(client.clone(), llm.clone(), config.ask.clone());
    let total = corpus.notes.len() + corpus.questions.len();
    let mut notes = Vec::new();
    for (i, case) in corpus.notes.iter().enumerate() {
        notes.push(run_note(&drafting, case).await);
        progress(i + 1, total, &case.id);
    }
    let mut questions = Vec::new();
    for (i, case) in corpus.questions.iter().enumerate() {
        questions.push(run_question(&asking, &client, case).await);
        progress(corpus.notes.len() + i + 1, total, &case.id);
    }
    drop(sandbox);
    Ok(Report::new(
        llm.describe(),
        probe,
        corpus.source.clone(),
        notes,
        questions,
    ))
}

async fn run_note(drafting: &Drafting, case: &NoteCase) -> (NoteScore, Cost) {
    let started = Instant::now();
    let outcome = drafting
        .draft(&Notes::new(case.note.as_str()), case.today)
        .await;
    let latency = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(p) => (score_note(case, Ok(&p)), Cost::of(&p.llm.detail, latency)),
        Err(e) => (
            score_note(case, Err(e.to_string())),
            Cost {
                latency_ms: latency,
                ..Cost::default()
            },
        ),
    }
}

async fn run_question(
    asking: &Asking,
    client: &SalesforceClient,
    case: &QuestionCase,
) -> (QuestionScore, Cost) {
    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    let result = asking
        .ask_traced(&AskRequest {
            question: &case.question,
            today,
            previous: None,
            asker: &EvalAsker,
            scope: None,
            client: None,
        })
        .await;
    let latency = started.elapsed().as_millis() as u64;
    let expects_rows = case.expect.rows.is_some();
    let mut s = QuestionScore {
        id: case.id.clone(),
        outcome: String::new(),
        expects_rows,
        plan_valid: false,
        correct: false,
        wrong_answer: false,
        got: vec![],
        detail: String::new(),
    };
    let (answer, calls) = match result {
        Ok(a) => a,
        Err(e) => {
            s.outcome = "failed".into();
            s.detail = e.to_string();
            return (s, Cost::of(&[], latency));
        }
    };
    let cost = Cost::of(&calls, latency);
    let (outcome, object, ids): (&str, Option<String>, Vec<String>) = match &answer {
        Answer::Rows(r) => (
            "rows",
            Some(r.object.clone()),
            r.rows.iter().filter_map(|row| row.id.clone()).collect(),
        ),
        Answer::NoRows { plan_json, .. } => (
            "no_rows",
            plan_json["object"].as_str().map(str::to_string),
            vec![],
        ),
        Answer::Refused { problems, .. } => {
            s.detail = crate::flow::ask::describe(problems);
            ("refused", None, vec![])
        }
        Answer::PartlyRead { words, .. } => {
            s.detail = words.join(", ");
            ("partly_read", None, vec![])
        }
        Answer::WhoAreYou { words, .. } => {
            s.detail = words.clone();
            ("who_are_you", None, vec![])
        }
        Answer::Change => ("change", None, vec![]),
        Answer::Offline => ("offline", None, vec![]),
        Answer::NotAQuestion => ("not_a_question", None, vec![]),
    };
    s.outcome = outcome.into();
    let answered = matches!(outcome, "rows" | "no_rows");
    s.plan_valid = answered;
    if answered && let Some(object) = &object {
        s.got = names(client, object, &ids).await;
    }
    match &case.expect.rows {
        Some(want) => {
            let same_object = object.as_deref() == case.expect.object.as_deref();
            let mut want: Vec<String> = want.iter().map(|w| w.to_lowercase()).collect();
            let mut got: Vec<String> = s.got.iter().map(|g| g.to_lowercase()).collect();
            want.sort();
            got.sort();
            s.correct = answered && same_object && want == got;
            s.wrong_answer = answered && !s.correct;
            if s.wrong_answer {
                s.detail = format!(
                    "expected {} {:?}, got {} {:?}",
                    case.expect.object.as_deref().unwrap_or(""),
                    want,
                    object.as_deref().unwrap_or(""),
                    got
                );
            }
        }
        None => {
            s.correct = !answered;
            // Any rows shown for a question that cannot be answered present a wrong answer.
            s.wrong_answer = outcome == "rows";
        }
    }
    (s, cost)
}

/// The display names of records by id: `Name`, or `Subject` for a Task.
async fn names(client: &SalesforceClient, object: &str, ids: &[String]) -> Vec<String> {
    if ids.is_empty() {
        return vec![];
    }
    let field = if object == "Task" { "Subject" } else { "Name" };
    let list: Vec<String> = ids.iter().map(|i| quote(i)).collect();
    let soql = format!(
        "SELECT Id, {field} FROM {object} WHERE Id IN ({})",
        list.join(", ")
    );
    match client.query(&soql).await {
        Ok(r) => r
            .records
            .iter()
            .filter_map(|row| row.get(field).and_then(Value::as_str).map(str::to_string))
            .collect(),
        Err(_) => ids.to_vec(),
    }
}
