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
    let written = bot
        .sandbox
        .records("Lead")
        .into_iter()
        .filter(|l| l.get("LastName") == Some(&serde_json::json!("Reed")))
        .count();
    assert_eq!(written, 1, "the approval was written once");
}
