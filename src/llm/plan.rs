//! Asking the model for a query plan (never for SOQL), and for an optional short summary of
//! rows code already fetched. The plan's JSON Schema comes from the queryable objects and
//! fields, with enums for objects, fields, ops and directions, so structured output can only
//! name what is allowed; code still validates everything.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{Conversation, DraftReply, Llm, LlmCall, LlmError, Output, Role};
use crate::domain::plan::{DATE_LITERALS, QuerySchema};

/// What to plan.
pub struct PlanRequest<'a> {
    pub question: &'a str,
    pub today: NaiveDate,
    pub schema: &'a QuerySchema,
    /// The last plan of this thread, for follow-up questions.
    pub previous: Option<&'a Value>,
    pub max_limit: u32,
}

/// The JSON Schema of a plan for `schema`. Every array and string is bounded (see
/// `json_schema`), and `unread` lets the model say which words of the question the plan does
/// not express: code refuses such a plan rather than answer a different question.
pub fn plan_schema(schema: &QuerySchema, max_limit: u32) -> Value {
    let objects: Vec<Value> = schema.objects.keys().map(|o| json!(o)).collect();
    let mut paths: Vec<String> = schema
        .objects
        .values()
        .flat_map(|o| o.fields.iter().map(|f| f.path.clone()))
        .collect();
    paths.sort();
    paths.dedup();
    let field = json!({"type": "string", "enum": paths});
    let text = json!({"type": "string", "maxLength": 255});
    let value_any = json!([
        text,
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "maxItems": 50, "items": {"anyOf": [text, {"type": "number"}]}}
    ]);
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["intent", "object", "fields", "filters", "sort", "limit", "unread"],
        "properties": {
            "intent": {"type": "string", "enum": ["query", "change", "other"]},
            "object": {"anyOf": [{"type": "string", "enum": objects}, {"type": "null"}]},
            "fields": {"type": "array", "maxItems": 20, "items": field},
            "filters": {"type": "array", "maxItems": 10, "items": {
                "type": "object", "additionalProperties": false,
                "required": ["field", "op", "value"],
                "properties": {
                    "field": field,
                    "op": {"type": "string", "enum": ["eq", "ne", "lt", "lte", "gt", "gte", "like", "in", "not_in"]},
                    "value": {
                        "anyOf": value_any,
                        "description": format!("For date fields: YYYY-MM-DD or one of {}. \"$me\" on OwnerId means the person asking.", DATE_LITERALS.join(", "))
                    }
                }
            }},
            "sort": {"type": "array", "maxItems": 3, "items": {
                "type": "object", "additionalProperties": false,
                "required": ["field", "direction"],
                "properties": {"field": field, "direction": {"type": "string", "enum": ["asc", "desc"]}}
            }},
            "limit": {"type": "integer", "description": format!("1 to {max_limit}")},
            "unread": {
                "type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 80},
                "description": "Words of the question that this plan does not express (a condition no field can hold); empty when the plan expresses the whole question."
            }
        }
    })
}

impl Llm {
    /// Plans a question. `check` reports what is wrong with a plan (as text the model can
    /// act on); a non-JSON or refused plan gets one repair retry.
    pub async fn plan(
        &self,
        req: &PlanRequest<'_>,
        check: &(dyn Fn(&Value) -> Result<(), String> + Send + Sync),
    ) -> Result<DraftReply, LlmError> {
        let prompt = self.prompts().plan(
            req.question,
            req.today,
            req.schema,
            req.previous,
            req.max_limit,
        )?;
        let audit_prompt = format!("{}\n\n{}", prompt.system, prompt.user);
        if self.is_offline() {
            // The offline provider reads a few keywords; beyond them it says so.
            let value = super::rules_plan::plan(req.question, req.schema);
            return Ok(DraftReply::offline(value, audit_prompt, "plan"));
        }
        let mut conv = Conversation {
            system: prompt.system,
            turns: vec![(Role::User, prompt.user)],
            output: Output::Json {
                name: "crm_plan",
                schema: std::sync::Arc::new(super::ModelSchema::new(plan_schema(
                    req.schema,
                    req.max_limit,
                ))),
            },
        };
        let (value, raw, calls) = self.structured(&mut conv, "plan", check).await?;
        Ok(DraftReply {
            value,
            raw,
            prompt: audit_prompt,
            calls,
        })
    }

    /// A short summary of rows, from the rows alone. `None` offline.
    pub async fn summarize(
        &self,
        question: &str,
        rows: &Value,
        count: usize,
        more: bool,
    ) -> Result<Option<(String, Vec<LlmCall>)>, LlmError> {
        if self.is_offline() {
            return Ok(None);
        }
        let conv = Conversation {
            system: self.prompts().summarize(question, rows, count, more)?,
            turns: vec![(Role::User, "Summarise the rows.".into())],
            output: Output::Text,
        };
        let mut calls = Vec::new();
        let text = self.text(&conv, "summarize", &mut calls).await?;
        Ok(Some((text.trim().to_string(), calls)))
    }
}
