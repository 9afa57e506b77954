//! P11 on the card: each proposed value quotes the words of the notes it was found in, and a
//! write can be undone for a while. The real `crmbot serve` against the fake Slack, the stub
//! model and the local Salesforce sandbox; requests signed as Slack signs them.

mod common;
mod slack_support;

use serde_json::{Value, json};

use slack_support::*;

const DEAL: &str = "Apex Corp - Enterprise Expansion";

fn notes() -> String {
    format!(
        "Call with Priya Nair of Apex Corp today. {DEAL} is moving to Proposal, \
         budget of forty thousand dollars a year. She runs IT there."
    )
}

/// An update of the seeded deal (Stage and Amount) and a new Lead; the Lead's email is not in
/// the notes.
fn reply(with_email: bool) -> String {
    let mut lead = json!({"FirstName": "Priya", "LastName": "Nair", "Company": "Apex Corp"});
    if with_email {
        lead["Email"] = json!("priya.nair@apex.example");
    }
    json!({"records": [
        {"object": "Opportunity", "lookup": {"Name": DEAL}, "link": null,
         "fields": {"StageName": "Proposal/Price Quote", "Amount": 40000}},
        {"object": "Lead", "lookup": null, "link": null, "fields": lead}
    ]})
    .to_string()
}

/// (field label, quote) for each quote on the card's evidence lines, unescaped.
fn quotes(blocks: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in card_text(blocks)
        .lines()
        .filter(|l| l.starts_with(":mag: From your notes:"))
    {
        for part in line
            .trim_start_matches(":mag: From your notes:")
            .split(" · ")
        {
            let part = part.trim();
            let (label, rest) = part
                .strip_prefix('*')
                .and_then(|p| p.split_once("* “"))
                .unwrap_or_else(|| panic!("an evidence quote reads *Label* “…”: {part:?}"));
            let quote = rest.strip_suffix('”').expect("closed quote");
            let quote = quote
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            out.push((label.to_string(), quote));
        }
    }
    out
}

#[tokio::test]
async fn evidence_quotes_are_spans_of_the_notes_and_an_ungrounded_value_has_none() {
    let bot = Bot::start(&reply(true)).await;
    let notes = notes();
    let (_, _, blocks) = bot.log(&notes).await;
    let text = card_text(&blocks);
    let quotes = quotes(&blocks);
    let flat = notes.split_whitespace().collect::<Vec<_>>().join(" ");
    for (label, quote) in &quotes {
        assert!(quote.chars().count() <= 60, "{label}: {quote}");
        let inner = quote.trim_matches('…');
        assert!(
            !inner.is_empty() && flat.contains(inner),
            "the {label} quote {quote:?} is not a span of the notes"
        );
    }
    let of = |label: &str| {
        quotes
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, q)| q.clone())
            .unwrap_or_else(|| panic!("no quote for {label}: {quotes:?}\n{text}"))
    };
    assert!(of("Stage").contains("Proposal"), "{}", of("Stage"));
    assert!(
        of("Amount").contains("forty thousand dollars"),
        "an amount in words is quoted as the words: {}",
        of("Amount")
    );
    assert!(of("Last Name").contains("Nair"));
    assert!(of("Company").contains("Apex Corp"));
    // The email the model made up has its mark and no quote.
    assert!(
        !quotes.iter().any(|(l, _)| l == "Email"),
        "an ungrounded value has no quote: {quotes:?}"
    );
    assert!(
        text.contains("Email \"priya.nair@apex.example\" is not an email address in your notes"),
        "{text}"
    );
}

fn deal(bot: &Bot) -> serde_json::Map<String, Value> {
    bot.sandbox
        .records("Opportunity")
        .into_iter()
        .find(|r| r.get("Name") == Some(&json!(DEAL)))
        .expect("the seeded deal")
}

fn leads_named_nair(bot: &Bot) -> usize {
    bot.sandbox
        .records("Lead")
        .into_iter()
        .filter(|r| r.get("LastName") == Some(&json!("Nair")))
        .count()
}

fn meeting_tasks(bot: &Bot, id: &str) -> usize {
    bot.sandbox
        .records("Task")
        .into_iter()
        .filter(|t| t.get("Crmbot_Key__c") == Some(&json!(format!("{id}-m"))))
        .count()
}

