//! The JWT bearer assertion: an RS256-signed JWT that says "client `iss` acts as user `sub`
//! towards `aud`, until `exp`". Salesforce checks the signature against the certificate
//! uploaded to the connected app, so no secret travels; only the private key file is needed.
//!
//! The key is read and test-signed once, when the client is built: a wrong path or a file that
//! is not an RSA private key fails at start-up naming the file, not at the first request.
//! (The local sandbox checks the claims but not the signature — it holds no certificate.)

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::Serialize;

use crate::salesforce::error::SalesforceError;

/// Salesforce accepts an `exp` at most 3 minutes away.
const LIFETIME_SECS: u64 = 3 * 60;

/// The connected app's private key. Never printed.
#[derive(Clone)]
pub struct JwtKey(Arc<EncodingKey>);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(********)")
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

impl JwtKey {
    /// Reads an RSA private key in PEM form (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8
    /// `BEGIN PRIVATE KEY`, unencrypted) and checks that it can sign.
    pub fn load(path: &Path) -> Result<JwtKey, SalesforceError> {
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| {
            SalesforceError::Config(format!(
                "cannot read the JWT private key file {shown} (SALESFORCE_PRIVATE_KEY_FILE): {e}"
            ))
        })?;
        let not_rsa = |e: jsonwebtoken::errors::Error| {
            SalesforceError::Config(format!(
                "the JWT private key file {shown} (SALESFORCE_PRIVATE_KEY_FILE) is not an \
                 unencrypted RSA private key in PEM form ({e})"
            ))
        };
        if let Some(who) = key_exposure(path) {
            tracing::warn!(
                file = %shown,
                "the JWT private key file is {who}; anyone who reads it can act as crmbot in Salesforce: chmod 600 it"
            );
        }
        let key = JwtKey(Arc::new(EncodingKey::from_rsa_pem(&pem).map_err(not_rsa)?));
        // A public key or a truncated file parses as PEM; only signing tells.
        key.sign("check", "check", "check").map_err(not_rsa)?;
        Ok(key)
    }

    /// The assertion for the token request: `iss` = client id, `sub` = username, `aud` = the
    /// login URL, `exp` = now + 3 minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        username: &str,
        audience: &str,
    ) -> Result<SecretString, SalesforceError> {
        self.sign(client_id, username, audience)
            .map(SecretString::from)
            .map_err(|e| SalesforceError::Config(format!("cannot sign the JWT assertion: {e}")))
    }

    fn sign(&self, iss: &str, sub: &str, aud: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iss,
            sub,
            aud,
            exp: jsonwebtoken::get_current_timestamp() + LIFETIME_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.0)
    }
}

/// Who besides its owner may read a key file ("readable by others (mode 0644)"), or `None`
/// when only its owner may.
pub fn key_exposure(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
            (_, true) => "readable by every user of this machine",
            (true, false) => "readable by its group",
            (false, false) => return None,
        };
        Some(format!("{who} (mode {mode:04o})"))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_non_rsa_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = JwtKey::load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.pem") && err.contains("cannot read"),
            "{err}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = JwtKey::load(&garbage).unwrap_err().to_string();
        assert!(
            err.contains("garbage.pem") && err.contains("not an"),
            "{err}"
        );
    }

    #[test]
    fn the_key_never_prints() {
        let key = format!(
            "{:?}",
            JwtKey(Arc::new(EncodingKey::from_secret(b"s3cret").unwrap()))
        );
        assert_eq!(key, "JwtKey(********)");
    }
}
