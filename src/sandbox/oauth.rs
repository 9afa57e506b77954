//! `POST /services/oauth2/token`: the JWT bearer, client-credentials and refresh-token grants
//! with Salesforce's success and error bodies (salesforce.md §4), and the access tokens the
//! API accepts. Minted tokens expire after a configurable lifetime (or on demand through the
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
        }
    }
}

/// The org id every identity URL names.
pub const ORG_ID: &str = "00DSb0000000001AAA";

/// Accepted access tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    fixed: Vec<String>,
    minted: HashMap<String, Instant>,
}

impl Tokens {
    pub fn new(fixed: Vec<String>) -> Tokens {
        Tokens {
            fixed,
            minted: HashMap::new(),
        }
    }

    pub fn is_valid(&self, token: &str) -> bool {
        self.fixed.iter().any(|t| t == token)
            || self
                .minted
                .get(token)
                .is_some_and(|exp| Instant::now() < *exp)
    }

    pub fn mint(&mut self, lifetime: Duration) -> String {
        let token = format!("{}!AQ{}", &ORG_ID[..15], ids::opaque(40));
        self.minted.insert(token.clone(), Instant::now() + lifetime);
        token
    }

    /// Expires every minted token (static ones stay valid).
    pub fn expire_minted(&mut self) {
        let now = Instant::now();
        for exp in self.minted.values_mut() {
            *exp = now;
        }
    }
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
        "refresh_token" => {
            if field("client_id").is_some_and(|c| c != options.client_id)
                || field("client_secret")
                    .is_some_and(|s| s != options.client_secret.expose_secret())
            {
                return error("invalid_client", "invalid client credentials");
            }
            if field("refresh_token") != Some(options.refresh_token.expose_secret()) {
                return error("invalid_grant", "expired access/refresh token");
            }
            let access = tokens.mint(options.token_lifetime);
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
