//! Never a hang: a Slack that stops answering costs at most `slack.timeout` a call, the
//! write it was reporting still completes, and the next `/crm log` is drafted as usual.

mod common;
mod slack_support;

use std::time::Duration;

use common::fixture_draft;
use slack_support::*;

#[tokio::test]
async fn a_hung_chat_update_does_not_stall_approvals_or_new_drafts() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.slack.timeout = Duration::from_secs(1);
        c.slack.workers = 1;
    })
    .await;
    let (id, ts, _) = bot.log(&notes).await;
    // "Writing…" and the done card both hang.
    bot.slack.fail_next("chat.update", "hang");
    bot.slack.fail_next("chat.update", "hang");
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);

    // The one worker is free again within the timeouts: the next log gets its card.
    let before = bot.slack.calls_to("chat.postMessage").len();
    let (status, _) = bot.command(REQUESTER, &format!("log {notes}")).await;
    assert_eq!(status, 200);
    bot.wait_for("the next card", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() > before
    })
    .await;
    // The approval runs in its own lane, beside the draft: its write lands within the
    // hung update's timeout.
    let written = || {
        bot.sandbox
            .records("Lead")
            .into_iter()
            .filter(|l| l.get("LastName") == Some(&serde_json::json!("Reed")))
            .count()
    };
    for _ in 0..100 {
        if written() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(written(), 1, "the approval was written once");
}

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the bot with tight inbound limits.
async fn tight() -> Bot {
    let (_, reply) = fixture_draft("seed-lead");
    Bot::start_with(&reply, |c| {
        c.server.header_timeout = Duration::from_secs(1);
        c.server.request_timeout = Duration::from_secs(1);
        c.server.max_connections = 4;
    })
    .await
}

fn addr(bot: &Bot) -> std::net::SocketAddr {
    bot.running.as_ref().unwrap().addr
}

/// Reads until the peer closes or answers; `None` when it did neither within `limit`.
async fn answer_within(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).to_string()),
        Ok(Err(_)) => Some(String::new()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let bot = tight().await;
    let mut idle = TcpStream::connect(addr(&bot)).await.unwrap();
    let got = answer_within(&mut idle, Duration::from_secs(5)).await;
    assert!(got.is_some(), "the idle connection is still held after 5 s");
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_an_answer_in_time() {
    let bot = tight().await;
    let mut slow = TcpStream::connect(addr(&bot)).await.unwrap();
    slow.write_all(
        b"POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken=abc",
    )
    .await
    .unwrap();
    let got = answer_within(&mut slow, Duration::from_secs(5))
        .await
        .expect("an answer or a close within 5 s");
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
}

#[tokio::test]
async fn idle_connections_beyond_the_bound_are_closed_and_a_real_request_gets_in() {
    let (_, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| {
        c.server.header_timeout = Duration::from_secs(10);
        c.server.max_connections = 4;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(addr(&bot)).await.unwrap());
    }
    let health = tokio::time::timeout(
        Duration::from_secs(3),
        bot.http.get(bot.url("/healthz")).send(),
    )
    .await
    .expect("answered at once although idle connections pile up")
    .unwrap();
    assert_eq!(health.status(), 200);
    // Long before their header timeout, all but the bound's worth were closed.
    let mut closed = 0;
    for stream in &mut idle {
        if answer_within(stream, Duration::from_millis(50))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 36,
        "only {closed} of 40 idle connections were closed"
    );
}

#[tokio::test]
async fn one_person_is_held_to_the_rate_limit_and_told_so() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| c.slack.user_rate_limit = 2).await;
    for _ in 0..2 {
        let (_, answer) = bot.command(REQUESTER, &format!("log {notes}")).await;
        assert!(
            answer["text"].as_str().unwrap().contains("Drafting"),
            "{answer}"
        );
    }
    let (_, answer) = bot.command(REQUESTER, &format!("log {notes}")).await;
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("2 a minute"), "{text}");
    assert!(text.contains("Nothing was stored"), "{text}");
    // Someone else is not held back by it.
    let (_, answer) = bot.command("U0OTHER", "ask open deals?").await;
    assert!(
        answer["text"].as_str().unwrap().contains("Looking"),
        "{answer}"
    );
    bot.wait_for("two cards", |c| {
        c.iter().filter(|c| c.method == "chat.postMessage").count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let drafts = bot
        .model
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.get("response_format").is_some() && r.to_string().contains("crm_draft"))
        .count();
    assert_eq!(drafts, 2, "the third log never reached the model");
}
