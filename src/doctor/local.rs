//! The checks that need no network: the Slack credentials are set and of the right kind,
//! the data folder can be written, the org's address is set. A wrong kind of token (a user
//! token where the bot token goes) is the most common set-up mistake and Slack's own error
//! for it is cryptic, so it is named here before any call is made.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::{CONFIG, Check};
use crate::config::{Config, slack_token_kind};
use crate::flow::storage::{self, SledProbe};
use crate::salesforce::key_exposure;

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let slack = &config.slack;
    let mut checks = vec![
        signing_secret(slack.signing_secret.as_ref(), slack.app_token.is_some()),
        bot_token(slack.bot_token.as_ref()),
    ];
    if let Some(token) = &slack.app_token {
        checks.push(app_token(token));
    }
    match &config.store.database_url {
        Some(url) => checks.push(database(url.clone(), config.audit_key.clone()).await),
        None => checks.push(data_dir(config.data_dir.clone()).await),
    }
    checks.push(instance_url(config));
    if let Some(path) = &config.salesforce.private_key_file {
        checks.push(private_key(path));
    }
    checks
}

/// The JWT key lets whoever reads it act as crmbot's Salesforce user.
fn private_key(path: &Path) -> Check {
    let name = "JWT key file";
    match key_exposure(path) {
        Some(who) => Check::warning(
            CONFIG,
            name,
            format!("{} is {who}", path.display()),
            format!(
                "chmod 600 {} (only crmbot's user should read SALESFORCE_PRIVATE_KEY_FILE)",
                path.display()
            ),
        ),
        None => Check::ok(
            CONFIG,
            name,
            format!("{} is readable by its owner only", path.display()),
        ),
    }
}

fn signing_secret(secret: Option<&SecretString>, socket_mode: bool) -> Check {
    let name = "signing secret";
    match secret.map(|s| s.expose_secret()) {
        None if socket_mode => Check::ok(
            CONFIG,
            name,
            "not needed: Socket Mode (SLACK_APP_TOKEN) receives Slack's events over its own connection",
        ),
        None => Check::problem(
            CONFIG,
            name,
            "not set: crmbot serve cannot tell Slack's requests from anyone else's",
            "set SLACK_SIGNING_SECRET (or slack.signing_secret in crmbot.toml) to the Signing Secret under Basic Information of your Slack app",
        ),
        Some(s) if s.starts_with("xox") => Check::problem(
            CONFIG,
            name,
            "SLACK_SIGNING_SECRET holds a token, not the signing secret",
            "set SLACK_SIGNING_SECRET to the Signing Secret under Basic Information of your Slack app (a 32-character hex string)",
        ),
        Some(_) => Check::ok(CONFIG, name, "set (SLACK_SIGNING_SECRET)"),
    }
}

fn bot_token(token: Option<&SecretString>) -> Check {
    let name = "bot token";
    let fix = "set SLACK_BOT_TOKEN (or slack.bot_token in crmbot.toml) to the Bot User OAuth Token (xoxb-…) under OAuth & Permissions of your Slack app";
    let Some(token) = token.map(|t| t.expose_secret()) else {
        return Check::problem(CONFIG, name, "not set: crmbot cannot post to Slack", fix);
    };
    if token.starts_with("xoxb-") {
        return Check::ok(CONFIG, name, "set, a bot token (xoxb-…)");
    }
    let mut kind = slack_token_kind(token);
    if token.starts_with("xapp-") {
        kind.push_str(", which belongs in SLACK_APP_TOKEN");
    }
    Check::problem(
        CONFIG,
        name,
        format!("SLACK_BOT_TOKEN is {kind}; crmbot needs the bot token"),
        fix,
    )
}

fn app_token(token: &SecretString) -> Check {
    let name = "app token";
    if token.expose_secret().starts_with("xapp-") {
        Check::ok(
            CONFIG,
            name,
            "set, an app-level token (xapp-…): crmbot serve uses Socket Mode and needs no public URL",
        )
    } else {
        Check::problem(
            CONFIG,
            name,
            "SLACK_APP_TOKEN is set but is not an app-level token (xapp-…)",
            "set SLACK_APP_TOKEN to an app-level token with connections:write (Basic Information → App-Level Tokens), or unset it",
        )
    }
}

/// Creates the folder when missing, writes a probe file, and opens the sled database the
/// way `serve` will. sled allows one process per folder: a lock held by a running server is
/// expected while it runs, so it is a warning.
async fn data_dir(dir: std::path::PathBuf) -> Check {
    let name = "data_dir";
    let shown = dir.display().to_string();
    let fix =
        "set CRMBOT_DATA_DIR (or data_dir in crmbot.toml) to a folder crmbot may create and write";
    let outcome = tokio::task::spawn_blocking(move || probe(&dir)).await;
    match outcome {
        Ok(Ok(())) => Check::ok(CONFIG, name, format!("{shown} is writable")),
        Ok(Err(Probe::Locked)) => Check::warning(
            CONFIG,
            name,
            format!("{shown} is in use: a running crmbot serve holds it"),
            "nothing to do while it runs; stop it before `crmbot audit` or a second server on this folder",
        ),
        Ok(Err(Probe::Failed(why))) => Check::problem(CONFIG, name, format!("{shown}: {why}"), fix),
        Err(e) => Check::problem(CONFIG, name, format!("{shown}: check failed ({e})"), fix),
    }
}

