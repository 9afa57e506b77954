//! Messages a new user or an operator meets first, from the real binary with a clean
//! environment: each says what is wrong, where, and what to set — once, without repeating
//! itself.

mod common;

use std::process::{Command, Output};

fn crmbot(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// A local port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_port_in_use_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (out, text) = crmbot(&["sandbox", "--listen", &addr], &[]);
    assert!(!out.status.success());
    assert_eq!(text.matches("Address already in use").count(), 1, "{text}");
    assert!(text.contains(&addr), "names the address: {text}");
}

#[test]
fn a_missing_config_file_is_said_once() {
    let (out, text) = crmbot(&["--config", "nope.toml", "config"], &[]);
    assert!(!out.status.success());
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
}

#[test]
fn an_unreachable_salesforce_names_the_address_and_the_variable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (out, text) = crmbot(
        &["extract", "--sample"],
        &[
            ("SALESFORCE_INSTANCE_URL", &url),
            ("SALESFORCE_ACCESS_TOKEN", "t"),
            ("LLM_PROVIDER", "rules"),
        ],
    );
    assert!(!out.status.success());
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("SALESFORCE_INSTANCE_URL"), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains("error sending request"), "{text}");
    assert!(
        !text.contains("Salesforce: cannot reach Salesforce"),
        "no repeated words: {text}"
    );
}

#[test]
fn an_unreachable_model_names_the_address_and_the_variable() {
    let url = format!("http://127.0.0.1:{}/v1", closed_port());
    let (out, text) = crmbot(
        &["extract", "--sandbox", "--sample"],
        &[("LLM_PROVIDER", "openai"), ("LLM_BASE_URL", &url)],
    );
    assert!(!out.status.success());
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("LLM_BASE_URL"), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains("error sending request"), "{text}");
}

#[test]
fn serve_lists_every_missing_setting_at_once() {
    let (out, text) = crmbot(&["serve"], &[("CRMBOT_LISTEN", "127.0.0.1:0")]);
    assert!(!out.status.success());
    for name in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "SALESFORCE_INSTANCE_URL",
    ] {
        assert!(text.contains(name), "{name} missing from: {text}");
    }
}

#[test]
fn serve_refuses_a_user_token_as_the_bot_token() {
    let (out, text) = crmbot(
        &["serve"],
        &[
            ("CRMBOT_LISTEN", "127.0.0.1:0"),
            ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
            ("SLACK_BOT_TOKEN", "xoxp-1-2-3"),
            ("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9"),
            ("SALESFORCE_ACCESS_TOKEN", "t"),
        ],
    );
    assert!(!out.status.success());
    assert!(text.contains("user token (xoxp-"), "{text}");
    assert!(!text.contains("xoxp-1-2-3"), "never the token: {text}");
}

#[test]
fn an_unreachable_slack_names_the_address_in_plain_words() {
    let url = format!("http://127.0.0.1:{}/api", closed_port());
    let (out, text) = crmbot(
        &["serve"],
        &[
            ("CRMBOT_LISTEN", "127.0.0.1:0"),
            ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
            ("SLACK_BOT_TOKEN", "xoxb-1-2-3"),
            ("SLACK_API_URL", &url),
            ("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9"),
            ("SALESFORCE_ACCESS_TOKEN", "t"),
        ],
    );
    assert!(!out.status.success());
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("SLACK_API_URL"), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains("hyper_util"), "{text}");
    assert!(!text.contains("Some("), "{text}");
}

#[test]
fn config_names_the_model_in_effect_and_a_base_url_alone_is_a_local_server() {
    let (out, text) = crmbot(&["config"], &[("LLM_BASE_URL", "http://127.0.0.1:8080/v1")]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Model in effect: openai-compatible server at http://127.0.0.1:8080/v1"),
        "{text}"
    );
}

#[tokio::test]
async fn serve_says_at_start_up_which_model_is_in_effect() {
    use std::io::{BufRead, BufReader};
    let slack = common::start_auth_test_slack("127.0.0.1").await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .arg("serve")
        .env_clear()
        .envs([
            ("CRMBOT_LISTEN", "127.0.0.1:0"),
            ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
            ("SLACK_BOT_TOKEN", "xoxb-1-2-3"),
            ("SLACK_API_URL", slack.as_str()),
            ("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9"),
            ("SALESFORCE_ACCESS_TOKEN", "t"),
            ("LLM_BASE_URL", "http://127.0.0.1:8080/v1"),
        ])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let done = line.starts_with("model:");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    });
    let seen = tokio::time::timeout(std::time::Duration::from_secs(20), lines).await;
    let _ = child.kill();
    let _ = child.wait();
    let seen = seen.expect("serve starts").unwrap().join("\n");
    assert!(seen.contains("crmbot serving Slack"), "{seen}");
    assert!(
        seen.contains("model: openai-compatible server at http://127.0.0.1:8080/v1"),
        "{seen}"
    );
}

#[test]
fn ask_about_my_records_without_as_says_how_to_name_yourself() {
    let (out, text) = crmbot(&["ask", "--sandbox", "my open deals"], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("does not know who you are") && text.contains("--as you@company.com"),
        "{text}"
    );
    let (out, text) = crmbot(
        &[
            "ask",
            "--sandbox",
            "--as",
            "dana.lee@crmbot.example",
            "my open deals",
        ],
        &[],
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Opportunity record(s)"), "{text}");
}
