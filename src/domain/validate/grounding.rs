//! Grounding: is a proposed value supported by what the salesperson wrote, *as that kind of
//! value*? Not "any substring of the notes": an email must be one of the notes' email
//! addresses, a phone one of its phone numbers (by digits), a website a domain written as a
//! website (not the domain of an email address), an amount a sum of money the notes name
//! (digits or words: "fifty thousand"), a date one a phrase of the notes resolves to, free
//! text mostly the notes' own words. Text is otherwise compared ignoring case, spaces and
//! punctuation ("O'Brien" matches "obrien"), Unicode-aware. A value that fails is flagged.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::coerce::parse_number_text;
use super::dates::parse_date;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("static regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d ().-]{5,}\d").expect("static regex"));
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{L}\p{N}]+(?:['’][\p{L}]+)?").expect("static regex"));

/// Words that say nothing on their own, left out when free text is compared with the notes.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "that", "this", "are", "was", "were", "has", "have",
    "had", "will", "would", "should", "can", "could", "our", "their", "his", "her", "its", "they",
    "them", "she", "him", "you", "not", "but", "also", "about", "into", "onto", "who", "which",
    "what", "when", "then", "than", "there", "here", "all", "any", "per", "via",
];

/// Lowercase letters and digits only.
pub fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The notes, prepared once for many checks.
pub struct Grounding {
    /// The notes as written, and lowercased.
    pub notes: String,
    pub lower: String,
    squashed: String,
    /// Every number-like token, and the subset that names money.
    numbers: Vec<f64>,
    money: Vec<f64>,
    emails: Vec<String>,
    /// Phone-like tokens, as digit strings.
    phones: Vec<String>,
    /// Squashed spans of the notes that sit inside an email address.
    email_spans: Vec<(usize, usize)>,
    words: HashSet<String>,
    dates: HashSet<NaiveDate>,
}

impl Grounding {
    pub fn new(notes: &str, today: NaiveDate) -> Self {
        let emails: Vec<String> = EMAIL
            .find_iter(notes)
            .map(|m| m.as_str().to_lowercase())
            .collect();
        let mut email_spans = Vec::new();
        let squashed = squash(notes);
        for e in &emails {
            let s = squash(e);
            let mut from = 0;
            while let Some(at) = squashed[from..].find(&s) {
                email_spans.push((from + at, from + at + s.len()));
                from += at + s.len().max(1);
            }
        }
        let (numbers, money) = number_tokens(notes);
        Grounding {
            notes: notes.to_string(),
            lower: notes.to_lowercase(),
            squashed,
            numbers,
            money,
            // A run of bare digits is a number ("Amount to 1000000000"); a phone number is
            // written with a "+" or separators.
            phones: PHONE
                .find_iter(notes)
                .filter(|m| {
                    let t = m.as_str();
                    t.starts_with(['+', '(']) || t.contains([' ', '-', '.', '(', ')'])
                })
                .map(|m| digits(m.as_str()))
                .filter(|d| d.len() >= 7)
                .collect(),
            email_spans,
            emails,
            words: words(notes).into_iter().collect(),
            dates: date_phrases(notes, today),
        }
    }

    /// True when the notes contain this text.
    pub fn has_text(&self, value: &str) -> bool {
        let v = squash(value);
        !v.is_empty() && self.squashed.contains(&v)
    }

    /// Where the text occurs, as spans of the squashed notes.
    pub fn occurrences(&self, value: &str) -> Vec<(usize, usize)> {
        let v = squash(value);
        let mut out = Vec::new();
        if v.is_empty() {
            return out;
        }
        let mut from = 0;
        while let Some(at) = self.squashed[from..].find(&v) {
            out.push((from + at, from + at + v.len()));
            from += at + v.len();
        }
        out
    }

    /// True when the notes contain this amount.
    pub fn has_number(&self, value: f64) -> bool {
        self.numbers.iter().any(|n| (n - value).abs() < 0.005)
    }

    /// True when the notes name this sum of money ("$25k", "48,000 USD", "fifty thousand").
    pub fn has_money(&self, value: f64) -> bool {
        self.money.iter().any(|n| (n - value).abs() < 0.005)
    }

    /// True when this is one of the notes' email addresses.
    pub fn has_email(&self, value: &str) -> bool {
        let v = value.trim().to_lowercase();
        self.emails.contains(&v)
    }

    /// True when the notes hold a phone number with these digits.
    pub fn has_phone(&self, value: &str) -> bool {
        let d = digits(value);
        d.len() >= 7 && self.phones.contains(&d)
    }

    /// True when the notes write this domain as a website, not only inside an email address.
    pub fn has_website(&self, value: &str) -> bool {
        let host = website_host(value);
        self.occurrences(&host)
            .iter()
            .any(|(a, b)| !self.email_spans.iter().any(|(ea, eb)| ea <= a && b <= eb))
    }

    /// True when a date phrase of the notes resolves to this date.
    pub fn has_date(&self, value: NaiveDate) -> bool {
        self.dates.contains(&value)
    }

    /// True when the notes hold this word, or one that shares its stem ("pricing", "price").
    pub fn has_word(&self, word: &str) -> bool {
        let w = word.to_lowercase();
        self.words.contains(&w) || self.words.iter().any(|n| same_stem(n, &w))
    }
}

/// True when free text is mostly the notes' own words: at least 70 % of its words (three
/// letters or more, not stop words) occur in the notes, stems compared.
pub fn from_notes(notes: &str, text: &str) -> bool {
    let notes_words: HashSet<String> = words(notes).into_iter().collect();
    let content: Vec<String> = words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    if content.is_empty() {
        return squash(notes).contains(&squash(text));
    }
    let found = content
        .iter()
        .filter(|w| notes_words.contains(*w) || notes_words.iter().any(|n| same_stem(n, w)))
        .count();
    found * 10 >= content.len() * 7
}

/// The host of a website value: no scheme, no "www.", no path.
pub fn website_host(value: &str) -> String {
    let v = value.trim().to_lowercase();
    let v = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .unwrap_or(&v)
        .to_string();
    let v = v.strip_prefix("www.").unwrap_or(&v);
    v.split(['/', '?', '#']).next().unwrap_or("").to_string()
}

fn same_stem(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    (shorter >= 4 && common == shorter) || common >= 5
}

/// Lowercase words of a text.
pub fn words(text: &str) -> Vec<String> {
    WORD.find_iter(text)
        .map(|m| m.as_str().to_lowercase().replace('’', "'"))
        .collect()
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Every date a phrase of up to five words of the notes resolves to.
fn date_phrases(notes: &str, today: NaiveDate) -> HashSet<NaiveDate> {
    let tokens: Vec<&str> = notes
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '!' | '?'))
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = HashSet::new();
    for start in 0..tokens.len() {
        for len in 1..=5.min(tokens.len() - start) {
            let phrase = tokens[start..start + len].join(" ");
            // A bare number is not a date; "15 Dec" and "12/15" are.
            if len == 1 && phrase.chars().all(|c| c.is_ascii_digit() || c == '.') {
                continue;
            }
            if let Some(d) = parse_date(&phrase, today) {
                out.insert(d);
            }
        }
    }
    out
}

