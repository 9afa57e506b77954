//! The load: signed Slack requests as Slack sends them, on keep-alive connections, and
//! the phases that measure acks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::{CHANNEL, NOTES, SECRET};

fn sign(ts: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn command_body(user: &str, text: &str, hook: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy")
        .append_pair("team_id", "T1")
        .append_pair("channel_id", CHANNEL)
        .append_pair("user_id", user)
        .append_pair("user_name", "dana")
        .append_pair("command", "/crm")
        .append_pair("text", text)
        .append_pair("api_app_id", "A1")
        .append_pair("response_url", hook)
        .append_pair("trigger_id", "111.222.trigger")
        .finish()
}

pub fn approve_body(user: &str, id: &str, ts: &str, hook: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": false},
        "trigger_id": "111.222.trigger",
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": CHANNEL, "name": "sales"},
        "response_url": hook,
        "actions": [{"type": "button", "action_id": "crm_approve", "block_id": format!("pa:{id}:1"),
                     "text": {"type": "plain_text", "text": "Approve"}, "value": id,
                     "action_ts": "1700000001.000200"}]
    });
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// One keep-alive connection to crmbot.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn post_signed(client: &reqwest::Client, url: &str, body: String) -> (u16, String) {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = sign(&ts, &body);
    match client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// One phase of signed `/crm log` commands on `conns` connections for `secs`.
#[derive(Default)]
pub struct AckPhase {
    pub conns: usize,
    /// Requests a second asked for (paced phases); `None`: each connection sends its next
    /// request as soon as the last is answered.
    pub rate: Option<u64>,
    pub sent: u64,
    pub accepted: u64,
    pub busy: u64,
    pub other: u64,
    pub secs: f64,
    micros: Vec<u32>,
}

impl AckPhase {
    pub fn pct(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let i = ((self.micros.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.micros[i]) / 1000.0
    }
}

/// Acks on `conns` connections for `secs`. Closed (`rate` None): as fast as answered, so
/// the latency is bound below by conns / throughput. Paced: `rate` requests a second in
/// all, each on its schedule, and the latency counted from when it was due (a request
/// held up by a slow one before it counts its wait).
pub async fn ack_phase(
    base: &str,
    hook_base: &str,
    conns: usize,
    secs: f64,
    rate: Option<u64>,
    users: u64,
) -> AckPhase {
    let url = format!("{base}/slack/commands");
    let hook = format!("{hook_base}/hooks/bench");
    // Every connection made (and its client built: rustls set-up costs milliseconds) before
    // the clock starts, or a paced phase would count it against the first requests.
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let c = client();
        let _ = c.get(format!("{base}/healthz")).send().await;
        clients.push(c);
    }
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(secs);
    let counter = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, client)| {
            let (url, hook, counter) = (url.clone(), hook.clone(), counter.clone());
            // Each connection's share of the rate, its first request staggered.
            let every = rate.map(|r| Duration::from_secs_f64(conns as f64 / r.max(1) as f64));
            let first = every.map(|e| started + e.mul_f64(c as f64 / conns as f64));
            tokio::spawn(async move {
                let mut out = AckPhase::default();
                let mut due = first;
                loop {
                    let t = match due {
                        Some(at) => {
                            tokio::time::sleep_until(at.into()).await;
                            at
                        }
                        None => Instant::now(),
                    };
                    if t >= stop {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let user = format!("U{:05}", n % users);
                    let body = command_body(&user, &format!("log {NOTES}"), &hook);
                    let (status, text) = post_signed(&client, &url, body).await;
                    out.micros
                        .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    out.sent += 1;
                    if status == 200
                        && (text.contains("Drafting") || text.contains("Queued behind"))
                    {
                        out.accepted += 1;
                    } else if status == 200 && text.contains("busy") {
                        out.busy += 1;
                    } else {
                        out.other += 1;
                    }
                    due = due.zip(every).map(|(d, e)| d + e);
                }
                out
            })
        })
        .collect();
    let mut phase = AckPhase {
        conns,
        rate,
        ..AckPhase::default()
    };
    for t in tasks {
        let part = t.await.expect("load task");
        phase.sent += part.sent;
        phase.accepted += part.accepted;
        phase.busy += part.busy;
        phase.other += part.other;
        phase.micros.extend(part.micros);
    }
    phase.secs = started.elapsed().as_secs_f64();
    phase.micros.sort_unstable();
    phase
}

pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done().then(|| started.elapsed())
}
