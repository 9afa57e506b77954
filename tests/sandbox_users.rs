//! The sandbox as several people: the OAuth 2.0 web server flow (authorization code with
//! PKCE S256, refresh, revoke), each token acting as its User (recorded per request, owner
//! and creator of what it writes), and per-user permissions from the seed — a read-only
//! object answers INSUFFICIENT_ACCESS_OR_READONLY, a private user sees only their own and
//! shared records. Real HTTP.

use std::collections::HashMap;

use serde_json::{Value, json};

use crmbot::sandbox::{self, OAuthOptions, RunningSandbox, SandboxOptions};

const CALLBACK: &str = "https://crmbot.example.com/oauth/salesforce/callback";
const VERIFIER: &str = "a-long-random-verifier-of-at-least-43-characters-0123456789";

async fn start() -> RunningSandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = SandboxOptions {
        oauth: OAuthOptions {
            callback_urls: vec![CALLBACK.into()],
            ..OAuthOptions::default()
        },
        ..SandboxOptions::default()
    };
    sandbox::start(listener, options).await.unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// The authorize request for `user`; returns the callback's query parameters.
async fn authorize(
    sb: &RunningSandbox,
    user: &str,
    redirect: &str,
) -> (u16, HashMap<String, String>, String) {
    let url = format!(
        "{}/services/oauth2/authorize?{}",
        sb.base_url(),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", "sandbox-client-id")
            .append_pair("redirect_uri", redirect)
            .append_pair("code_challenge", &challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "st-123")
            .append_pair("login_hint", user)
            .finish()
    );
    let r = http().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = r.text().await.unwrap();
    let params = url::Url::parse(&location)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    (status, params, format!("{location}{body}"))
}

async fn token(sb: &RunningSandbox, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(format!("{}/services/oauth2/token", sb.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn exchange(sb: &RunningSandbox, code: &str, verifier: &str) -> (u16, Value) {
    token(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "sandbox-client-id"),
            ("client_secret", "sandbox-client-secret"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn api(
    sb: &RunningSandbox,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http()
        .request(
            method,
            format!("{}/services/data/v62.0/{path}", sb.base_url()),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Signs `user` in through the web server flow; (access token, refresh token).
async fn sign_in(sb: &RunningSandbox, user: &str) -> (String, String) {
    let (status, params, _) = authorize(sb, user, CALLBACK).await;
    assert_eq!(status, 302);
    let (status, body) = exchange(sb, &params["code"], VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn the_web_server_flow_with_pkce_gives_tokens_that_act_as_the_user() {
    let sb = start().await;
    let dana = sb.seed_id("dana").unwrap();
    let (status, params, _) = authorize(&sb, "dana.lee@crmbot.sandbox", CALLBACK).await;
    assert_eq!(status, 302);
    assert_eq!(params["state"], "st-123", "the state comes back");
    let code = params["code"].clone();

    // A wrong verifier fails, and the code is spent.
    let (status, body) = exchange(&sb, &code, "not-the-verifier-not-the-verifier-not-the-v").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = exchange(&sb, &code, VERIFIER).await;
    assert_eq!(status, 400, "a code is single use");

    let (access, refresh) = sign_in(&sb, "dana.lee@crmbot.example").await;
    let (status, created) = api(
        &sb,
        &access,
        reqwest::Method::POST,
        "sobjects/Task",
        Some(json!({"Subject": "Written as Dana"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let task = sb
        .records("Task")
        .into_iter()
        .find(|t| t.get("Subject") == Some(&json!("Written as Dana")))
        .unwrap();
    assert_eq!(task["OwnerId"], json!(dana));
    assert_eq!(task["CreatedById"], json!(dana));
    let last = sb.requests().pop().unwrap();
    assert_eq!(
        last.user.as_deref(),
        Some(dana.as_str()),
        "the sandbox records who wrote"
    );

    // Refresh acts as the same user; revoking the refresh token ends both.
    let (status, body) = token(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "sandbox-client-id"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().ends_with(&dana));
    let refreshed = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(sb.live_refresh_tokens(), 1);
    let r = http()
        .post(format!("{}/services/oauth2/revoke", sb.base_url()))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sb.live_refresh_tokens(), 0);
    let (status, _) = api(&sb, &refreshed, reqwest::Method::GET, "limits", None).await;
    assert_eq!(status, 401, "its access tokens stop working too");
    let (status, _) = token(
        &sb,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_callback_the_connected_app_does_not_list_is_refused() {
    let sb = start().await;
    let (status, params, text) =
        authorize(&sb, "dana.lee@crmbot.sandbox", "https://evil.example/cb").await;
    assert_eq!(status, 400);
    assert!(params.is_empty());
    assert!(text.contains("redirect_uri_mismatch"), "{text}");
}

#[tokio::test]
async fn a_read_only_object_answers_insufficient_access_and_nothing_changes() {
    let sb = start().await;
    let (riley, _) = sign_in(&sb, "riley.park@crmbot.sandbox").await;
    let opp = sb.seed_id("initech_renewal").unwrap();
    let before = sb.records("Opportunity");
    let (status, body) = api(
        &sb,
        &riley,
        reqwest::Method::PATCH,
        &format!("sobjects/Opportunity/{opp}"),
        Some(json!({"StageName": "Closed Won"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body[0]["errorCode"], "INSUFFICIENT_ACCESS_OR_READONLY");
    assert_eq!(sb.records("Opportunity"), before);
    // Inside a composite too, and an object they may edit works.
    let (status, body) = api(
        &sb,
        &riley,
        reqwest::Method::POST,
        "composite",
        Some(json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Opportunity", "referenceId": "o",
             "body": {"Name": "Riley's deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}}]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["compositeResponse"][0]["body"][0]["errorCode"],
        "INSUFFICIENT_ACCESS_OR_READONLY"
    );
    let (status, _) = api(
        &sb,
        &riley,
        reqwest::Method::POST,
        "sobjects/Lead",
        Some(json!({"LastName": "Reed", "Company": "Apex Corp"})),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_private_user_sees_only_their_own_and_shared_records() {
    let sb = start().await;
    let (riley, _) = sign_in(&sb, "riley.park@crmbot.sandbox").await;
    let (_, all) = api(
        &sb,
        sandbox::DEFAULT_TOKEN,
        reqwest::Method::GET,
        "query?q=SELECT+Id+FROM+Account",
        None,
    )
    .await;
    let (_, mine) = api(
        &sb,
        &riley,
        reqwest::Method::GET,
        "query?q=SELECT+Id,Name+FROM+Account",
        None,
    )
    .await;
    assert!(all["totalSize"].as_u64().unwrap() > 1);
    let names: Vec<&str> = mine["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["Name"].as_str())
        .collect();
    assert_eq!(names, ["Apex Corp"], "only the account shared to them");
}
