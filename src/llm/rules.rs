//! The `rules` provider: offline, deterministic drafting with no model at all. It finds what
//! notes usually carry — people (a capitalised name followed by "from", "at", "(", "of" ...),
//! their company, title, email and phone, deals named "Company - Deal", amounts, stage words,
//! and promised follow-ups — and drafts Leads, Opportunity updates and Tasks from them. It
//! never invents a value: every string it returns is copied from the notes (dates and amounts
//! are passed as written, for validation to read). Good for trying crmbot without a key and
//! for tests; a real model drafts better.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::domain::schema::{CrmSchema, ObjectSchema};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("static regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\d[\d ().-]{7,}\d").expect("static regex"));
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{Lu}][\p{L}'’]*[\p{Ll}][\p{L}'’]*").expect("static regex"));
static COMPANY_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:,\s*(?P<title>[^,()]{2,60}?)\s+at\s+|\s+(?:from|at|of|de|with)\s+|\s*\(\s*)(?P<company>[\p{Lu}][\p{L}\d'’.&-]*(?:\s+(?:&|[\p{Lu}][\p{L}\d'’.&-]*))*)")
        .expect("static regex")
});
static DEAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{Lu}][\p{L}\d'’&.]*(?:\s+(?:&|[\p{Lu}][\p{L}\d'’&.]*))*\s+-\s+[\p{Lu}][\p{L}\d'’]*(?:\s+[\p{Lu}][\p{L}\d'’]*)*")
        .expect("static regex")
});
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[$€£]\s?\d[\d,]*(?:\.\d+)?\s?[km]?\b|\b\d[\d,]*(?:\.\d+)?\s?[km]\b)")
        .expect("static regex")
});
static PROMISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:promised to|will send|will share|need to|follow up:?)\s+(?P<what>[^.!?\n]{3,200})")
        .expect("static regex")
});
static NEXT_STEP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bnext step:\s*(?P<what>[^.!?\n]{3,200})").expect("static regex")
});
static DATE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:by|on|before)\s+)?(?P<when>(?:next\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|tomorrow|today|\d{4}-\d{2}-\d{2}|end of (?:the |this |next )?(?:week|month|quarter|year)|in (?:a|one|two|three|four|\d{1,2}) (?:days?|weeks?|months?))\b")
        .expect("static regex")
});
/// Words before a capitalised pair that make it a company, not a person ("at Helios Grid").
const COMPANY_BEFORE: &[&str] = &["at", "from", "of", "de", "von", "di", "du", "for"];

/// Words that start sentences and are never a first name.
const NOT_NAMES: &[&str] = &[
    "We", "He", "She", "They", "I", "Met", "Call", "Called", "Spoke", "Meeting", "Talked", "Quick",
    "Booth", "Both", "Moving", "Next", "Reunión", "Promised", "Sync", "Update", "Demo", "Lunch",
    "Coffee", "Intro", "Follow", "The", "Our", "His", "Her", "Their", "VP", "CEO", "CTO",
];

/// Verbs that may start a sentence before a deal's name.
const VERBS: &[&str] = &[
    "Moving",
    "Moved",
    "Move",
    "Moves",
    "Closing",
    "Closed",
    "Updated",
    "Update",
    "Pushing",
    "Pushed",
    "Marking",
    "Marked",
    "Bad",
    "Good",
    "Great",
    "News",
    "Today",
    "Yesterday",
];

struct Person {
    first: String,
    last: String,
    company: Option<String>,
    title: Option<String>,
    /// Byte range of the mention, to find the email and phone that follow it.
    at: usize,
}

