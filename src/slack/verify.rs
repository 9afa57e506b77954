//! Every request from Slack is checked before anything reads it: v0 HMAC-SHA256 over
//! `v0:{timestamp}:{body}`, the timestamp within five minutes either way, compared in
//! constant time (slack-morphism's verifier). A failure leaves no trace but a log line.

use axum::http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp")]
    MissingHeaders,
    #[error("the body is not UTF-8")]
    NotText,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is more than five minutes away from now")]
    StaleTimestamp,
    #[error("no signing secret is configured")]
    NoSecret,
}

/// Checks the request and returns its body as text.
pub fn verify(
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, VerifyError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        return Err(VerifyError::MissingHeaders);
    };
    let body = std::str::from_utf8(body).map_err(|_| VerifyError::NotText)?;
    let secret = SlackSigningSecret::new(secret.expose_secret().to_string());
    SlackEventSignatureVerifier::new(&secret)
        .verify(signature, body, timestamp)
        .map_err(|e| match e {
            SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_) => {
                VerifyError::StaleTimestamp
            }
            SlackEventSignatureVerifierError::CryptoInitError(_) => VerifyError::NoSecret,
            _ => VerifyError::BadSignature,
        })?;
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_missing_header_is_refused() {
        let secret = SecretString::from("s3cret".to_string());
        assert_eq!(
            verify(&secret, &HeaderMap::new(), b"x"),
            Err(VerifyError::MissingHeaders)
        );
    }

    #[test]
    fn slacks_documented_example_is_checked_against_the_clock() {
        // The example from Slack's docs is years old: right signature, stale timestamp.
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_string());
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-slack-request-timestamp",
            HeaderValue::from_static("1531420618"),
        );
        headers.insert(
            "x-slack-signature",
            HeaderValue::from_static(
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        );
        assert_eq!(
            verify(&secret, &headers, body.as_bytes()),
            Err(VerifyError::StaleTimestamp)
        );
        headers.insert(
            "x-slack-signature",
            HeaderValue::from_static(
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504",
            ),
        );
        assert_eq!(
            verify(&secret, &headers, body.as_bytes()),
            Err(VerifyError::BadSignature)
        );
    }
}
