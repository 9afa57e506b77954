//! The offline `rules` provider's planner: a few keywords turned into a plan, so the demo
//! and a team without a model key can still ask simple questions ("open deals at Apex
//! Corp?", "leads from trade shows this month?"). It accounts for every word: a word it
//! cannot turn into a condition (and that is not a filler such as "show me") goes into the
//! plan's `unread` list, and the question is refused naming those words — never answered
//! as if the condition were not there. The plan goes through the same validation as a
//! model's.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::domain::plan::{QueryObject, QuerySchema};

/// (keyword, object) in the order they are tried.
const OBJECTS: &[(&str, &str)] = &[
    ("lead", "Lead"),
    ("contact", "Contact"),
    ("people", "Contact"),
    ("deal", "Opportunity"),
    ("opportunit", "Opportunity"),
    ("pipeline", "Opportunity"),
    ("task", "Task"),
    ("follow-up", "Task"),
    ("account", "Account"),
    ("compan", "Account"),
    ("customer", "Account"),
];

/// Words that carry no condition.
const FILLERS: &[&str] = &[
    "a",
    "all",
    "an",
    "and",
    "any",
    "anything",
    "are",
    "at",
    "can",
    "could",
    "currently",
    "did",
    "do",
    "does",
    "every",
    "find",
    "for",
    "from",
    "get",
    "give",
    "got",
    "had",
    "has",
    "have",
    "how",
    "i",
    "in",
    "is",
    "it",
    "just",
    "let",
    "likely",
    "list",
    "many",
    "me",
    "named",
    "called",
    "now",
    "of",
    "on",
    "our",
    "please",
    "records",
    "right",
    "see",
    "show",
    "some",
    "that",
    "the",
    "their",
    "them",
    "there",
    "these",
    "those",
    "to",
    "us",
    "was",
    "we",
    "were",
    "what",
    "what's",
    "whats",
    "which",
    "who",
    "with",
    "would",
    "you",
    "tell",
    "about",
    "know",
    "currently",
    "still",
    "exist",
    "existing",
    "ones",
    "one",
    "s",
    "there's",
    "by",
    "be",
    "been",
    "being",
    "total",
];

/// Words before a company or person name ("deals at Apex Corp", "does Globex have").
const NAME_BEFORE: &[&str] = &[
    "at", "for", "from", "with", "of", "named", "called", "about", "does", "did", "has", "on",
];

static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{L}\p{N}$][\p{L}\p{N}'’&./$,:-]*").expect("static regex"));
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(over|above|more than|greater than|at least|under|below|less than)\s*\$?\s*([0-9][0-9,.]*)\s*(k|m|thousand|million)?\b")
        .expect("static regex")
});
static LAST_N_DAYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:in\s+)?(?:the\s+)?(last|past|next)\s+(\d{1,3})\s+days\b")
        .expect("static regex")
});

/// A word of the question and whether a rule used it.
struct Token {
    start: usize,
    end: usize,
    text: String,
    used: bool,
}

struct Reader<'q> {
    question: &'q str,
    lower: String,
    tokens: Vec<Token>,
}

impl<'q> Reader<'q> {
    fn new(question: &'q str) -> Self {
        let tokens = WORD
            .find_iter(question)
            .map(|m| {
                let text = m.as_str().trim_end_matches(['.', ',', ':', '?', '!']);
                Token {
                    start: m.start(),
                    end: m.start() + text.len(),
                    text: text.to_string(),
                    used: false,
                }
            })
            .filter(|t| !t.text.is_empty())
            .collect();
        Reader {
            question,
            lower: question.to_lowercase(),
            tokens,
        }
    }

    /// Marks the words inside `start..end` as used.
    fn use_span(&mut self, start: usize, end: usize) {
        for t in &mut self.tokens {
            if t.start < end && t.end > start {
                t.used = true;
            }
        }
    }

