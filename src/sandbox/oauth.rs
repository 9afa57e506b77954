//! `POST /services/oauth2/token`: the JWT bearer, client-credentials, refresh-token and
//! authorization-code (+ PKCE, S256) grants with Salesforce's success and error bodies
//! (salesforce.md §4); `/services/oauth2/authorize` and `/services/oauth2/revoke`; and the
//! access tokens the API accepts, each acting as one User. Minted tokens expire after a configurable lifetime (or on demand through the
//! faults), so a client's 401 -> refresh -> retry path can be exercised.
//!
//! The JWT grant checks the assertion's structure and claims (RS256 header, `iss` = client
//! id, `sub` = username, `aud`, `exp` in the future and at most 3 minutes away) but NOT its
//! signature: the sandbox holds no certificate of the client's key (real Salesforce verifies it
//! with the one uploaded to the connected app). tests/sf_oauth.rs checks the signature itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::ids;

/// The credentials the token endpoint accepts.
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    pub client_id: String,
    pub client_secret: SecretString,
    /// The JWT `sub` (Salesforce username) accepted by the JWT grant.
    pub username: String,
    pub refresh_token: SecretString,
    /// Accepted JWT audiences; the sandbox's own base URL is always accepted too.
    pub audiences: Vec<String>,
    /// Lifetime of minted access tokens.
    pub token_lifetime: Duration,
    /// The connected app's callback URLs for the web server flow; empty: any.
    pub callback_urls: Vec<String>,
}

impl OAuthOptions {
    pub fn allows_callback(&self, url: &str) -> bool {
        !url.is_empty()
            && (self.callback_urls.is_empty() || self.callback_urls.iter().any(|c| c == url))
    }
}

impl Default for OAuthOptions {
    fn default() -> OAuthOptions {
        OAuthOptions {
            client_id: "sandbox-client-id".into(),
            client_secret: SecretString::from("sandbox-client-secret"),
            username: "integration@crmbot.sandbox".into(),
            refresh_token: SecretString::from("sandbox-refresh-token"),
            audiences: vec![
                "https://login.salesforce.com".into(),
                "https://test.salesforce.com".into(),
            ],
            token_lifetime: Duration::from_secs(2 * 60 * 60),
            callback_urls: Vec::new(),
        }
    }
}

/// The org id every identity URL names.
pub const ORG_ID: &str = "00DSb0000000001AAA";

/// Accepted access tokens, the users they act as, and the refresh tokens and
/// authorization codes of the web server flow.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Static tokens: the API user's.
    fixed: Vec<String>,
    minted: HashMap<String, Minted>,
    /// Refresh token -> the User it acts as (issued by the authorization-code grant).
    refresh: HashMap<String, String>,
    codes: HashMap<String, Code>,
}

#[derive(Debug)]
struct Minted {
    expires: Instant,
    user: Option<String>,
    /// The refresh token it came from (revoking that revokes this too).
    from: Option<String>,
}

/// An authorization code, single use.
#[derive(Debug, Clone)]
pub struct Code {
    pub user: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// The PKCE challenge (S256), when the authorize request had one.
    pub challenge: Option<String>,
    pub expires: Instant,
}

/// How long an authorization code may be exchanged (Salesforce: 15 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);

impl Tokens {
    pub fn new(fixed: Vec<String>) -> Tokens {
        Tokens {
            fixed,
            ..Tokens::default()
        }
    }

    /// The User a valid token acts as (`None`: not a valid token); static tokens and
    /// tokens of the integration grants act as `api_user`.
    pub fn user_of(&self, token: &str, api_user: &str) -> Option<String> {
        if self.fixed.iter().any(|t| t == token) {
            return Some(api_user.to_string());
        }
        let m = self.minted.get(token)?;
        (Instant::now() < m.expires).then(|| m.user.clone().unwrap_or_else(|| api_user.to_string()))
    }

    pub fn mint(&mut self, lifetime: Duration) -> String {
        self.mint_for(lifetime, None, None)
    }

    fn mint_for(&mut self, lifetime: Duration, user: Option<&str>, from: Option<&str>) -> String {
        let token = format!("{}!AQ{}", &ORG_ID[..15], ids::opaque(40));
        self.minted.insert(
            token.clone(),
            Minted {
                expires: Instant::now() + lifetime,
                user: user.map(str::to_string),
                from: from.map(str::to_string),
            },
        );
        token
    }

    /// Expires every minted token (static ones stay valid).
    pub fn expire_minted(&mut self) {
        let now = Instant::now();
        for m in self.minted.values_mut() {
            m.expires = now;
        }
    }

    /// Issues an authorization code for `code.user`.
    pub fn issue_code(&mut self, code: Code) -> String {
        let now = Instant::now();
        self.codes.retain(|_, c| c.expires > now);
        let text = format!("aPrx{}", ids::opaque(40));
        self.codes.insert(text.clone(), code);
        text
    }

