//! Salesforce's errors as a person can read them. Salesforce answers a failed call with an
//! array `[{"message","errorCode","fields"}]` (`statusCode` inside save results, and a
//! `duplicateResut` — sic — block for duplicate-rule hits); this module decodes every form
//! into one `ApiError` and tells apart what a caller must treat differently: an expired
//! session, the org's API limit, an outage, and a refusal of the request itself.

use serde::Deserialize;
use serde_json::Value;

/// One error from Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `errorCode` (or `statusCode`), e.g. `REQUIRED_FIELD_MISSING`.
    pub code: String,
    pub message: String,
    /// Fields concerned, when Salesforce names them.
    pub fields: Vec<String>,
    /// Ids of existing records a duplicate rule matched.
    pub duplicates: Vec<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.message, self.code)?;
        match self.fields.as_slice() {
            [] => {}
            [one] => write!(f, ", field {one}")?,
            many => write!(f, ", fields {}", many.join(", "))?,
        }
        write!(f, ")")
    }
}

/// Why a Salesforce call failed. `Display` is written for the person who asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SalesforceError {
    #[error("Salesforce configuration: {0}")]
    Config(String),
    #[error(
        "Salesforce did not accept the access token (session expired or invalid); log in again or refresh the token"
    )]
    Unauthorized { errors: Vec<ApiError> },
    #[error(
        "the Salesforce org has used up its API requests for now (REQUEST_LIMIT_EXCEEDED); try again later or ask your admin"
    )]
    LimitExceeded { message: String },
    #[error(
        "Salesforce is unavailable right now (HTTP {status}); nothing was changed, try again in a few minutes"
    )]
    Unavailable { status: u16 },
    #[error("Salesforce rejected the request: {}", join(.errors))]
    Rejected { status: u16, errors: Vec<ApiError> },
    /// The token endpoint refused an OAuth grant (`{"error","error_description"}`); nothing
    /// was sent to the API.
    #[error("Salesforce login ({flow}) failed: {code}: {message}")]
    Login {
        flow: String,
        code: String,
        message: String,
    },
    #[error("several Salesforce records match {field} = {value}; nothing was written")]
    MultipleMatches {
        field: String,
        value: String,
        ids: Vec<String>,
    },
    #[error(
        "Salesforce did not answer in time (salesforce.timeout); nothing is known to have changed, try again"
    )]
    Timeout,
    /// No answer: the address is wrong, the network is down or a proxy is in the way.
    #[error(
        "cannot reach Salesforce at {url} ({cause}); check {setting}, the network and any proxy (HTTPS_PROXY, NO_PROXY)"
    )]
    Transport {
        url: String,
        /// The variable or key that set `url`.
        setting: String,
        cause: String,
    },
    /// The answer was larger than `salesforce.max_response_bytes`; it was not read.
    #[error(
        "Salesforce's answer was larger than {limit_mb} MB (salesforce.max_response_bytes); nothing was read from it"
    )]
    TooLarge { limit_mb: usize },
    #[error("unexpected answer from Salesforce: {0}")]
    Decode(String),
}

fn join(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return "no reason given".to_string();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl SalesforceError {
    /// Builds the error for a non-success HTTP answer from its status and body.
    pub fn from_response(status: u16, body: &[u8]) -> SalesforceError {
        let errors = decode_errors(body);
        let has = |code: &str| errors.iter().any(|e| e.code == code);
        match status {
            401 => SalesforceError::Unauthorized { errors },
            403 if has("REQUEST_LIMIT_EXCEEDED") => SalesforceError::LimitExceeded {
                message: errors
                    .first()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            },
            420 | 429 | 500..=599 => SalesforceError::Unavailable { status },
            _ if errors.is_empty() => SalesforceError::Rejected {
                status,
                errors: vec![ApiError {
                    code: format!("ERROR_HTTP_{status}"),
                    message: body_excerpt(body),
                    fields: vec![],
                    duplicates: vec![],
                }],
            },
            _ => SalesforceError::Rejected { status, errors },
        }
    }

    /// An answer that could not be read whole: too large, too slow, or cut off
    /// (`unreachable` names where it came from).
    pub fn from_read(
        e: crate::net::ReadError,
        unreachable: impl FnOnce(String) -> SalesforceError,
    ) -> SalesforceError {
        match e {
            crate::net::ReadError::TooLarge { limit } => SalesforceError::TooLarge {
                limit_mb: limit / 1_000_000,
            },
            e if e.is_timeout() => SalesforceError::Timeout,
            e => unreachable(e.describe()),
        }
    }

    /// The error of one composite subresponse.
    pub fn from_composite(status: u16, body: &Value) -> SalesforceError {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        SalesforceError::from_response(status, &bytes)
    }

    /// A composite answer lacked the subresponse of a reference id.
    pub fn missing_subresponse(reference: &str) -> SalesforceError {
        SalesforceError::Decode(format!("no composite subresponse for {reference}"))
    }

    /// True for "no such object/record" answers (404, INVALID_TYPE, NOT_FOUND).
    pub fn is_not_found(&self) -> bool {
        match self {
            SalesforceError::Rejected { status, errors } => {
                *status == 404
                    || errors
                        .iter()
                        .any(|e| e.code == "NOT_FOUND" || e.code == "INVALID_TYPE")
            }
            _ => false,
        }
    }

    /// True when the token endpoint refused a refresh token for good (`invalid_grant`): the
    /// person revoked it, an admin did, or it expired. They must sign in again.
    pub fn is_revoked_grant(&self) -> bool {
        matches!(self, SalesforceError::Login { code, .. } if code == "invalid_grant")
    }

    /// True when trying the same read again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SalesforceError::Unavailable { .. }
                | SalesforceError::Timeout
                | SalesforceError::Transport { .. }
        )
    }

    /// Salesforce's error codes, for callers that branch on them.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            SalesforceError::Unauthorized { errors } | SalesforceError::Rejected { errors, .. } => {
                errors.iter().map(|e| e.code.as_str()).collect()
            }
            SalesforceError::LimitExceeded { .. } => vec!["REQUEST_LIMIT_EXCEEDED"],
            SalesforceError::Login { code, .. } => vec![code.as_str()],
            _ => vec![],
        }
    }
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default, alias = "statusCode")]
    #[serde(rename = "errorCode")]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default, alias = "duplicateResult")]
    #[serde(rename = "duplicateResut")]
    duplicate: Option<Value>,
    // OAuth endpoints answer {"error", "error_description"}.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Decodes every error body form Salesforce uses; a body that is not JSON gives nothing.