    /// Finds `phrase` as whole words (case-insensitive; a plural "s" allowed), marks it used.
    fn take(&mut self, phrase: &str) -> bool {
        let lower_phrase = phrase.to_lowercase();
        let mut from = 0;
        while let Some(at) = self.lower[from..].find(&lower_phrase) {
            let start = from + at;
            let mut end = start + lower_phrase.len();
            let before_ok = !self.lower[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            if self.lower[end..].starts_with('s') {
                end += 1;
            }
            let after_ok = !self.lower[end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
            let free = !self
                .tokens
                .iter()
                .any(|t| t.used && t.start < end && t.end > start);
            if before_ok && after_ok && free && self.lower.is_char_boundary(end) {
                self.use_span(start, end);
                return true;
            }
            from = start + lower_phrase.len().max(1);
            if from >= self.lower.len() {
                break;
            }
        }
        false
    }

    /// The words no rule used and that carry meaning, as phrases: each run of unused words,
    /// trimmed of fillers at both ends, as written in the question.
    fn unread(&self) -> Vec<String> {
        let mut phrases = Vec::new();
        let mut run: Option<(usize, usize)> = None;
        let meaningful = |t: &Token| !FILLERS.contains(&t.text.to_lowercase().as_str());
        for t in self.tokens.iter().chain(std::iter::once(&Token {
            start: self.question.len(),
            end: self.question.len(),
            text: String::new(),
            used: true,
        })) {
            if t.used {
                if let Some((a, b)) = run.take() {
                    phrases.push(self.question[a..b].to_string());
                }
            } else if meaningful(t) {
                run = Some(run.map_or((t.start, t.end), |(a, _)| (a, t.end)));
            }
        }
        phrases
    }
}

/// A plan for `question`, or `{"intent": "offline"}` when no object is named.
pub fn plan(question: &str, schema: &QuerySchema) -> Value {
    let mut r = Reader::new(question);
    let mut object = None;
    for i in 0..r.tokens.len() {
        let lower = r.tokens[i].text.to_lowercase();
        if let Some((_, o)) = OBJECTS
            .iter()
            .find(|(k, o)| lower.starts_with(k) && schema.objects.contains_key(*o))
        {
            object.get_or_insert(*o);
            if object == Some(*o) {
                r.tokens[i].used = true;
            }
        }
    }
    let Some(object) = object else {
        return json!({"intent": "offline"});
    };
    let Some(o) = schema.objects.get(object) else {
        return json!({"intent": "offline"});
    };
    let has = |f: &str| o.fields.iter().any(|x| x.path == f && x.filterable);
    let mut filters = Vec::new();

    if (object == "Opportunity" || object == "Task") && r.take("open") && has("IsClosed") {
        filters.push(json!({"field": "IsClosed", "op": "eq", "value": false}));
    }
    if object == "Opportunity" && has("IsWon") {
        if r.take("won") {
            filters.push(json!({"field": "IsWon", "op": "eq", "value": true}));
        } else if r.take("lost") {
            filters.push(json!({"field": "IsClosed", "op": "eq", "value": true}));
            filters.push(json!({"field": "IsWon", "op": "eq", "value": false}));
        }
    }
    if (r.take("my") || r.take("mine")) && has("OwnerId") {
        filters.push(json!({"field": "OwnerId", "op": "eq", "value": "$me"}));
    }
    picklists(&mut r, o, &mut filters);
    amounts(&mut r, object, &has, &mut filters);
    periods(&mut r, object, &has, &mut filters);
    if let Some((name, field)) = name_filter(&mut r, object)
        && has(field)
    {
        filters.push(json!({"field": field, "op": "like", "value": name}));
    }

    let wanted: &[&str] = match object {
        "Opportunity" => &[
            "Id",
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "Account.Name",
        ],
        "Lead" => &["Id", "Name", "Company", "Status", "Email"],
        "Contact" => &["Id", "Name", "Title", "Email", "Account.Name"],
        "Task" => &["Id", "Subject", "Status", "ActivityDate"],
        _ => &["Id", "Name", "Industry", "Type"],
    };
    let fields: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|f| o.fields.iter().any(|x| x.path == *f))
        .collect();
    let sort = if object == "Opportunity" && has("CloseDate") {
        json!([{"field": "CloseDate", "direction": "asc"}])
    } else {
        json!([])
    };
    json!({"intent": "query", "object": object, "fields": fields, "filters": filters,
           "sort": sort, "unread": r.unread()})
}

/// A picklist value named in the question ("in Negotiation/Review", "from trade shows").
fn picklists(r: &mut Reader<'_>, object: &QueryObject, filters: &mut Vec<Value>) {
    let mut candidates: Vec<(&str, &str)> = object
        .fields
        .iter()
        .filter(|f| f.filterable && f.kind.is_picklist())
        .flat_map(|f| {
            f.picklist
                .iter()
                .map(move |v| (f.path.as_str(), v.as_str()))
        })
        .collect();
    // The longest value first: "Closed Won" before "Won".
    candidates.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut seen: Vec<&str> = Vec::new();
    for (field, value) in candidates {
        if seen.contains(&field) || value.len() < 3 {
            continue;
        }
        if r.take(value) {
            seen.push(field);
            filters.push(json!({"field": field, "op": "eq", "value": value}));
            // "in the Technology industry", "with status Working - Contacted".
            for w in object
                .fields
                .iter()
                .filter(|f| f.path == field)
                .flat_map(|f| f.label.split_whitespace().map(str::to_lowercase))
                .chain([field.to_lowercase()])
            {
                r.take(&w);
            }
        }
    }
}

fn amounts(r: &mut Reader<'_>, object: &str, has: &dyn Fn(&str) -> bool, filters: &mut Vec<Value>) {
    if object != "Opportunity" || !has("Amount") {
        return;
    }
    let found: Vec<(usize, usize, &'static str, f64)> = AMOUNT
        .captures_iter(r.question)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let n: f64 = c
                .get(2)?
                .as_str()
                .trim_end_matches(['.', ','])
                .replace(',', "")
                .parse()
                .ok()?;
            let n = match c.get(3).map(|m| m.as_str().to_lowercase()) {
                Some(s) if s == "k" || s == "thousand" => n * 1_000.0,
                Some(s) if s == "m" || s == "million" => n * 1_000_000.0,
                _ => n,
            };
            let op = match c.get(1)?.as_str().to_lowercase().as_str() {
                "under" | "below" | "less than" => "lt",
                "at least" => "gte",
                _ => "gt",
            };
            Some((whole.start(), whole.end(), op, n))
        })
        .collect();
    for (start, end, op, n) in found {
        r.use_span(start, end);
        filters.push(json!({"field": "Amount", "op": op, "value": n}));
    }
}

