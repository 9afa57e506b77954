//! "Log to CRM" on a message and "Log a meeting": signed interaction payloads against the real
//! server, a fake Slack that knows the thread, the stub model and the sandbox.

mod common;
mod slack_support;

use serde_json::{Value, json};

use common::fixture_draft;
use slack_support::*;

const THREAD: &str = "1700000100.000100";

fn message_action(message: Value, response_url: &str) -> Value {
    json!({
        "type": "message_action", "callback_id": "crm_log_message",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": REQUESTER, "name": "req"},
        "channel": {"id": CHANNEL, "name": "sales"},
        "message_ts": message["ts"], "message": message,
        "response_url": response_url, "trigger_id": "111.222.trigger"
    })
}

/// The text of the user turn of each drafting call the model received.
fn drafted_notes(bot: &Bot) -> Vec<String> {
    bot.model
        .requests
        .lock()
        .expect("requests")
        .iter()
        .map(|r| r["messages"].to_string())
        .collect()
}

fn posted_cards(bot: &Bot) -> Vec<Call> {
    bot.slack.calls_to("chat.postMessage")
}

async fn a_card(bot: &Bot) -> Call {
    bot.wait_for("the card", |c| {
        c.iter().any(|c| c.method == "chat.postMessage")
    })
    .await;
    posted_cards(bot).remove(0)
}

#[tokio::test]
async fn log_to_crm_on_a_thread_reply_drafts_from_the_whole_thread_in_one_model_call() {
    let (_, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    bot.slack.set_name("U0DANA", "Dana Lee");
    bot.slack.set_name("U0SAM", "Sam Ortiz");
    bot.slack.set_thread(
        CHANNEL,
        THREAD,
        vec![
            json!({"type": "message", "user": "U0DANA", "ts": THREAD, "reply_count": 3,
                   "text": "We spoke with Daniel Reed from Apex Corp."}),
            json!({"type": "message", "user": "U0SAM", "ts": "1700000100.000200", "thread_ts": THREAD,
                   "text": "He wants a demo next week for the enterprise plan. His email is <mailto:daniel@apex.example|daniel@apex.example>."}),
            json!({"type": "message", "bot_id": "B0BOT", "user": BOT_USER, "ts": "1700000100.000250",
                   "thread_ts": THREAD, "text": "Earlier card from crmbot"}),
            json!({"type": "message", "user": "U0DANA", "ts": "1700000100.000300", "thread_ts": THREAD,
                   "text": "<@U0SAM> thanks, I'll send the deck."}),
        ],
    );
    let clicked = json!({"type": "message", "user": "U0DANA", "ts": "1700000100.000300",
                         "thread_ts": THREAD, "text": "<@U0SAM> thanks, I'll send the deck."});
    let (status, _) = bot
        .interact(&message_action(clicked, &bot.slack.response_url()))
        .await;
    assert_eq!(status, 200);

    let card = a_card(&bot).await;
    assert_eq!(card.body["channel"], CHANNEL);
    assert_eq!(
        card.body["thread_ts"], THREAD,
        "the card sits in the thread"
    );
    let text = card_text(&card.body["blocks"]);
    assert!(
        text.contains(&format!(
            "<https://acme.slack.com/archives/{CHANNEL}/p1700000100000300|this conversation>"
        )),
        "the card links back to the message: {text}"
    );
    assert_eq!(bot.slack.calls_to("conversations.replies").len(), 1);
    let notes = drafted_notes(&bot);
    assert_eq!(notes.len(), 1, "one model call for the whole thread");
    let n = &notes[0];
    for said in [
        "Dana Lee, 2023-11-14 22:15 UTC: We spoke with Daniel Reed from Apex Corp.",
        "Sam Ortiz, 2023-11-14 22:15 UTC: He wants a demo next week for the enterprise plan. His email is daniel@apex.example.",
        "Dana Lee, 2023-11-14 22:15 UTC: @Sam Ortiz thanks",
    ] {
        assert!(n.contains(said), "{said} in {n}");
    }
    assert!(
        !n.contains("Earlier card"),
        "crmbot's own messages are not notes"
    );
    assert!(
        text.contains("Daniel") && text.contains("Reed"),
        "the draft is on the card: {text}"
    );
}

#[tokio::test]
async fn log_to_crm_on_a_lone_message_reads_only_that_message() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let lone =
        json!({"type": "message", "user": "U0DANA", "ts": "1700000200.000100", "text": notes});
    let (status, _) = bot
        .interact(&message_action(lone, &bot.slack.response_url()))
        .await;
    assert_eq!(status, 200);
    let card = a_card(&bot).await;
    assert_eq!(card.body["thread_ts"], "1700000200.000100");
    assert!(bot.slack.calls_to("conversations.replies").is_empty());
    let seen = drafted_notes(&bot);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains(&notes) && !seen[0].contains("UTC:"));
}

