//! How the client proves who it is: a static access token, or one of three OAuth 2.0 flows
//! that obtain tokens from `/services/oauth2/token` (salesforce.md §4):
//!
//! * **JWT bearer** (server to server, recommended): a JWT signed with the connected app's
//!   private key; no secret is sent. `jwt`.
//! * **Client credentials**: consumer key and secret, posted to the org's My Domain URL (the
//!   generic login hosts refuse this grant); the token acts as the app's Run As user.
//! * **Refresh token**: a refresh token obtained once by a person through the web flow.
//!
//! Tokens are obtained on first use, cached, and shared by every clone of the client
//! (`token::TokenCache`). Salesforce tells nobody when a token expires, so the client calls
//! `refresh` after a 401 and retries once; concurrent refusals cause one token request.
//! Secrets stay `SecretString` and `Debug` prints none of them.

mod jwt;
mod token;

use secrecy::SecretString;

use super::error::SalesforceError;
use crate::config::SalesforceSettings;
use jwt::JwtKey;
pub use jwt::key_exposure;
use token::TokenCache;

/// Production login host; `https://test.salesforce.com` for sandboxes.
pub const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";

/// The credentials the client sends.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`, never refreshed.
    StaticToken(SecretString),
    /// OAuth 2.0 JWT bearer: `iss` = client id, `sub` = username, `aud` = login URL (also the
    /// token endpoint's host). The key is read from `private_key_file` when built.
    JwtBearer {
        client_id: String,
        username: String,
        key: JwtKey,
        login_url: String,
        cache: TokenCache,
    },
    /// OAuth 2.0 client credentials, against the instance (My Domain) URL, else the login URL.
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
        token_url: String,
        cache: TokenCache,
    },
    /// OAuth 2.0 refresh token; the secret is optional (public clients have none).
    RefreshToken {
        client_id: String,
        client_secret: Option<SecretString>,
        refresh_token: SecretString,
        login_url: String,
        cache: TokenCache,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::StaticToken(_) => f.write_str("Auth::StaticToken(********)"),
            Auth::JwtBearer {
                client_id,
                username,
                login_url,
                ..
            } => f
                .debug_struct("Auth::JwtBearer")
                .field("client_id", client_id)
                .field("username", username)
                .field("key", &"********")
                .field("login_url", login_url)
                .finish(),
            Auth::ClientCredentials {
                client_id,
                token_url,
                ..
            } => f
                .debug_struct("Auth::ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"********")
                .field("token_url", token_url)
                .finish(),
            Auth::RefreshToken {
                client_id,
                login_url,
                ..
            } => f
                .debug_struct("Auth::RefreshToken")
                .field("client_id", client_id)
                .field("client_secret", &"********")
                .field("refresh_token", &"********")
                .field("login_url", login_url)
                .finish(),
        }
    }
}

/// What each way needs, for the error when none is complete.
const OPTIONS: &str = "set one of: SALESFORCE_ACCESS_TOKEN (a static token); \
    SALESFORCE_CLIENT_ID + SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY_FILE (JWT bearer, \
    optional SALESFORCE_LOGIN_URL); SALESFORCE_CLIENT_ID + SALESFORCE_REFRESH_TOKEN (refresh \
    token, optional SALESFORCE_CLIENT_SECRET and SALESFORCE_LOGIN_URL); SALESFORCE_CLIENT_ID + \
    SALESFORCE_CLIENT_SECRET + SALESFORCE_INSTANCE_URL of My Domain (client credentials)";