pub fn decode_errors(body: &[u8]) -> Vec<ApiError> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => return Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| serde_json::from_value::<RawError>(item).ok())
        .filter_map(|raw| {
            let code = raw.code.or(raw.error)?;
            Some(ApiError {
                code,
                message: raw.message.or(raw.error_description).unwrap_or_default(),
                fields: raw.fields.unwrap_or_default(),
                duplicates: raw.duplicate.map(|d| duplicate_ids(&d)).unwrap_or_default(),
            })
        })
        .collect()
}

fn duplicate_ids(result: &Value) -> Vec<String> {
    result["matchResults"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["matchRecords"].as_array().into_iter().flatten())
        .filter_map(|r| r["record"]["Id"].as_str().map(str::to_string))
        .collect()
}

/// A short, single-line excerpt of a non-JSON body (an HTML error page from an edge).
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = flat.chars().take(160).collect();
    if excerpt.is_empty() {
        excerpt = "empty answer".to_string();
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_array_names_code_message_and_field() {
        let body = br#"[{"message":"Required fields are missing: [Company]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Company"]}]"#;
        let err = SalesforceError::from_response(400, body);
        assert_eq!(
            err.to_string(),
            "Salesforce rejected the request: Required fields are missing: [Company] (REQUIRED_FIELD_MISSING, field Company)"
        );
        assert_eq!(err.codes(), ["REQUIRED_FIELD_MISSING"]);
    }

    #[test]
    fn statuses_are_told_apart() {
        let session =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            SalesforceError::from_response(401, session),
            SalesforceError::Unauthorized { .. }
        ));
        let limit = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(
            SalesforceError::from_response(403, limit),
            SalesforceError::LimitExceeded { .. }
        ));
        let html = b"<html><body>Service Unavailable</body></html>";
        let outage = SalesforceError::from_response(503, html);
        assert!(matches!(
            outage,
            SalesforceError::Unavailable { status: 503 }
        ));
        assert!(outage.is_transient());
        let denied = SalesforceError::from_response(403, b"<html>Forbidden</html>");
        assert_eq!(denied.codes(), ["ERROR_HTTP_403"]);
        assert!(denied.to_string().contains("Forbidden"));
    }

    #[test]
    fn duplicate_rule_matches_are_read_under_either_spelling() {
        for key in ["duplicateResut", "duplicateResult"] {
            let body = format!(
                r#"[{{"{key}":{{"matchResults":[{{"matchRecords":[{{"record":{{"Id":"0038M0000016Wv8QAE"}}}}]}}]}},
                   "errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?"}}]"#
            );
            let errors = decode_errors(body.as_bytes());
            assert_eq!(errors[0].code, "DUPLICATES_DETECTED");
            assert_eq!(errors[0].duplicates, ["0038M0000016Wv8QAE"], "{key}");
        }
    }

    #[test]
    fn save_result_status_codes_and_oauth_errors_decode() {
        let save = br#"{"statusCode":"MALFORMED_ID","message":"bad id","fields":["Id"]}"#;
        assert_eq!(decode_errors(save)[0].code, "MALFORMED_ID");
        let oauth =
            br#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#;
        assert_eq!(decode_errors(oauth)[0].code, "invalid_grant");
    }
}