    /// Revokes a refresh token (and the access tokens minted from it) or an access token.
    pub fn revoke(&mut self, token: &str) -> bool {
        if self.refresh.remove(token).is_some() {
            self.minted.retain(|_, m| m.from.as_deref() != Some(token));
            return true;
        }
        self.minted.remove(token).is_some()
    }

    /// Live refresh tokens, for tests.
    pub fn refresh_count(&self) -> usize {
        self.refresh.len()
    }
}

/// The authorize endpoint's decision.
pub enum Authorized {
    /// 302 to this URL (the callback with `code` and `state`, or with an error).
    Redirect(String),
    /// An error page: the request cannot be sent back to its callback.
    Refused(TokenReply),
}

/// `GET /services/oauth2/authorize` for the user named by `user` (the sandbox has no
/// login page: `login_hint` picks who signs in).
pub fn authorize(
    options: &OAuthOptions,
    tokens: &mut Tokens,
    params: &HashMap<String, String>,
    user: Option<String>,
) -> Authorized {
    let field = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != options.client_id {
        return Authorized::Refused(error("invalid_client_id", "client identifier invalid"));
    }
    let redirect = field("redirect_uri");
    if !options.allows_callback(redirect) {
        return Authorized::Refused(error(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        ));
    }
    let back = |pairs: &[(&str, &str)]| {
        let mut url = url::Url::parse(redirect).ok();
        if let Some(u) = url.as_mut() {
            let mut q = u.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(state) = params.get("state") {
                q.append_pair("state", state);
            }
        }
        url.map(String::from).unwrap_or_default()
    };
    if field("response_type") != "code" {
        return Authorized::Redirect(back(&[
            ("error", "unsupported_response_type"),
            ("error_description", "response type not supported"),
        ]));
    }
    let challenge = params.get("code_challenge").cloned();
    if challenge.is_some()
        && params.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return Authorized::Redirect(back(&[
            ("error", "invalid_request"),
            ("error_description", "invalid code challenge method"),
        ]));
    }
    let Some(user) = user else {
        return Authorized::Redirect(back(&[
            ("error", "access_denied"),
            ("error_description", "end-user denied authorization"),
        ]));
    };
    let code = tokens.issue_code(Code {
        user,
        client_id: options.client_id.clone(),
        redirect_uri: redirect.to_string(),
        challenge,
        expires: Instant::now() + CODE_LIFETIME,
    });
    Authorized::Redirect(back(&[("code", &code)]))
}

/// `base64url(sha256(verifier))`, the S256 challenge of a PKCE verifier.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The authorization-code grant: one use of a live code, by the client and callback it was
/// issued to, with the PKCE verifier of its challenge.
fn exchange(
    options: &OAuthOptions,
    tokens: &mut Tokens,
    field: &dyn Fn(&str) -> Option<String>,
    client: (String, String),
) -> Result<(String, String, String), TokenReply> {
    let (id, secret) = client;
    if id != options.client_id
        || (!secret.is_empty() && secret != options.client_secret.expose_secret())
    {
        return Err(error("invalid_client", "invalid client credentials"));
    }
    let text = field("code").unwrap_or_default();
    // Single use: taken out whatever happens next.
    let code = tokens
        .codes
        .remove(&text)
        .filter(|c| c.expires > Instant::now())
        .ok_or_else(|| error("invalid_grant", "invalid authorization code"))?;
    if code.client_id != id || field("redirect_uri").as_deref() != Some(code.redirect_uri.as_str())
    {
        return Err(error(
            "invalid_grant",
            "redirect_uri must match configuration",
        ));
    }
    if let Some(challenge) = &code.challenge {
        let verifier = field("code_verifier").unwrap_or_default();
        if s256(&verifier) != *challenge {
            return Err(error("invalid_grant", "invalid code verifier"));
        }
    }
    let refresh = format!("5Aep{}", ids::opaque(60));
    tokens.refresh.insert(refresh.clone(), code.user.clone());
    let access = tokens.mint_for(options.token_lifetime, Some(&code.user), Some(&refresh));
    Ok((access, refresh, code.user))
}

/// A token endpoint answer: status and JSON body.
pub type TokenReply = (u16, Value);

fn error(code: &str, description: &str) -> TokenReply {
    (
        400,
        json!({"error": code, "error_description": description}),
    )
}

