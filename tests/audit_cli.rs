//! `crmbot audit` end to end: the real binary against a sled database filled through the
//! library, then tampered with directly in sled the way someone with disk access could.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crmbot::store::audit::{HEAD_KEY, HEAD_TREE, RECORDS_TREE, record_key};
use crmbot::store::{AuditEntry, AuditKind, AuditLog, AuditRecord};

/// Runs `crmbot <args>` with CRMBOT_DATA_DIR = `data` and nothing else from the environment.
fn crmbot(data: &Path, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap(); // so no ./crmbot.toml is picked up
    std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(args)
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRMBOT_DATA_DIR", data)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A database with the audit trail of one approved draft and one expired one (5 records).
fn fill(dir: &Path) -> Vec<AuditRecord> {
    let db = sled::open(dir).unwrap();
    let log = AuditLog::open(&db).unwrap();
    let entries = [
        AuditEntry::new("act-1", AuditKind::Drafted, "Drafted Lead Daniel Reed")
            .by("U111")
            .with_detail(json!({"notes": "We spoke with Daniel Reed from Apex Corp.",
                                "raw_reply": "{\"records\":[]}"})),
        AuditEntry::new("act-1", AuditKind::ApproveRequested, "Approve clicked").by("U222"),
        AuditEntry::new(
            "act-1",
            AuditKind::Written,
            "Created Lead Daniel Reed (00Q000000000001)",
        )
        .by("U222")
        .with_detail(json!({"response": {"id": "00Q000000000001", "success": true}})),
        AuditEntry::new(
            "act-2",
            AuditKind::Drafted,
            "Drafted Opportunity Apex renewal",
        )
        .by("U111"),
        AuditEntry::new("act-2", AuditKind::Expired, "Expired after 24 hours"),
    ];
    let records = entries
        .into_iter()
        .map(|e| log.append(e).unwrap())
        .collect();
    db.flush().unwrap();
    records
}

fn tamper(dir: &Path, change: impl FnOnce(&sled::Tree)) {
    let db = open_when_free(dir);
    change(&db.open_tree(RECORDS_TREE).unwrap());
    db.flush().unwrap();
}

#[test]
fn list_show_export_and_verify_an_intact_log() {
    let dir = tempfile::tempdir().unwrap();
    let records = fill(dir.path());

    let out = crmbot(dir.path(), &["audit", "list"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for column in ["SEQ", "TIME (UTC)", "KIND", "ACTOR", "ACTION", "SUMMARY"] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(lines[3].starts_with("3 "), "{text}");
    assert!(
        lines[3].contains("written")
            && lines[3].contains("U222")
            && lines[3].contains("act-1")
            && lines[3].ends_with("Created Lead Daniel Reed (00Q000000000001)"),
        "{text}"
    );
    assert!(
        lines[5].contains("expired") && lines[5].contains(" - "),
        "{text}"
    );

    let out = crmbot(dir.path(), &["audit", "list", "--user", "U111"]);
    let seqs: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(seqs, ["1", "4"]);
    let out = crmbot(
        dir.path(),
        &["audit", "list", "--action", "act-2", "--limit", "1"],
    );
    assert_eq!(stdout(&out).lines().count(), 2);
    assert!(stdout(&out).lines().nth(1).unwrap().starts_with("5 "));
    let out = crmbot(dir.path(), &["audit", "list", "--since", "2999-01-01"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    let out = crmbot(
        dir.path(),
        &["audit", "list", "--since", "2000-01-01T00:00:00Z"],
    );
    assert_eq!(stdout(&out).lines().count(), 6);

    let out = crmbot(dir.path(), &["audit", "show", "1"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let shown: AuditRecord = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown, records[0]);
    assert!(stdout(&out).contains("\n  \"detail\": {"), "pretty JSON");
    let out = crmbot(dir.path(), &["audit", "show", "9"]);
    assert!(!out.status.success());
    assert!(all_output(&out).contains("no audit record 9"));

    let out = crmbot(dir.path(), &["audit", "export", "--jsonl"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let exported: Vec<AuditRecord> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported, records);
    let file = dir.path().join("export.jsonl");
    let out = crmbot(
        dir.path(),
        &[
            "audit",
            "export",
            "--jsonl",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        stdout(&crmbot(dir.path(), &["audit", "export"]))
    );

    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(stdout(&out), "audit chain intact: 5 records\n");
}

#[test]
fn verify_fails_and_names_a_changed_record() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    tamper(dir.path(), |tree| {
        let mut record: Value =
            serde_json::from_slice(&tree.get(record_key(2)).unwrap().unwrap()).unwrap();
        record["summary"] = json!("Reject clicked");
        tree.insert(record_key(2), serde_json::to_vec(&record).unwrap())
            .unwrap();
    });
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(
        text.contains("audit chain broken at record 2: hash mismatch"),
        "{text}"
    );
}

#[test]
fn verify_fails_and_names_a_removed_record() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    tamper(dir.path(), |tree| {
        tree.remove(record_key(3)).unwrap().unwrap();
    });
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("audit chain broken at record 3: record 3 is missing"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn verify_fails_when_the_last_record_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    tamper(dir.path(), |tree| {
        tree.remove(record_key(5)).unwrap().unwrap();
    });
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("audit chain broken at record 5: record 5 is missing"),
        "{}",
        all_output(&out)
    );
    // The head is what caught it.
    let db = open_when_free(dir.path());
    assert!(
        db.open_tree(HEAD_TREE)
            .unwrap()
            .get(HEAD_KEY)
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_database_held_by_another_process_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let _held = open_when_free(dir.path());
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        all_output(&out).contains("in use by another process"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn a_missing_data_dir_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = crmbot(&dir.path().join("nothing"), &["audit", "list"]);
    assert!(!out.status.success());
    assert!(
        all_output(&out).contains("no crmbot database at"),
        "{}",
        all_output(&out)
    );
}

/// sled releases its file lock from a background thread shortly after the last handle is
/// dropped; wait for it rather than race it.
fn open_when_free(path: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        if let Ok(db) = sled::open(path) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sled::open(path).expect("the database stays locked")
}

/// A data dir as `crmbot serve` keeps it (database and audit.jsonl), held open by this
/// process the way a running serve holds it; 5 records.
fn serving(dir: &Path) -> crmbot::store::Store {
    let store = crmbot::store::Store::open_with(dir, None).unwrap();
    for n in 1..=5 {
        store
            .audit
            .append(AuditEntry::new("act-1", AuditKind::Drafted, format!("Drafted {n}")).by("U111"))
            .unwrap();
    }
    store
}

#[test]
fn while_serve_holds_the_database_audit_reads_and_verifies_its_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let _serve = serving(dir.path());

    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(stdout(&out).contains("audit chain intact: 5 records"));
    assert!(
        all_output(&out).contains("audit.jsonl"),
        "says where it read"
    );

    let out = crmbot(dir.path(), &["audit", "list", "--limit", "2"]);
    assert!(out.status.success(), "{}", all_output(&out));
    let listed = stdout(&out);
    assert!(listed.contains("Drafted 4") && listed.contains("Drafted 5"));
    assert!(!listed.contains("Drafted 3"), "{listed}");

    let out = crmbot(dir.path(), &["audit", "show", "2"]);
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["summary"], "Drafted 2");

    let out = crmbot(dir.path(), &["audit", "export", "--jsonl"]);
    assert_eq!(stdout(&out).lines().count(), 5);

    // A record being appended right now (no newline yet) is not read as one.
    let mirror = dir.path().join("audit.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&mirror)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":6,\"ts\":").unwrap();
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert!(
        stdout(&out).contains("intact: 5 records"),
        "{}",
        all_output(&out)
    );

    // recover needs the database.
    let out = crmbot(dir.path(), &["audit", "recover"]);
    assert!(!out.status.success());
    assert!(all_output(&out).contains("in use by another process"));
}

#[test]
fn while_serve_runs_a_changed_mirror_line_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let _serve = serving(dir.path());
    let mirror = dir.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&mirror).unwrap();
    std::fs::write(&mirror, text.replacen("Drafted 3", "Drafted 9", 1)).unwrap();
    let out = crmbot(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(
        stdout(&out).contains("broken at record 3"),
        "{}",
        all_output(&out)
    );
}
