//! The proposal: a drafted, validated and resolved set of records, in the shape every front
//! end shows (the card, the terminal, `crmbot extract --json`). Its JSON form is a public,
//! stable contract (documented in the README); add fields, never rename them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::draft::{FieldValue, Issue};
use crate::domain::resolve::{Candidate, LinkTarget, RecordAction, ResolvedRecord};
use crate::domain::schema::CrmSchema;
use crate::llm::{LlmCall, Usage};
use crate::salesforce::ApiUsage;

/// Version of the `--json` shape.
pub const PROPOSAL_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub version: u32,
    /// The note's date, against which relative dates were resolved.
    pub today: NaiveDate,
    pub records: Vec<ProposedRecord>,
    /// Issues about the draft as a whole.
    pub issues: Vec<Issue>,
    /// True when any blocking problem must be fixed before approval.
    pub blocked: bool,
    pub llm: LlmSummary,
    pub salesforce: SalesforceSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposedRecord {
    pub object: String,
    pub label: String,
    /// `create`, `update`, `ambiguous` or `not_found`.
    pub action: String,
    /// The existing record (update only).
    pub id: Option<String>,
    /// Link to the existing record in Salesforce (update only).
    pub url: Option<String>,
    /// The existing record's name as Salesforce has it (update only).
    #[serde(default)]
    pub name: Option<String>,
    /// What found the existing record: `lookup`, or the match key (`Email`).
    pub matched_by: Option<String>,
    pub fields: Vec<ProposedField>,
    pub links: Vec<ProposedLink>,
    /// Existing records to choose from (ambiguous only).
    pub candidates: Vec<Candidate>,
    pub issues: Vec<Issue>,
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposedField {
    pub name: String,
    pub label: String,
    /// The value as it will be sent.
    pub value: Value,
    /// The value as a person reads it (`25,000`).
    pub display: String,
    /// The current value in Salesforce (update only; null when empty).
    pub old: Option<Value>,
    /// False when the value is held back from the write (e.g. not in your notes).
    pub include: bool,
    /// False for an update that would not change the current value.
    pub changed: bool,
    /// Free text of an update added below what Salesforce holds (dated and signed): the new
    /// text alone, while `value` is the whole text sent. See `drafting.free_text_updates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<String>,
    /// The words of the notes the value was found in (a short quote computed by the
    /// grounding check, never the model's); absent for a value not in the notes or typed
    /// by a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposedLink {
    /// The reference field (`AccountId`, `WhoId`, `WhatId`).
    pub field: String,
    pub object: String,
    /// `existing`, `in_draft`, `ambiguous` or `not_found`.
    pub status: String,
    /// The existing parent's Id.
    pub id: Option<String>,
    /// The index of the parent among this proposal's records.
    pub record: Option<usize>,
    /// How the model named the parent, when it did.
    pub lookup: Option<Map<String, Value>>,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlmSummary {
    /// e.g. "rules" or "openai gpt-4o-mini at https://api.openai.com/v1".
    pub provider: String,
    pub calls: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Requests repeated after rate limits, server errors or lost connections, plus
    /// repair calls.
    #[serde(default)]
    pub retries: u32,
    /// Wall-clock milliseconds spent waiting for the model.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(skip)]
    pub detail: Vec<LlmCall>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SalesforceSummary {
    /// Requests made for the duplicate and lookup check (one for the whole draft).
    pub duplicate_check_requests: u32,
    /// Every request the client sent while drafting (describe on a cold cache included).
    /// Filled by front ends that own the client; 0 when unknown.
    pub requests: u64,
    /// `Sforce-Limit-Info` after the last request: the org's API calls in the last 24 h.
    pub api_usage: Option<ApiUsage>,
}

impl Proposal {
    /// True when approving would write nothing anybody asked for: the notes named no
    /// record, so the only write left would be a meeting Task linked to nothing.
    pub fn writes_nothing(&self) -> bool {
        self.records.is_empty()
    }
}

/// What a draft that writes nothing says, on the card and to a click on Approve.
pub const NOTHING_TO_WRITE: &str =
    "Nothing to write: the notes name no person, company or deal to record";

impl LlmSummary {
    pub fn new(provider: String, calls: &[LlmCall]) -> Self {
        let usage = calls.iter().fold(Usage::default(), |acc, c| Usage {
            prompt_tokens: acc.prompt_tokens + c.usage.prompt_tokens,
            completion_tokens: acc.completion_tokens + c.usage.completion_tokens,
            cached_tokens: acc.cached_tokens + c.usage.cached_tokens,
        });
        LlmSummary {
            provider,
            calls: calls.len(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            retries: calls.iter().map(|c| c.retries).sum::<u32>()
                + calls.iter().filter(|c| c.purpose == "repair").count() as u32,
            latency_ms: calls.iter().map(|c| c.latency_ms).sum(),
            detail: calls.to_vec(),
        }
    }
}

/// Turns resolved records into their proposal form. `instance_url` makes record links.
pub fn propose_records(
    resolved: &[ResolvedRecord],
    schema: &CrmSchema,
    instance_url: &str,
) -> Vec<ProposedRecord> {
    resolved
        .iter()
        .map(|r| {
            let object = schema.object(&r.draft.object);
            let label = object.map_or_else(|| r.draft.object.clone(), |o| o.label.clone());
            let (action, id, matched_by, current, candidates) = match &r.action {
                RecordAction::Create => ("create", None, None, None, vec![]),
                RecordAction::Update {
                    id,
                    current,
                    matched_by,
                } => (
                    "update",
                    Some(id.clone()),
                    Some(matched_by.clone()),
                    Some(current),
                    vec![],
                ),
                RecordAction::Ambiguous {
                    candidates,
                    matched_by,
                } => (
                    "ambiguous",
                    None,
                    Some(matched_by.clone()),
                    None,
                    candidates.clone(),
                ),
                RecordAction::NotFound => ("not_found", None, Some("lookup".into()), None, vec![]),
            };
            let fields = r
                .draft
                .fields
                .iter()
                .map(|f| {
                    let value = f.value.to_json();
                    let old = current.map(|c| {
                        crate::domain::resolve::row_value(c, &f.name).unwrap_or(Value::Null)
                    });
                    let changed = old.as_ref().is_none_or(|o| !same(o, &f.value));
                    ProposedField {
                        label: object
                            .and_then(|o| o.field(&f.name))
                            .map_or_else(|| f.name.clone(), |s| s.label.clone()),
                        name: f.name.clone(),
                        display: f.value.display(),
                        value,
                        old,
                        include: f.include,
                        changed,
                        added: None,
                        evidence: f.evidence.clone(),
                    }
                })
                .collect();
            let links = r
                .links
                .iter()
                .map(|l| {
                    let (status, id, record, candidates) = match &l.target {
                        LinkTarget::Existing { id } => ("existing", Some(id.clone()), None, vec![]),
                        LinkTarget::InDraft { record } => ("in_draft", None, Some(*record), vec![]),
                        LinkTarget::Ambiguous { candidates } => {
                            ("ambiguous", None, None, candidates.clone())
                        }
                        LinkTarget::NotFound => ("not_found", None, None, vec![]),
                    };
                    ProposedLink {
                        field: l.field.clone(),
                        object: l.target_object.clone(),
                        status: status.to_string(),
                        id,
                        record,
                        lookup: l.lookup.as_ref().map(|lk| {
                            lk.criteria
                                .iter()
                                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                                .collect()
                        }),
                        candidates,
                    }
                })
                .collect();
            let url = id
                .as_ref()
                .map(|id| record_url(instance_url, &r.draft.object, id));
            let name = current.and_then(|c| {
                let get = |f: &str| {
                    crate::domain::resolve::row_value(c, f)
                        .and_then(|v| v.as_str().map(str::to_string))
                };
                get("Name").or_else(|| {
                    let full = [get("FirstName"), get("LastName")]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    (!full.is_empty()).then_some(full)
                })
            });
            ProposedRecord {
                object: r.draft.object.clone(),
                label,
                action: action.to_string(),
                id,
                url,
                name,
                matched_by,
                fields,
                links,
                candidates,
                blocked: r.draft.is_blocked(),
                issues: r.draft.issues.clone(),
            }
        })
        .collect()
}

/// `{instance}/lightning/r/{Object}/{Id}/view`.
pub fn record_url(instance_url: &str, object: &str, id: &str) -> String {
    format!(
        "{}/lightning/r/{object}/{id}/view",
        instance_url.trim_end_matches('/')
    )
}

/// True when an update would not change the current value.
pub(crate) fn same(old: &Value, new: &FieldValue) -> bool {
    match (old, new) {
        (Value::String(a), FieldValue::Text(b)) => a == b,
        (Value::Number(a), FieldValue::Number(b)) => a.as_f64() == Some(*b),
        (Value::Bool(a), FieldValue::Boolean(b)) => a == b,
        (Value::String(a), other) => {
            *a == other.display() || Value::String(a.clone()) == other.to_json()
        }
        _ => false,
    }
}
