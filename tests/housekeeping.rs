//! What crmbot keeps on disk is private and does not grow without end: the data folder is
//! 0700 and its files 0600, and Slack event ids and thread plans are pruned on a timer.

mod common;
mod slack_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::fixture_draft;
use slack_support::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test]
async fn the_data_folder_and_its_files_are_readable_by_crmbot_only() {
    let (notes, reply) = fixture_draft("seed-lead");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("db");
    // A folder someone created with the usual, open permissions.
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.clone();
    let bot = Bot::start_with(&reply, move |c| c.data_dir = db).await;
    bot.log(&notes).await;
    assert_eq!(mode(&dir), 0o700, "the data folder");
    let files = files_under(&dir);
    assert!(!files.is_empty());
    for f in files {
        let want = if f.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&f), want, "{}", f.display());
    }
}

fn question_plan() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/questions.json");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "seed-open-opps-apex")
        .unwrap()["plan"]
        .clone()
}

#[tokio::test]
async fn event_ids_and_thread_plans_are_pruned_by_housekeeping() {
    let model = common::start_stub_model_with(&question_plan().to_string(), "ok").await;
    let bot = Bot::start_with_model(model, |c| c.ask.thread_days = 7).await;
    let mention = serde_json::json!({"type": "event_callback", "event_id": "EvOld", "team_id": "T1",
        "api_app_id": "A1", "event_time": 1700000000,
        "event": {"type": "app_mention", "user": REQUESTER, "text": format!("<@{BOT_USER}> open deals at Apex?"),
                  "ts": "1700000100.000100", "channel": CHANNEL, "event_ts": "1700000100.000100"}});
    assert_eq!(bot.event(&mention, None).await, 200);
    bot.wait_for("the answer", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
    })
    .await;
    let app = &bot.running.as_ref().unwrap().app;
    let threads = || {
        app.store
            .records::<serde_json::Value>("threads")
            .unwrap()
            .all()
            .unwrap()
            .len()
    };
    assert_eq!(threads(), 1, "the thread's plan is kept for follow-ups");

    // A day later: the plan stays, the event id is forgotten.
    let (events, plans, _) =
        crmbot::server::housekeep(app, chrono::Utc::now() + chrono::Duration::days(2));
    assert_eq!((events, plans), (1, 0));
    assert_eq!(threads(), 1);
    // Past ask.thread_days the plan goes too.
    let (_, plans, _) =
        crmbot::server::housekeep(app, chrono::Utc::now() + chrono::Duration::days(8));
    assert_eq!(plans, 1);
    assert_eq!(threads(), 0);
}
