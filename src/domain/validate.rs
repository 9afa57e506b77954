//! Raw model JSON -> `ValidatedDraft`. The model proposes; this module decides what stands:
//! unknown objects and fields are dropped, ids and owners are never taken from the model,
//! values are coerced to their types or dropped, picklists and lengths are checked, required
//! fields are listed, and values the notes do not support are flagged "not in your notes".

use chrono::NaiveDate;
use serde_json::Value;

use super::draft::ValidatedDraft;
use super::schema::CrmSchema;

/// What validation needs besides the reply and the schema.
#[derive(Debug, Clone)]
pub struct ValidationContext<'a> {
    /// The note text the values must be grounded in.
    pub notes: &'a str,
    /// The date the note was written; relative dates resolve against it.
    pub today: NaiveDate,
    /// Hold values that are not in the notes back from the write (they stay on the card).
    pub hold_ungrounded: bool,
    /// More records than this are cut, with a draft-level issue.
    pub max_records: usize,
}

/// The reply cannot be read as a draft at all. The model can usually fix this, so the caller
/// sends these errors back once (the repair retry) before giving up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the reply is not a JSON object")]
    NotAnObject,
    #[error("the reply has no \"records\" array")]
    NoRecords,
}

/// Validates a parsed model reply against the schema and the notes.
pub fn validate(
    reply: &Value,
    schema: &CrmSchema,
    ctx: &ValidationContext<'_>,
) -> Result<ValidatedDraft, ReplyError> {
    let _ = (schema, ctx);
    let Some(obj) = reply.as_object() else {
        return Err(ReplyError::NotAnObject);
    };
    let Some(_records) = obj.get("records").and_then(Value::as_array) else {
        return Err(ReplyError::NoRecords);
    };
    todo!("validation rules")
}
