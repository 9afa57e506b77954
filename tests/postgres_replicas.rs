//! crmbot on PostgreSQL: two replicas of `crmbot serve` on one database, with one fake
//! Slack and one Salesforce sandbox, and `crmbot migrate --from sled`. Skipped (with a
//! "SKIPPED" line) when no PostgreSQL is available, unless `CRMBOT_REQUIRE_POSTGRES=1`.

mod common;
mod pg_support;
mod slack_support;

use std::time::Duration;

use serde_json::{Value, json};

use common::fixture_draft;
use crmbot::flow::storage::{AuditFilter, AuditKind, Store, VerifyReport};
use slack_support::*;

fn app(running: &crmbot::server::Running) -> &crmbot::slack::SlackApp {
    &running.app
}

fn reeds(bot: &Bot) -> usize {
    bot.sandbox
        .records("Lead")
        .iter()
        .filter(|r| r.get("LastName") == Some(&json!("Reed")))
        .count()
}

/// A second `crmbot serve` on the bot's configuration (so on the same PostgreSQL, fake
/// Slack and sandbox).
async fn second_replica(bot: &Bot) -> crmbot::server::Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    crmbot::server::start(&bot.config, listener)
        .await
        .expect("the second replica starts")
}

/// Posts `body`, signed as Slack signs it, to `path` of the replica at `addr`.
async fn post_at(
    bot: &Bot,
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    body: String,
) -> u16 {
    let ts = now_ts();
    bot.http
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sign(SECRET, &ts, &body))
        .body(body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

async fn interact_at(bot: &Bot, addr: std::net::SocketAddr, payload: &Value) -> u16 {
    let body = form_payload(payload);
    post_at(
        bot,
        addr,
        "/slack/interactivity",
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

async fn event_at(bot: &Bot, addr: std::net::SocketAddr, envelope: &Value) -> u16 {
    post_at(
        bot,
        addr,
        "/slack/events",
        "application/json",
        envelope.to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_approves_across_two_replicas_write_once() {
    let Some(url) = pg_support::fresh_database("twenty_approves_across_two_replicas_write_once")
    else {
        return;
    };
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| c.store.database_url = Some(url.clone())).await;
    let other = second_replica(&bot).await;
    let (id, ts, _) = bot.log(&notes).await;
    let block = bot
        .card_buttons_block(&ts)
        .unwrap_or_else(|| format!("pa:{id}"));
    let addrs = [bot.running.as_ref().unwrap().addr, other.addr];
    let clicks = (0..20).map(|i| {
        let action = json!({"type": "button", "action_id": "crm_approve", "block_id": block,
                            "text": {"type": "plain_text", "text": "x"}, "value": id,
                            "action_ts": "1700000001.000200"});
        let payload = bot.block_actions_payload("T1", REQUESTER, &ts, action);
        let (bot, addr) = (&bot, addrs[i % 2]);
        async move { interact_at(bot, addr, &payload).await }
    });
    let statuses = futures::future::join_all(clicks).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    wait_for_update(&bot, "the done card", "Written to Salesforce").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bot.composite_writes(),
        1,
        "one Salesforce write for 20 clicks"
    );
    assert_eq!(reeds(&bot), 1);
    let audit = &app(&other).store.audit;
    let written = audit
        .for_action(&id)
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == AuditKind::Written)
        .count();
    assert_eq!(written, 1);
    assert!(matches!(
        audit.verify().unwrap(),
        VerifyReport::Intact { .. }
    ));
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_delivered_to_both_replicas_is_handled_once() {
    let Some(url) =
        pg_support::fresh_database("an_event_delivered_to_both_replicas_is_handled_once")
    else {
        return;
    };
    let (_, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| c.store.database_url = Some(url.clone())).await;
    let other = second_replica(&bot).await;
    let mention = |event_id: &str| {
        json!({"type": "event_callback", "event_id": event_id, "team_id": "T1", "api_app_id": "A1",
               "event_time": 1700000000,
               "event": {"type": "app_mention", "user": REQUESTER, "channel": CHANNEL,
                         "text": format!("<@{BOT_USER}> how many open deals?"),
                         "ts": "1700000000.000100", "event_ts": "1700000000.000100"}})
    };
    let model_calls = || bot.model.requests.lock().unwrap().len();
    let settled = || async {
        let mut last = usize::MAX;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = model_calls();
            if now == last && now > 0 {
                return now;
            }
            last = now;
        }
        last
    };
    let first = bot.running.as_ref().unwrap().addr;
    assert_eq!(event_at(&bot, first, &mention("EvOnce")).await, 200);
    let after_one = settled().await;
    assert!(after_one > 0, "the event was handled");
    assert_eq!(event_at(&bot, other.addr, &mention("EvOnce")).await, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(model_calls(), after_one, "the other replica left it alone");
    // A new event at the other replica is handled there.
    assert_eq!(event_at(&bot, other.addr, &mention("EvTwice")).await, 200);
    assert!(settled().await > after_one);
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_drafts_and_the_audit_chain_from_sled() {
    let Some(url) =
        pg_support::fresh_database("migrate_copies_drafts_and_the_audit_chain_from_sled")
    else {
        return;
    };
    let (notes, reply) = fixture_draft("seed-lead");
    let mut bot = Bot::start(&reply).await;
    let (id, _, _) = bot.log(&notes).await;
    let sled_audit = app(bot.running.as_ref().unwrap())
        .store
        .audit
        .list(&AuditFilter::default())
        .unwrap();
    assert!(sled_audit.len() >= 2, "a prompt and a draft");
    bot.running.take().unwrap().shutdown().await;
    let migrate = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"));
        cmd.args(["migrate", "--from", "sled", "--data-dir"])
            .arg(&bot.config.data_dir)
            .args(extra)
            .env(
                "CRMBOT_DATABASE_URL",
                secrecy::ExposeSecret::expose_secret(&url),
            )
            .env_remove("CRMBOT_AUDIT_KEY");
        cmd.output().expect("crmbot migrate runs")
    };
    let out = migrate(&[]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("copied 1 draft(s)"), "{said}");
    let pg = tokio::task::spawn_blocking({
        let url = url.clone();
        move || Store::postgres(&url, None).expect("open")
    })
    .await
    .unwrap();
    let copied = pg.audit.list(&AuditFilter::default()).unwrap();
    assert_eq!(copied, sled_audit, "the same chain, record for record");
    assert_eq!(
        pg.audit.verify().unwrap(),
        VerifyReport::Intact {
            records: sled_audit.len() as u64
        }
    );
    let sha = copied
        .iter()
        .find(|r| r.entry.kind == AuditKind::Prompt)
        .and_then(|r| r.entry.detail["sha256"].as_str().map(str::to_string))
        .expect("a prompt");
    assert!(pg.audit.prompt_text(&sha).unwrap().is_some());
    let actions = pg
        .indexed_records::<Value>("actions", |_| true, |_| 0)
        .unwrap();
    assert_eq!(actions.get(&id).unwrap().unwrap()["id"], json!(id));
    // Run again: nothing doubled.
    let out = migrate(&[]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("copied 0 draft(s)") && said.contains("1 already there"),
        "{said}"
    );
    assert_eq!(pg.audit.len(), sled_audit.len());
}
