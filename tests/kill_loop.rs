//! The kill loop: the real `crmbot serve` binary, killed with SIGKILL at a random moment
//! after an Approve click while the org (the sandbox, in this process) is slow to commit,
//! then started again on the same data dir; Approve is clicked again and the round waits
//! until the write is settled. Every round is a new draft — a deal update or a Task-only
//! draft, each with the meeting Task — and afterwards Salesforce must hold each round's
//! records exactly once: duplicates 0, lost approvals 0. Run with the org's key field and
//! without it. `KILL_LOOP_ROUNDS` (default 30) and `KILL_LOOP_SEED` repeat a run.

mod common;
mod slack_support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crmbot::sandbox::{self, Faults, RunningSandbox, SandboxOptions};
use slack_support::{FakeSlack, SECRET, action_id, card_text, command_body, form_payload, sign};

const USER: &str = "U0REP";
const DEAL: &str = "Globex - Manufacturing Analytics";

/// A model whose reply the test sets before each draft.
#[derive(Clone, Default)]
struct Model(Arc<Mutex<String>>);

async fn reply(State(m): State<Model>, Json(_): Json<Value>) -> Json<Value> {
    let content = m.0.lock().unwrap().clone();
    Json(
        json!({"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}),
    )
}

async fn start_model() -> (Model, String) {
    let model = Model::default();
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(reply))
        .with_state(model.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (model, format!("http://{addr}/v1"))
}

/// The crmbot process and how to reach it.
struct Crmbot {
    child: Option<std::process::Child>,
    port: u16,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    starts: u32,
}

impl Crmbot {
    async fn start(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("serve-{}.log", self.starts))).unwrap();
        // Port 0: crmbot binds a free port itself and logs it (no race for a port).
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
            .arg("serve")
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,crmbot=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("CRMBOT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if let Some(port) = self
                .log()
                .lines()
                .filter(|l| l.contains("crmbot serving Slack"))
                .find_map(|l| l.split("addr=127.0.0.1:").nth(1))
                .and_then(|rest| {
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse::<u16>()
                        .ok()
                })
            {
                self.port = port;
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("crmbot exited ({status}):\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("crmbot did not start:\n{}", self.log());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        self.log_of(self.starts)
    }

    /// The log of the `n`-th start (1-based).
    fn log_of(&self, n: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("serve-{n}.log"))).unwrap_or_default()
    }

    async fn post(&self, path: &str, body: &str) {
        let ts = chrono::Utc::now().timestamp().to_string();
        let _ = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sign(SECRET, &ts, body))
            .body(body.to_string())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }

    async fn approve(&self, slack: &FakeSlack, id: &str, card_ts: &str) {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": USER, "username": "rep", "name": "rep", "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3",
            "team": {"id": "T1", "domain": "acme"},
            "container": {"type": "message", "message_ts": card_ts, "channel_id": "C0SALES"},
            "channel": {"id": "C0SALES", "name": "sales"},
            "response_url": slack.response_url(),
            "actions": [{"type": "button", "action_id": "crm_approve", "block_id": format!("pa:{id}:1"),
                         "value": id, "text": {"type": "plain_text", "text": "Approve"},
                         "action_ts": "1700000001.000200"}]
        });
        self.post("/slack/interactivity", &form_payload(&payload))
            .await;
    }
}

/// What one configuration of the loop came to.
#[derive(Debug, Default)]
struct Tally {
    rounds: u32,
    killed_before_write: u32,
    killed_during_write: u32,
    killed_after_write: u32,
    settled_by_check: u32,
    approved_again: u32,
    duplicates: u32,
    lost: u32,
}

fn count_tasks(sandbox: &RunningSandbox, prefix: &str) -> usize {
    sandbox
        .records("Task")
        .iter()
        .filter(|t| {
            t.get("Subject")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(prefix))
        })
        .count()
}

fn deal_amount(sandbox: &RunningSandbox) -> f64 {
    sandbox
        .records("Opportunity")
        .iter()
        .find(|o| o.get("Name") == Some(&json!(DEAL)))
        .and_then(|o| o.get("Amount").and_then(Value::as_f64))
        .unwrap_or_default()
}

/// The card text last drawn at `ts`.
fn card_now(slack: &FakeSlack, ts: &str) -> String {
    slack
        .calls()
        .iter()
        .rev()
        .find(|c| c.method == "chat.update" && c.body["ts"] == ts)
        .map(|c| card_text(&c.body["blocks"]))
        .unwrap_or_default()
}

