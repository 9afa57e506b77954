//! manifest.yaml is how a Slack app for crmbot is created: its URLs must be the paths the
//! server answers, and its scopes exactly the ones crmbot uses.

use crmbot::slack::app::{COMMANDS_PATH, EVENTS_PATH, INTERACTIVITY_PATH};

fn manifest() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yaml"))
        .expect("manifest.yaml")
}

/// Values of `key:` lines, comments dropped.
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn the_urls_are_the_paths_crmbot_serve_answers() {
    let m = manifest();
    let urls: Vec<String> = values(&m, "url")
        .into_iter()
        .chain(values(&m, "request_url"))
        .map(|u| {
            u.trim_start_matches("https://crmbot.example.com")
                .to_string()
        })
        .collect();
    assert_eq!(urls, [COMMANDS_PATH, EVENTS_PATH, INTERACTIVITY_PATH]);
    assert_eq!(values(&m, "- command"), ["/crm"]);
    assert!(!values(&m, "usage_hint").is_empty());
    assert!(m.contains("- app_mention") && m.contains("- message.im"));
    assert_eq!(values(&m, "is_enabled"), ["true"]);
}

#[test]
fn the_scopes_are_exactly_the_ones_used() {
    let m = manifest();
    let start = m.find("    bot:").expect("bot scopes");
    let scopes: Vec<String> = m[start..]
        .lines()
        .skip(1)
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .take_while(|l| l.starts_with("- "))
        .map(|l| l.trim_start_matches("- ").to_string())
        .collect();
    // app_mention events, chat.postMessage/update/postEphemeral, /crm, message.im events,
    // usergroups.list / usergroups.users.list (user groups in [policy]), users.info with the
    // profile email ("$me" in questions).
    assert_eq!(
        scopes,
        [
            "app_mentions:read",
            "chat:write",
            "commands",
            "im:history",
            "usergroups:read",
            "users:read",
            "users:read.email"
        ]
    );
}
