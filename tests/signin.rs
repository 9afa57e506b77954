//! Per-user sign-in (`salesforce.identity = "user"`): `/crm connect` hands out Salesforce's
//! OAuth web server flow with PKCE, `crmbot serve` takes the callback, seals the refresh
//! token at rest, and then writes as that person, so Salesforce enforces their permissions.
//! The real server, signed Slack requests, the fake Slack, the sandbox.

mod common;
mod slack_support;

use std::collections::HashMap;

use secrecy::SecretString;
use serde_json::{Value, json};

use crmbot::config::Identity;
use crmbot::sandbox::OAuthOptions;
use slack_support::*;

/// The public callback URL an admin enters in the connected app (crmbot behind a proxy).
const CALLBACK: &str = "https://crmbot.example.com/salesforce/oauth/callback";
const DANA_SLACK: &str = REQUESTER;
const RILEY_SLACK: &str = "U0RILEY";
const SAM_SLACK: &str = "U0SAM";

fn task_draft() -> String {
    json!({"records": [{"object": "Task", "lookup": null, "link": null,
        "fields": {"Subject": "Send security questionnaire to Tom", "ActivityDate": "2026-11-27",
                   "Status": "Not Started", "Priority": null, "Description": null}}]})
    .to_string()
}

fn opportunity_draft() -> String {
    json!({"records": [{"object": "Opportunity", "lookup": null, "link": null,
        "fields": {"Name": "Apex Corp - Security add-on", "StageName": "Prospecting",
                   "CloseDate": "2026-12-31", "Amount": 12000}}]})
    .to_string()
}

fn user_mode(c: &mut crmbot::config::Config) {
    c.salesforce.identity = Identity::User;
    c.salesforce.client_id = Some("sandbox-client-id".into());
    c.salesforce.client_secret = Some(SecretString::from("sandbox-client-secret"));
    c.salesforce.callback_url = Some(CALLBACK.parse().unwrap());
    c.secret_key = Some(SecretString::from(hex::encode([42u8; 32])));
    c.drafting.meeting_task = false;
}

async fn bot_drafting(reply: &str, tune: impl FnOnce(&mut crmbot::config::Config)) -> Bot {
    let model = common::start_stub_model(reply).await;
    Bot::start_custom(
        model,
        None,
        |o| {
            o.oauth = OAuthOptions {
                callback_urls: vec![CALLBACK.into()],
                ..OAuthOptions::default()
            }
        },
        |c| {
            user_mode(c);
            tune(c);
        },
    )
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The URL of the connect button in `blocks`.
fn button_url(blocks: &Value) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        b["elements"].as_array()?.iter().find_map(|e| {
            (e["action_id"] == "crm_connect")
                .then(|| e["url"].as_str().map(str::to_string))
                .flatten()
        })
    })
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// `/crm connect` from `slack_user`: the authorize URL of its button.
async fn connect_url(bot: &Bot, slack_user: &str) -> String {
    let (status, answer) = bot.command(slack_user, "connect").await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral");
    button_url(&answer["blocks"]).unwrap_or_else(|| panic!("a connect button: {answer}"))
}