/// Logs the notes, approves, and waits for the written card; (action id, card ts, card).
async fn written(bot: &Bot) -> (String, String, Value) {
    let (id, ts, _) = bot.log(&notes()).await;
    assert_eq!(bot.click(REQUESTER, "crm_approve", &id, &ts).await, 200);
    let done = wait_for_update(bot, "the written card", "Created Lead").await;
    assert_eq!(deal(bot)["StageName"], "Proposal/Price Quote");
    assert_eq!(deal(bot)["Amount"].as_f64(), Some(40000.0));
    assert_eq!(leads_named_nair(bot), 1);
    assert_eq!(meeting_tasks(bot, &id), 1);
    (id, ts, done)
}

fn undo_button(blocks: &Value) -> bool {
    blocks.as_array().into_iter().flatten().any(|b| {
        b["elements"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action_id"] == "crm_undo")
    })
}

fn audit_kinds(bot: &Bot, id: &str) -> Vec<String> {
    let store = &bot.running.as_ref().unwrap().app.store;
    store
        .audit
        .for_action(id)
        .unwrap()
        .iter()
        .map(|r| r.entry.kind.as_str().to_string())
        .collect()
}

#[tokio::test]
async fn undo_restores_stage_and_amount_and_deletes_the_lead_in_one_request_once() {
    let bot = Bot::start(&reply(false)).await;
    let (id, ts, done) = written(&bot).await;
    assert!(undo_button(&done["blocks"]), "the written card offers Undo");
    assert!(card_text(&done["blocks"]).contains("Undo is possible until"));

    bot.sandbox.reset_requests();
    let clicks = (0..2).map(|_| bot.click(REQUESTER, "crm_undo", &id, &ts));
    let statuses = futures::future::join_all(clicks).await;
    assert!(statuses.iter().all(|s| *s == 200));
    let undone = wait_for_update(&bot, "the undone card", "Write undone").await;
    bot.wait_ephemeral("already").await;

    // One read, then ONE request that undoes everything.
    let requests = bot.sandbox.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let subs = |i: usize| -> Vec<(String, String)> {
        requests[i].json().unwrap()["compositeRequest"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["method"].as_str().unwrap().to_string(),
                    s["url"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(subs(0).iter().all(|(m, _)| m == "GET"), "{:?}", subs(0));
    let methods: Vec<String> = subs(1).into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        methods,
        ["DELETE", "DELETE", "PATCH"],
        "task, lead, then the deal"
    );
    assert_eq!(requests[1].json().unwrap()["allOrNone"], true);

    let deal = deal(&bot);
    assert_eq!(deal["StageName"], "Qualification");
    assert_eq!(deal["Amount"].as_f64(), Some(20000.0));
    assert_eq!(leads_named_nair(&bot), 0, "the created Lead is deleted");
    assert_eq!(meeting_tasks(&bot, &id), 0, "and the meeting Task");
    assert_eq!(state_of(&bot, &id), "undone");

    let text = card_text(&undone["blocks"]);
    for expected in [
        "Lead",
        "Priya Nair",
        "deleted",
        "Stage back to \"Qualification\"",
        "Amount back to 20,000",
        "Undone by <@U0REQ>",
    ] {
        assert!(text.contains(expected), "card lacks {expected:?}:\n{text}");
    }
    assert!(!undo_button(&undone["blocks"]));
    let kinds = audit_kinds(&bot, &id);
    for k in ["undo_requested", "undone"] {
        assert!(kinds.iter().any(|x| x == k), "audit lacks {k}: {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "undone").count(), 1);

    // `crmbot audit list` shows the undo.
    let mut bot = bot;
    if let Some(running) = bot.running.take() {
        running.shutdown().await;
    }
    let cwd = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crmbot"))
        .args(["audit", "list", "--action", &id])
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRMBOT_DATA_DIR", &bot.config.data_dir)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listed.contains("undo_requested") && listed.contains("Undone: Opportunity"),
        "{listed}"
    );
}

#[tokio::test]
async fn undo_leaves_a_record_changed_since_and_says_so() {
    let bot = Bot::start(&reply(false)).await;
    let (id, ts, _) = written(&bot).await;
    // Someone moves the deal on in Salesforce.
    let deal_id = deal(&bot)["Id"].as_str().unwrap().to_string();
    let changed = bot
        .http
        .patch(format!(
            "{}/services/data/v62.0/sobjects/Opportunity/{deal_id}",
            bot.sandbox.base_url().trim_end_matches('/')
        ))
        .bearer_auth(crmbot::sandbox::DEFAULT_TOKEN)
        .json(&json!({"Amount": 55000}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);

    assert_eq!(bot.click(REQUESTER, "crm_undo", &id, &ts).await, 200);
    let undone = wait_for_update(&bot, "the undone card", "Write undone").await;
    let deal = deal(&bot);
    assert_eq!(deal["Amount"].as_f64(), Some(55000.0), "left alone");
    assert_eq!(
        deal["StageName"], "Proposal/Price Quote",
        "left alone whole"
    );
    assert_eq!(
        leads_named_nair(&bot),
        0,
        "the untouched Lead is still undone"
    );
    let text = card_text(&undone["blocks"]);
    assert!(
        text.contains("Left alone: Opportunity")
            && text.contains("changed in Salesforce since: Amount is now 55,000"),
        "{text}"
    );
}

#[tokio::test]
async fn undo_after_the_window_is_refused_and_changes_nothing() {
    let bot = Bot::start_with(&reply(false), |c| {
        c.policy.undo.window = std::time::Duration::from_secs(1);
    })
    .await;
    let (id, ts, _) = written(&bot).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_undo", &id, &ts).await, 200);
    let refusal = bot.wait_ephemeral("Undo was possible until").await;
    assert!(
        refusal.iter().any(|c| c.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("change the records in Salesforce instead")),
        "{refusal:?}"
    );
    assert_eq!(
        bot.sandbox.request_count(),
        0,
        "nothing asked of Salesforce"
    );
    assert_eq!(leads_named_nair(&bot), 1);
    assert_eq!(state_of(&bot, &id), "done");
}

#[tokio::test]
async fn only_those_the_policy_names_may_undo() {
    let bot = Bot::start(&reply(false)).await;
    let (id, ts, _) = written(&bot).await;
    bot.sandbox.reset_requests();
    assert_eq!(bot.click("U0OTHER", "crm_undo", &id, &ts).await, 200);
    bot.wait_ephemeral("You can't undo this write").await;
    assert_eq!(bot.sandbox.request_count(), 0);
    assert_eq!(state_of(&bot, &id), "done");
}

#[tokio::test]
async fn an_undo_whose_answer_was_lost_is_read_before_anything_is_sent_again() {
    use crmbot::sandbox::{AfterCommit, Faults, LostAnswer};
    let bot = Bot::start(&reply(false)).await;
    let (id, ts, _) = written(&bot).await;
    // The undo commits in Salesforce, and its answer is lost on the way back.
    bot.sandbox.set_faults(Faults {
        after_commit: vec![AfterCommit::writes(
            "/services/data/v62.0/composite",
            1,
            LostAnswer::GatewayTimeout,
        )],
        ..Faults::default()
    });
    assert_eq!(bot.click(REQUESTER, "crm_undo", &id, &ts).await, 200);
    let unknown = wait_for_update(&bot, "the doubtful card", "cannot tell whether").await;
    assert_eq!(state_of(&bot, &id), "undo_unknown");
    assert!(undo_button(&unknown["blocks"]), "Undo again is offered");
    assert_eq!(leads_named_nair(&bot), 0, "Salesforce did undo it");

    // Undo again: crmbot reads first, finds it all undone, and sends nothing more.
    bot.sandbox.set_faults(Faults::default());
    bot.sandbox.reset_requests();
    assert_eq!(bot.click(REQUESTER, "crm_undo", &id, &ts).await, 200);
    let undone = wait_for_update(&bot, "the undone card", "Write undone").await;
    let requests = bot.sandbox.requests();
    assert_eq!(requests.len(), 1, "one read, no second undo: {requests:#?}");
    let text = card_text(&undone["blocks"]);
    assert!(
        text.contains("Stage back to \"Qualification\"") && text.contains("deleted"),
        "{text}"
    );
    assert_eq!(deal(&bot)["Amount"].as_f64(), Some(20000.0));
    assert_eq!(state_of(&bot, &id), "undone");
}
