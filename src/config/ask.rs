//! What questions may read: the queryable objects and fields (relationship paths such as
//! `Account.Name` included), configured apart from what drafts may write, and the limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AskSettings {
    /// Rows an answer shows when the question does not say.
    pub default_limit: u32,
    /// Most rows any answer shows (Salesforce-friendly; never above 200).
    pub max_limit: u32,
    /// After the rows, a short summary written by the model from those rows alone.
    pub summarize: bool,
    /// A thread's last plan (what a follow-up refines) is kept this many days.
    pub thread_days: u32,
    /// Queryable objects by API name; a table given in crmbot.toml replaces that object's
    /// default whole.
    pub objects: BTreeMap<String, QueryObjectConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueryObjectConfig {
    pub enabled: bool,
    /// Fields and relationship paths a question may select, filter and sort on.
    pub fields: Vec<String>,
}

impl Default for QueryObjectConfig {
    fn default() -> Self {
        QueryObjectConfig {
            enabled: true,
            fields: Vec::new(),
        }
    }
}

/// Hard ceiling for `max_limit`.
pub const LIMIT_CEILING: u32 = 200;

impl Default for AskSettings {
    fn default() -> Self {
        let object = |fields: &[&str]| QueryObjectConfig {
            enabled: true,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        };
        let mut objects = BTreeMap::new();
        objects.insert(
            "Opportunity".into(),
            object(&[
                "Id",
                "Name",
                "StageName",
                "Amount",
                "CloseDate",
                "Probability",
                "Type",
                "LeadSource",
                "NextStep",
                "IsClosed",
                "IsWon",
                "ForecastCategoryName",
                "CreatedDate",
                "LastModifiedDate",
                "OwnerId",
                "Owner.Name",
                "AccountId",
                "Account.Name",
            ]),
        );
        objects.insert(
            "Account".into(),
            object(&[
                "Id",
                "Name",
                "Industry",
                "Type",
                "BillingCity",
                "BillingCountry",
                "Website",
                "Phone",
                "AnnualRevenue",
                "NumberOfEmployees",
                "CreatedDate",
                "OwnerId",
                "Owner.Name",
            ]),
        );
        objects.insert(
            "Contact".into(),
            object(&[
                "Id",
                "Name",
                "FirstName",
                "LastName",
                "Title",
                "Email",
                "Phone",
                "AccountId",
                "Account.Name",
                "CreatedDate",
                "OwnerId",
                "Owner.Name",
            ]),
        );
        objects.insert(
            "Lead".into(),
            object(&[
                "Id",
                "Name",
                "FirstName",
                "LastName",
                "Company",
                "Title",
                "Email",
                "Phone",
                "Status",
                "LeadSource",
                "Industry",
                "IsConverted",
                "CreatedDate",
                "OwnerId",
                "Owner.Name",
            ]),
        );
        objects.insert(
            "Task".into(),
            object(&[
                "Id",
                "Subject",
                "Status",
                "Priority",
                "ActivityDate",
                "IsClosed",
                "WhoId",
                "Who.Name",
                "WhatId",
                "What.Name",
                "CreatedDate",
                "OwnerId",
                "Owner.Name",
            ]),
        );
        AskSettings {
            default_limit: 20,
            max_limit: LIMIT_CEILING,
            summarize: true,
            thread_days: 7,
            objects,
        }
    }
}
