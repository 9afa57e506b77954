//! Query plans for "ask the CRM" (`/crm ask`): the model answers a question with a small JSON
//! plan (object, fields, filters, sort, limit — shape in design.md), never with SOQL. This
//! module decides whether a plan stands: the object and every field must be in the
//! `QuerySchema` (the allowlist intersected with the org's describe), each operator must suit
//! its field's type, and each value is typed here (numbers, booleans, ISO dates, Salesforce
//! date literals, picklist values). Record ids never come from the model; the one exception
//! is `"$me"` on an owner field, replaced by the asking person's own user id. Every problem
//! is collected with its place in the plan and a sentence for the person who asked.
//!
//! Only a `ValidatedPlan` can be compiled to SOQL (`domain::soql::compile`).

mod dates;
mod fields;
mod schema;
mod values;

#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::soql;
pub use dates::{DATE_LITERALS, parse_date_literal};
pub use fields::allowed_ops;
pub use schema::{QueryField, QueryObject, QuerySchema};
pub use values::MAX_TEXT_CHARS;

/// How many rows a question may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Used when the plan gives no limit (or one below 1).
    pub default_limit: u32,
    /// Larger limits are cut to this, and the answer says so (`capped`).
    pub max_limit: u32,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            default_limit: 20,
            max_limit: 200,
        }
    }
}

/// A plan that passed validation: canonical names, typed values, a limit within bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatedPlan {
    pub object: String,
    pub fields: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<Sort>,
    pub limit: u32,
    /// The plan asked for more rows than `PlanLimits::max_limit`.
    pub capped: bool,
}

/// One condition; conditions are ANDed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    pub value: PlanValue,
}

/// Filter operators, as the model names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// "Contains": compiled to `LIKE '%value%'` with `%` and `_` in the value taken literally.
    Like,
    In,
    NotIn,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Like,
        Op::In,
        Op::NotIn,
    ];

    /// The name the model uses: `eq`, `not_in`, ...
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Like => "like",
            Op::In => "in",
            Op::NotIn => "not_in",
        }
    }

    /// Reads an operator name, case-insensitively.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL
            .into_iter()
            .find(|op| op.name().eq_ignore_ascii_case(name.trim()))
    }

    /// `in` and `not_in` take a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed filter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum PlanValue {
    Null,
    Text(String),
    Number(f64),
    Boolean(bool),
    Date(NaiveDate),
    /// Whole seconds, UTC.
    DateTime(DateTime<Utc>),
    /// A Salesforce date literal, upper-cased: `THIS_MONTH`, `LAST_N_DAYS:30`.
    DateLiteral(String),
    /// A record id crmbot supplied itself (only ever the asking user's, from `"$me"`).
    Id(String),
    List(Vec<PlanValue>),
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

/// Why a plan was refused: where in the plan, and a sentence for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProblem {
    /// `object`, `fields[2]`, `filters[1].value`, `sort[0].direction`, `limit`; empty for the
    /// plan as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Salesforce's limit on the whole statement (salesforce.md §5.8).
pub const MAX_SOQL_CHARS: usize = 100_000;
/// At most this many sort keys.
pub const MAX_SORT_FIELDS: usize = 3;
/// At most this many values in an `in` / `not_in` list.
pub const MAX_LIST_ITEMS: usize = 100;
/// The special value naming the person who asked.
pub const ME: &str = "$me";

/// Collects problems in plan order.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<PlanProblem>);

impl Problems {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(PlanProblem {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Checks the model's plan against the schema and types every value. `me` is the asking
/// person's Salesforce user id, needed only when the plan says `"$me"` (see `mentions_me`).
/// Unknown top-level keys are ignored; every problem found is returned, not just the first.
pub fn validate_plan(
    raw: &Value,
    schema: &QuerySchema,
    limits: &PlanLimits,
    me: Option<&str>,
) -> Result<ValidatedPlan, Vec<PlanProblem>> {
    let mut problems = Problems::default();
    let Some(plan) = raw.as_object() else {
        problems.add("", "The question could not be read as a query plan.");
        return Err(problems.0);
    };
    let Some(object) = object(plan, schema, &mut problems) else {
        return Err(problems.0);
    };
    let object_fields = fields::effective_fields(object);
    let select = fields::select(plan.get("fields"), object, &object_fields, &mut problems);
    let filters = fields::filters(
        plan.get("filters"),
        object,
        &object_fields,
        me,
        &mut problems,
    );
    let sort = fields::sort(plan.get("sort"), object, &object_fields, &mut problems);
    let (limit, capped) = limit(plan.get("limit"), limits, &mut problems);
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    let validated = ValidatedPlan {
        object: object.name.clone(),
        fields: select,
        filters,
        sort,
        limit,
        capped,
    };
    if soql::compile(&validated).chars().count() > MAX_SOQL_CHARS {
        problems.add(
            "filters",
            "The question's filters make a query longer than Salesforce accepts \
             (100,000 characters); ask about fewer values at a time.",
        );
        return Err(problems.0);
    }
    Ok(validated)
}

fn object<'a>(
    plan: &Map<String, Value>,
    schema: &'a QuerySchema,
    problems: &mut Problems,
) -> Option<&'a QueryObject> {
    let known = || {
        schema
            .objects
            .values()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match plan.get("object") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            let found = schema.object(name);
            if found.is_none() {
                problems.add(
                    "object",
                    format!(
                        "{} is not one of the objects crmbot can search ({}).",
                        name.trim(),
                        known()
                    ),
                );
            }
            found
        }
        _ => {
            problems.add(
                "object",
                format!(
                    "The plan does not say what to search; it needs one of: {}.",
                    known()
                ),
            );
            None
        }
    }
}

/// Missing or below 1: the default. Above the maximum: the maximum, `capped`.
fn limit(raw: Option<&Value>, limits: &PlanLimits, problems: &mut Problems) -> (u32, bool) {
    let max = limits.max_limit.max(1);
    let default = limits.default_limit.clamp(1, max);
    let n = match raw {
        None | Some(Value::Null) => return (default, false),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n.filter(|n| n.is_finite()) {
        Some(n) if n < 1.0 => (default, false),
        Some(n) if n > f64::from(max) => (max, true),
        // In range 1..=max, so the cast is exact after flooring.
        Some(n) => (n.floor() as u32, false),
        None => {
            problems.add(
                "limit",
                format!(
                    "The limit must be a whole number of rows (at most {max}), not {}.",
                    show(raw.unwrap_or(&Value::Null))
                ),
            );
            (default, false)
        }
    }
}

/// True if any filter value (or list item) is `"$me"`: the caller then looks up the asking
/// person's Salesforce user id before validating.
pub fn mentions_me(raw: &Value) -> bool {
    let Some(filters) = raw.get("filters").and_then(Value::as_array) else {
        return false;
    };
    filters.iter().any(|f| match f.get("value") {
        Some(Value::Array(items)) => items.iter().any(is_me),
        Some(v) => is_me(v),
        None => false,
    })
}

pub(crate) fn is_me(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(ME))
}

/// A JSON value as a person would read it in a message: text bare, the rest as JSON, and
/// cut short when long (a value may be thousands of characters).
pub(crate) fn show(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    const MAX: usize = 60;
    if text.chars().count() > MAX {
        let head: String = text.chars().take(MAX - 1).collect();
        format!("{head}…")
    } else {
        text
    }
}
