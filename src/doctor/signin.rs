//! Per-user sign-in (`salesforce.identity = "user"`): the callback URL people come back to,
//! the key their refresh tokens are sealed with, and whether the connected app accepts the
//! callback — asked of the authorize endpoint itself, which names a callback it does not
//! list (`redirect_uri_mismatch`) before anyone signs in.

use super::{CHECK_TIMEOUT, Check, SALESFORCE, timed};
use crate::config::{Config, Identity};
use crate::flow::signin::{SignInSettings, challenge};
use crate::flow::storage::{MAKE_KEY, SealKey};
use crate::slack::signin::CALLBACK_PATH;

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    if config.salesforce.identity != Identity::User {
        return Vec::new();
    }
    let mut checks = Vec::new();
    checks.push(match &config.secret_key {
        None => Check::problem(
            SALESFORCE,
            "sign-in key",
            "CRMBOT_SECRET_KEY is not set; serve refuses to start in user mode without it",
            MAKE_KEY,
        ),
        Some(key) => match SealKey::parse(key) {
            Ok(_) => Check::ok(
                SALESFORCE,
                "sign-in key",
                "CRMBOT_SECRET_KEY is set (32 bytes); refresh tokens are sealed with it",
            ),
            Err(e) => Check::problem(SALESFORCE, "sign-in key", e.to_string(), MAKE_KEY),
        },
    });
    let settings = match SignInSettings::from_settings(&config.salesforce) {
        Ok(s) => s,
        Err(words) => {
            checks.push(Check::problem(
                SALESFORCE,
                "sign-in callback",
                words,
                "set them, and enter the same callback URL in the connected app",
            ));
            return checks;
        }
    };
    if !settings.callback.path().ends_with(CALLBACK_PATH) {
        checks.push(Check::warning(
            SALESFORCE,
            "sign-in callback",
            format!(
                "{} does not end with {CALLBACK_PATH}, the path crmbot serve answers",
                settings.callback
            ),
            format!("point it at crmbot's public URL followed by {CALLBACK_PATH}"),
        ));
    }
    checks.push(
        match timed(CHECK_TIMEOUT, accepts_callback(&settings)).await {
            Ok(check) => check,
            Err(late) => Check::problem(
                SALESFORCE,
                "connected app",
                format!("{}: {late}", settings.endpoint("authorize")),
                "check SALESFORCE_LOGIN_URL (or SALESFORCE_INSTANCE_URL)",
            ),
        },
    );
    checks
}

/// Asks the authorize endpoint to start a sign-in (nobody signs in: no code comes of it).
async fn accepts_callback(s: &SignInSettings) -> Check {
    let name = "connected app";
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &s.client_id)
        .append_pair("redirect_uri", s.callback.as_str())
        .append_pair(
            "code_challenge",
            &challenge("crmbot-doctor-probe-verifier-0123456789abcdef"),
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "crmbot-doctor")
        .finish();
    let url = format!("{}?{query}", s.endpoint("authorize"));
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CHECK_TIMEOUT)
        .build()
    {
        Ok(h) => h,
        Err(e) => return Check::skipped(SALESFORCE, name, e.to_string()),
    };
    let response = match http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return Check::problem(
                SALESFORCE,
                name,
                format!(
                    "{} did not answer: {}",
                    s.endpoint("authorize"),
                    crate::net::root_cause(&e)
                ),
                "check SALESFORCE_LOGIN_URL (or SALESFORCE_INSTANCE_URL)",
            );
        }
    };
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = crate::net::read_capped(response, 200_000)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let said = format!("{location} {body}");
    if said.contains("redirect_uri_mismatch") {
        return Check::problem(
            SALESFORCE,
            name,
            format!(
                "the connected app does not accept the callback {} (redirect_uri_mismatch)",
                s.callback
            ),
            format!(
                "add {} to the connected app's Callback URL (Setup → App Manager → the app → Edit), or fix salesforce.callback_url",
                s.callback
            ),
        );
    }
    if said.contains("invalid_client_id") {
        return Check::problem(
            SALESFORCE,
            name,
            format!("Salesforce does not know the client id {}", s.client_id),
            "set SALESFORCE_CLIENT_ID to the connected app's consumer key",
        );
    }
    if status >= 400 {
        return Check::problem(
            SALESFORCE,
            name,
            format!("{} answered HTTP {status}", s.endpoint("authorize")),
            "check SALESFORCE_LOGIN_URL (or SALESFORCE_INSTANCE_URL) and the connected app",
        );
    }
    Check::ok(
        SALESFORCE,
        name,
        format!(
            "accepts the callback {} (people sign in at {})",
            s.callback,
            s.endpoint("authorize")
        ),
    )
}