#[tokio::test]
async fn a_thread_longer_than_crmbot_reads_is_cut_between_messages_and_the_person_told() {
    let (_, reply) = fixture_draft("seed-lead");
    let bot = Bot::start_with(&reply, |c| c.drafting.max_notes_chars = 300).await;
    let mut messages = vec![json!({"type": "message", "user": "U0DANA", "ts": THREAD,
        "reply_count": 3, "text": "We spoke with Daniel Reed from Apex Corp."})];
    for i in 0..3 {
        messages.push(json!({"type": "message", "user": "U0DANA",
            "ts": format!("1700000100.00030{i}"), "thread_ts": THREAD,
            "text": format!("Follow-up {i}: {}", "more words here ".repeat(5))}));
    }
    bot.slack.set_thread(CHANNEL, THREAD, messages);
    let parent = json!({"type": "message", "user": "U0DANA", "ts": THREAD, "reply_count": 3,
                        "text": "We spoke with Daniel Reed from Apex Corp."});
    bot.interact(&message_action(parent, &bot.slack.response_url()))
        .await;
    a_card(&bot).await;
    let told = nth_response(&bot, 1).await;
    assert!(
        told["text"]
            .as_str()
            .unwrap_or("")
            .contains("the last 2 message(s) were left out"),
        "{told}"
    );
    let seen = drafted_notes(&bot);
    assert!(seen[0].contains("Follow-up 0") && !seen[0].contains("Follow-up 1"));
}

#[tokio::test]
async fn log_a_meeting_opens_a_modal_and_its_notes_become_a_card_where_asked() {
    let (notes, reply) = fixture_draft("seed-lead");
    let bot = Bot::start(&reply).await;
    let shortcut = json!({"type": "shortcut", "callback_id": "crm_log_meeting",
        "team": {"id": "T1", "domain": "acme"}, "user": {"id": REQUESTER},
        "trigger_id": "111.222.trigger"});
    assert_eq!(bot.interact(&shortcut).await.0, 200);
    let opened = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let view = opened
        .iter()
        .find(|c| c.method == "views.open")
        .map(|c| c.body["view"].clone())
        .expect("views.open");
    let view: Value = match view {
        Value::String(s) => serde_json::from_str(&s).expect("view json"),
        v => v,
    };
    assert_eq!(view["callback_id"], "crm_log_meeting");

    let (status, answer) = bot
        .submit(
            REQUESTER,
            &view,
            json!({"notes": {"notes": {"type": "plain_text_input", "value": "   "}},
                   "channel": {"channel": {"type": "conversations_select", "selected_conversation": null}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["notes"].is_string(), "{answer}");
    assert!(posted_cards(&bot).is_empty(), "nothing drafted");

    let (status, answer) = bot
        .submit(
            REQUESTER,
            &view,
            json!({"notes": {"notes": {"type": "plain_text_input", "value": notes}},
                   "channel": {"channel": {"type": "conversations_select", "selected_conversation": "C0OTHER"}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(answer["response_action"], "errors", "{answer}");
    let card = a_card(&bot).await;
    assert_eq!(card.body["channel"], "C0OTHER");
    assert!(
        action_id(&card.body["blocks"]).is_some(),
        "a card to approve"
    );
    assert!(card_text(&card.body["blocks"]).contains("Daniel"));
}
