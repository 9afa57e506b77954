//! The independent SOQL parser check (`@jetstreamapp/soql-parser-js` via
//! tools/soql-check), shared by the SOQL test suites.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Whether this run is CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Runs tools/soql-check/validate-soql.js once over all queries: one `{"ok", "error"}` per
/// query. None (with a note) when `npm ci --prefix tools/soql-check` has not been run, which
/// fails under CI instead.
pub fn independent_parser(queries: &[String]) -> Option<Vec<Value>> {
    let tool = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/soql-check");
    if !tool
        .join("node_modules/@jetstreamapp/soql-parser-js")
        .is_dir()
    {
        let hint =
            "tools/soql-check/node_modules is missing: run `npm ci --prefix tools/soql-check`";
        assert!(
            !in_ci(),
            "{hint} (CI must run the independent SOQL parser check)"
        );
        eprintln!("note: skipping the independent SOQL parser check; {hint} to enable it");
        return None;
    }
    let mut child = Command::new("node")
        .arg(tool.join("validate-soql.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (needed for tools/soql-check): {e}"));
    let input = serde_json::to_vec(queries).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "validate-soql.js failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validate-soql.js printed no JSON array ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(verdicts.len(), queries.len(), "one verdict per query");
    Some(verdicts)
}