/// Connects to PostgreSQL the way `serve` will (migrating its schema) and reads the audit
/// chain's length.
async fn database(url: secrecy::SecretString, key: Option<secrecy::SecretString>) -> Check {
    let name = "database";
    let outcome = tokio::task::spawn_blocking(move || {
        storage::Store::postgres(&url, key).map(|s| s.audit.len())
    })
    .await;
    let fix = "check CRMBOT_DATABASE_URL (postgres://user:password@host:5432/database) and that the server accepts this user";
    match outcome {
        Ok(Ok(records)) => Check::ok(
            CONFIG,
            name,
            format!("PostgreSQL reachable, schema up to date, {records} audit record(s)"),
        ),
        Ok(Err(e)) => Check::problem(CONFIG, name, e.to_string(), fix),
        Err(e) => Check::problem(CONFIG, name, format!("check failed ({e})"), fix),
    }
}

enum Probe {
    Locked,
    Failed(String),
}

fn probe(dir: &Path) -> Result<(), Probe> {
    storage::make_private(dir).map_err(|e| Probe::Failed(format!("cannot create it ({e})")))?;
    let file = dir.join(".crmbot-doctor-probe");
    std::fs::write(&file, b"probe")
        .map_err(|e| Probe::Failed(format!("cannot write in it ({e})")))?;
    let _ = std::fs::remove_file(&file);
    storage::probe_sled(dir).map_err(|e| match e {
        SledProbe::Locked => Probe::Locked,
        SledProbe::Failed(why) => Probe::Failed(why),
    })
}

fn instance_url(config: &Config) -> Check {
    let name = "instance URL";
    match &config.salesforce.instance_url {
        None => Check::problem(
            CONFIG,
            name,
            "not set: crmbot does not know which Salesforce org to use",
            "set SALESFORCE_INSTANCE_URL (or salesforce.instance_url in crmbot.toml) to your org's address, e.g. https://acme.my.salesforce.com",
        ),
        Some(url) => {
            let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            let shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
                + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
            if url.scheme() != "https" && !local {
                Check::warning(
                    CONFIG,
                    name,
                    format!("{shown} is not HTTPS: the access token would travel in clear"),
                    "use the https:// address of your org in SALESFORCE_INSTANCE_URL",
                )
            } else {
                Check::ok(CONFIG, name, shown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn token_kinds_are_named_without_showing_the_token() {
        let user = SecretString::from("xoxp-1234-secret-part");
        let check = bot_token(Some(&user));
        assert_eq!(check.status, Status::Problem);
        assert!(check.detail.contains("user token"), "{}", check.detail);
        assert!(!check.detail.contains("secret-part"));
        assert_eq!(bot_token(None).status, Status::Problem);
        let bot = SecretString::from("xoxb-1-2-3");
        assert_eq!(bot_token(Some(&bot)).status, Status::Ok);
        let garbage = SecretString::from("hunter2");
        let check = bot_token(Some(&garbage));
        assert!(
            check.detail.contains("not a Slack token"),
            "{}",
            check.detail
        );
        assert!(!check.detail.contains("hunter2"));
    }

    #[test]
    fn app_token_and_signing_secret_kinds() {
        assert_eq!(
            app_token(&SecretString::from("xapp-1-2")).status,
            Status::Ok
        );
        assert_eq!(
            app_token(&SecretString::from("xoxb-1-2")).status,
            Status::Problem
        );
        assert_eq!(signing_secret(None, false).status, Status::Problem);
        let token = SecretString::from("xoxb-1");
        assert_eq!(signing_secret(Some(&token), false).status, Status::Problem);
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5");
        assert_eq!(signing_secret(Some(&secret), false).status, Status::Ok);
    }

    #[test]
    fn socket_mode_needs_no_signing_secret_and_is_named() {
        let secret = signing_secret(None, true);
        assert_eq!(secret.status, Status::Ok, "{}", secret.detail);
        assert!(secret.detail.contains("Socket Mode"), "{}", secret.detail);
        let app = app_token(&SecretString::from("xapp-1-2"));
        assert!(app.detail.contains("Socket Mode"), "{}", app.detail);
        assert!(!app.detail.contains("HTTP mode"), "{}", app.detail);
    }

    #[test]
    fn a_key_file_others_can_read_is_a_warning_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let key = tmp.path().join("crmbot.key");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----").expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let open = private_key(&key);
        assert_eq!(open.status, Status::Warning, "{}", open.detail);
        assert!(open.fix.as_deref().unwrap_or("").contains("chmod 600"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(private_key(&key).status, Status::Ok);
    }

    #[tokio::test]
    async fn a_missing_data_dir_is_created() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a").join("b");
        let check = data_dir(dir.clone()).await;
        assert_eq!(check.status, Status::Ok, "{}", check.detail);
        assert!(dir.is_dir());
    }

    #[tokio::test]
    async fn a_held_database_is_a_warning() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let held = crate::store::open_db(tmp.path()).expect("open");
        let check = data_dir(tmp.path().to_path_buf()).await;
        assert_eq!(check.status, Status::Warning, "{}", check.detail);
        assert!(check.detail.contains("running crmbot serve"));
        drop(held);
    }
}