/// Every number-like token of the notes, and those that name money (a currency sign or word
/// next to them, a k/m suffix, or written in words with "thousand"/"million").
fn number_tokens(notes: &str) -> (Vec<f64>, Vec<f64>) {
    let mut numbers = Vec::new();
    let mut money = Vec::new();
    let chars: Vec<char> = notes.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let mut token: String = chars[start..i].iter().collect();
        let mut is_money = start > 0 && matches!(chars[start - 1], '$' | '€' | '£')
            || start > 1 && chars[start - 1] == ' ' && matches!(chars[start - 2], '$' | '€' | '£');
        // A suffix such as 25k or 1.2M (but not the start of a word like "kilos").
        if let Some(&c) = chars.get(i)
            && matches!(c, 'k' | 'K' | 'm' | 'M')
            && !chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
        {
            token.push(c);
            i += 1;
            is_money = true;
        }
        let after: String = chars[i..chars.len().min(i + 12)]
            .iter()
            .collect::<String>()
            .to_lowercase();
        let after = after.trim_start();
        let mut scale = 1.0;
        for (word, factor) in [("thousand", 1_000.0), ("million", 1_000_000.0)] {
            if after.starts_with(word) {
                scale = factor;
                is_money = true;
            }
        }
        if ["usd", "eur", "gbp", "dollars", "euros", "pounds", "k "]
            .iter()
            .any(|w| after.starts_with(w))
        {
            is_money = true;
        }
        if let Some(n) = parse_number_text(&token) {
            let n = n * scale;
            numbers.push(n);
            if is_money || n >= 1_000.0 {
                money.push(n);
            }
        }
    }
    for n in number_words(notes) {
        numbers.push(n);
        money.push(n);
    }
    (numbers, money)
}

