//! Operating the sandbox: injected faults (503 share, call limit, token expiry, one-shot
//! failures), the OAuth token endpoint and minted-token expiry, sled persistence across a
//! restart, and the demo seed.

mod sandbox_support;

use std::time::Duration;

use serde_json::{Value, json};

use crmbot::sandbox::{FailNext, Faults, Seed, Storage};
use sandbox_support::{Sf, read};

#[tokio::test]
async fn every_nth_request_answers_503_server_unavailable() {
    let sf = Sf::start().await;
    sf.sandbox.set_faults(Faults {
        unavailable_every: Some(3),
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = sf.get("limits").await;
        if r.status == 503 {
            assert_eq!(
                r.body,
                json!([{"message": "maintenance", "errorCode": "SERVER_UNAVAILABLE"}])
            );
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 503, 200, 200, 503]);
    assert_eq!(sf.sandbox.api_usage(), 4, "503s are not counted");
}

#[tokio::test]
async fn request_limit_exceeded_after_n_calls_and_at_the_daily_maximum() {
    let sf = Sf::start().await;
    sf.sandbox.set_faults(Faults {
        limit_after: Some(2),
        ..Faults::default()
    });
    let statuses: Vec<u16> = [
        sf.get("limits").await,
        sf.get("limits").await,
        sf.get("limits").await,
    ]
    .iter()
    .map(|r| r.status)
    .collect();
    assert_eq!(statuses, [200, 200, 403]);
    assert_eq!(sf.get("limits").await.code(), "REQUEST_LIMIT_EXCEEDED");

    let mut options = sandbox_support::options();
    options.daily_api_limit = 1;
    let small = Sf::start_with(options).await;
    assert_eq!(small.get("limits").await.status, 200);
    let over = small.get("limits").await;
    assert_eq!((over.status, over.code()), (403, "REQUEST_LIMIT_EXCEEDED"));
}

#[tokio::test]
async fn fail_next_fails_only_matching_paths_then_recovers() {
    let sf = Sf::start().await;
    sf.sandbox.set_faults(Faults {
        fail_next: vec![FailNext::new("/services/data/v62.0/composite", 2, 500)],
        ..Faults::default()
    });
    assert_eq!(sf.get("limits").await.status, 200, "other paths unaffected");
    let body = json!({"compositeRequest": [{"method": "GET", "url": "/services/data/v62.0/limits", "referenceId": "l"}]});
    assert_eq!(sf.post("composite", body.clone()).await.status, 500);
    assert_eq!(sf.post("composite", body.clone()).await.status, 500);
    assert_eq!(sf.post("composite", body).await.status, 200);
    sf.sandbox.set_faults(Faults {
        latency: Some(Duration::from_millis(1)),
        ..Faults::default()
    });
    assert_eq!(sf.get("limits").await.status, 200, "latency only delays");
}

async fn token(sf: &Sf, form: &[(&str, &str)]) -> (u16, Value) {
    let r = read(
        sf.http
            .post(sf.url("/services/oauth2/token"))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (r.status, r.body)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn jwt(claims: Value) -> String {
    format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"RS256"}"#),
        b64url(claims.to_string().as_bytes()),
        b64url(b"not-really-a-signature")
    )
}

#[tokio::test]
async fn oauth_grants_mint_tokens_that_work_and_errors_use_oauth_shape() {
    let sf = Sf::start().await;
    let now = chrono::Utc::now().timestamp();
    let good = json!({"iss": "sandbox-client-id", "sub": "integration@crmbot.sandbox", "aud": "https://login.salesforce.com", "exp": now + 120});
    let (status, body) = token(
        &sf,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &jwt(good.clone())),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["instance_url"], sf.base().as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("expires_in").is_none());
    assert!(
        body["id"]
            .as_str()
            .unwrap()
            .ends_with(&sf.sandbox.api_user_id())
    );
    let minted = body["access_token"].as_str().unwrap();
    let ok = read(
        sf.http
            .get(sf.url("limits"))
            .bearer_auth(minted)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200);

    for (claims, why) in [
        (
            json!({"iss": "other", "sub": "integration@crmbot.sandbox", "aud": "https://login.salesforce.com", "exp": now + 120}),
            "wrong iss",
        ),
        (
            json!({"iss": "sandbox-client-id", "sub": "someone@else", "aud": "https://login.salesforce.com", "exp": now + 120}),
            "wrong sub",
        ),
        (
            json!({"iss": "sandbox-client-id", "sub": "integration@crmbot.sandbox", "aud": "https://evil.example", "exp": now + 120}),
            "wrong aud",
        ),
        (
            json!({"iss": "sandbox-client-id", "sub": "integration@crmbot.sandbox", "aud": "https://login.salesforce.com", "exp": now + 3600}),
            "exp too far",
        ),
        (
            json!({"iss": "sandbox-client-id", "sub": "integration@crmbot.sandbox", "aud": "https://login.salesforce.com", "exp": now - 10}),
            "expired",
        ),
    ] {
        let (status, body) = token(
            &sf,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &jwt(claims)),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{why}: {body}"
        );
        assert!(body["error_description"].is_string());
    }

    let (status, body) = token(
        &sf,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-client-id"),
            ("client_secret", "sandbox-client-secret"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["issued_at"].is_string() && body["signature"].is_string());
    let (status, body) = token(
        &sf,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-client-id"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let basic = read(
        sf.http
            .post(sf.url("/services/oauth2/token"))
            .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, 200, "HTTP Basic client auth works too");

    let (status, _) = token(
        &sf,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-client-id"),
            ("refresh_token", "sandbox-refresh-token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = token(
        &sf,
        &[("grant_type", "refresh_token"), ("refresh_token", "stale")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(&sf, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn minted_tokens_expire_by_lifetime_or_on_demand_and_refresh_recovers() {
    let mut options = sandbox_support::options();
    options.oauth.token_lifetime = Duration::ZERO;
    let short = Sf::start_with(options).await;
    let (_, body) = token(
        &short,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "sandbox-refresh-token"),
        ],
    )
    .await;
    let r = read(
        short
            .http
            .get(short.url("limits"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (401, "INVALID_SESSION_ID"),
        "a zero lifetime token is already expired"
    );

    let sf = Sf::start().await;
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "sandbox-refresh-token"),
    ];
    let (_, first) = token(&sf, &refresh).await;
    let first = first["access_token"].as_str().unwrap().to_string();
    let call = |t: String| {
        let sf = &sf;
        async move {
            read(
                sf.http
                    .get(sf.url("limits"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .status
        }
    };
    assert_eq!(call(first.clone()).await, 200);
    sf.sandbox.set_faults(Faults {
        expire_minted_tokens: true,
        ..Faults::default()
    });
    assert_eq!(call(first).await, 401);
    assert_eq!(
        sf.get("limits").await.status,
        200,
        "the static token is not a minted one"
    );
    let (_, second) = token(&sf, &refresh).await;
    assert_eq!(
        call(second["access_token"].as_str().unwrap().to_string()).await,
        200
    );
}

#[tokio::test]
async fn sled_storage_keeps_records_across_a_restart_and_does_not_reseed() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = sandbox_support::options();
    options.storage = Storage::Dir(dir.path().to_path_buf());
    let sf = Sf::start_with(options.clone()).await;
    let id = sf
        .create(
            "Lead",
            json!({"LastName": "Persistent", "Company": "Disk Inc"}),
        )
        .await;
    let apex = sf.sandbox.seed_id("apex").unwrap();
    let accounts = sf.sandbox.records("Account").len();
    drop(sf.http);
    sf.sandbox.shutdown().await;

    let again = Sf::start_with(options).await;
    let lead = again.get(&format!("sobjects/Lead/{id}")).await;
    assert_eq!(lead.status, 200);
    assert_eq!(lead.body["Company"], "Disk Inc");
    assert_eq!(
        again.sandbox.records("Account").len(),
        accounts,
        "not seeded twice"
    );
    assert_eq!(again.sandbox.seed_id("apex").unwrap(), apex);
}

#[tokio::test]
async fn default_seed_has_the_demo_org_with_definite_answers() {
    let sf = Sf::start().await;
    let opps = sf.sandbox.records("Opportunity");
    let by_name = |n: &str| {
        opps.iter()
            .find(|o| o["Name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not seeded"))
    };
    let apex = by_name("Apex Corp - Enterprise Expansion");
    assert_eq!(
        (
            apex["StageName"].clone(),
            apex["Amount"].clone(),
            apex["CloseDate"].clone()
        ),
        (json!("Qualification"), json!(20000.0), json!("2026-12-31"))
    );
    let initech = by_name("Initech - Platform Renewal");
    assert_eq!(
        (
            initech["StageName"].clone(),
            initech["Amount"].clone(),
            initech["CloseDate"].clone()
        ),
        (
            json!("Negotiation/Review"),
            json!(45000.0),
            json!("2026-11-30")
        )
    );
    let dana = sf.sandbox.seed_id("dana").unwrap();
    let mine_big_this_month: Vec<_> = opps
        .iter()
        .filter(|o| o["OwnerId"] == dana.as_str() && o["IsClosed"] == false)
        .filter(|o| o["Amount"].as_f64().unwrap() > 20000.0)
        .filter(|o| o["CloseDate"].as_str().unwrap().starts_with("2026-11"))
        .map(|o| o["Name"].as_str().unwrap())
        .collect();
    assert_eq!(mine_big_this_month, ["Initech - Platform Renewal"]);
    let emails: Vec<String> = ["Lead", "Contact"]
        .iter()
        .flat_map(|o| sf.sandbox.records(o))
        .filter_map(|r| r["Email"].as_str().map(str::to_lowercase))
        .collect();
    for fresh in [
        "daniel@apex.example",
        "priya@globex.example",
        "maya.chen@northstar.example",
    ] {
        assert!(
            !emails.contains(&fresh.to_string()),
            "{fresh} must stay new for the fixtures"
        );
    }
    let empty = Sf::start_with(crmbot::sandbox::SandboxOptions {
        seed: Seed::Empty,
        ..sandbox_support::options()
    })
    .await;
    assert!(empty.sandbox.records("Account").is_empty());
    assert_eq!(
        empty.sandbox.records("User").len(),
        1,
        "a Sandbox Admin user to own records"
    );
}
