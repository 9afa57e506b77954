//! The burst benchmark: the real `crmbot serve` (the release binary, a process of its
//! own) against the local Salesforce sandbox, a stub model (an OpenAI-compatible server
//! answering at once) and a fake Slack Web API / response_url, all on 127.0.0.1 and played
//! by this process. Nothing to configure:
//!
//! ```text
//! cargo bench --bench burst                     # the full run (~2 min)
//! BENCH_QUICK=1 cargo bench --bench burst       # short phases, for a quick look
//! ```
//!
//! Knobs (environment): `BENCH_ACK_SECS` (1- and 16-connection phases and the paced one,
//! default 5), `BENCH_BURST_SECS` (the 64-connection burst, default 20), `BENCH_RATE`
//! (requests a second of the paced 64-connection phase, default 2000), `BENCH_DRAFTS`
//! (drafts and approvals of the unloaded phases, default 200), `BENCH_APPROVE_WAIT` and
//! `BENCH_DRAIN_SECS` (most seconds waited for the Approve and for the backlog, 60 each),
//! `BENCH_SERVE_ENV` (more environment for serve, e.g. `"MALLOC_ARENA_MAX=2"`) and
//! `BENCH_CONFIG` (TOML appended to serve's crmbot.toml, e.g. `'[store] cache_mb = 8'` with
//! a newline after the table name), `BENCH_CRMBOT` (another crmbot binary to measure).
//!
//! CPU and RSS are crmbot's process only (from /proc); latencies are measured by the load.

mod bot;
mod fakes;
mod load;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use load::{AckPhase, ack_phase, approve_body, client, command_body, post_signed, wait_until};