/// Salesforce's sign-in page, as `login` signing in: the callback URL it sends the
/// browser to (with `code` and `state`).
async fn sign_in_at_salesforce(authorize: &str, login: &str) -> String {
    let url = format!("{authorize}&login_hint={login}");
    let r = no_redirects().get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The browser arriving at crmbot's callback with what Salesforce put on `location`.
async fn callback(bot: &Bot, location: &str) -> (u16, String) {
    let query = url::Url::parse(location)
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    let r = no_redirects()
        .get(bot.url(&format!("/salesforce/oauth/callback?{query}")))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The whole connect flow for `slack_user` signing in as `login`.
async fn connect(bot: &Bot, slack_user: &str, login: &str) {
    let authorize = connect_url(bot, slack_user).await;
    let location = sign_in_at_salesforce(&authorize, login).await;
    let (status, page) = callback(bot, &location).await;
    assert_eq!(status, 200, "{page}");
}

/// Every byte crmbot keeps in its data folder.
fn data_bytes(bot: &Bot) -> Vec<u8> {
    let mut all = Vec::new();
    let mut dirs = vec![bot.data.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                all.extend(std::fs::read(path).unwrap_or_default());
            }
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_person_connects_with_pkce_and_their_approval_is_written_as_them() {
    let bot = bot_drafting(&task_draft(), |_| {}).await;
    bot.slack.set_email(DANA_SLACK, "dana.lee@crmbot.example");
    let dana = bot.sandbox.seed_id("dana").unwrap();

    // The button opens Salesforce's authorize endpoint with a PKCE challenge.
    let authorize = connect_url(&bot, DANA_SLACK).await;
    assert!(
        authorize.starts_with(&format!(
            "{}/services/oauth2/authorize?",
            bot.sandbox.base_url()
        )),
        "{authorize}"
    );
    let q = query_of(&authorize);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "sandbox-client-id");
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert!(q["state"].len() >= 43, "a random state");
    assert_eq!(q["scope"], "api refresh_token");

    let location = sign_in_at_salesforce(&authorize, "dana.lee@crmbot.sandbox").await;
    assert!(location.starts_with(CALLBACK), "{location}");
    let (status, page) = callback(&bot, &location).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You can close this tab"), "{page}");
    let told = bot
        .wait_for("the connected message", |c| {
            c.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["channel"] == DANA_SLACK
                    && c.body["text"]
                        .as_str()
                        .unwrap_or("")
                        .contains("connected to Salesforce")
            })
        })
        .await;
    assert!(!told.is_empty());
    assert_eq!(bot.sandbox.live_refresh_tokens(), 1);

    // The draft and its approval go out with Dana's own token.
    bot.sandbox.reset_requests();
    let (id, ts, _) = bot
        .log("Call with Tom: send him the security questionnaire")
        .await;
    assert_eq!(bot.click(DANA_SLACK, "crm_approve", &id, &ts).await, 200);
    wait_for_update(&bot, "the done card", "Created Task").await;
    let task = bot
        .sandbox
        .records("Task")
        .into_iter()
        .find(|t| t.get("Subject") == Some(&json!("Send security questionnaire to Tom")))
        .expect("the Task was written");
    assert_eq!(
        task["CreatedById"],
        json!(dana),
        "Salesforce says Dana created it"
    );
    let requests = bot.sandbox.requests();
    let write = requests
        .iter()
        .rfind(|r| r.method == "POST" && r.path.ends_with("/composite"))
        .expect("the write");
    assert_eq!(
        write.user.as_deref(),
        Some(dana.as_str()),
        "the sandbox records who wrote"
    );
    // Everything but crmbot's own lookup of who Dana is and the shared schema (describe)
    // ran as Dana.
    let others: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/services/data/") && !r.path.ends_with("/describe"))
        .filter(|r| !r.param("q").is_some_and(|q| q.contains("FROM User")))
        .filter(|r| r.user.as_deref() != Some(dana.as_str()))
        .collect();
    assert!(others.is_empty(), "not as Dana: {others:?}");

    // The refresh token crmbot used is nowhere in its data folder in clear.
    let refresh = requests
        .iter()
        .filter(|r| r.path == "/services/oauth2/token")
        .find_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v.into_owned())
        })
        .expect("crmbot refreshed with Dana's refresh token");
    bot.running.as_ref().unwrap().app.store.flush().unwrap();
    let stored = data_bytes(&bot);
    assert!(
        contains(&stored, "salesforce_tokens"),
        "the token tree is on disk"
    );
    assert!(
        !contains(&stored, &refresh),
        "the refresh token is not stored in clear"
    );
}

#[tokio::test]
async fn a_person_without_edit_rights_sees_the_permission_error_and_nothing_is_written() {
    let bot = bot_drafting(&opportunity_draft(), |_| {}).await;
    bot.slack
        .set_email(RILEY_SLACK, "riley.park@crmbot.example");
    connect(&bot, RILEY_SLACK, "riley.park@crmbot.sandbox").await;
    let before = bot.sandbox.records("Opportunity").len();
    let (id, ts, _) = bot
        .log_as(
            RILEY_SLACK,
            "New deal: Apex Corp - Security add-on, 12000, stage Prospecting, closing 2026-12-31",
        )
        .await;
    assert_eq!(bot.click(RILEY_SLACK, "crm_approve", &id, &ts).await, 200);
    let failed = wait_for_update(&bot, "the failed card", "can't create this Opportunity").await;
    let text = card_text(&failed["blocks"]);
    assert!(
        text.contains("The approver's own Salesforce user can't create this Opportunity")
            && text.contains("their permissions there do not allow it"),
        "{text}"
    );
    assert_eq!(
        bot.sandbox.records("Opportunity").len(),
        before,
        "nothing was written"
    );
    let riley = bot.sandbox.seed_id("riley").unwrap();
    let requests = bot.sandbox.requests();
    let write = requests
        .iter()
        .rfind(|r| r.method == "POST" && r.path.ends_with("/composite"))
        .unwrap();
    assert_eq!(
        write.user.as_deref(),
        Some(riley.as_str()),
        "tried as Riley"
    );
    let check = requests
        .iter()
        .find(|r| r.param("q").is_some_and(|q| q.contains("FROM Opportunity")))
        .expect("the duplicate check");
    assert_eq!(
        check.user.as_deref(),
        Some(riley.as_str()),
        "the duplicate check ran as Riley"
    );
}

