//! Per-user sign-in (`salesforce.identity = "user"`): each person connects their own
//! Salesforce account once through the OAuth 2.0 web server flow with PKCE (S256), and crmbot
//! then checks, writes and answers with their token, so Salesforce enforces their object,
//! field and sharing permissions rather than the integration user's.
//!
//! A sign-in begun by `/crm connect` is a pending `state` (random, bound to the Slack
//! team and user, single use, 10 minutes) kept in memory with its PKCE verifier: several
//! replicas behind one callback URL would need it shared. The refresh token is sealed at
//! rest (`store::tokens`); access tokens live in a bounded cache of per-person clients.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{info, warn};
use url::Url;

use crate::config::SalesforceSettings;
use crate::net::read_capped;
use crate::salesforce::{SalesforceClient, SalesforceError};
use crate::store::StoreError;
use crate::store::tokens::{SealError, Tokens};

/// How long a sign-in link works.
pub const STATE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Sign-ins begun and not finished, at most (older ones are dropped first).
const MAX_PENDING: u64 = 10_000;
/// People whose access token is kept in memory, at most.
const MAX_CLIENTS: u64 = 1_000;
/// An unused person's client (and access token) is dropped after this long.
const CLIENT_IDLE: Duration = Duration::from_secs(60 * 60);
/// The scopes asked for: the REST API, and a refresh token to keep acting later.
pub const SCOPES: &str = "api refresh_token";

/// What the sign-in needs from the configuration.
#[derive(Clone)]
pub struct SignInSettings {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// Where `/services/oauth2/authorize`, `token` and `revoke` live: `salesforce.login_url`,
    /// else the instance (My Domain) URL, else login.salesforce.com.
    pub oauth_base: Url,
    /// The public callback URL, exactly as the connected app lists it.
    pub callback: Url,
    /// Per-person clients are built from these (the instance, timeouts, bounds).
    pub salesforce: SalesforceSettings,
}

impl SignInSettings {
    /// The settings in user mode; what is missing, in words, otherwise.
    pub fn from_settings(s: &SalesforceSettings) -> Result<SignInSettings, String> {
        let client_id = s
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let (client_id, callback) = match (client_id, &s.callback_url) {
            (Some(id), Some(callback)) => (id.to_string(), callback.clone()),
            (id, callback) => {
                let mut missing = Vec::new();
                if id.is_none() {
                    missing.push("salesforce.client_id (SALESFORCE_CLIENT_ID, the connected app's consumer key)");
                }
                if callback.is_none() {
                    missing.push("salesforce.callback_url (SALESFORCE_CALLBACK_URL, e.g. https://crmbot.example.com/salesforce/oauth/callback)");
                }
                return Err(format!(
                    "salesforce.identity = \"user\" needs {}",
                    missing.join(" and ")
                ));
            }
        };
        let oauth_base = match s.login_url.clone().or_else(|| s.instance_url.clone()) {
            Some(u) => u,
            None => Url::parse(crate::salesforce::DEFAULT_LOGIN_URL)
                .map_err(|e| format!("the default login URL: {e}"))?,
        };
        Ok(SignInSettings {
            client_id,
            client_secret: s.client_secret.clone(),
            oauth_base,
            callback,
            salesforce: s.clone(),
        })
    }

    /// `{oauth_base}/services/oauth2/{what}`.
    pub fn endpoint(&self, what: &str) -> String {
        format!(
            "{}/services/oauth2/{what}",
            self.oauth_base.as_str().trim_end_matches('/')
        )
    }
}

/// Why a person's client cannot be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PersonError {
    #[error(
        "You haven't connected your Salesforce account to crmbot: crmbot acts in Salesforce as you, with your permissions. Connect it (`/crm connect`), then try again."
    )]
    NotConnected,
    #[error(
        "Your Salesforce sign-in has ended (revoked or expired in Salesforce). Connect again (`/crm connect`), then try again."
    )]
    Lapsed,
    #[error("crmbot could not sign you in to Salesforce: {0}")]
    Broken(String),
}

impl PersonError {
    /// True when the person can fix it by connecting (again).
    pub fn wants_connect(&self) -> bool {
        matches!(self, PersonError::NotConnected | PersonError::Lapsed)
    }
}

/// Why a callback did not connect anyone.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(
        "This sign-in link is unknown, was already used, or is older than 10 minutes. Nothing was stored. Run /crm connect in Slack for a new one."
    )]
    UnknownState,
    #[error(
        "Salesforce did not sign you in ({0}). Nothing was stored. Run /crm connect in Slack to try again."
    )]
    Denied(String),
    #[error(
        "crmbot could not finish the sign-in with Salesforce ({0}). Nothing was stored. Run /crm connect in Slack to try again."
    )]
    Exchange(String),
    #[error("crmbot could not store the sign-in: {0}")]
    Seal(#[from] SealError),
    #[error("crmbot could not store the sign-in: {0}")]
    Store(#[from] StoreError),
}

/// A sign-in finished: who in Slack, and which Salesforce User.
#[derive(Debug, Clone)]
pub struct Connected {
    pub team: String,
    pub user: String,
    pub sf_user: String,
}

/// What `/crm disconnect` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnected {
    /// Nothing was stored for this person.
    NotConnected,
    /// Revoked in Salesforce and forgotten.
    Revoked,
    /// Forgotten here; Salesforce could not be told (the words say why).
    ForgottenOnly(String),
}

