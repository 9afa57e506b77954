//! manifest.yaml is how a Slack app for crmbot is created: its URLs must be the paths the
//! server answers, and its scopes exactly the ones crmbot uses.

use crmbot::slack::app::{COMMANDS_PATH, EVENTS_PATH, INTERACTIVITY_PATH};

fn manifest() -> String {
    read("manifest.yaml")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .expect(name)
}

/// The lines that say what the app is and may do: everything but URLs and the mode.
fn app_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.trim_end().to_string())
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("url:")
                || t.starts_with("request_url:")
                || t.starts_with("socket_mode_enabled:"))
        })
        .collect()
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
    assert_eq!(
        values(&m, "callback_id"),
        [
            crmbot::slack::shortcut::LOG_MESSAGE,
            crmbot::slack::shortcut::LOG_MEETING
        ]
    );
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
    // app_mention events, conversations.replies for "Log to CRM" (public, private, group DM
    // threads), chat.postMessage/update/postEphemeral, /crm, message.im events,
    // usergroups.list / usergroups.users.list (user groups in [policy]), users.info with the
    // profile email ("$me" in questions).
    assert_eq!(
        scopes,
        [
            "app_mentions:read",
            "channels:history",
            "chat:write",
            "commands",
            "groups:history",
            "im:history",
            "mpim:history",
            "usergroups:read",
            "users:read",
            "users:read.email"
        ]
    );
}

#[test]
fn the_socket_mode_manifest_is_the_same_app_without_urls() {
    let socket = read("manifest.socket.yaml");
    assert!(values(&socket, "url").is_empty() && values(&socket, "request_url").is_empty());
    assert_eq!(values(&socket, "socket_mode_enabled"), ["true"]);
    assert_eq!(values(&manifest(), "socket_mode_enabled"), ["false"]);
    assert_eq!(app_lines(&socket), app_lines(&manifest()));
}