/// Amounts written in words: "fifty thousand", "twenty-five thousand dollars", "a million",
/// "one hundred and twenty thousand", "1.2 million" (digits with a scale word are read above).
fn number_words(notes: &str) -> Vec<f64> {
    let unit = |w: &str| -> Option<f64> {
        Some(match w {
            "a" | "an" | "one" => 1.0,
            "two" => 2.0,
            "three" => 3.0,
            "four" => 4.0,
            "five" => 5.0,
            "six" => 6.0,
            "seven" => 7.0,
            "eight" => 8.0,
            "nine" => 9.0,
            "ten" => 10.0,
            "eleven" => 11.0,
            "twelve" => 12.0,
            "thirteen" => 13.0,
            "fourteen" => 14.0,
            "fifteen" => 15.0,
            "sixteen" => 16.0,
            "seventeen" => 17.0,
            "eighteen" => 18.0,
            "nineteen" => 19.0,
            "twenty" => 20.0,
            "thirty" => 30.0,
            "forty" => 40.0,
            "fifty" => 50.0,
            "sixty" => 60.0,
            "seventy" => 70.0,
            "eighty" => 80.0,
            "ninety" => 90.0,
            _ => return None,
        })
    };
    let lower = notes.to_lowercase().replace('-', " ");
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let (mut total, mut current, mut seen) = (0.0f64, 0.0f64, false);
    for t in tokens.iter().chain(std::iter::once(&".")) {
        match (*t, unit(t)) {
            (_, Some(n)) if !(*t == "a" || *t == "an") || !seen => {
                current += n;
                seen = true;
            }
            ("hundred", _) if seen => current *= 100.0,
            ("thousand", _) if seen => {
                total += current.max(1.0) * 1_000.0;
                current = 0.0;
            }
            ("million", _) if seen => {
                total += current.max(1.0) * 1_000_000.0;
                current = 0.0;
            }
            ("and", _) if seen => {}
            _ => {
                if seen && total > 0.0 {
                    out.push(total + current);
                }
                (total, current, seen) = (0.0, 0.0, false);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn text_is_matched_ignoring_case_spaces_and_punctuation() {
        let g = Grounding::new(
            "Spoke to Sean O'Brien at O'Reilly & Sons Ltd. sean.obrien@oreilly-sons.example, +1 415 555 0142. Lucía Fernández",
            today(),
        );
        for found in [
            "Sean",
            "O'Brien",
            "O'Reilly & Sons Ltd",
            "LUCÍA",
            "Fernández",
        ] {
            assert!(g.has_text(found), "{found}");
        }
        for missing in ["daniel.reed@apexcorp.com", "Apex", "Lucia", "", "---"] {
            assert!(!g.has_text(missing), "{missing}");
        }
        assert!(g.has_email("Sean.OBrien@oreilly-sons.example"));
        assert!(
            !g.has_email("obrien@oreilly-sons.example"),
            "a part of an email is not one"
        );
        assert!(g.has_phone("+1 (415) 555-0142"));
        assert!(!g.has_phone("555 0142"), "a part of a phone is not one");
        let g = Grounding::new("set every Amount to 1000000000", today());
        assert!(
            !g.has_phone("1000000000"),
            "bare digits are a number, not a phone"
        );
    }

    #[test]
    fn a_website_is_not_the_domain_of_an_email() {
        let g = Grounding::new(
            "Daniel (daniel@apex.example). Their site is www.northstar.example/labs.",
            today(),
        );
        assert!(!g.has_website("https://apex.example"));
        assert!(!g.has_website("apex.example"));
        assert!(g.has_website("https://northstar.example"));
        assert!(g.has_website("northstar.example"));
    }

    #[test]
    fn amounts_match_in_any_usual_spelling_and_in_words() {
        let g = Grounding::new(
            "Moving it to Proposal at $25,000. Initech closed at 48k, signed on 2026-11-25. 1.2M pipeline. Budget is fifty thousand dollars, maybe one hundred and twenty thousand next year. 2.5 million over three years. 12 seats.",
            today(),
        );
        for n in [
            25000.0,
            48000.0,
            1_200_000.0,
            50_000.0,
            120_000.0,
            2_500_000.0,
        ] {
            assert!(g.has_money(n), "{n}");
        }
        for n in [50.0, 1_000_000.0, 30000.0, 12.0, 3.0] {
            assert!(!g.has_money(n), "{n}");
        }
        assert!(g.has_number(12.0));
    }

    #[test]
    fn dates_match_the_phrases_that_resolve_to_them() {
        let g = Grounding::new(
            "Promised to send the SOC 2 report by Friday. Signed today. Pilot starts Jan 12.",
            today(),
        );
        for d in [(2026, 11, 27), (2026, 11, 25), (2027, 1, 12)] {
            assert!(
                g.has_date(NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap()),
                "{d:?}"
            );
        }
        assert!(!g.has_date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()));
        assert!(
            !g.has_date(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
            "\"SOC 2\" is no date"
        );
    }

    #[test]
    fn free_text_must_be_mostly_the_notes_words() {
        let notes = "We spoke with Daniel Reed from Apex Corp. He wants a demo next week for the enterprise plan.";
        assert!(from_notes(
            notes,
            "Wants a demo of the enterprise plan next week"
        ));
        assert!(from_notes(
            notes,
            "Spoke with Daniel; wants enterprise demo"
        ));
        assert!(!from_notes(notes, "Salesforce Lead for Salesforce"));
        assert!(!from_notes(
            notes,
            "Interested in our premium analytics add-on and a discount"
        ));
    }
}
