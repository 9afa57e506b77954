//! Salesforce's error shapes. One error value renders two ways: REST resources answer a JSON
//! array with `errorCode`; SaveResults (collections, tree) carry `statusCode` (salesforce.md
//! §1.3, §3.1). Keeping one type means every path reports the same codes and messages.

use serde_json::{Map, Value, json};

/// One Salesforce error.
#[derive(Debug, Clone, PartialEq)]
pub struct SfError {
    pub code: String,
    pub message: String,
    /// `fields` when Salesforce names them (validation errors); omitted otherwise.
    pub fields: Option<Vec<String>>,
    /// The duplicate-rule payload (`duplicateResut`, sic) for DUPLICATES_DETECTED.
    pub duplicate_result: Option<Box<Value>>,
}

impl SfError {
    pub fn new(code: &str, message: impl Into<String>) -> SfError {
        SfError {
            code: code.to_string(),
            message: message.into(),
            fields: None,
            duplicate_result: None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> SfError {
        self.fields = Some(fields);
        self
    }

    /// REST form: `{"message", "errorCode", "fields"?}` (+ `duplicateResut`).
    pub fn rest_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(dup) = &self.duplicate_result {
            m.insert("duplicateResut".into(), (**dup).clone());
        }
        m.insert("errorCode".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if let Some(fields) = &self.fields {
            m.insert("fields".into(), json!(fields));
        }
        Value::Object(m)
    }

    /// SaveResult form: `{"statusCode", "message", "fields"}`.
    pub fn save_json(&self) -> Value {
        let message = if self.duplicate_result.is_some() {
            "Use one of these records?".to_string()
        } else {
            self.message.clone()
        };
        json!({"statusCode": self.code, "message": message,
               "fields": self.fields.clone().unwrap_or_default()})
    }
}

/// A failed call: HTTP status and the errors to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<SfError>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            errors: vec![SfError::new(code, message)],
        }
    }

    pub fn bad(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }

    pub fn field(code: &str, message: impl Into<String>, field: &str) -> ApiError {
        ApiError {
            status: 400,
            errors: vec![SfError::new(code, message).with_fields(vec![field.to_string()])],
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn deleted() -> ApiError {
        ApiError {
            status: 404,
            errors: vec![
                SfError::new("ENTITY_IS_DELETED", "entity is deleted").with_fields(vec![]),
            ],
        }
    }

    pub fn invalid_type(object: &str) -> ApiError {
        ApiError::bad(
            "INVALID_TYPE",
            format!("sObject type '{object}' is not supported."),
        )
    }

    pub fn json_parse(detail: impl Into<String>) -> ApiError {
        ApiError::bad("JSON_PARSER_ERROR", detail)
    }

    /// The REST body: an array of errors.
    pub fn rest_json(&self) -> Value {
        Value::Array(self.errors.iter().map(SfError::rest_json).collect())
    }

    /// SaveResult `errors` array.
    pub fn save_errors(&self) -> Value {
        Value::Array(self.errors.iter().map(SfError::save_json).collect())
    }
}
