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