fn periods(r: &mut Reader<'_>, object: &str, has: &dyn Fn(&str) -> bool, filters: &mut Vec<Value>) {
    let created = r.take("created") || r.take("came in") || r.take("new");
    let field = match object {
        "Opportunity" if !created => "CloseDate",
        "Task" => "ActivityDate",
        _ => "CreatedDate",
    };
    if field == "CloseDate" {
        for w in ["closing", "close", "closes", "due"] {
            r.take(w);
        }
    }
    if field == "ActivityDate" {
        r.take("due");
    }
    let mut literal: Option<String> = None;
    if let Some(c) = LAST_N_DAYS.captures(r.question)
        && let (Some(whole), Some(dir), Some(n)) = (c.get(0), c.get(1), c.get(2))
    {
        let (start, end) = (whole.start(), whole.end());
        let prefix = if dir.as_str().eq_ignore_ascii_case("next") {
            "NEXT"
        } else {
            "LAST"
        };
        literal = Some(format!("{prefix}_N_DAYS:{}", n.as_str()));
        r.use_span(start, end);
    }
    if literal.is_none() {
        for (phrase, lit) in [
            ("this month", "THIS_MONTH"),
            ("next month", "NEXT_MONTH"),
            ("last month", "LAST_MONTH"),
            ("this quarter", "THIS_QUARTER"),
            ("next quarter", "NEXT_QUARTER"),
            ("last quarter", "LAST_QUARTER"),
            ("this week", "THIS_WEEK"),
            ("next week", "NEXT_WEEK"),
            ("last week", "LAST_WEEK"),
            ("this year", "THIS_YEAR"),
            ("next year", "NEXT_YEAR"),
            ("last year", "LAST_YEAR"),
            ("today", "TODAY"),
            ("tomorrow", "TOMORROW"),
            ("yesterday", "YESTERDAY"),
        ] {
            if r.take(phrase) {
                literal = Some(lit.to_string());
                break;
            }
        }
    }
    if let Some(lit) = literal
        && has(field)
    {
        filters.push(json!({"field": field, "op": "eq", "value": lit}));
    }
}

