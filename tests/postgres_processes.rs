//! Two replicas as two real `crmbot serve` processes on one PostgreSQL database, with one
//! fake Slack, one stub model and one Salesforce sandbox in this test process: 20 Approve
//! clicks split across both write once; one Slack event delivered to both is handled once;
//! a replica SIGKILLed in the middle of a write leaves it to the other, which settles it by
//! looking in Salesforce, never by writing again. Skipped (with a "SKIPPED" line) when no
//! PostgreSQL is available, unless `CRMBOT_REQUIRE_POSTGRES=1`.

mod common;
mod pg_support;
mod slack_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use common::{StubModel, fixture_draft, start_stub_model};
use crmbot::flow::storage::{AuditKind, Store};
use crmbot::sandbox::{self, Faults, RunningSandbox, SandboxOptions};
use slack_support::{
    BOT_USER, CHANNEL, FakeSlack, REQUESTER, SECRET, action_id, card_text, command_body,
    form_payload, sign,
};

/// Salesforce's request timeout, Slack's, and the recheck tick, small: a write's budget is
/// then 2×3 + 2×1 + 10 = 18 s, and a replica takes the timers over 5 s after their holder
/// stopped renewing them.
const SETTINGS: &str = "[salesforce]\ntimeout = 3\nrecheck_interval = 1\n\n[slack]\ntimeout = 1\n";

