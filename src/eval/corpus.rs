//! The labelled corpus `crmbot eval` runs: notes with the records a careful person would
//! approve, and questions with the rows their answer must list, both against the sandbox's
//! demo data. The format is documented in `eval/README.md`; the built-in corpus is compiled
//! in from `eval/`, and `--corpus DIR` reads a team's own `notes.json` / `questions.json`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const BUILT_IN_NOTES: &str = include_str!("../../eval/notes.json");
const BUILT_IN_QUESTIONS: &str = include_str!("../../eval/questions.json");

/// A whole corpus.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Where it came from ("built-in" or a folder).
    pub source: String,
    pub notes: Vec<NoteCase>,
    pub questions: Vec<QuestionCase>,
}

/// One note and what should come of it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoteCase {
    pub id: String,
    /// The day the note was written; relative dates resolve against it.
    pub today: NaiveDate,
    pub note: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The records a careful person would approve, in any order.
    pub expect: Vec<ExpectedRecord>,
    /// A stub model's reply for this note (tests of the eval's arithmetic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_reply: Option<Value>,
}

/// One expected record.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRecord {
    pub object: String,
    /// create, update, ambiguous or not_found (against the sandbox's demo data).
    pub action: String,
    /// Field -> expectation. A field not listed must stay empty: any value written to it is
    /// wrong.
    #[serde(default)]
    pub fields: BTreeMap<String, Expect>,
}

/// What a field should hold.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Expect {
    /// `{"optional": v}` or `{"optional": [v1, v2]}`: leaving it empty is fine; a value
    /// must be one of these.
    Optional { optional: Value },
    /// `{"one_of": [v1, v2]}`: one of these values.
    OneOf { one_of: Vec<Value> },
    /// `{"from_notes": true}`: free text, optional, right when drawn from the notes.
    FromNotes { from_notes: bool },
    /// A plain value: exactly this (text ignoring case and spacing). `null`: stays empty.
    Exact(Value),
}

impl Expect {
    /// True when an empty field is a miss (counts in recall).
    pub fn required(&self) -> bool {
        match self {
            Expect::Exact(v) => !v.is_null(),
            Expect::OneOf { .. } => true,
            Expect::Optional { .. } | Expect::FromNotes { .. } => false,
        }
    }
}

/// One question and its expected answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionCase {
    pub id: String,
    pub question: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub expect: ExpectedAnswer,
    /// A stub model's plan for this question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_reply: Option<Value>,
}

/// Rows (by name) of one object, or a refusal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAnswer {
    /// The object the rows are (`Opportunity`); absent for a refusal.
    #[serde(default)]
    pub object: Option<String>,
    /// The names of every row the answer must list (Name, or Subject for a Task), in any
    /// order; `[]` means "nothing matches".
    #[serde(default)]
    pub rows: Option<Vec<String>>,
    /// `refuse`: the question cannot be answered from the allowed fields (or asks for a
    /// change); any rows in the answer are wrong.
    #[serde(default)]
    pub answer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

#[derive(Deserialize)]
struct NotesFile {
    notes: Vec<NoteCase>,
}

#[derive(Deserialize)]
struct QuestionsFile {
    questions: Vec<QuestionCase>,
}

impl Corpus {
    /// The corpus compiled into crmbot (`eval/` in the repository).
    pub fn built_in() -> Result<Corpus, CorpusError> {
        Ok(Corpus {
            source: "built-in".into(),
            notes: parse_notes(BUILT_IN_NOTES, "eval/notes.json")?,
            questions: parse_questions(BUILT_IN_QUESTIONS, "eval/questions.json")?,
        })
    }

    /// `notes.json` and `questions.json` from `dir`; either may be missing, not both.
    pub fn load(dir: &Path) -> Result<Corpus, CorpusError> {
        let read = |name: &str| -> Result<Option<(String, String)>, CorpusError> {
            let path = dir.join(name);
            if !path.exists() {
                return Ok(None);
            }
            let shown = path.display().to_string();
            std::fs::read_to_string(&path)
                .map(|t| Some((t, shown.clone())))
                .map_err(|e| CorpusError::Read {
                    path: shown,
                    message: e.to_string(),
                })
        };
        let notes = match read("notes.json")? {
            Some((text, path)) => parse_notes(&text, &path)?,
            None => Vec::new(),
        };
        let questions = match read("questions.json")? {
            Some((text, path)) => parse_questions(&text, &path)?,
            None => Vec::new(),
        };
        if notes.is_empty() && questions.is_empty() {
            return Err(CorpusError::Read {
                path: dir.display().to_string(),
                message: "no notes.json or questions.json with cases in it".into(),
            });
        }
        Ok(Corpus {
            source: dir.display().to_string(),
            notes,
            questions,
        })
    }
}

fn parse_notes(text: &str, path: &str) -> Result<Vec<NoteCase>, CorpusError> {
    let file: NotesFile = serde_json::from_str(text).map_err(|e| CorpusError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    for n in &file.notes {
        for r in &n.expect {
            if !matches!(
                r.action.as_str(),
                "create" | "update" | "ambiguous" | "not_found"
            ) {
                return Err(CorpusError::Parse {
                    path: path.into(),
                    message: format!(
                        "{}: action '{}' is not create, update, ambiguous or not_found",
                        n.id, r.action
                    ),
                });
            }
        }
    }
    Ok(file.notes)
}

fn parse_questions(text: &str, path: &str) -> Result<Vec<QuestionCase>, CorpusError> {
    let file: QuestionsFile = serde_json::from_str(text).map_err(|e| CorpusError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    for q in &file.questions {
        let e = &q.expect;
        let ok = match (&e.rows, e.answer.as_deref()) {
            (Some(_), None) => e.object.is_some(),
            (None, Some("refuse")) => true,
            _ => false,
        };
        if !ok {
            return Err(CorpusError::Parse {
                path: path.into(),
                message: format!(
                    "{}: expect needs \"object\" and \"rows\", or \"answer\": \"refuse\"",
                    q.id
                ),
            });
        }
    }
    Ok(file.questions)
}
