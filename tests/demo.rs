//! `crmbot demo --script`: the whole loop on one machine with nothing configured — a draft,
//! its approval, the record in the local Salesforce, and a question answered from it.

use std::process::Command;

fn demo(script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.txt");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(["demo", "--script"])
        .arg(&path)
        .env_remove("CRMBOT_CONFIG")
        .env_remove("LLM_API_KEY")
        .env_remove("LLM_BASE_URL")
        .env("LLM_PROVIDER", "rules")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn draft_approve_then_ask_finds_the_new_record() {
    let out = demo(
        "# a transcript test\n\
         leads at Zephyr Robotics?\n\
         /crm log Met Priya Natarajan from Zephyr Robotics, priya@zephyr.example, wants pricing.\n\
         edit Title=CTO\n\
         approve\n\
         leads at Zephyr Robotics?\n\
         close the Zephyr deal\n",
    );
    let before = out.split("> /crm log").next().unwrap();
    assert!(before.contains("Nothing matches"), "{out}");
    let after_log = out.split("> /crm log").nth(1).unwrap();
    assert!(after_log.contains("1. Lead · create"), "{out}");
    assert!(after_log.contains("Priya"), "{out}");
    assert!(after_log.contains("[1] approve"), "{out}");
    assert!(
        after_log.contains("Title        CTO"),
        "the edit shows: {out}"
    );
    let approved = out.split("> approve").nth(1).unwrap();
    assert!(
        approved.contains("✓ Created Lead Priya Natarajan — http://127.0.0.1:"),
        "{out}"
    );
    assert!(
        approved.contains("Written in one Salesforce request."),
        "{out}"
    );
    let answer = out.split("> leads at Zephyr Robotics?").nth(2).unwrap();
    assert!(answer.contains("1 Lead record(s)"), "{out}");
    assert!(
        answer.contains("Priya Natarajan | Zephyr Robotics"),
        "{out}"
    );
    assert!(answer.contains("SOQL: SELECT Id, Name, Company, Status, Email FROM Lead WHERE Company LIKE '%Zephyr Robotics%'"), "{out}");
    let change = out.split("> close the Zephyr deal").nth(1).unwrap();
    assert!(change.contains("crmbot only reads here"), "{out}");
}

#[test]
fn a_question_read_only_in_part_is_refused_naming_the_words_never_answered() {
    let out = demo(
        "what deals does Globex have?\n\
         which of my accounts have gone quiet since September\n",
    );
    let globex = out.split("> which").next().unwrap();
    assert!(globex.contains("2 Opportunity record(s)"), "{out}");
    assert!(globex.contains("Globex - Manufacturing Analytics"), "{out}");
    assert!(
        !globex.contains("Initech"),
        "not every account's deals: {out}"
    );
    let quiet = out.split("> which").nth(1).unwrap();
    assert!(
        quiet.contains("I could not use \"gone quiet since September\""),
        "{out}"
    );
    assert!(
        !quiet.contains("record(s)") && !quiet.contains("SOQL"),
        "{out}"
    );
}

#[test]
fn ask_refuses_a_partly_read_question_and_reports_what_the_model_cost() {
    let out = Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args([
            "ask",
            "--sandbox",
            "--json",
            "which of my accounts have gone quiet since September",
        ])
        .env_remove("CRMBOT_CONFIG")
        .env("LLM_PROVIDER", "rules")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["answer"], "partly_read");
    assert_eq!(
        v["words"],
        serde_json::json!(["gone quiet since September"])
    );
    assert_eq!(v["llm"]["calls"], 1);
    assert_eq!(v["llm"]["provider"], "rules (offline)");
    assert!(v["llm"]["prompt_tokens"].is_u64());
}

#[test]
fn an_edit_error_names_the_record_and_field_as_a_person_reads_them() {
    let out = demo(
        "/crm log Met Priya Natarajan from Zephyr Robotics, priya@zephyr.example, wants pricing.\n\
         edit Status=Hot\n",
    );
    let edit = out.split("> edit Status=Hot").nth(1).unwrap();
    assert!(edit.contains("'Hot' is not a Lead Status value"), "{out}");
    assert!(!edit.contains("r0."), "no internal key: {out}");
    assert!(
        !edit.contains("Lead Lead"),
        "the object is named once: {out}"
    );
    assert!(
        edit.contains("Lead Priya Natarajan"),
        "names the record: {out}"
    );
}
