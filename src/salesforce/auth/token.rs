//! The token endpoint and the one cached access token.
//!
//! Salesforce's token answers carry no `expires_in` (the lifetime is the org's session
//! timeout), so a token is kept until the API refuses it with a 401. Every clone of the client
//! shares one `TokenCache`; it is behind an async mutex held across the token request, so the
//! first use and each refresh send ONE request however many calls wait. A refresh names the
//! token that failed: when the cache already holds another one, a concurrent caller renewed it
//! and nothing is sent.

use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::net::{read_capped, root_cause};
use crate::salesforce::error::{SalesforceError, decode_errors};

/// A token answer is a few hundred bytes; more is not a token answer.
const TOKEN_ANSWER_MAX: usize = 1_000_000;

/// The shared token of one configured flow. Cheap to clone.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `{login or My Domain URL}/services/oauth2/token`.
    endpoint: String,
    /// SALESFORCE_INSTANCE_URL without a trailing slash, when set.
    configured_instance: Option<String>,
    /// The `instance_url` of the first token answer; used only when none is configured.
    returned_instance: OnceLock<String>,
    current: Mutex<Option<SecretString>>,
}

/// A successful token answer (salesforce.md §4.2–4.4). `id`, `scope` and `signature` are not
/// used.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    #[serde(default)]
    instance_url: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    /// Milliseconds since the epoch, as a string; absent from JWT answers.
    #[serde(default)]
    issued_at: Option<String>,
}

impl TokenCache {
    pub fn new(http: reqwest::Client, base_url: &str, configured_instance: Option<&str>) -> Self {
        TokenCache {
            inner: Arc::new(Inner {
                http,
                endpoint: format!("{}/services/oauth2/token", base_url.trim_end_matches('/')),
                configured_instance: configured_instance.map(|u| u.trim_end_matches('/').into()),
                returned_instance: OnceLock::new(),
                current: Mutex::new(None),
            }),
        }
    }

    /// The error for a token endpoint that did not answer, naming its setting.
    fn unreachable(&self, cause: String) -> SalesforceError {
        let base = self
            .inner
            .endpoint
            .trim_end_matches("/services/oauth2/token")
            .to_string();
        let setting = if self.inner.configured_instance.as_deref() == Some(base.as_str()) {
            "SALESFORCE_INSTANCE_URL"
        } else {
            "SALESFORCE_LOGIN_URL"
        };
        SalesforceError::Transport {
            url: self.inner.endpoint.clone(),
            setting: setting.into(),
            cause,
        }
    }

    /// The instance URL the token endpoint named, when none was configured.
    pub fn returned_instance(&self) -> Option<&str> {
        self.inner.returned_instance.get().map(String::as_str)
    }

    /// The cached token, or a new one from `form` on first use.
    pub async fn token<F>(&self, flow: &str, form: F) -> Result<SecretString, SalesforceError>
    where
        F: FnOnce() -> Result<Vec<(&'static str, SecretString)>, SalesforceError>,
    {
        let mut current = self.inner.current.lock().await;
        if let Some(token) = current.as_ref() {
            return Ok(token.clone());
        }
        let fresh = self.request(flow, form()?).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Replaces `failed` with a new token, unless another caller already did.
    pub async fn refresh<F>(
        &self,
        failed: &SecretString,
        flow: &str,
        form: F,
    ) -> Result<(), SalesforceError>
    where
        F: FnOnce() -> Result<Vec<(&'static str, SecretString)>, SalesforceError>,
    {
        let mut current = self.inner.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.expose_secret() != failed.expose_secret())
        {
            debug!(flow, "Salesforce token already renewed by another request");
            return Ok(());
        }
        // Forget the refused token first: if the request fails, the next call asks again
        // rather than sending a token known to be dead.
        *current = None;
        let fresh = self.request(flow, form()?).await?;
        *current = Some(fresh);
        Ok(())
    }

    /// POSTs the form to the token endpoint and decodes the answer.
    async fn request(
        &self,
        flow: &str,
        form: Vec<(&'static str, SecretString)>,
    ) -> Result<SecretString, SalesforceError> {
        let body: String = {
            let mut encoder = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &form {
                encoder.append_pair(name, value.expose_secret());
            }
            encoder.finish()
        };
        let response = self
            .inner
            .http
            .post(&self.inner.endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SalesforceError::Timeout
                } else {
                    self.unreachable(root_cause(&e))
                }
            })?;
        let status = response.status().as_u16();
        let bytes = read_capped(response, TOKEN_ANSWER_MAX)
            .await
            .map_err(|e| SalesforceError::from_read(e, |cause| self.unreachable(cause)))?;
        if !(200..300).contains(&status) {
            return Err(token_error(flow, status, &bytes));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|e| {
            // Position only: the message of a serde error can quote a value.
            SalesforceError::Decode(format!(
                "token endpoint answer: {:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        info!(
            flow,
            token_type = answer.token_type.as_deref().unwrap_or("Bearer"),
            issued_at = answer.issued_at.as_deref().unwrap_or("-"),
            "Salesforce access token obtained"
        );
        if let Some(returned) = answer.instance_url.as_deref() {
            self.note_instance(returned.trim_end_matches('/'));
        }
        Ok(answer.access_token)
    }

    /// Requests keep going to the configured instance; a different one is only logged.
    fn note_instance(&self, returned: &str) {
        let in_use = match &self.inner.configured_instance {
            Some(configured) => configured.as_str(),
            None => self
                .inner
                .returned_instance
                .get_or_init(|| returned.to_string()),
        };
        if in_use != returned {
            info!(
                in_use,
                returned,
                "the token endpoint names another instance URL; requests keep going to the one in use"
            );
        }
    }
}

/// A refused token request as a person can act on it.
fn token_error(flow: &str, status: u16, body: &[u8]) -> SalesforceError {
    if status >= 500 || status == 429 {
        return SalesforceError::Unavailable { status };
    }
    let (code, description) = match decode_errors(body).into_iter().next() {
        Some(e) => (e.code, e.message),
        None => (format!("HTTP {status}"), String::new()),
    };
    let hint = match (code.as_str(), flow) {
        ("invalid_client_id" | "invalid_client", _) => {
            "check SALESFORCE_CLIENT_ID (the consumer key) and SALESFORCE_CLIENT_SECRET"
        }
        ("invalid_grant", "JWT bearer") => {
            "check SALESFORCE_USERNAME, that the app holds the certificate of \
             SALESFORCE_PRIVATE_KEY_FILE, and that the user is pre-authorized"
        }
        ("invalid_grant", "refresh token") => {
            "SALESFORCE_REFRESH_TOKEN was revoked or expired; authorize again for a new one"
        }
        ("invalid_grant", "client credentials") => {
            "use the org's My Domain URL and set a Run As user on the app"
        }
        _ => "check the Salesforce credentials",
    };
    let message = if description.is_empty() {
        hint.to_string()
    } else {
        format!("{description} ({hint})")
    };
    SalesforceError::Login {
        flow: flow.to_string(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_read_as_code_description_and_hint() {
        let body = br#"{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}"#;
        let err = token_error("JWT bearer", 400, body).to_string();
        assert!(
            err.contains("invalid_grant: user hasn't approved this consumer"),
            "{err}"
        );
        assert!(err.contains("pre-authorized"), "{err}");
        assert!(matches!(
            token_error("JWT bearer", 503, b"<html>down</html>"),
            SalesforceError::Unavailable { status: 503 }
        ));
        let err = token_error("client credentials", 404, b"").to_string();
        assert!(err.contains("HTTP 404"), "{err}");
    }
}