/// Drafts `{"records": [...]}` from the notes for the objects the schema allows.
pub fn draft(notes: &str, schema: &CrmSchema) -> Value {
    let mut records = Vec::new();
    let people = find_people(notes);
    let emails: Vec<(usize, &str)> = EMAIL
        .find_iter(notes)
        .map(|m| (m.start(), m.as_str()))
        .collect();
    let phones: Vec<(usize, &str)> = PHONE
        .find_iter(notes)
        .filter(|m| m.as_str().chars().filter(char::is_ascii_digit).count() >= 8)
        .filter(|m| !looks_like_date(m.as_str()))
        // Bare digits are a number ("Amount to 1000000000"), not a phone.
        .filter(|m| m.as_str().starts_with('+') || m.as_str().contains([' ', '-', '.', '(']))
        .map(|m| (m.start(), m.as_str()))
        .collect();
    let description = first_sentence(notes);

    if let Some(lead) = schema.object("Lead") {
        for (i, p) in people.iter().enumerate() {
            let end = people.get(i + 1).map_or(notes.len(), |n| n.at);
            let email = emails
                .iter()
                .find(|(_, e)| {
                    let local = e.split('@').next().unwrap_or("").to_lowercase();
                    local.contains(&p.first.to_lowercase())
                        || local.contains(&p.last.to_lowercase())
                })
                .or_else(|| emails.iter().find(|(at, _)| *at > p.at && *at < end))
                .map(|(_, e)| *e);
            let phone = phones
                .iter()
                .find(|(at, _)| *at > p.at && *at < end)
                .map(|(_, ph)| *ph);
            let mut fields = Map::new();
            put(lead, &mut fields, "FirstName", Some(&p.first));
            put(lead, &mut fields, "LastName", Some(&p.last));
            put(lead, &mut fields, "Company", p.company.as_deref());
            put(lead, &mut fields, "Title", p.title.as_deref());
            put(lead, &mut fields, "Email", email);
            put(lead, &mut fields, "Phone", phone);
            put(lead, &mut fields, "Description", description.as_deref());
            records
                .push(json!({"object": lead.name, "lookup": null, "link": null, "fields": fields}));
        }
    }

    if let Some(opp) = schema.object("Opportunity")
        && opp.lookup_fields.iter().any(|f| f == "Name")
    {
        // Each named deal takes the stage and amount of its own sentence only.
        for deal in DEAL.find_iter(notes) {
            let sentence = sentence_around(notes, deal.start(), deal.end());
            let rest = sentence.replacen(deal.as_str(), "", 1);
            // "Pilot 2" continues past the match, and a new deal is not an update of an old
            // one: whichever record is meant would be a guess.
            let continues = notes[deal.end()..]
                .trim_start_matches(' ')
                .starts_with(|c: char| c.is_ascii_digit());
            let lower = sentence.to_lowercase();
            if continues
                || ["new deal", "new opportunity", "second", "another"]
                    .iter()
                    .any(|w| lower.contains(w))
            {
                continue;
            }
            // "Moving Apex Corp - Enterprise Expansion": the verb is not part of the name.
            let mut name = deal.as_str().trim();
            while let Some((first, tail)) = name.split_once(' ')
                && (NOT_NAMES.contains(&first) || VERBS.contains(&first))
            {
                name = tail.trim_start();
            }
            let stage = opp.field("StageName").and_then(|f| {
                let lower = rest.to_lowercase();
                let mut values = f.picklist.clone();
                values.sort_by_key(|v| std::cmp::Reverse(v.len()));
                values
                    .into_iter()
                    .find(|v| lower.contains(&v.to_lowercase()))
                    .and_then(|v| copy_of(&rest, &v))
            });
            let amount = AMOUNT.find(&rest).map(|m| m.as_str().trim().to_string());
            let next = NEXT_STEP
                .captures(notes)
                .map(|c| c["what"].trim().to_string());
            if stage.is_none() && amount.is_none() {
                continue;
            }
            let mut fields = Map::new();
            put(opp, &mut fields, "StageName", stage.as_deref());
            put(opp, &mut fields, "Amount", amount.as_deref());
            if DEAL.find_iter(notes).count() == 1 {
                put(opp, &mut fields, "NextStep", next.as_deref());
            }
            records.push(json!({"object": opp.name, "lookup": {"Name": name},
                       "link": null, "fields": fields}));
        }
    }

    if let Some(task) = schema.object("Task")
        && let Some(promise) = PROMISE.captures(notes)
    {
        let what = promise["what"].trim();
        let when = DATE_WORDS.captures(what).map(|c| c["when"].to_string());
        let mut fields = Map::new();
        put(task, &mut fields, "Subject", Some(what));
        put(task, &mut fields, "ActivityDate", when.as_deref());
        records.push(json!({"object": task.name, "lookup": null, "link": null, "fields": fields}));
    }
    json!({ "records": records })
}

/// Sets a field only when the schema allows it and there is a value.
fn put(object: &ObjectSchema, fields: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    if let (Some(field), Some(v)) = (object.field(name), value) {
        fields.insert(field.name.clone(), Value::String(v.trim().to_string()));
    }
}

