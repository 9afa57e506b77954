//! TEMPORARY stand-in with the query plan's interface; the validated version lands from the
//! `plan` branch.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::schema::FieldKind;

#[derive(Debug, Clone, Default)]
pub struct QuerySchema {
    pub objects: BTreeMap<String, QueryObject>,
}

#[derive(Debug, Clone)]
pub struct QueryObject {
    pub name: String,
    pub label: String,
    pub fields: Vec<QueryField>,
}

#[derive(Debug, Clone)]
pub struct QueryField {
    pub path: String,
    pub label: String,
    pub kind: FieldKind,
    pub picklist: Vec<String>,
    pub filterable: bool,
    pub sortable: bool,
    pub is_owner: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct PlanLimits {
    pub default_limit: u32,
    pub max_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatedPlan {
    pub object: String,
    pub fields: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<Sort>,
    pub limit: u32,
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    pub value: PlanValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Like,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlanValue {
    Null,
    Text(String),
    Number(f64),
    Boolean(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    DateLiteral(String),
    Id(String),
    List(Vec<PlanValue>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProblem {
    pub path: String,
    pub message: String,
}

pub const DATE_LITERALS: &[&str] = &["TODAY", "THIS_MONTH"];

pub fn validate_plan(
    _raw: &Value,
    _schema: &QuerySchema,
    _limits: &PlanLimits,
    _me: Option<&str>,
) -> Result<ValidatedPlan, Vec<PlanProblem>> {
    Err(vec![PlanProblem {
        path: String::new(),
        message: "not yet".into(),
    }])
}

pub fn mentions_me(raw: &Value) -> bool {
    raw.to_string().contains("\"$me\"")
}
