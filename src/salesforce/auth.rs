//! How the client proves who it is. Today: a static access token (the simplest set-up, and
//! what the sandbox hands out). The OAuth flows (JWT bearer, client credentials, refresh
//! token) join as variants that can `refresh` after a 401; the client already asks.

use secrecy::SecretString;

use super::error::SalesforceError;
use crate::config::SalesforceSettings;

/// The credentials the client sends.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`, never refreshed.
    StaticToken(SecretString),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::StaticToken(_) => f.write_str("Auth::StaticToken(********)"),
        }
    }
}

impl Auth {
    /// Picks the auth the settings describe.
    pub fn from_settings(settings: &SalesforceSettings) -> Result<Auth, SalesforceError> {
        match &settings.access_token {
            Some(token) => Ok(Auth::StaticToken(token.clone())),
            None => Err(SalesforceError::Config(
                "no credentials: set SALESFORCE_ACCESS_TOKEN (the OAuth flows are not supported yet)"
                    .into(),
            )),
        }
    }

    /// The token to send now.
    pub async fn token(&self) -> Result<SecretString, SalesforceError> {
        match self {
            Auth::StaticToken(t) => Ok(t.clone()),
        }
    }

    /// Gets a fresh token after a 401, when this auth can. Returns false when it cannot, and
    /// the 401 stands.
    pub async fn refresh(&self) -> Result<bool, SalesforceError> {
        match self {
            Auth::StaticToken(_) => Ok(false),
        }
    }
}