impl Auth {
    /// Picks the auth the settings describe: a static token, else JWT bearer, else refresh
    /// token, else client credentials. Reads the JWT key file now.
    pub fn from_settings(settings: &SalesforceSettings) -> Result<Auth, SalesforceError> {
        if let Some(token) = &settings.access_token {
            return Ok(Auth::StaticToken(token.clone()));
        }
        let trimmed = |u: &url::Url| u.as_str().trim_end_matches('/').to_string();
        let instance = settings.instance_url.as_ref().map(trimmed);
        let login_url = settings
            .login_url
            .as_ref()
            .map(trimmed)
            .unwrap_or_else(|| DEFAULT_LOGIN_URL.to_string());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("crmbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SalesforceError::Config(format!("HTTP client: {e}")))?;
        let cache = |url: &str| TokenCache::new(http.clone(), url, instance.as_deref());
        let s = settings;
        if let (Some(client_id), Some(username), Some(path)) =
            (&s.client_id, &s.username, &s.private_key_file)
        {
            return Ok(Auth::JwtBearer {
                client_id: client_id.clone(),
                username: username.clone(),
                key: JwtKey::load(path)?,
                cache: cache(&login_url),
                login_url,
            });
        }
        if let (Some(client_id), Some(refresh_token)) = (&s.client_id, &s.refresh_token) {
            return Ok(Auth::RefreshToken {
                client_id: client_id.clone(),
                client_secret: s.client_secret.clone(),
                refresh_token: refresh_token.clone(),
                cache: cache(&login_url),
                login_url,
            });
        }
        if let (Some(client_id), Some(client_secret)) = (&s.client_id, &s.client_secret) {
            // The generic login hosts refuse this grant; My Domain is the instance URL.
            let token_url = match (&instance, &s.login_url) {
                (Some(instance), _) => instance.clone(),
                (None, Some(login)) => trimmed(login),
                (None, None) => {
                    return Err(SalesforceError::Config(
                        "the client credentials flow needs the org's My Domain URL: set \
                         SALESFORCE_INSTANCE_URL (e.g. https://acme.my.salesforce.com)"
                            .into(),
                    ));
                }
            };
            return Ok(Auth::ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                cache: cache(&token_url),
                token_url,
            });
        }
        let given: Vec<&str> = [
            ("SALESFORCE_CLIENT_ID", s.client_id.is_some()),
            ("SALESFORCE_USERNAME", s.username.is_some()),
            ("SALESFORCE_PRIVATE_KEY_FILE", s.private_key_file.is_some()),
            ("SALESFORCE_CLIENT_SECRET", s.client_secret.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let so_far = if given.is_empty() {
            String::new()
        } else {
            format!(" (set so far: {})", given.join(", "))
        };
        Err(SalesforceError::Config(format!(
            "no complete Salesforce credentials{so_far}; {OPTIONS}"
        )))
    }

    /// The flow's name, for logs and errors.
    pub fn flow(&self) -> &'static str {
        match self {
            Auth::StaticToken(_) => "static token",
            Auth::JwtBearer { .. } => "JWT bearer",
            Auth::ClientCredentials { .. } => "client credentials",
            Auth::RefreshToken { .. } => "refresh token",
        }
    }

    fn cache(&self) -> Option<&TokenCache> {
        match self {
            Auth::StaticToken(_) => None,
            Auth::JwtBearer { cache, .. }
            | Auth::ClientCredentials { cache, .. }
            | Auth::RefreshToken { cache, .. } => Some(cache),
        }
    }

    /// The instance URL the token endpoint returned, for a client configured without one.
    /// `None` before the first token and for a static token.
    pub fn instance_url(&self) -> Option<&str> {
        self.cache()?.returned_instance()
    }

    /// True when this auth can learn the instance URL from the token endpoint.
    pub fn discovers_instance(&self) -> bool {
        self.cache().is_some()
    }

    /// The form of a token request for this flow (a fresh JWT each time).
    fn grant(&self) -> Result<Vec<(&'static str, SecretString)>, SalesforceError> {
        let plain = |v: &str| SecretString::from(v.to_string());
        Ok(match self {
            Auth::StaticToken(_) => Vec::new(),
            Auth::JwtBearer {
                client_id,
                username,
                key,
                login_url,
                ..
            } => vec![
                (
                    "grant_type",
                    plain("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ),
                ("assertion", key.assertion(client_id, username, login_url)?),
            ],
            Auth::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => vec![
                ("grant_type", plain("client_credentials")),
                ("client_id", plain(client_id)),
                ("client_secret", client_secret.clone()),
            ],
            Auth::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => {
                let mut form = vec![
                    ("grant_type", plain("refresh_token")),
                    ("client_id", plain(client_id)),
                    ("refresh_token", refresh_token.clone()),
                ];
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.clone()));
                }
                form
            }
        })
    }

    /// The token to send now: the static one, or the cached one (fetched on first use).
    pub async fn token(&self) -> Result<SecretString, SalesforceError> {
        match (self, self.cache()) {
            (Auth::StaticToken(t), _) => Ok(t.clone()),
            (_, Some(cache)) => cache.token(self.flow(), || self.grant()).await,
            (_, None) => Err(SalesforceError::Config("no token cache".into())),
        }
    }

    /// Gets a fresh token after `failed` was refused with a 401. Returns true when a new
    /// token is ready (obtained now, or already by a concurrent caller), false when this auth
    /// cannot refresh and the 401 stands.
    pub async fn refresh(&self, failed: &SecretString) -> Result<bool, SalesforceError> {
        match self.cache() {
            None => Ok(false),
            Some(cache) => {
                cache.refresh(failed, self.flow(), || self.grant()).await?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn settings() -> SalesforceSettings {
        SalesforceSettings {
            instance_url: Some("https://acme.my.salesforce.com".parse().unwrap()),
            ..SalesforceSettings::default()
        }
    }

    #[test]
    fn the_settings_pick_the_flow() {
        let mut s = settings();
        s.client_id = Some("id".into());
        s.client_secret = Some(SecretString::from("secret"));
        let auth = Auth::from_settings(&s).unwrap();
        assert_eq!(auth.flow(), "client credentials");
        let shown = format!("{auth:?}");
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(shown.contains("https://acme.my.salesforce.com"), "{shown}");

        s.refresh_token = Some(SecretString::from("rt-value"));
        let auth = Auth::from_settings(&s).unwrap();
        assert_eq!(auth.flow(), "refresh token");
        assert!(!format!("{auth:?}").contains("rt-value"));

        s.access_token = Some(SecretString::from("tok"));
        assert_eq!(Auth::from_settings(&s).unwrap().flow(), "static token");
    }

    #[test]
    fn incomplete_settings_list_every_option() {
        let mut s = settings();
        s.client_id = Some("id".into());
        s.username = Some("me@example.com".into());
        let err = Auth::from_settings(&s).unwrap_err().to_string();
        assert!(
            err.contains("set so far: SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME"),
            "{err}"
        );
        for name in [
            "SALESFORCE_ACCESS_TOKEN",
            "SALESFORCE_PRIVATE_KEY_FILE",
            "SALESFORCE_REFRESH_TOKEN",
            "SALESFORCE_CLIENT_SECRET",
        ] {
            assert!(err.contains(name), "{name} in {err}");
        }
        s.private_key_file = Some(PathBuf::from("/nowhere/connected-app.key"));
        let err = Auth::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("/nowhere/connected-app.key"), "{err}");
    }

    #[test]
    fn client_credentials_need_my_domain() {
        let s = SalesforceSettings {
            client_id: Some("id".into()),
            client_secret: Some(SecretString::from("secret")),
            ..SalesforceSettings::default()
        };
        let err = Auth::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("SALESFORCE_INSTANCE_URL"), "{err}");
    }
}
