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