/// A capitalised name after "at", "for", "from", "does" ... or before "'s", and the field
/// that holds it for this object.
fn name_filter(r: &mut Reader<'_>, object: &str) -> Option<(String, &'static str)> {
    let field = match object {
        "Lead" => "Company",
        "Contact" | "Opportunity" => "Account.Name",
        "Task" => "Subject",
        _ => "Name",
    };
    let n = r.tokens.len();
    let mut i = 0;
    while i < n {
        let t = &r.tokens[i];
        let capital = t.text.chars().next().is_some_and(char::is_uppercase);
        let prev = i
            .checked_sub(1)
            .map(|p| r.tokens[p].text.to_lowercase())
            .unwrap_or_default();
        if t.used || !capital || i == 0 && !t.text.contains(['\'', '’']) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut words: Vec<String> = Vec::new();
        while j < n && !r.tokens[j].used {
            let w = &r.tokens[j].text;
            let capital = w.chars().next().is_some_and(char::is_uppercase);
            // "O'Reilly & Sons" is one name.
            let between = if j > i {
                r.question[r.tokens[j - 1].end..r.tokens[j].start].trim()
            } else {
                ""
            };
            if !capital || !(between.is_empty() || between == "&") {
                break;
            }
            if between == "&" {
                words.push("&".into());
            }
            words.push(w.clone());
            j += 1;
        }
        let possessive = words
            .last()
            .is_some_and(|w| w.ends_with("'s") || w.ends_with("’s"));
        if let Some(last) = words.last_mut()
            && possessive
        {
            last.truncate(last.len() - 2);
        }
        if !words.is_empty() && (NAME_BEFORE.contains(&prev.as_str()) || possessive) {
            for t in &mut r.tokens[i..j] {
                t.used = true;
            }
            return Some((words.join(" "), field));
        }
        i = j.max(i + 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::testing::sample_schema;

    fn filters(p: &Value) -> String {
        p["filters"].to_string()
    }

    #[test]
    fn open_deals_at_a_company_this_quarter() {
        let p = plan(
            "Show me open deals at Apex Corp closing this quarter?",
            &sample_schema(),
        );
        assert_eq!(p["object"], "Opportunity");
        let f = filters(&p);
        assert!(
            f.contains(r#"{"field":"IsClosed","op":"eq","value":false}"#),
            "{f}"
        );
        assert!(
            f.contains(r#"{"field":"Account.Name","op":"like","value":"Apex Corp"}"#),
            "{f}"
        );
        assert!(
            f.contains(r#""CloseDate","op":"eq","value":"THIS_QUARTER""#),
            "{f}"
        );
        assert_eq!(p["unread"], json!([]));
    }

    #[test]
    fn amounts_mine_and_names() {
        let p = plan("my deals over $20k?", &sample_schema());
        let f = filters(&p);
        assert!(f.contains(r#""value":"$me""#), "{f}");
        assert!(f.contains(r#""Amount","op":"gt","value":20000.0"#), "{f}");
        let p = plan("leads at Northstar Labs", &sample_schema());
        assert_eq!(p["object"], "Lead");
        assert!(filters(&p).contains(r#""Company","op":"like","value":"Northstar Labs""#));
        assert_eq!(plan("how are you", &sample_schema())["intent"], "offline");
    }

    #[test]
    fn a_company_named_anywhere_is_a_filter_not_dropped() {
        for (q, want) in [
            (
                "what deals does Globex have?",
                r#""Account.Name","op":"like","value":"Globex""#,
            ),
            (
                "leads from Vandelay Industries",
                r#""Company","op":"like","value":"Vandelay Industries""#,
            ),
            (
                "Initech's deals",
                r#""Account.Name","op":"like","value":"Initech""#,
            ),
        ] {
            let p = plan(q, &sample_schema());
            assert!(filters(&p).contains(want), "{q}: {p}");
            assert_eq!(p["unread"], json!([]), "{q}");
        }
    }

    #[test]
    fn picklist_values_become_filters() {
        let p = plan("deals in Negotiation/Review", &sample_schema());
        assert!(
            filters(&p).contains(r#""StageName","op":"eq","value":"Negotiation/Review""#),
            "{p}"
        );
        let p = plan(
            "Which leads came in from trade shows in the last 30 days?",
            &sample_schema(),
        );
        let f = filters(&p);
        assert!(
            f.contains(r#""LeadSource","op":"eq","value":"Trade Show""#),
            "{f}"
        );
        assert!(
            f.contains(r#""CreatedDate","op":"eq","value":"LAST_N_DAYS:30""#),
            "{f}"
        );
        assert_eq!(p["unread"], json!([]));
    }

    #[test]
    fn words_it_cannot_use_are_named_never_dropped() {
        let p = plan(
            "which of my accounts have gone quiet since September",
            &sample_schema(),
        );
        assert_eq!(p["unread"], json!(["gone quiet since September"]), "{p}");
        let p = plan("deals in EMEA", &sample_schema());
        assert_eq!(p["unread"], json!(["EMEA"]), "{p}");
        let p = plan("deals with a discount over 10%", &sample_schema());
        assert_ne!(p["unread"], json!([]), "{p}");
    }
}