const SECRET: &str = "bench-signing-secret";
const CHANNEL: &str = "C0SALES";
/// Approves every card (`slack.approvers`).
const APPROVER: &str = "U0APPROVER";
const NOTES: &str = "We spoke with Daniel Reed from Apex Corp. He wants a demo next week for the enterprise plan. His email is daniel@apex.example.";
/// The draft approved during the backlog: a name of its own, so its write is recognised.
const NOTES_A: &str = "We spoke with Zelda Quinn from Quasar Ltd. She wants a trial next month. Her email is zelda@quasar.example.";

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benchmarks; this one has nothing to list.
        return;
    }
    let q = quick();
    let ack_secs = env_secs("BENCH_ACK_SECS", if q { 2 } else { 5 }) as f64;
    let burst_secs = env_secs("BENCH_BURST_SECS", if q { 5 } else { 20 }) as f64;
    let rate = env_secs("BENCH_RATE", 2_000);
    let drafts = env_secs("BENCH_DRAFTS", if q { 50 } else { 200 });
    let approve_wait = Duration::from_secs(env_secs("BENCH_APPROVE_WAIT", if q { 20 } else { 60 }));
    let drain_wait = Duration::from_secs(env_secs("BENCH_DRAIN_SECS", if q { 20 } else { 60 }));

    // The fakes stand in for other machines (Salesforce, Slack, the model): their thread
    // yields to crmbot's and the load's when the cores are busy, as a remote one would.
    let fakes_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fakes")
        .on_thread_start(|| {
            // SAFETY: changes only this thread's scheduling priority.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
            }
        })
        .enable_all()
        .build()
        .expect("fakes runtime");
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("load runtime");
    let fakes = fakes::start(&fakes_rt);
    let (slack_seen, sf_seen, slack_url) = (
        fakes.slack.clone(),
        fakes.sf.clone(),
        fakes.slack_url.clone(),
    );

    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        data.path().join("crmbot.toml"),
        format!(
            "[slack]\nuser_rate_limit = 0\napprovers = [\"{APPROVER}\"]\n{}\n",
            std::env::var("BENCH_CONFIG").unwrap_or_default()
        ),
    )
    .expect("crmbot.toml");
    let env = [
        ("SLACK_SIGNING_SECRET", SECRET.to_string()),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_string()),
        ("SLACK_API_URL", format!("{slack_url}/api")),
        ("SALESFORCE_INSTANCE_URL", fakes.sandbox.base_url()),
        (
            "SALESFORCE_ACCESS_TOKEN",
            crmbot::sandbox::DEFAULT_TOKEN.to_string(),
        ),
        ("LLM_PROVIDER", "openai".to_string()),
        ("LLM_BASE_URL", fakes.model_url.clone()),
        ("LLM_API_KEY", "sk-bench".to_string()),
        ("LLM_MODEL", "stub".to_string()),
        (
            "CRMBOT_DATA_DIR",
            data.path().join("db").display().to_string(),
        ),
    ];
    let (bot, start_time) = bot::Bot::start(data.path(), &env);
    let start_secs = start_time.as_secs_f64();
    let base = bot.base.clone();
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = bot.rss_mb();
    let anon_idle = bot.anon_mb();

    // Unloaded drafts: `drafts` of them on 4 connections, each waited for.
    let cards = |s: &fakes::SlackSeen| s.cards.load(Ordering::Relaxed);
    let sf_before = sf_seen.requests.load(Ordering::Relaxed);
    let cpu0 = bot.cpu_secs();
    let t = Instant::now();
    let cards0 = cards(&slack_seen);
    load.block_on(async {
        let per = drafts.div_ceil(4);
        let tasks: Vec<_> = (0..4)
            .map(|c| {
                let base = base.clone();
                let hook = format!("{slack_url}/hooks/unloaded");
                tokio::spawn(async move {
                    let client = client();
                    for i in 0..per {
                        let body =
                            command_body(&format!("UW{c}{i}"), &format!("log {NOTES}"), &hook);
                        post_signed(&client, &format!("{base}/slack/commands"), body).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    let target = cards0 + drafts.div_ceil(4) * 4;
    load.block_on(wait_until(Duration::from_secs(120), || {
        cards(&slack_seen) >= target
    }));
    let unloaded_secs = t.elapsed().as_secs_f64();
    let drafted = cards(&slack_seen) - cards0;
    let cpu_per_draft_ms = (bot.cpu_secs() - cpu0) * 1000.0 / drafted.max(1) as f64;
    std::thread::sleep(Duration::from_millis(50));
    let sf_per_draft =
        (sf_seen.requests.load(Ordering::Relaxed) - sf_before) as f64 / drafted.max(1) as f64;

    // Approvals: every card just drafted, approved on 8 connections.
    let to_approve: Vec<(String, String)> = {
        let recent = slack_seen.recent.lock().expect("recent");
        recent
            .iter()
            .rev()
            .take(drafted as usize)
            .cloned()
            .collect()
    };
    let writes0 = sf_seen.writes.load(Ordering::Relaxed);
    let sf_before = sf_seen.requests.load(Ordering::Relaxed);
    let t = Instant::now();
    load.block_on(async {
        let chunks: Vec<Vec<(String, String)>> = to_approve
            .chunks(to_approve.len().div_ceil(8).max(1))
            .map(<[_]>::to_vec)
            .collect();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (base, hook) = (base.clone(), format!("{slack_url}/hooks/approve"));
                tokio::spawn(async move {
                    let client = client();
                    for (id, ts) in chunk {
                        let url = format!("{base}/slack/interactivity");
                        post_signed(&client, &url, approve_body(APPROVER, &id, &ts, &hook)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    let approvals = to_approve.len() as u64;
    load.block_on(wait_until(Duration::from_secs(120), || {
        sf_seen.writes.load(Ordering::Relaxed) >= writes0 + approvals
    }));
    let approve_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(50));
    let written = sf_seen.writes.load(Ordering::Relaxed) - writes0;
    let sf_per_approval =
        (sf_seen.requests.load(Ordering::Relaxed) - sf_before) as f64 / written.max(1) as f64;

    // The draft approved during the backlog.
    let before_a = cards(&slack_seen);
    load.block_on(async {
        let body = command_body(
            "UQUINN",
            &format!("log {NOTES_A}"),
            &format!("{slack_url}/hooks/a"),
        );
        post_signed(&client(), &format!("{base}/slack/commands"), body).await;
    });
    load.block_on(wait_until(Duration::from_secs(30), || {
        cards(&slack_seen) > before_a
    }));
    let card_a = slack_seen
        .recent
        .lock()
        .expect("recent")
        .back()
        .cloned()
        .expect("Quinn's card");

    // Acks at 1 and 16 connections, then the burst at 64.
    let users = 5_000;
    let acks =
        |conns, secs, rate| load.block_on(ack_phase(&base, &slack_url, conns, secs, rate, users));
    let p1 = acks(1, ack_secs, None);
    let p16 = acks(16, ack_secs, None);
    let paced = acks(64, ack_secs, Some(rate));
    let rss_before_burst = bot.rss_mb();
    let anon_before_burst = bot.anon_mb();
    let cards_burst0 = cards(&slack_seen);
    let cpu_burst0 = bot.cpu_secs();
    let burst_started = Instant::now();
    let p64 = acks(64, burst_secs, None);
    let rss_after_burst = bot.rss_mb();
    let anon_after_burst = bot.anon_mb();

    // Approve Quinn's draft now, behind whatever the burst left.
    let clicked = Instant::now();
    load.block_on(async {
        let body = approve_body(
            "UQUINN",
            &card_a.0,
            &card_a.1,
            &format!("{slack_url}/hooks/a"),
        );
        post_signed(&client(), &format!("{base}/slack/interactivity"), body).await;
    });
    let approve_latency = load.block_on(wait_until(approve_wait, || {
        sf_seen.quinn_written.load(Ordering::Relaxed)
    }));
    let _ = clicked;

    // The backlog: cards still coming, for at most `drain_wait`.
    let accepted_total = p1.accepted + p16.accepted + paced.accepted + p64.accepted;
    let expected_cards = cards_burst0 + p64.accepted;
    let drain_started = Instant::now();
    let mut last = (cards(&slack_seen), Instant::now());
    load.block_on(wait_until(drain_wait, || {
        let now = cards(&slack_seen);
        if now != last.0 {
            last = (now, Instant::now());
        }
        now >= expected_cards || last.1.elapsed() > Duration::from_secs(3)
    }));
    let burst_cards = cards(&slack_seen) - cards_burst0;
    let burst_window = burst_started.elapsed().as_secs_f64();
    let burst_cpu_per_draft_ms = (bot.cpu_secs() - cpu_burst0) * 1000.0 / burst_cards.max(1) as f64;
    let still_queued = expected_cards.saturating_sub(cards(&slack_seen));
    std::thread::sleep(Duration::from_secs(1));
    let rss_after_drain = bot.rss_mb();
    let anon_after_drain = bot.anon_mb();
    let _ = drain_started;

    let row = |p: &AckPhase| {
        format!(
            "| acks, {:>2} connection(s){} | {:>7.0} ack/s | p50 {:.2} ms, p99 {:.2} ms | {} accepted, {} busy, {} other |",
            p.conns,
            p.rate
                .map_or_else(String::new, |r| format!(", paced at {r}/s")),
            p.sent as f64 / p.secs,
            p.pct(0.50),
            p.pct(0.99),
            p.accepted,
            p.busy,
            p.other
        )
    };
    println!();
    println!(
        "crmbot burst benchmark ({})",
        if q { "quick" } else { "full" }
    );
    println!();
    println!("| measure | value | detail | |");
    println!("|---|---|---|---|");
    println!("| start-up | {start_secs:.2} s | `crmbot serve` until it listens | |");
    println!(
        "| drafts/s, unloaded | {:.0} | {drafted} drafts on 4 connections in {unloaded_secs:.2} s | |",
        drafted as f64 / unloaded_secs
    );
    println!(
        "| CPU per draft, unloaded | {cpu_per_draft_ms:.2} ms | crmbot's process, its ack included | |"
    );
    println!("| Salesforce requests per draft | {sf_per_draft:.2} | | |");
    println!(
        "| approvals/s | {:.0} | {written} of {approvals} written in {approve_secs:.2} s, 8 connections | |",
        written as f64 / approve_secs
    );
    println!("| Salesforce requests per approval | {sf_per_approval:.2} | | |");
    println!("{}", row(&p1));
    println!("{}", row(&p16));
    println!("{}", row(&paced));
    println!("{} ({burst_secs:.0} s burst)", row(&p64));
    println!(
        "| Approve after the burst, written in | {} | limit {} s | |",
        approve_latency.map_or_else(
            || format!("> {} s (not written)", approve_wait.as_secs()),
            |d| format!("{:.3} s", d.as_secs_f64())
        ),
        approve_wait.as_secs()
    );
    println!(
        "| drafts/s under the burst | {:.0} | {burst_cards} cards in {burst_window:.1} s; {still_queued} accepted drafts still queued at the end | |",
        burst_cards as f64 / burst_window
    );
    println!(
        "| CPU per draft, burst | {burst_cpu_per_draft_ms:.2} ms | crmbot's process, acks included | |"
    );
    println!(
        "| RSS | idle {rss_idle:.1} MB | before burst {rss_before_burst:.1} MB, after {rss_after_burst:.1} MB, after drain window {rss_after_drain:.1} MB | |"
    );
    println!(
        "| RSS, anonymous | idle {anon_idle:.1} MB | before burst {anon_before_burst:.1} MB, after {anon_after_burst:.1} MB, after drain window {anon_after_drain:.1} MB | heap and stacks, without the binary's pages |"
    );
    println!("| accepted /crm log in all ack phases | {accepted_total} | | |");
    println!();
    // Leave at once: crmbot is killed (a backlog may still be queued), the database folder
    // removed, and the fakes' runtimes are not waited for.
    drop(bot);
    let _ = std::fs::remove_dir_all(data.path());
    std::process::exit(0);
}