/// One `crmbot serve` process. Killed when dropped, so a failed test leaves none behind.
struct Replica {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Replica {
    async fn start(name: &'static str, world: &World) -> Replica {
        let dir = world.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("crmbot.toml"), SETTINGS).unwrap();
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crmbot"))
            .arg("serve")
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,crmbot=debug")
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("SLACK_BOT_TOKEN", "xoxb-test")
            .env("SLACK_API_URL", format!("{}/api", world.slack.base_url))
            .env("SALESFORCE_INSTANCE_URL", world.sf.base_url())
            .env("SALESFORCE_ACCESS_TOKEN", sandbox::DEFAULT_TOKEN)
            .env("LLM_PROVIDER", "openai")
            .env("LLM_BASE_URL", &world.model.base_url)
            .env("LLM_API_KEY", "sk-test")
            .env("LLM_MODEL", "stub")
            .env("CRMBOT_DATA_DIR", dir.join("data"))
            .env("CRMBOT_DATABASE_URL", world.db.expose_secret())
            // Port 0: the process binds a free port and logs it.
            .env("CRMBOT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut replica = Replica {
            child: Some(child),
            port: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = serving_port(&replica.log()) {
                replica.port = port;
                return replica;
            }
            if let Some(status) = replica.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{name} exited ({status}):\n{}", replica.log());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not start:\n{}",
                replica.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no lease given up, nothing finished.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Posts `body` to `path`, signed as Slack signs it; the HTTP status.
    async fn post(&self, path: &str, content_type: &str, body: &str) -> u16 {
        let ts = chrono::Utc::now().timestamp().to_string();
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sign(SECRET, &ts, body))
            .body(body.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn approve(&self, world: &World, card: &Card) -> u16 {
        let action = json!({"type": "button", "action_id": "crm_approve", "block_id": card.block,
                            "text": {"type": "plain_text", "text": "Approve"}, "value": card.id,
                            "action_ts": "1700000001.000200"});
        let payload = json!({
            "type": "block_actions",
            "user": {"id": REQUESTER, "username": "rep", "name": "rep", "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3",
            "team": {"id": "T1", "domain": "acme"},
            "container": {"type": "message", "message_ts": card.ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL, "name": "sales"},
            "response_url": world.slack.response_url(),
            "actions": [action]
        });
        self.post(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &form_payload(&payload),
        )
        .await
    }

    async fn event(&self, envelope: &Value) -> u16 {
        self.post("/slack/events", "application/json", &envelope.to_string())
            .await
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port a replica's log says it serves on.
fn serving_port(log: &str) -> Option<u16> {
    log.lines()
        .filter(|l| l.contains("crmbot serving Slack"))
        .find_map(|l| l.split("addr=127.0.0.1:").nth(1))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
}

/// What both replicas share.
struct World {
    db: SecretString,
    sf: RunningSandbox,
    slack: FakeSlack,
    model: StubModel,
    notes: String,
    dir: tempfile::TempDir,
}

impl World {
    /// `None` when there is no PostgreSQL (the test is skipped).
    async fn start(test: &str) -> Option<World> {
        let db = pg_support::fresh_database(test)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = SandboxOptions {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25),
            ..SandboxOptions::default()
        };
        let sf = sandbox::start(listener, options).await.unwrap();
        let (notes, reply) = fixture_draft("seed-lead");
        Some(World {
            db,
            sf,
            slack: FakeSlack::start().await,
            model: start_stub_model(&reply).await,
            notes,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// `/crm log` at `replica`, and the card it posts.
    async fn log(&self, replica: &Replica) -> Card {
        let before = self.slack.calls_to("chat.postMessage").len();
        let body = command_body(
            REQUESTER,
            &format!("log {}", self.notes),
            &self.slack.response_url(),
        );
        let status = replica
            .post(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                &body,
            )
            .await;
        assert_eq!(status, 200);
        let card = wait(Duration::from_secs(20), "the card", || {
            self.slack.calls_to("chat.postMessage").get(before).cloned()
        })
        .await;
        let blocks = &card.body["blocks"];
        let id = action_id(blocks)
            .unwrap_or_else(|| panic!("the card has no buttons: {}", card_text(blocks)));
        let block = blocks
            .as_array()
            .and_then(|b| {
                b.iter().find_map(|b| {
                    let id = b["block_id"].as_str()?;
                    (b["type"] == "actions" && id.starts_with("pa:")).then(|| id.to_string())
                })
            })
            .unwrap_or_else(|| format!("pa:{id}:1"));
        Card {
            id,
            ts: card.ts,
            block,
        }
    }

    /// The card at `ts` as last redrawn.
    fn card_now(&self, ts: &str) -> String {
        self.slack
            .calls()
            .iter()
            .rev()
            .find(|c| c.method == "chat.update" && c.body["ts"] == ts)
            .map(|c| card_text(&c.body["blocks"]))
            .unwrap_or_default()
    }

    /// Leads named Reed in Salesforce (the fixture draft creates one).
    fn reeds(&self) -> usize {
        self.sf
            .records("Lead")
            .iter()
            .filter(|r| r.get("LastName") == Some(&json!("Reed")))
            .count()
    }

    /// Composite requests Salesforce received that write (a composite of queries is a
    /// check, not a write).
    fn writes(&self) -> usize {
        self.sf
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/composite"))
            .filter(|r| {
                r.json().is_some_and(|b| {
                    b["compositeRequest"]
                        .as_array()
                        .is_some_and(|subs| subs.iter().any(|s| s["method"] != "GET"))
                })
            })
            .count()
    }

    /// The database both replicas use, opened from here.
    async fn store(&self) -> Store {
        let url = self.db.clone();
        tokio::task::spawn_blocking(move || Store::postgres(&url, None).expect("open"))
            .await
            .unwrap()
    }

    fn model_calls(&self) -> usize {
        self.model.requests.lock().unwrap().len()
    }
}

struct Card {
    id: String,
    ts: String,
    /// The block id of the card's buttons (it names the revision shown).
    block: String,
}

/// Polls `found` until it gives something, for `limit` at most.
async fn wait<T>(limit: Duration, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stored state of action `id` and how many audit records of each kind it has.
async fn stored(store: &Store, id: &str) -> (String, Vec<AuditKind>) {
    let actions = store
        .indexed_records::<Value>("actions", |_| true, |_| 0)
        .unwrap();
    let state = actions.get(id).unwrap().expect("the action")["state"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kinds = store
        .audit
        .for_action(id)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind)
        .collect();
    (state, kinds)
}

fn count(kinds: &[AuditKind], kind: AuditKind) -> usize {
    kinds.iter().filter(|k| **k == kind).count()
}

/// `crmbot audit list --action <id>` on the shared database: the KIND column, row by row.
fn audit_cli_kinds(world: &World, id: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(["audit", "list", "--action", id])
        .current_dir(world.dir.path())
        .env("CRMBOT_DATABASE_URL", world.db.expose_secret())
        .env("CRMBOT_DATA_DIR", world.dir.path().join("cli-data"))
        .env_remove("CRMBOT_AUDIT_KEY")
        .output()
        .expect("crmbot audit runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SEQ, date, time, KIND, ...
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_approves_split_across_two_processes_write_once() {
    let Some(world) = World::start("twenty_approves_split_across_two_processes_write_once").await
    else {
        return;
    };
    let a = Replica::start("a", &world).await;
    let b = Replica::start("b", &world).await;
    let card = world.log(&a).await;
    let replicas = [&a, &b];
    let clicks = (0..20).map(|i| replicas[i % 2].approve(&world, &card));
    let statuses = futures::future::join_all(clicks).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    wait(Duration::from_secs(30), "the written card", || {
        world
            .card_now(&card.ts)
            .contains("Written to Salesforce")
            .then_some(())
    })
    .await;
    // Let any click still in flight finish before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.writes(), 1, "one Salesforce write for 20 clicks");
    assert_eq!(world.reeds(), 1, "one Lead in Salesforce");
    let (state, kinds) = stored(&world.store().await, &card.id).await;
    assert_eq!(state, "done");
    assert_eq!(count(&kinds, AuditKind::Written), 1, "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_to_both_processes_is_handled_once() {
    let Some(world) = World::start("one_event_delivered_to_both_processes_is_handled_once").await
    else {
        return;
    };
    let a = Replica::start("a", &world).await;
    let b = Replica::start("b", &world).await;
    let mention = |event_id: &str, ts: &str| {
        json!({"type": "event_callback", "event_id": event_id, "team_id": "T1", "api_app_id": "A1",
               "event_time": 1700000000,
               "event": {"type": "app_mention", "user": REQUESTER, "channel": CHANNEL,
                         "text": format!("<@{BOT_USER}> how many open deals?"),
                         "ts": ts, "event_ts": ts}})
    };
    // What crmbot posted in the thread of the message at `ts`.
    let replies = |ts: &str| {
        world
            .slack
            .calls()
            .iter()
            .filter(|c| matches!(c.method.as_str(), "chat.postMessage" | "chat.postEphemeral"))
            .filter(|c| c.body["thread_ts"] == ts)
            .count()
    };
    // Model calls stop changing once the event is handled.
    let (world, a) = (&world, &a);
    let settled = |before: usize| async move {
        let mut last = usize::MAX;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = world.model_calls();
            if now == last && now > before {
                return now;
            }
            last = now;
        }
        panic!("the model calls never settled; replica a:\n{}", a.log());
    };

    // The same delivery at both processes at once (Slack retried to another replica).
    let twice = mention("EvBoth", "1700000000.000100");
    let (sa, sb) = tokio::join!(a.event(&twice), b.event(&twice));
    assert_eq!((sa, sb), (200, 200));
    let after_both = settled(0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replies_both = replies("1700000000.000100");
    // One new event, delivered once: what handling an event once costs.
    assert_eq!(b.event(&mention("EvOnce", "1700000000.000200")).await, 200);
    let after_once = settled(after_both).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replies_once = replies("1700000000.000200");
    assert!(replies_once >= 1, "the event was answered");
    assert_eq!(
        after_both,
        after_once - after_both,
        "the event delivered twice cost the model what one delivery costs"
    );
    assert_eq!(
        replies_both, replies_once,
        "the event delivered twice was answered once"
    );
    assert_eq!(
        world.model_calls(),
        after_once,
        "nothing else was handled later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_write_leaves_it_to_the_other_which_settles_it_without_writing_again()
{
    let Some(world) = World::start(
        "a_process_killed_mid_write_leaves_it_to_the_other_which_settles_it_without_writing_again",
    )
    .await
    else {
        return;
    };
    // `a` starts first, so it usually holds the timers lease when it dies: `b` takes it over.
    let mut a = Replica::start("a", &world).await;
    let b = Replica::start("b", &world).await;
    let card = world.log(&b).await;
    // The org takes 2 s to commit (crmbot's timeout is 3 s): `a` dies while it waits.
    world.sf.set_faults(Faults {
        commit_delay: Some(Duration::from_secs(2)),
        ..Faults::default()
    });
    // The click answers at once (the write runs in the background); the write request
    // reaches Salesforce moments later.
    assert_eq!(a.approve(&world, &card).await, 200);
    wait(Duration::from_secs(20), "the write request", || {
        (world.writes() == 1).then_some(())
    })
    .await;
    a.kill();
    let killed_log = a.log();
    assert!(
        !killed_log.contains("write finished"),
        "`a` died before Salesforce answered:\n{killed_log}"
    );
    // The org still commits; `b` takes the write over once its budget (18 s) is past,
    // looks in Salesforce and finds it.
    let deadline = Duration::from_secs(90);
    wait(deadline, "the card of the write settled by `b`", || {
        world
            .card_now(&card.ts)
            .contains("Written to Salesforce")
            .then_some(())
    })
    .await;
    assert!(
        b.log().contains("took over a write whose process stopped"),
        "{}",
        b.log()
    );
    assert_eq!(world.reeds(), 1, "the Lead is in Salesforce once");
    assert_eq!(world.writes(), 1, "settled by a check, never written again");
    let (state, kinds) = stored(&world.store().await, &card.id).await;
    assert_eq!(state, "done");
    assert_eq!(count(&kinds, AuditKind::WriteUnknown), 1, "{kinds:?}");
    assert_eq!(count(&kinds, AuditKind::Reconciled), 1, "{kinds:?}");
    assert_eq!(count(&kinds, AuditKind::Written), 1, "{kinds:?}");
    // What an admin reads.
    let cli = audit_cli_kinds(&world, &card.id);
    for kind in ["write_unknown", "reconciled", "written"] {
        assert!(
            cli.iter().any(|k| k == kind),
            "`crmbot audit list` shows {kind}: {cli:?}"
        );
    }
}