async fn kill_loop(keyed: bool) -> Tally {
    let rounds: u32 = std::env::var("KILL_LOOP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("KILL_LOOP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!(
        "kill loop ({}): {rounds} rounds, seed {seed}",
        if keyed {
            "with the key field"
        } else {
            "without the key field"
        }
    );
    let mut rng = StdRng::seed_from_u64(seed);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut options = SandboxOptions {
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25),
        ..SandboxOptions::default()
    };
    if !keyed {
        options.drop_fields = vec!["*.Crmbot_Key__c".into()];
    }
    let sf = sandbox::start(listener, options).await.unwrap();
    let slack = FakeSlack::start().await;
    let (model, model_url) = start_model().await;
    let dir = tempfile::tempdir().unwrap();
    // Salesforce's request time limit, played small: the slowest commit below is 1.5 s.
    std::fs::write(
        dir.path().join("crmbot.toml"),
        "[salesforce]\ntimeout = 1\nwrite_time_limit = 2\nrecheck_interval = 1\n",
    )
    .unwrap();
    let mut bot = Crmbot {
        child: None,
        port: 0,
        env: vec![
            ("SLACK_SIGNING_SECRET".into(), SECRET.into()),
            ("SLACK_BOT_TOKEN".into(), "xoxb-test".into()),
            ("SLACK_API_URL".into(), format!("{}/api", slack.base_url)),
            ("SALESFORCE_INSTANCE_URL".into(), sf.base_url()),
            (
                "SALESFORCE_ACCESS_TOKEN".into(),
                sandbox::DEFAULT_TOKEN.into(),
            ),
            ("LLM_PROVIDER".into(), "openai".into()),
            ("LLM_BASE_URL".into(), model_url),
            ("LLM_API_KEY".into(), "sk-test".into()),
            ("LLM_MODEL".into(), "stub".into()),
            (
                "CRMBOT_DATA_DIR".into(),
                dir.path().join("data").display().to_string(),
            ),
        ],
        dir: dir.path().to_path_buf(),
        starts: 0,
    };
    bot.start().await;
    let mut tally = Tally::default();
    for round in 0..rounds {
        let deal = round % 2 == 0;
        let amount = 1_000 + round;
        let (notes, draft) = if deal {
            (
                format!("Round {round}: {DEAL} is now at {amount} dollars."),
                json!({"records": [{"object": "Opportunity", "lookup": {"Name": DEAL}, "link": null,
                                    "fields": {"Amount": amount}}]}),
            )
        } else {
            (
                format!("Round {round}: send questionnaire round {round} to Tom."),
                json!({"records": [{"object": "Task", "lookup": null, "link": null,
                                    "fields": {"Subject": format!("send questionnaire round {round}")}}]}),
            )
        };
        *model.0.lock().unwrap() = draft.to_string();
        let delay = [200u64, 600, 1_500][rng.random_range(0..3)];
        sf.set_faults(Faults {
            commit_delay: Some(Duration::from_millis(delay)),
            ..Faults::default()
        });

        let posted = slack.calls_to("chat.postMessage").len();
        bot.post(
            "/slack/commands",
            &command_body(USER, &format!("log {notes}"), &slack.response_url()),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let card = loop {
            let cards = slack.calls_to("chat.postMessage");
            if cards.len() > posted {
                break cards.last().unwrap().clone();
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no card\n{}",
                bot.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let id = action_id(&card.body["blocks"]).unwrap_or_else(|| {
            panic!(
                "round {round}: the card has no buttons: {}",
                card_text(&card.body["blocks"])
            )
        });
        let ts = card.ts.clone();

        // Approve, then SIGKILL at a random moment around the write.
        let meeting = format!("Meeting: Round {round}:");
        let before = count_tasks(&sf, &meeting);
        assert_eq!(before, 0);
        bot.approve(&slack, &id, &ts).await;
        let kill_after = rng.random_range(0..delay + 400);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        bot.kill();
        // Where the write was when the process died (the org may still commit it).
        let landed_now = count_tasks(&sf, &meeting) > 0;
        if landed_now {
            tally.killed_after_write += 1;
        } else if kill_after < 50 {
            tally.killed_before_write += 1;
        } else {
            tally.killed_during_write += 1;
        }

        bot.start().await;
        bot.approve(&slack, &id, &ts).await;
        // Wait until the card says written; approve again when it says nothing landed.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut checked = false;
        loop {
            let text = card_now(&slack, &ts);
            if text.contains("Checking whether Salesforce saved") {
                checked = true;
            }
            if text.contains("Written to Salesforce") {
                break;
            }
            if text.contains("no trace of this write")
                || text.contains("Approve again") && !text.contains("Checking")
            {
                tally.approved_again += 1;
                bot.approve(&slack, &id, &ts).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if Instant::now() > deadline {
                tally.lost += 1;
                println!(
                    "round {round}: never settled; card: {text}\n--- the killed process:\n{}\n--- the restarted one:\n{}",
                    bot.log_of(bot.starts - 1),
                    bot.log()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if checked {
            tally.settled_by_check += 1;
        }
        // Give a write still committing in the org time to land before counting.
        tokio::time::sleep(Duration::from_millis(delay + 100)).await;
        let meetings = count_tasks(&sf, &meeting);
        let tasks = if deal {
            1
        } else {
            count_tasks(&sf, &format!("send questionnaire round {round}"))
        };
        let amount_ok = !deal || deal_amount(&sf) == f64::from(amount);
        if meetings > 1 || tasks > 1 {
            tally.duplicates += 1;
            println!("round {round}: written twice ({meetings} meeting tasks, {tasks} tasks)");
        } else if meetings == 0 || tasks == 0 || !amount_ok {
            tally.lost += 1;
            println!(
                "round {round}: lost (meeting tasks {meetings}, tasks {tasks}, amount ok {amount_ok})"
            );
        }
        tally.rounds += 1;
    }
    bot.kill();
    println!(
        "| key field | rounds | killed before / during / after the write | settled by a check | approved again | duplicates | lost approvals |\n|---|---|---|---|---|---|---|\n| {} | {} | {} / {} / {} | {} | {} | {} | {} |",
        if keyed { "yes" } else { "no" },
        tally.rounds,
        tally.killed_before_write,
        tally.killed_during_write,
        tally.killed_after_write,
        tally.settled_by_check,
        tally.approved_again,
        tally.duplicates,
        tally.lost
    );
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_loop_with_the_key_field_writes_every_approval_once() {
    let t = kill_loop(true).await;
    assert_eq!((t.duplicates, t.lost), (0, 0), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_loop_without_the_key_field_writes_every_approval_once() {
    let t = kill_loop(false).await;
    assert_eq!((t.duplicates, t.lost), (0, 0), "{t:?}");
}