#[tokio::test]
async fn a_replayed_or_foreign_state_is_refused_and_nothing_is_stored() {
    let bot = bot_drafting(&task_draft(), |_| {}).await;
    let authorize = connect_url(&bot, DANA_SLACK).await;
    let location = sign_in_at_salesforce(&authorize, "dana.lee@crmbot.sandbox").await;
    assert_eq!(callback(&bot, &location).await.0, 200);
    assert_eq!(bot.sandbox.live_refresh_tokens(), 1);

    // The same callback again: the state was used.
    let (status, page) = callback(&bot, &location).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");

    // A code Salesforce issued for a state crmbot never gave out (someone else's sign-in
    // pushed into this browser): refused, the code never exchanged.
    let forged = authorize.replace(&query_of(&authorize)["state"], "forged-state");
    let location = sign_in_at_salesforce(&forged, "sam.ortiz@crmbot.sandbox").await;
    bot.sandbox.reset_requests();
    let (status, page) = callback(&bot, &location).await;
    assert_eq!(status, 400);
    assert!(page.contains("Nothing was stored"), "{page}");
    assert!(
        bot.sandbox
            .requests()
            .iter()
            .all(|r| r.path != "/services/oauth2/token"),
        "the code was not exchanged"
    );
    assert_eq!(bot.sandbox.live_refresh_tokens(), 1, "still only Dana's");

    // No state at all.
    let (status, _) = callback(&bot, &format!("{CALLBACK}?code=abc")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_member_not_connected_gets_the_button_and_nothing_is_claimed() {
    let bot = bot_drafting(&task_draft(), |c| {
        c.policy = policy("[policy]\napprovers = [\"U0SAM\"]\n");
    })
    .await;
    // Not connected: /crm log answers with the button, drafts nothing.
    let (status, _) = bot
        .command(DANA_SLACK, "log Call with Tom: send him the questionnaire")
        .await;
    assert_eq!(status, 200);
    let told = nth_response(&bot, 1).await;
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("haven't connected your Salesforce account"),
        "{told}"
    );
    assert!(button_url(&told["blocks"]).is_some(), "{told}");
    assert!(bot.slack.calls_to("chat.postMessage").is_empty(), "no card");

    // Dana connects and logs; Sam, not connected, clicks Approve.
    connect(&bot, DANA_SLACK, "dana.lee@crmbot.sandbox").await;
    let (id, ts, _) = bot
        .log("Call with Tom: send him the security questionnaire")
        .await;
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(SAM_SLACK, "crm_approve", &id, &ts).await, 200);
    let calls = bot.wait_ephemeral("haven't connected").await;
    let ephemeral = calls
        .iter()
        .rfind(|c| c.method == "chat.postEphemeral")
        .unwrap();
    assert_eq!(ephemeral.body["user"], SAM_SLACK);
    assert!(
        button_url(&ephemeral.body["blocks"]).is_some(),
        "{:?}",
        ephemeral.body
    );
    assert_eq!(state_of(&bot, &id), "drafted", "nothing was claimed");
    assert_eq!(bot.composite_writes(), 0);
}

