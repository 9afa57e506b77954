//! `crmbot doctor` end to end: the real binary, pointed by environment variables at the
//! in-process Salesforce sandbox and at a tiny fake Slack Web API started here, with the
//! offline model. Each case breaks one part and expects exit status 1 and the words that
//! tell the admin what to fix.

mod common;

use std::path::Path;
use std::process::Output;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crmbot::sandbox::{self, RunningSandbox};

/// Every scope manifest.yaml asks for, the way Slack lists them in `x-oauth-scopes`.
const ALL_SCOPES: &str = "app_mentions:read,channels:history,chat:write,commands,groups:history,im:history,mpim:history,usergroups:read,users:read,users:read.email";

/// A fake Slack whose `auth.test` answers ok with these granted scopes (None: no header),
/// or `{"ok":false,"error":error}`.
async fn fake_slack(scopes: Option<&'static str>, error: Option<&'static str>) -> String {
    let app = axum::Router::new()
        .route(
            "/api/users.list",
            any(|| async {
                let member = |id: &str, name: &str, email: Option<&str>| {
                    json!({"id": id, "team_id": "T1", "name": name, "deleted": false,
                           "is_bot": false, "profile": {"email": email}})
                };
                axum::Json(json!({"ok": true, "members": [
                    member("U0DANA", "dana", Some("dana.lee@crmbot.example")),
                    member("U0SAM", "sam", Some("SAM.ORTIZ@crmbot.example")),
                    member("U0NEW", "newbie", Some("newbie@elsewhere.example")),
                    member("U0MORGAN", "morgan", Some("morgan.reyes@crmbot.example")),
                    {"id": "U0BOT", "team_id": "T1", "name": "crmbot", "is_bot": true, "profile": {}},
                ], "response_metadata": {"next_cursor": ""}}))
            }),
        )
        .route(
            "/api/usergroups.list",
            any(|| async {
                axum::Json(json!({"ok": true, "usergroups": [
                    {"id": "S0MGR", "handle": "sales-managers", "name": "Sales managers", "date_delete": 0}
                ]}))
            }),
        )
        .route(
        "/api/auth.test",
        any(move || async move {
            if let Some(error) = error {
                return axum::Json(json!({"ok": false, "error": error})).into_response();
            }
            let body = axum::Json(json!({"ok": true, "url": "https://acme.slack.com/",
                "team": "Acme", "user": "crmbot", "team_id": "T1", "user_id": "U0BOT",
                "bot_id": "B1"}));
            let mut response: Response = (StatusCode::OK, body).into_response();
            if let Some(scopes) = scopes {
                response
                    .headers_mut()
                    .insert("x-oauth-scopes", scopes.parse().expect("header value"));
            }
            response
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake slack");
    let addr = listener.local_addr().expect("fake slack address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api")
}

/// The parts every case starts from: all of them right.
struct Setup {
    sandbox: RunningSandbox,
    slack_url: String,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    args: Vec<String>,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with_slack(fake_slack(Some(ALL_SCOPES), None).await).await
    }

    async fn with_slack(slack_url: String) -> Setup {
        let sandbox = common::start_sandbox().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let env = vec![
            (
                "SLACK_SIGNING_SECRET",
                "8f742231b10e8888abcd99yyyzzz85a5".into(),
            ),
            ("SLACK_BOT_TOKEN", "xoxb-test-token".into()),
            ("SLACK_API_URL", slack_url.clone()),
            ("SALESFORCE_INSTANCE_URL", sandbox.base_url()),
            ("SALESFORCE_ACCESS_TOKEN", sandbox::DEFAULT_TOKEN.into()),
            ("LLM_PROVIDER", "rules".into()),
            (
                "CRMBOT_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
        ];
        Setup {
            sandbox,
            slack_url,
            dir,
            env,
            args: vec!["doctor".into()],
        }
    }

    /// Runs with this crmbot.toml (`--config`).
    fn with_config(&mut self, toml: &str) {
        let config = self.dir.path().join("crmbot.toml");
        std::fs::write(&config, toml).expect("write crmbot.toml");
        self.args = vec![
            "--config".into(),
            config.display().to_string(),
            "doctor".into(),
        ];
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.env.retain(|(n, _)| *n != name);
        self.env.push((name, value.to_string()));
    }

    /// Runs `crmbot doctor` with only these variables, in a folder without crmbot.toml.
    async fn run(&self) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("run crmbot doctor")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The line of the check `name` (the first one whose text contains it).
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no line with {name:?} in:\n{out}"))
}

#[tokio::test]
async fn everything_right_passes_and_shows_each_part() {
    let setup = Setup::new().await;
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for part in ["Config", "Slack", "Salesforce", "Model"] {
        assert!(
            shown.lines().any(|l| l.starts_with(&format!("✓ {part}"))),
            "no ok line for {part}:\n{shown}"
        );
    }
    assert!(!shown.contains('✗'), "{shown}");
    assert!(
        line(&shown, "auth.test").contains("team Acme (T1), bot @crmbot"),
        "{shown}"
    );
    assert!(
        line(&shown, "workspace")
            .contains("team id T1; crmbot answers requests from this workspace only"),
        "{shown}"
    );
    assert!(line(&shown, "scopes").starts_with('✓'), "{shown}");
    assert!(
        line(&shown, "API version").contains("v62.0 is offered"),
        "{shown}"
    );
    assert!(line(&shown, "login").starts_with('✓'), "{shown}");
    assert!(line(&shown, "writable fields").starts_with('✓'), "{shown}");
    assert!(line(&shown, "queryable fields").starts_with('✓'), "{shown}");
    assert!(
        line(&shown, "provider").starts_with('⚠')
            && line(&shown, "provider").contains("offline rules model"),
        "{shown}"
    );
    let draft = line(&shown, "draft the sample note");
    assert!(
        draft.starts_with("✓ Model") && draft.contains("1 record (Lead create)"),
        "{shown}"
    );
    assert!(shown.contains("crmbot is ready."), "{shown}");
    // No secret is ever shown.
    for secret in ["xoxb-test-token", "8f742231b10e", sandbox::DEFAULT_TOKEN] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    assert!(Path::new(&setup.dir.path().join("data")).is_dir());
}

#[tokio::test]
async fn json_output_has_every_check() {
    let mut setup = Setup::new().await;
    setup.args.push("--json".into());
    let out = setup.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().expect("checks");
    let auth = checks
        .iter()
        .find(|c| c["name"] == "auth.test")
        .expect("auth.test check");
    assert_eq!(auth["part"], "Slack");
    assert_eq!(auth["status"], "ok");
    assert!(
        checks
            .iter()
            .any(|c| c["status"] == "warning" && c["fix"].is_string())
    );
}

#[tokio::test]
async fn a_missing_scope_is_named() {
    let slack = fake_slack(
        Some("app_mentions:read,chat:write,commands,im:history,users:read"),
        None,
    )
    .await;
    let setup = Setup::with_slack(slack).await;
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let scopes = line(&shown, "scopes");
    assert!(scopes.starts_with("✗ Slack"), "{shown}");
    assert!(scopes.contains("users:read.email"), "{shown}");
    assert!(
        scopes.contains("reinstall the app from manifest.yaml"),
        "{shown}"
    );
}

#[tokio::test]
async fn no_scopes_header_is_a_warning() {
    let setup = Setup::with_slack(fake_slack(None, None).await).await;
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        line(&shown, "scopes").starts_with('⚠')
            && shown.contains("could not read the granted scopes"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_revoked_slack_token_is_explained() {
    let setup = Setup::with_slack(fake_slack(None, Some("token_revoked")).await).await;
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let auth = line(&shown, "auth.test");
    assert!(
        auth.starts_with("✗ Slack") && auth.contains("token_revoked"),
        "{shown}"
    );
    assert!(
        auth.contains("revoked") && auth.contains("SLACK_BOT_TOKEN"),
        "{shown}"
    );
    assert!(line(&shown, "scopes").starts_with('-'), "{shown}");
    assert!(!setup.slack_url.is_empty());
}

#[tokio::test]
async fn a_wrong_api_version_names_the_newest() {
    let mut setup = Setup::new().await;
    setup.set("SALESFORCE_API_VERSION", "v99.0");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let newest = sandbox::LATEST_VERSION;
    let version = line(&shown, "API version");
    assert!(version.starts_with("✗ Salesforce"), "{shown}");
    assert!(
        version.contains(&format!("v99.0 is not offered; newest is {newest}")),
        "{shown}"
    );
    assert!(
        version.contains(&format!("SALESFORCE_API_VERSION={newest}")),
        "{shown}"
    );
    // The login is still checked (with the newest version); what needs the version is not.
    assert!(line(&shown, "login").starts_with('✓'), "{shown}");
    assert!(line(&shown, "writable fields").starts_with('-'), "{shown}");
}

#[tokio::test]
async fn a_field_the_org_lacks_names_its_key() {
    let mut setup = Setup::new().await;
    setup.with_config("[objects.Lead]\nfields = [\"LastName\", \"Company\", \"Nonexistent__c\"]\n");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let field = line(&shown, "Nonexistent__c");
    assert!(field.starts_with("✗ Salesforce"), "{shown}");
    assert!(field.contains("objects.Lead.fields"), "{shown}");
    assert!(field.contains("does not exist in the org"), "{shown}");
}

#[tokio::test]
async fn a_bad_salesforce_token_is_explained() {
    let mut setup = Setup::new().await;
    setup.set("SALESFORCE_ACCESS_TOKEN", "not-a-valid-token");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let login = line(&shown, "login");
    assert!(login.starts_with("✗ Salesforce"), "{shown}");
    assert!(
        login.contains("the access token is expired or invalid"),
        "{shown}"
    );
    assert!(login.contains("SALESFORCE_ACCESS_TOKEN"), "{shown}");
    assert!(!shown.contains("not-a-valid-token"), "{shown}");
    // Drafting needs the org: skipped, with the reason.
    assert!(
        line(&shown, "draft the sample note").starts_with("- Model"),
        "{shown}"
    );
    assert!(setup.sandbox.request_count() > 0);
}

#[tokio::test]
async fn missing_settings_are_problems_and_their_checks_are_skipped() {
    let mut setup = Setup::new().await;
    setup
        .env
        .retain(|(n, _)| !matches!(*n, "SLACK_BOT_TOKEN" | "SALESFORCE_INSTANCE_URL"));
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        line(&shown, "bot token").contains("SLACK_BOT_TOKEN"),
        "{shown}"
    );
    assert!(
        line(&shown, "instance URL").starts_with("✗ Config"),
        "{shown}"
    );
    assert!(
        line(&shown, "auth.test").contains("skipped: SLACK_BOT_TOKEN is not set"),
        "{shown}"
    );
    assert!(line(&shown, "login").starts_with("- Salesforce"), "{shown}");
}

#[tokio::test]
async fn a_real_model_drafts_the_sample_note_with_its_tokens() {
    let (note, gold) = common::fixture_draft("seed-lead");
    assert_eq!(note, crmbot::domain::notes::SAMPLE_NOTE);
    let model = common::start_stub_model(&gold).await;
    let mut setup = Setup::new().await;
    setup.set("LLM_PROVIDER", "openai");
    setup.set("LLM_BASE_URL", &model.base_url);
    setup.set("LLM_API_KEY", "sk-test-key");
    setup.set("LLM_MODEL", "stub");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(line(&shown, "provider").starts_with("✓ Model"), "{shown}");
    let draft = line(&shown, "draft the sample note");
    assert!(draft.starts_with("✓ Model"), "{shown}");
    assert!(draft.contains("1 record (Lead create)"), "{shown}");
    assert!(
        draft.contains("812 prompt + 96 completion tokens"),
        "{shown}"
    );
    assert!(!shown.contains("sk-test-key"), "{shown}");
    assert_eq!(model.requests.lock().expect("requests").len(), 1);
}

#[tokio::test]
async fn an_unreachable_model_names_llm_base_url() {
    // A port that was free a moment ago: nothing answers there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut setup = Setup::new().await;
    setup.set("LLM_PROVIDER", "openai");
    setup.set("LLM_BASE_URL", &format!("http://{closed}/v1"));
    setup.set("LLM_API_KEY", "sk-test-key");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let draft = line(&shown, "draft the sample note");
    assert!(draft.starts_with("✗ Model"), "{shown}");
    assert!(draft.contains("LLM_BASE_URL"), "{shown}");
}

#[tokio::test]
async fn doctor_says_per_object_whether_the_idempotency_key_exists_and_how_to_add_it() {
    let mut setup = Setup::new().await;
    let shown = text(&setup.run().await);
    let keyed = line(&shown, "idempotency key");
    assert!(keyed.starts_with('✓'), "{shown}");
    assert!(
        keyed.contains("Crmbot_Key__c on Account, Contact, Lead, Opportunity, Task"),
        "{shown}"
    );

    // An org where Lead and Task lack the field.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = crmbot::sandbox::SandboxOptions {
        drop_fields: vec!["Lead.Crmbot_Key__c".into(), "Task.Crmbot_Key__c".into()],
        ..Default::default()
    };
    setup.sandbox = sandbox::start(listener, options).await.unwrap();
    setup.set("SALESFORCE_INSTANCE_URL", &setup.sandbox.base_url());
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not a problem:\n{shown}"
    );
    let keyed = line(&shown, "idempotency key");
    assert!(keyed.starts_with('⚠'), "{shown}");
    assert!(keyed.contains("Lead, Task lack Crmbot_Key__c"), "{shown}");
    for step in [
        "Object Manager",
        "Activity (for Task)",
        "\"Unique\"",
        "\"External ID\"",
        "API name Crmbot_Key__c",
    ] {
        assert!(shown.contains(step), "no {step:?} in:\n{shown}");
    }
}

#[tokio::test]
async fn the_policy_s_user_groups_must_exist() {
    let mut setup = Setup::new().await;
    setup.with_config(
        "[policy]\napprovers = [\"@sales-managers\", \"@finance\"]\nask = [\"S0MGR\"]\n",
    );
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let groups = line(&shown, "user groups");
    assert!(groups.starts_with("✗ Slack"), "{shown}");
    assert!(
        groups.contains("Slack has no user group @finance"),
        "{shown}"
    );
    assert!(!groups.contains("@sales-managers;"), "{shown}");

    setup.with_config("[policy]\napprovers = [\"@sales-managers\"]\n");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        line(&shown, "user groups").contains("1 found: @sales-managers"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_policy_for_another_workspace_is_named() {
    let mut setup = Setup::new().await;
    setup.with_config("[policy]\nteam_ids = [\"T0OTHER\"]\n");
    let out = setup.run().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let ws = line(&shown, "workspace");
    assert!(
        ws.contains("team id T1") && ws.contains("would be refused"),
        "{shown}"
    );
    assert!(ws.contains("add T1 to policy.team_ids"), "{shown}");
}

#[tokio::test]
async fn doctor_reports_who_maps_to_a_salesforce_user_and_who_does_not() {
    let setup = Setup::new().await;
    let out = setup.run().await;
    let shown = text(&out);
    let people = line(&shown, "people:");
    assert!(people.starts_with("⚠ Salesforce"), "{shown}");
    assert!(
        people.contains("2 of 4 Slack members map to an active Salesforce user"),
        "{people}"
    );
    assert!(
        people.contains("@newbie (U0NEW): Slack email newbie@elsewhere.example matches no active Salesforce user")
            && people.contains("@morgan"),
        "an inactive user does not count: {people}"
    );
    assert!(
        !people.contains("@dana (") && !people.contains("@crmbot ("),
        "{people}"
    );
    assert!(people.contains("[salesforce.users]"), "{people}");
}

#[tokio::test]
async fn doctor_in_user_mode_checks_the_key_and_whether_the_connected_app_accepts_the_callback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = sandbox::start(
        listener,
        sandbox::SandboxOptions {
            oauth: sandbox::OAuthOptions {
                callback_urls: vec!["https://crmbot.example.com/salesforce/oauth/callback".into()],
                ..sandbox::OAuthOptions::default()
            },
            ..sandbox::SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let mut setup = Setup::new().await;
    setup.set("SALESFORCE_INSTANCE_URL", &sandbox.base_url());
    setup.set("SALESFORCE_IDENTITY", "user");
    setup.set("SALESFORCE_CLIENT_ID", "sandbox-client-id");
    setup.set(
        "SALESFORCE_CALLBACK_URL",
        "https://crmbot.example.com/salesforce/oauth/callback",
    );
    let out = setup.run().await;
    let shown = text(&out);
    assert!(
        line(&shown, "sign-in key:").starts_with("✗ Salesforce")
            && line(&shown, "sign-in key:").contains("openssl rand -base64 32"),
        "{shown}"
    );
    let app = line(&shown, "connected app:");
    assert!(app.starts_with("✓ Salesforce"), "{shown}");
    assert!(
        app.contains("accepts the callback https://crmbot.example.com/salesforce/oauth/callback"),
        "{app}"
    );

    // A callback the connected app does not list.
    setup.set("CRMBOT_SECRET_KEY", &"ab".repeat(32));
    setup.set(
        "SALESFORCE_CALLBACK_URL",
        "https://elsewhere.example/salesforce/oauth/callback",
    );
    let out = setup.run().await;
    let shown = text(&out);
    assert!(
        line(&shown, "sign-in key:").starts_with("✓ Salesforce"),
        "{shown}"
    );
    let app = line(&shown, "connected app:");
    assert!(
        app.starts_with("✗ Salesforce") && app.contains("redirect_uri_mismatch"),
        "{app}"
    );
    assert!(app.contains("Callback URL"), "{app}");
    assert!(!out.status.success());
}