#[derive(Clone)]
struct Pending {
    team: String,
    user: String,
    verifier: SecretString,
}

/// The sign-in: pending states, sealed refresh tokens, per-person clients. Cheap to clone.
#[derive(Clone)]
pub struct SignIn {
    inner: Arc<Inner>,
}

struct Inner {
    settings: SignInSettings,
    http: reqwest::Client,
    pending: moka::sync::Cache<String, Pending>,
    tokens: Tokens,
    clients: moka::future::Cache<String, SalesforceClient>,
}

/// The token endpoint's answer to the authorization-code grant.
#[derive(Deserialize)]
struct Granted {
    refresh_token: Option<SecretString>,
    /// `https://login…/id/<org>/<user>`.
    #[serde(default)]
    id: String,
}

/// 32 random bytes, base64url: a state, or a PKCE verifier (43 characters).
fn random_text() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(sha256(verifier))`: the S256 challenge.
pub fn challenge(verifier: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl SignIn {
    pub fn new(settings: SignInSettings, tokens: Tokens) -> Result<SignIn, SalesforceError> {
        let http = reqwest::Client::builder()
            .timeout(settings.salesforce.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crmbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SalesforceError::Config(format!("HTTP client: {e}")))?;
        Ok(SignIn {
            inner: Arc::new(Inner {
                settings,
                http,
                pending: moka::sync::Cache::builder()
                    .max_capacity(MAX_PENDING)
                    .time_to_live(STATE_LIFETIME)
                    .build(),
                tokens,
                clients: moka::future::Cache::builder()
                    .max_capacity(MAX_CLIENTS)
                    .time_to_idle(CLIENT_IDLE)
                    .build(),
            }),
        })
    }

    pub fn settings(&self) -> &SignInSettings {
        &self.inner.settings
    }

    /// The authorize URL of a new sign-in for `user` of `team`.
    pub fn start(&self, team: &str, user: &str) -> String {
        let state = random_text();
        let verifier = random_text();
        let s = &self.inner.settings;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", s.callback.as_str())
            .append_pair("scope", SCOPES)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .finish();
        self.inner.pending.insert(
            state,
            Pending {
                team: team.to_string(),
                user: user.to_string(),
                verifier: SecretString::from(verifier),
            },
        );
        format!("{}?{query}", s.endpoint("authorize"))
    }

    /// The callback: `state` taken (once), `code` exchanged with the verifier, the refresh
    /// token sealed and stored.
    pub async fn finish(&self, params: &HashMap<String, String>) -> Result<Connected, SignInError> {
        let state = params.get("state").map(String::as_str).unwrap_or_default();
        // Single use: taken out whatever happens next.
        let pending = match state {
            "" => None,
            s => self.inner.pending.remove(s),
        };
        let Some(pending) = pending else {
            return Err(SignInError::UnknownState);
        };
        if let Some(error) = params.get("error") {
            let described = params
                .get("error_description")
                .map(|d| format!("{error}: {d}"))
                .unwrap_or_else(|| error.clone());
            return Err(SignInError::Denied(described));
        }
        let code = params.get("code").map(String::as_str).unwrap_or_default();
        if code.is_empty() {
            return Err(SignInError::Denied("no authorization code".into()));
        }
        let (refresh, sf_user) = self.exchange(code, &pending.verifier).await?;
        let key = user_key(&pending.user);
        self.inner.tokens.put(&key, &refresh, &sf_user)?;
        self.inner.clients.invalidate(&key).await;
        info!(user = %pending.user, sf_user, "Salesforce connected");
        Ok(Connected {
            team: pending.team,
            user: pending.user,
            sf_user,
        })
    }

    async fn exchange(
        &self,
        code: &str,
        verifier: &SecretString,
    ) -> Result<(SecretString, String), SignInError> {
        let s = &self.inner.settings;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", s.client_id.as_str()),
            ("redirect_uri", s.callback.as_str()),
            ("code_verifier", verifier.expose_secret()),
        ];
        if let Some(secret) = &s.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        let response = self
            .inner
            .http
            .post(s.endpoint("token"))
            .form(&form)
            .send()
            .await
            .map_err(|e| SignInError::Exchange(crate::net::root_cause(&e)))?;
        let status = response.status().as_u16();
        let body = read_capped(response, 100_000)
            .await
            .map_err(|e| SignInError::Exchange(e.describe()))?;
        if !(200..300).contains(&status) {
            let why: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return Err(SignInError::Exchange(format!(
                "HTTP {status}: {} {}",
                why["error"].as_str().unwrap_or(""),
                why["error_description"].as_str().unwrap_or("")
            )));
        }
        let granted: Granted = serde_json::from_slice(&body)
            .map_err(|_| SignInError::Exchange("the token answer could not be read".into()))?;
        let Some(refresh) = granted.refresh_token else {
            return Err(SignInError::Exchange(format!(
                "no refresh token came back: the connected app must allow the scopes `{SCOPES}`"
            )));
        };
        let sf_user = granted
            .id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok((refresh, sf_user))
    }

    /// Whether `user` has a stored sign-in.
    pub fn is_connected(&self, user: &str) -> bool {
        matches!(self.inner.tokens.get(&user_key(user)), Ok(Some(_)))
    }

    /// The Salesforce User `user` signed in as, when connected.
    pub fn connected_as(&self, user: &str) -> Option<String> {
        self.inner
            .tokens
            .get(&user_key(user))
            .ok()
            .flatten()
            .map(|s| s.sf_user)
    }

    /// A client acting as `user`, with a working access token (obtained now when none is
    /// cached). A refresh token Salesforce refuses for good is forgotten: `Lapsed`.
    pub async fn client(&self, user: &str) -> Result<SalesforceClient, PersonError> {
        let key = user_key(user);
        let this = self.clone();
        let k = key.clone();
        self.inner
            .clients
            .try_get_with(key, async move {
                let stored = this
                    .inner
                    .tokens
                    .get(&k)
                    .map_err(|e| PersonError::Broken(e.to_string()))?
                    .ok_or(PersonError::NotConnected)?;
                let s = &this.inner.settings;
                let client = SalesforceClient::for_person(
                    &s.salesforce,
                    &s.oauth_base,
                    stored.refresh_token,
                )
                .map_err(|e| PersonError::Broken(e.to_string()))?;
                match client.sign_in_now().await {
                    Ok(()) => Ok(client),
                    Err(e) if e.is_revoked_grant() => {
                        this.forget_stored(&k);
                        Err(PersonError::Lapsed)
                    }
                    Err(e) => Err(PersonError::Broken(e.to_string())),
                }
            })
            .await
            .map_err(|e: Arc<PersonError>| (*e).clone())
    }

    /// After `e` from `user`'s client: when it says the sign-in ended, forgets it and
    /// returns `Lapsed`.
    pub async fn lapsed(&self, user: &str, e: &SalesforceError) -> Option<PersonError> {
        if !e.is_revoked_grant() {
            return None;
        }
        let key = user_key(user);
        self.forget_stored(&key);
        self.inner.clients.invalidate(&key).await;
        Some(PersonError::Lapsed)
    }

    fn forget_stored(&self, key: &str) {
        if let Err(e) = self.inner.tokens.remove(key) {
            warn!(error = %e, "a lapsed Salesforce sign-in could not be forgotten");
        }
    }

    /// `/crm disconnect`: revokes the refresh token in Salesforce and forgets it.
    pub async fn disconnect(&self, user: &str) -> Result<Disconnected, SignInError> {
        let key = user_key(user);
        let stored = match self.inner.tokens.get(&key) {
            Ok(Some(s)) => Some(s),
            Ok(None) => None,
            // Unreadable (the key changed): forget it all the same.
            Err(SealError::Open) => None,
            Err(e) => return Err(e.into()),
        };
        let had = self.inner.tokens.remove(&key)?;
        self.inner.clients.invalidate(&key).await;
        let Some(stored) = stored else {
            return Ok(if had {
                Disconnected::ForgottenOnly("its token could not be read to revoke it".into())
            } else {
                Disconnected::NotConnected
            });
        };
        let revoked = self
            .inner
            .http
            .post(self.inner.settings.endpoint("revoke"))
            .form(&[("token", stored.refresh_token.expose_secret())])
            .send()
            .await;
        Ok(match revoked {
            Ok(r) if r.status().is_success() => Disconnected::Revoked,
            // Salesforce no longer knows the token: nothing left to revoke.
            Ok(r) if r.status().as_u16() == 400 => Disconnected::Revoked,
            Ok(r) => Disconnected::ForgottenOnly(format!(
                "Salesforce answered HTTP {}",
                r.status().as_u16()
            )),
            Err(e) => Disconnected::ForgottenOnly(crate::net::root_cause(&e)),
        })
    }

    /// People connected.
    pub fn connected_count(&self) -> usize {
        self.inner.tokens.count()
    }
}

/// The key a person's sign-in is stored under (and sealed to). Slack user ids are unique
/// across workspaces, and the same across the workspaces of an Enterprise Grid org.
pub fn user_key(user: &str) -> String {
    user.to_string()
}

mod clients;
pub use clients::Clients;