fn find_people(notes: &str) -> Vec<Person> {
    let words: Vec<regex::Match> = WORD.find_iter(notes).collect();
    let mut people: Vec<Person> = Vec::new();
    let mut i = 0;
    while i + 1 < words.len() {
        let (a, b) = (words[i], words[i + 1]);
        let adjacent = notes[a.end()..b.start()] == *" ";
        if !adjacent || NOT_NAMES.contains(&a.as_str()) || NOT_NAMES.contains(&b.as_str()) {
            i += 1;
            continue;
        }
        // "at Helios Grid" is a company; "Nguyen Thi Lan" has more name words than a first
        // and a last name, and which is which is a guess: no person is drafted.
        let before = notes[..a.start()].trim_end();
        let word_before = before
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("");
        let name_before = i > 0
            && notes[words[i - 1].end()..a.start()] == *" "
            && !NOT_NAMES.contains(&words[i - 1].as_str());
        if COMPANY_BEFORE.contains(&word_before.to_lowercase().as_str())
            && before.ends_with(word_before)
            || name_before
        {
            i += 2;
            continue;
        }
        let rest = &notes[b.end()..];
        let Some(caps) = COMPANY_AFTER.captures(rest) else {
            i += 1;
            continue;
        };
        let company = clean_company(&caps["company"]);
        if company.contains('@') || company == a.as_str() {
            i += 1;
            continue;
        }
        // "Ines Duarte (CFO)": a title where a company would be; the company stays unknown.
        let (company, title) = if crate::domain::validate::looks_like_title(&company) {
            (None, Some(company))
        } else {
            (
                Some(company),
                caps.name("title").map(|t| t.as_str().trim().to_string()),
            )
        };
        if !people
            .iter()
            .any(|p| p.first == a.as_str() && p.last == b.as_str())
        {
            people.push(Person {
                first: a.as_str().to_string(),
                last: b.as_str().to_string(),
                company,
                title,
                at: a.start(),
            });
        }
        i += 2;
    }
    people
}

