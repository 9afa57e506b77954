//! The OAuth 2.0 flows against the sandbox's real token endpoint: JWT bearer, client
//! credentials and refresh token each get a token on first use, keep it, and after the
//! sandbox expires it (`Faults::expire_minted_tokens`) refresh once and retry the refused
//! request — one token request even when 20 calls are refused at once. Wrong credentials and
//! a bad key file give errors that name the problem.
//!
//! The sandbox checks the JWT's claims but not its signature; these tests verify the
//! signature themselves with the public half of the key they generate.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crmbot::config::SalesforceSettings;
use crmbot::salesforce::{SalesforceClient, SalesforceError};
use crmbot::sandbox::{self, Faults, OAuthOptions, RunningSandbox, SandboxOptions};

const TOKEN_PATH: &str = "/services/oauth2/token";

/// A throwaway RSA key written as PKCS#8 PEM, generated per test run: a TEST key, trusted
/// by nothing.
struct TestKey {
    _dir: tempfile::TempDir,
    path: PathBuf,
    public_der: Vec<u8>,
}

fn test_key() -> TestKey {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap();
    let body = base64(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connected-app.key");
    std::fs::write(&path, pem).unwrap();
    TestKey {
        _dir: dir,
        path,
        public_der: pair.public_key().as_ref().to_vec(),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Flow {
    Jwt,
    ClientCredentials,
    Refresh,
}

async fn start_sandbox() -> RunningSandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sandbox::start(
        listener,
        SandboxOptions {
            // No static token: only minted ones open the API.
            tokens: Vec::new(),
            oauth: OAuthOptions::default(),
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Settings for a flow with the sandbox's default test credentials.
fn settings(flow: Flow, sandbox: &RunningSandbox, key: Option<&Path>) -> SalesforceSettings {
    let base: url::Url = sandbox.base_url().parse().unwrap();
    let mut s = SalesforceSettings {
        client_id: Some("sandbox-client-id".into()),
        ..SalesforceSettings::default()
    };
    match flow {
        Flow::Jwt => {
            // No instance URL: the client uses the one the token endpoint returns.
            s.username = Some("integration@crmbot.sandbox".into());
            s.private_key_file = key.map(Path::to_path_buf);
            s.login_url = Some(base);
        }
        Flow::ClientCredentials => {
            s.client_secret = Some(SecretString::from("sandbox-client-secret"));
            s.instance_url = Some(base);
        }
        Flow::Refresh => {
            s.client_secret = Some(SecretString::from("sandbox-client-secret"));
            s.refresh_token = Some(SecretString::from("sandbox-refresh-token"));
            s.login_url = Some(base.clone());
            s.instance_url = Some(base);
        }
    }
    s
}

fn token_requests(sandbox: &RunningSandbox) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path == TOKEN_PATH)
        .count()
}

fn expire_tokens(sandbox: &RunningSandbox) {
    sandbox.set_faults(Faults {
        expire_minted_tokens: true,
        ..Faults::default()
    });
}

const SOQL: &str = "SELECT Id, Name FROM Account";

/// First use, expiry of one query, a write after expiry, 20 concurrent queries after expiry.
async fn token_lifecycle(flow: Flow) {
    let key = test_key();
    let sandbox = start_sandbox().await;
    let client = SalesforceClient::new(&settings(flow, &sandbox, Some(&key.path))).unwrap();
    assert_eq!(token_requests(&sandbox), 0, "{flow:?}: no token before use");

    let first = client.query(SOQL).await.unwrap();
    assert!(!first.records.is_empty());
    assert_eq!(client.instance_url(), sandbox.base_url(), "{flow:?}");
    client.query(SOQL).await.unwrap();
    assert_eq!(token_requests(&sandbox), 1, "{flow:?}: one token, kept");

    expire_tokens(&sandbox);
    client.query(SOQL).await.unwrap();
    assert_eq!(token_requests(&sandbox), 2, "{flow:?}: one refresh");

    // A write refused with 401 was not processed: it is sent again, and stored once.
    expire_tokens(&sandbox);
    let mut lead = Map::new();
    lead.insert("LastName".into(), json!(format!("Oauth {flow:?}")));
    lead.insert("Company".into(), json!("Token Test Ltd"));
    client.create("Lead", &lead).await.unwrap();
    let name = format!("Oauth {flow:?}");
    let leads = sandbox.records("Lead");
    let stored = leads
        .iter()
        .filter(|r| r["LastName"].as_str() == Some(name.as_str()))
        .count();
    assert_eq!(stored, 1, "{flow:?}");
    assert_eq!(
        token_requests(&sandbox),
        3,
        "{flow:?}: one refresh for the write"
    );

    expire_tokens(&sandbox);
    let calls = (0..20).map(|_| {
        let client = client.clone();
        async move { client.query(SOQL).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(
        token_requests(&sandbox),
        4,
        "{flow:?}: 20 refused calls, one token request"
    );
    if let Flow::Jwt = flow {
        check_assertions(&sandbox, &key);
    }
}

/// Every JWT sent is RS256-signed by the test key with the claims Salesforce wants.
fn check_assertions(sandbox: &RunningSandbox, key: &TestKey) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let decoding = DecodingKey::from_rsa_der(&key.public_der);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[sandbox.base_url()]);
    validation.set_issuer(&["sandbox-client-id"]);
    validation.sub = Some("integration@crmbot.sandbox".into());
    for request in sandbox.requests().iter().filter(|r| r.path == TOKEN_PATH) {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body.as_bytes())
            .into_owned()
            .collect();
        let assertion = form
            .iter()
            .find(|(k, _)| k == "assertion")
            .map(|(_, v)| v.as_str())
            .unwrap();
        let data = jsonwebtoken::decode::<Value>(assertion, &decoding, &validation).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let exp = data.claims["exp"].as_u64().unwrap();
        assert!(exp > now && exp <= now + 180, "exp {exp}, now {now}");
    }
}

#[tokio::test]
async fn jwt_bearer_gets_caches_and_refreshes_one_token() {
    token_lifecycle(Flow::Jwt).await;
}

#[tokio::test]
async fn client_credentials_get_cache_and_refresh_one_token() {
    token_lifecycle(Flow::ClientCredentials).await;
}

#[tokio::test]
async fn refresh_token_gets_caches_and_refreshes_one_token() {
    token_lifecycle(Flow::Refresh).await;
}

#[tokio::test]
async fn a_second_401_is_reported() {
    let sandbox = start_sandbox().await;
    let client = SalesforceClient::new(&settings(Flow::ClientCredentials, &sandbox, None)).unwrap();
    client.query(SOQL).await.unwrap();
    sandbox.set_faults(Faults {
        fail_next: vec![sandbox::FailNext::new("/services/data/", 2, 401)],
        ..Faults::default()
    });
    let err = client.query(SOQL).await.unwrap_err();
    assert!(
        matches!(err, SalesforceError::Unauthorized { .. }),
        "{err:?}"
    );
    assert_eq!(token_requests(&sandbox), 2, "one refresh, not a loop");
    client.query(SOQL).await.unwrap();
}

async fn login_error(flow: Flow, change: impl FnOnce(&mut SalesforceSettings)) -> String {
    let key = test_key();
    let sandbox = start_sandbox().await;
    let mut s = settings(flow, &sandbox, Some(&key.path));
    change(&mut s);
    let client = SalesforceClient::new(&s).unwrap();
    let err = client.query(SOQL).await.unwrap_err();
    assert!(matches!(err, SalesforceError::Login { .. }), "{err:?}");
    assert_eq!(token_requests(&sandbox), 1);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-secret") && !shown.contains("wrong-refresh"));
    err.to_string()
}

#[tokio::test]
async fn wrong_credentials_name_the_problem() {
    let err = login_error(Flow::Jwt, |s| {
        s.username = Some("someone@else.example".into())
    })
    .await;
    assert!(
        err.contains("invalid_grant: user hasn't approved this consumer"),
        "{err}"
    );
    let err = login_error(Flow::Jwt, |s| s.client_id = Some("other-app".into())).await;
    assert!(
        err.contains("invalid_grant: invalid client identifier"),
        "{err}"
    );
    let err = login_error(Flow::ClientCredentials, |s| {
        s.client_secret = Some(SecretString::from("wrong-secret"))
    })
    .await;
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("SALESFORCE_CLIENT_SECRET"), "{err}");
    let err = login_error(Flow::Refresh, |s| {
        s.refresh_token = Some(SecretString::from("wrong-refresh"))
    })
    .await;
    assert!(
        err.contains("invalid_grant: expired access/refresh token"),
        "{err}"
    );
    assert!(err.contains("SALESFORCE_REFRESH_TOKEN"), "{err}");
}

#[tokio::test]
async fn a_missing_or_bad_key_file_is_named() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-app.key");
    let err = SalesforceClient::new(&settings(Flow::Jwt, &sandbox, Some(&missing)))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let not_a_key = dir.path().join("public.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = SalesforceClient::new(&settings(Flow::Jwt, &sandbox, Some(&not_a_key)))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("public.pem") && err.contains("not an unencrypted RSA private key"),
        "{err}"
    );
    assert_eq!(token_requests(&sandbox), 0);
}