/// Handles one token request. `form` is the decoded form body; `basic` the client id and
/// secret from an `Authorization: Basic` header, if any.
pub fn token(
    options: &OAuthOptions,
    tokens: &mut Tokens,
    base_url: &str,
    user_id: &str,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> TokenReply {
    let field = |k: &str| form.get(k).map(String::as_str);
    let grant = field("grant_type").unwrap_or_default();
    let issued = chrono::Utc::now().timestamp_millis().to_string();
    let identity = format!("{base_url}/id/{ORG_ID}/{user_id}");
    match grant {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            if let Err(description) = check_jwt(options, base_url, field("assertion")) {
                return error("invalid_grant", description);
            }
            let access = tokens.mint(options.token_lifetime);
            (
                200,
                json!({"access_token": access, "scope": "id api", "instance_url": base_url,
                         "id": identity, "token_type": "Bearer"}),
            )
        }
        "client_credentials" => {
            let (id, secret) = match basic {
                Some(pair) => pair,
                None => (
                    field("client_id").unwrap_or_default().to_string(),
                    field("client_secret").unwrap_or_default().to_string(),
                ),
            };
            if id != options.client_id || secret != options.client_secret.expose_secret() {
                return error("invalid_client", "invalid client credentials");
            }
            let access = tokens.mint(options.token_lifetime);
            (
                200,
                json!({"access_token": access, "signature": ids::opaque(43),
                         "scope": "id api", "instance_url": base_url, "id": identity,
                         "token_type": "Bearer", "issued_at": issued}),
            )
        }
        "authorization_code" => {
            let client = basic.unwrap_or_else(|| {
                (
                    field("client_id").unwrap_or_default().to_string(),
                    field("client_secret").unwrap_or_default().to_string(),
                )
            });
            let get = |k: &str| form.get(k).cloned();
            match exchange(options, tokens, &get, client) {
                Ok((access, refresh, user)) => (
                    200,
                    json!({"access_token": access, "refresh_token": refresh,
                             "signature": ids::opaque(43), "scope": "refresh_token api id",
                             "instance_url": base_url,
                             "id": format!("{base_url}/id/{ORG_ID}/{user}"),
                             "token_type": "Bearer", "issued_at": issued}),
                ),
                Err(reply) => reply,
            }
        }
        "refresh_token" => {
            if field("client_id").is_some_and(|c| c != options.client_id)
                || field("client_secret")
                    .is_some_and(|s| s != options.client_secret.expose_secret())
            {
                return error("invalid_client", "invalid client credentials");
            }
            let given = field("refresh_token").unwrap_or_default();
            let (access, identity) = match tokens.refresh.get(given).cloned() {
                Some(user) => (
                    tokens.mint_for(options.token_lifetime, Some(&user), Some(given)),
                    format!("{base_url}/id/{ORG_ID}/{user}"),
                ),
                None if given == options.refresh_token.expose_secret() => {
                    (tokens.mint(options.token_lifetime), identity)
                }
                None => return error("invalid_grant", "expired access/refresh token"),
            };
            (
                200,
                json!({"access_token": access, "signature": ids::opaque(43),
                         "scope": "id api refresh_token", "instance_url": base_url,
                         "id": identity, "token_type": "Bearer", "issued_at": issued}),
            )
        }
        _ => error("unsupported_grant_type", "grant type not supported"),
    }
}

fn check_jwt(
    options: &OAuthOptions,
    base_url: &str,
    assertion: Option<&str>,
) -> Result<(), &'static str> {
    let assertion = assertion.ok_or("invalid assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("invalid assertion");
    };
    let decode =
        |part: &str| -> Option<Value> { serde_json::from_slice(&base64_decode(part)?).ok() };
    let header = decode(header).ok_or("invalid assertion")?;
    let claims = decode(claims).ok_or("invalid assertion")?;
    if header["alg"] != "RS256" || signature.is_empty() || base64_decode(signature).is_none() {
        return Err("invalid assertion");
    }
    if claims["iss"].as_str() != Some(options.client_id.as_str()) {
        return Err("invalid client identifier");
    }
    if claims["sub"].as_str() != Some(options.username.as_str()) {
        return Err("user hasn't approved this consumer");
    }
    let audience_ok = |a: &str| {
        let a = a.trim_end_matches('/');
        a == base_url
            || options
                .audiences
                .iter()
                .any(|x| x.trim_end_matches('/') == a)
    };
    let aud_ok = match &claims["aud"] {
        Value::String(a) => audience_ok(a),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(audience_ok),
        _ => false,
    };
    if !aud_ok {
        return Err("audience is invalid");
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().ok_or("invalid assertion")?;
    if exp <= now || exp > now + 180 + 5 {
        return Err("expired authorization code");
    }
    Ok(())
}

/// Decodes unpadded (or padded) base64url.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64url_decodes_without_padding() {
        assert_eq!(
            base64_decode("eyJhbGciOiJSUzI1NiJ9").unwrap(),
            br#"{"alg":"RS256"}"#
        );
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("a*b").is_none());
    }
}