/// The sentence of the notes holding `start..end`.
fn sentence_around(notes: &str, start: usize, end: usize) -> &str {
    let is_end = |c: char| matches!(c, '.' | '!' | '?' | ';' | '\n');
    let from = notes[..start]
        .char_indices()
        .rev()
        .find(|(i, c)| is_end(*c) && notes[i + c.len_utf8()..].starts_with([' ', '\n']))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let to = notes[end..]
        .char_indices()
        .find(|(i, c)| {
            is_end(*c)
                && notes[end + i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map_or(notes.len(), |(i, _)| end + i);
    &notes[from..to]
}

/// Ends the company at the end of its sentence ("Apex Corp. He wants" -> "Apex Corp") but
/// keeps abbreviations such as "S.L.".
fn clean_company(raw: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for token in raw.split_whitespace() {
        if token.ends_with('.') && token.matches('.').count() == 1 {
            out.push(&token[..token.len() - 1]);
            break;
        }
        out.push(token);
    }
    out.join(" ")
}

fn looks_like_date(text: &str) -> bool {
    let t = text.trim();
    t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes().get(7) == Some(&b'-')
}

/// The first sentence, as written, when it is short enough to be a description.
fn first_sentence(notes: &str) -> Option<String> {
    let end = notes
        .char_indices()
        .find(|(i, c)| {
            matches!(c, '.' | '!' | '?' | '\n')
                && notes[i + c.len_utf8()..].starts_with([' ', '\n'])
        })
        .map_or(notes.len(), |(i, c)| i + c.len_utf8());
    let s = notes[..end].trim();
    (!s.is_empty() && s.chars().count() <= 255).then(|| s.to_string())
}

/// The notes' own spelling of a value found case-insensitively.
fn copy_of(notes: &str, value: &str) -> Option<String> {
    let lower = notes.to_lowercase();
    let at = lower.find(&value.to_lowercase())?;
    notes.get(at..at + value.len()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::{FieldKind, FieldSchema};

    fn f(name: &str, picklist: &[&str]) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            label: name.into(),
            kind: if picklist.is_empty() {
                FieldKind::String
            } else {
                FieldKind::Picklist
            },
            createable: true,
            updateable: true,
            required_on_create: false,
            length: None,
            picklist: picklist.iter().map(|s| s.to_string()).collect(),
            restricted_picklist: true,
            free_text: false,
        }
    }

    fn schema() -> CrmSchema {
        let object = |name: &str, fields: Vec<FieldSchema>, lookup: &[&str]| ObjectSchema {
            name: name.into(),
            label: name.into(),
            key_prefix: None,
            fields,
            lookup_fields: lookup.iter().map(|s| s.to_string()).collect(),
            match_keys: vec![],
            links: vec![],
        };
        let mut s = CrmSchema::default();
        for o in [
            object(
                "Lead",
                [
                    "FirstName",
                    "LastName",
                    "Company",
                    "Title",
                    "Email",
                    "Phone",
                    "Description",
                ]
                .iter()
                .map(|n| f(n, &[]))
                .collect(),
                &["Email"],
            ),
            object(
                "Opportunity",
                vec![
                    f("Name", &[]),
                    f(
                        "StageName",
                        &["Proposal/Price Quote", "Closed Won", "Closed Lost"],
                    ),
                    f("Amount", &[]),
                ],
                &["Name"],
            ),
            object("Task", vec![f("Subject", &[]), f("ActivityDate", &[])], &[]),
        ] {
            s.objects.insert(o.name.clone(), o);
        }
        s
    }

    fn lead(v: &Value, i: usize) -> Map<String, Value> {
        let leads: Vec<&Value> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["object"] == "Lead")
            .collect();
        leads[i]["fields"].as_object().unwrap().clone()
    }

    #[test]
    fn a_person_their_company_and_email() {
        let v = draft(
            "We spoke with Daniel Reed from Apex Corp. He wants a demo next week for the enterprise plan. His email is daniel@apex.example.",
            &schema(),
        );
        let l = lead(&v, 0);
        assert_eq!(l["FirstName"], "Daniel");
        assert_eq!(l["LastName"], "Reed");
        assert_eq!(l["Company"], "Apex Corp");
        assert_eq!(l["Email"], "daniel@apex.example");
        assert_eq!(
            l["Description"],
            "We spoke with Daniel Reed from Apex Corp."
        );
        assert_eq!(v["records"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn two_people_each_with_their_own_contact_details() {
        let v = draft(
            "Booth follow-ups from the fintech expo: Daniel Reed at Apex Corp (daniel@apex.example) and Maya Chen at Northstar Labs, maya.chen@northstar.example, +1 415 555 0142. Both want pricing.",
            &schema(),
        );
        let (a, b) = (lead(&v, 0), lead(&v, 1));
        assert_eq!(
            (
                a["LastName"].as_str(),
                a["Company"].as_str(),
                a["Email"].as_str()
            ),
            (Some("Reed"), Some("Apex Corp"), Some("daniel@apex.example"))
        );
        assert!(a.get("Phone").is_none());
        assert_eq!(
            (b["LastName"].as_str(), b["Company"].as_str()),
            (Some("Chen"), Some("Northstar Labs"))
        );
        assert_eq!(b["Email"], "maya.chen@northstar.example");
        assert_eq!(b["Phone"], "+1 415 555 0142");
    }

    #[test]
    fn titles_apostrophes_and_accents() {
        let v = draft(
            "Call with Priya Natarajan, VP Engineering at Globex (priya@globex.example).",
            &schema(),
        );
        let p = lead(&v, 0);
        assert_eq!(
            (p["Title"].as_str(), p["Company"].as_str()),
            (Some("VP Engineering"), Some("Globex"))
        );
        let v = draft(
            "Spoke to Sean O'Brien at O'Reilly & Sons Ltd about the \"Gold\" support tier.",
            &schema(),
        );
        assert_eq!(lead(&v, 0)["Company"], "O'Reilly & Sons Ltd");
        assert_eq!(lead(&v, 0)["LastName"], "O'Brien");
        let v = draft(
            "Reunión con Lucía Fernández de Hispania Datos S.L. (lucia.fernandez@hispaniadatos.example).",
            &schema(),
        );
        assert_eq!(
            (
                lead(&v, 0)["FirstName"].as_str(),
                lead(&v, 0)["Company"].as_str()
            ),
            (Some("Lucía"), Some("Hispania Datos S.L."))
        );
    }

    #[test]
    fn a_named_deal_with_stage_and_amount_becomes_an_update() {
        let v = draft(
            "Initech signed! Initech - Platform Renewal is closed won at 48k, signed today.",
            &schema(),
        );
        let records = v["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{v}");
        assert_eq!(
            records[0]["lookup"],
            json!({"Name": "Initech - Platform Renewal"})
        );
        assert_eq!(
            records[0]["fields"],
            json!({"StageName": "closed won", "Amount": "48k"})
        );
    }

    #[test]
    fn a_promise_becomes_a_task_with_its_date_phrase() {
        let v = draft("Promised to send the SOC 2 report by Friday.", &schema());
        let task = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["object"] == "Task")
            .unwrap();
        assert_eq!(
            task["fields"],
            json!({"Subject": "send the SOC 2 report by Friday", "ActivityDate": "Friday"})
        );
    }

    #[test]
    fn nothing_to_log_is_an_empty_draft() {
        assert_eq!(
            draft(
                "Quick sync, nothing new, will check in next month.",
                &schema()
            ),
            json!({"records": []})
        );
    }

    #[test]
    fn every_value_it_returns_is_copied_from_the_notes() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/drafts.json"
        ))
        .unwrap();
        let cases: Value = serde_json::from_str(&text).unwrap();
        for case in cases["cases"].as_array().unwrap() {
            let notes = case["note"].as_str().unwrap();
            let v = draft(notes, &schema());
            for r in v["records"].as_array().unwrap() {
                for section in ["fields", "lookup"] {
                    for (name, value) in r[section].as_object().into_iter().flatten() {
                        let s = value.as_str().unwrap();
                        assert!(
                            notes.to_lowercase().contains(&s.to_lowercase()),
                            "{}: {name}={s} is not in the notes",
                            case["id"]
                        );
                    }
                }
            }
        }
    }
}
