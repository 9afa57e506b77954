//! Logs an operator's tools can read: JSON lines with `--log-format json` (or
//! CRMBOT_LOG_FORMAT=json), and no colour codes when standard error is not a terminal.

use std::process::Output;

fn crmbot(env: &[(&str, &str)], args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(args)
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LLM_PROVIDER", "rules")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn json_logs_are_one_object_per_line_and_text_logs_have_no_colour_when_piped() {
    let out = crmbot(
        &[("CRMBOT_LOG_FORMAT", "json")],
        &["extract", "--sandbox", "--sample", "-v"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "-v logs something");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }

    let out = crmbot(&[], &["extract", "--sandbox", "--sample", "-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty());
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escapes in piped logs:\n{stderr}"
    );
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let out = crmbot(&[], &["healthcheck", "--url", "http://127.0.0.1:9/healthz"]);
    assert_eq!(out.status.code(), Some(1));
}
