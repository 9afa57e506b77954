//! Messages a new user or an operator meets first, from the real binary with a clean
//! environment: each says what is wrong, where, and what to set — once, without repeating
//! itself.

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
