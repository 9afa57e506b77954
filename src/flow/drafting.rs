//! Drafting: notes -> model reply -> validated draft -> duplicate and lookup check ->
//! proposal. One model call (plus at most one repair), describe from cache, and one
//! Salesforce request for every existing record the draft could mean. Nothing is written.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use serde_json::Value;
use tracing::{debug, info, instrument};

use super::free_text::{FreeTextRule, guard};
use super::proposal::{LlmSummary, PROPOSAL_VERSION, Proposal, SalesforceSummary, propose_records};
use super::query_schema::describe_all;
use super::schema::{SchemaProblem, build_schema};
use crate::config::{DraftingSettings, ObjectConfig};
use crate::domain::notes::Notes;
use crate::domain::resolve::{
    ExistingRows, MatchQuery, flag_known_people, match_queries, people_queries, resolve,
};
use crate::domain::schema::CrmSchema;
use crate::domain::validate::{ReplyError, ValidationContext, validate};
use crate::llm::{DraftRequest, Llm, LlmError, PreparedDraft};
use crate::salesforce::{SObjectDescribe, SalesforceClient, SalesforceError};

/// Longer query URLs go in a composite body instead of a GET request line.
const MAX_GET_URL: usize = 8_000;

/// Why no proposal could be made. `Display` is the message for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error(
        "There are no notes to draft from. Write what happened, e.g. `/crm log Met Daniel Reed (Apex Corp), wants a demo next week`."
    )]
    EmptyNotes,
    #[error(
        "The notes are {chars} characters long; the limit is {max}. Split them into shorter logs or trim them."
    )]
    NotesTooLong { chars: usize, max: usize },
    #[error("Could not draft a record: {0}")]
    Llm(#[from] LlmError),
    #[error("Could not draft a record: the model's reply did not have the expected shape ({0}).")]
    Reply(#[from] ReplyError),
    /// Every Salesforce error names Salesforce already.
    #[error("{0}")]
    Salesforce(#[from] SalesforceError),
}

/// What the model was given and gave back, kept in the audit with the draft.
#[derive(Debug, Clone, Default)]
pub struct DraftTrace {
    /// The whole prompt: the system prompt, a blank line, the user turn.
    pub prompt: String,
    pub raw_reply: String,
    /// The system prompt `prompt` starts with (the audit stores it once, by hash).
    pub system: Arc<str>,
}

/// What every draft reuses until describe changes: the allowed schema, the model's JSON
/// Schema and the system prompt. Built once per describe refresh.
pub struct Prepared {
    /// The describes it was built from (compared by identity: a refresh makes new ones).
    describes: Vec<Arc<SObjectDescribe>>,
    pub schema: Arc<CrmSchema>,
    pub problems: Vec<SchemaProblem>,
    pub draft: PreparedDraft,
}

/// The drafting use case, shared by every front end. Cheap to clone.
#[derive(Clone)]
pub struct Drafting {
    salesforce: SalesforceClient,
    llm: Arc<Llm>,
    objects: Arc<BTreeMap<String, ObjectConfig>>,
    settings: DraftingSettings,
    instance_url: String,
    prepared: Arc<Mutex<Option<Arc<Prepared>>>>,
}

impl Drafting {
    pub fn new(
        salesforce: SalesforceClient,
        llm: Arc<Llm>,
        objects: BTreeMap<String, ObjectConfig>,
        settings: DraftingSettings,
        instance_url: String,
    ) -> Self {
        Drafting {
            salesforce,
            llm,
            objects: Arc::new(objects),
            settings,
            instance_url,
            prepared: Arc::default(),
        }
    }

    pub fn salesforce(&self) -> &SalesforceClient {
        &self.salesforce
    }

    pub fn llm(&self) -> &Llm {
        &self.llm
    }

    /// The allowed schema: config ∩ describe, as last prepared (see `prepared`).
    pub async fn schema(&self) -> Result<(Arc<CrmSchema>, Vec<SchemaProblem>), SalesforceError> {
        let p = self.prepared().await?;
        Ok((p.schema.clone(), p.problems.clone()))
    }

    /// What drafts reuse. Describes Salesforce only the first time; after that `refresh`
    /// (the server's background timer) keeps it current, so no person's draft waits for a
    /// describe.
    pub async fn prepared(&self) -> Result<Arc<Prepared>, SalesforceError> {
        if let Some(p) = self.current() {
            return Ok(p);
        }
        self.refresh().await
    }

    fn current(&self) -> Option<Arc<Prepared>> {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rebuilds what drafts reuse from the client's describe cache, if describe changed
    /// since it was built (a describe fetched again is a change).
    pub async fn refresh(&self) -> Result<Arc<Prepared>, SalesforceError> {
        let names: Vec<String> = self.objects.keys().cloned().collect();
        let mut described = BTreeMap::new();
        describe_all(&self.salesforce, &names, &mut described).await?;
        let fresh: Vec<Arc<SObjectDescribe>> = described.values().cloned().collect();
        if let Some(p) = self.current()
            && p.describes.len() == fresh.len()
            && p.describes
                .iter()
                .zip(&fresh)
                .all(|(a, b)| Arc::ptr_eq(a, b))
        {
            return Ok(p);
        }
        let describes = described
            .iter()
            .map(|(n, d)| (n.clone(), d.as_ref()))
            .collect();
        let (schema, problems) = build_schema(&self.objects, &describes);
        let draft = self.llm.prepare_draft(&schema, self.settings.max_records);
        let p = Arc::new(Prepared {
            describes: fresh,
            schema: Arc::new(schema),
            problems,
            draft,
        });
        *self.prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        debug!("drafting schema prepared");
        Ok(p)
    }

    /// Drafts a proposal from the notes. Nothing is written; free text added to existing
    /// records is signed "crmbot".
    pub async fn draft(&self, notes: &Notes, today: NaiveDate) -> Result<Proposal, DraftError> {
        self.draft_traced(notes, today, "").await.map(|(p, _)| p)
    }

    /// How free text of updates is added, signed by `author`.
    pub fn free_text_rule(&self, author: &str) -> FreeTextRule {
        FreeTextRule {
            mode: self.settings.free_text_updates,
            author: author.to_string(),
        }
    }

    /// `draft`, plus what the model was sent and answered, for the audit. `author` (a
    /// person's name) signs free text added below what Salesforce holds.
    #[instrument(skip_all, fields(notes_len = notes.as_str().len(), %today))]
    pub async fn draft_traced(
        &self,
        notes: &Notes,
        today: NaiveDate,
        author: &str,
    ) -> Result<(Proposal, DraftTrace), DraftError> {
        self.draft_as(notes, today, author, &self.salesforce).await
    }

    /// `draft_traced`, the duplicate checks run with `sf` (the person's own client in user
    /// mode, so they see what Salesforce lets them see). The schema stays the shared one.
    pub async fn draft_as(
        &self,
        notes: &Notes,
        today: NaiveDate,
        author: &str,
        sf: &SalesforceClient,
    ) -> Result<(Proposal, DraftTrace), DraftError> {
        if notes.is_empty() {
            return Err(DraftError::EmptyNotes);
        }
        let chars = notes.char_len();
        if chars > self.settings.max_notes_chars {
            return Err(DraftError::NotesTooLong {
                chars,
                max: self.settings.max_notes_chars,
            });
        }
        debug!(notes = notes.as_str(), "drafting");

        let prepared = self.prepared().await?;
        let (schema, problems) = (prepared.schema.as_ref(), &prepared.problems);
        for p in problems {
            debug!(key = %p.key, problem = %p.message, "schema problem");
        }
        let ctx = ValidationContext {
            notes: notes.as_str(),
            today,
            hold_ungrounded: self.settings.hold_ungrounded,
            max_records: self.settings.max_records,
        };
        // The reply `check` accepted is the one returned: its validation is kept, not redone.
        let accepted = std::sync::Mutex::new(None);
        let check = |value: &Value| -> Result<(), String> {
            let result = validate(value, schema, &ctx);
            let mut kept = accepted.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(v) => {
                    *kept = Some(v);
                    Ok(())
                }
                Err(e) => {
                    *kept = None;
                    Err(e.to_string())
                }
            }
        };
        let reply = self
            .llm
            .draft_prepared(
                &DraftRequest {
                    notes,
                    today,
                    schema,
                    max_records: self.settings.max_records,
                },
                &prepared.draft,
                &check,
            )
            .await?;
        let kept = accepted.into_inner().unwrap_or_else(|p| p.into_inner());
        let validated = match kept {
            Some(v) => v,
            None => validate(&reply.value, schema, &ctx)?,
        };

        let mut queries = match_queries(&validated, schema);
        queries.extend(people_queries(&validated, schema));
        let (rows, requests) = find_existing(sf, &queries).await?;
        let mut resolved = resolve(&validated, schema, &rows);
        flag_known_people(&mut resolved, &rows);
        // Without a configured instance URL (OAuth), the one the token endpoint returned.
        let instance_url = match self.instance_url.as_str() {
            "" => self.salesforce.instance_url(),
            configured => configured,
        };
        let records = propose_records(&resolved, schema, instance_url);
        let blocked =
            validated.issues.iter().any(|i| i.is_blocking()) || records.iter().any(|r| r.blocked);
        info!(
            records = records.len(),
            blocked,
            llm_calls = reply.calls.len(),
            duplicate_check_requests = requests,
            "drafted"
        );
        let trace = DraftTrace {
            prompt: reply.prompt.clone(),
            raw_reply: reply.raw.clone(),
            system: prepared
                .draft
                .system(self.llm.prompts(), today)
                .unwrap_or_default(),
        };
        let mut proposal = Proposal {
            version: PROPOSAL_VERSION,
            today,
            records,
            issues: validated.issues.clone(),
            blocked,
            llm: LlmSummary::new(self.llm.describe(), &reply.calls),
            salesforce: SalesforceSummary {
                duplicate_check_requests: requests,
                requests: 0,
                api_usage: None,
            },
        };
        guard(&mut proposal, schema, &self.free_text_rule(author));
        Ok((proposal, trace))
    }
}

/// Runs the match queries: a single query as one GET, several as one composite request
/// (five queries per composite at most, so more than five objects cost more).
async fn find_existing(
    sf: &SalesforceClient,
    queries: &[MatchQuery],
) -> Result<(ExistingRows, u32), SalesforceError> {
    let mut rows = ExistingRows::new();
    // A GET keeps its query in the request line, which Salesforce caps at 16 KB.
    if let [only] = queries
        && sf.query_url(&only.soql).len() < MAX_GET_URL
    {
        match sf.query(&only.soql).await {
            Ok(result) => {
                rows.insert(only.object.clone(), result.records);
            }
            Err(e) if only.optional => debug!(error = %e, "optional check skipped"),
            Err(e) => return Err(e),
        }
        return Ok((rows, 1));
    }
    let soqls: Vec<&str> = queries.iter().map(|q| q.soql.as_str()).collect();
    let (answers, requests) = sf.query_composite(&soqls).await?;
    for (q, sub) in queries.iter().zip(answers) {
        if !(200..300).contains(&sub.http_status_code) && q.optional {
            debug!(object = %q.object, status = sub.http_status_code, "optional check skipped");
            continue;
        }
        if !(200..300).contains(&sub.http_status_code) {
            return Err(SalesforceError::from_composite(
                sub.http_status_code,
                &sub.body,
            ));
        }
        rows.insert(
            q.object.clone(),
            crate::salesforce::query_records(&sub.body),
        );
    }
    Ok((rows, requests))
}