#[tokio::test]
async fn a_question_runs_as_the_asker() {
    let plan = json!({"intent": "query", "object": "Account", "fields": ["Id", "Name"],
        "filters": [], "sort": [], "limit": 20});
    let bot = bot_drafting(&plan.to_string(), |_| {}).await;
    connect(&bot, RILEY_SLACK, "riley.park@crmbot.sandbox").await;
    bot.sandbox.reset_requests();
    let (status, _) = bot
        .command(RILEY_SLACK, "ask which accounts are there?")
        .await;
    assert_eq!(status, 200);
    let answer = nth_response(&bot, 1).await;
    let text = format!("{}\n{}", answer["text"], card_text(&answer["blocks"]));
    assert!(text.contains("Apex Corp"), "{text}");
    assert!(
        !text.contains("Globex"),
        "Riley sees only the account shared to them: {text}"
    );
    let riley = bot.sandbox.seed_id("riley").unwrap();
    let query = bot
        .sandbox
        .requests()
        .into_iter()
        .rfind(|r| r.param("q").is_some_and(|q| q.contains("FROM Account")))
        .unwrap();
    assert_eq!(query.user.as_deref(), Some(riley.as_str()));
}

#[tokio::test]
async fn disconnect_revokes_and_deletes_the_token() {
    let bot = bot_drafting(&task_draft(), |_| {}).await;
    connect(&bot, DANA_SLACK, "dana.lee@crmbot.sandbox").await;
    assert_eq!(bot.sandbox.live_refresh_tokens(), 1);
    bot.sandbox.reset_requests();
    let (status, _) = bot.command(DANA_SLACK, "disconnect").await;
    assert_eq!(status, 200);
    let told = nth_response(&bot, 1).await;
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("revoked your Salesforce sign-in"),
        "{told}"
    );
    assert!(
        bot.sandbox
            .requests()
            .iter()
            .any(|r| r.path == "/services/oauth2/revoke"),
        "Salesforce was told"
    );
    assert_eq!(
        bot.sandbox.live_refresh_tokens(),
        0,
        "the sandbox saw the revoke"
    );
    let (_, answer) = bot.command(DANA_SLACK, "connect").await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Connect your Salesforce account"),
        "no longer connected: {answer}"
    );
    // Nothing of it is left to open.
    let (_, _) = bot.command(DANA_SLACK, "log Call with Tom").await;
    let told = nth_response(&bot, 2).await;
    assert!(
        told["text"].as_str().unwrap().contains("haven't connected"),
        "{told}"
    );
}

#[tokio::test]
async fn serve_refuses_user_mode_without_a_key() {
    let bot = bot_drafting(&task_draft(), |_| {}).await;
    let mut config = bot.config.clone();
    config.secret_key = None;
    config.data_dir = bot.data.path().join("other");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = match crmbot::server::start(&config, listener).await {
        Ok(_) => panic!("serve started without a key"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("CRMBOT_SECRET_KEY") && err.contains("openssl rand -base64 32"),
        "{err}"
    );
    config.secret_key = Some(SecretString::from("too-short"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = match crmbot::server::start(&config, listener).await {
        Ok(_) => panic!("serve started with a bad key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("32 bytes"), "{err}");
}

#[tokio::test]
async fn a_sign_in_revoked_in_salesforce_asks_the_person_to_connect_again() {
    let bot = bot_drafting(&task_draft(), |_| {}).await;
    connect(&bot, DANA_SLACK, "dana.lee@crmbot.sandbox").await;
    let (id, ts, _) = bot
        .log("Call with Tom: send him the security questionnaire")
        .await;
    // Dana revokes crmbot in Salesforce (Settings → Connected Apps OAuth Usage).
    let refresh = bot
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/services/oauth2/token")
        .find_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v.into_owned())
        })
        .expect("crmbot signed Dana in with her refresh token");
    let revoked = reqwest::Client::new()
        .post(format!("{}/services/oauth2/revoke", bot.sandbox.base_url()))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);

    assert_eq!(bot.click(DANA_SLACK, "crm_approve", &id, &ts).await, 200);
    let calls = bot.wait_ephemeral("sign-in has ended").await;
    let told = calls
        .iter()
        .rfind(|c| c.method == "chat.postEphemeral")
        .unwrap();
    assert!(
        button_url(&told.body["blocks"]).is_some(),
        "{:?}",
        told.body
    );
    assert_eq!(state_of(&bot, &id), "drafted", "nothing was claimed");
    assert_eq!(bot.composite_writes(), 0);
    let (_, answer) = bot.command(DANA_SLACK, "connect").await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Connect your Salesforce account"),
        "the dead token was forgotten: {answer}"
    );
}
