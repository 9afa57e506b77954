//! Grounding: is a proposed value supported by what the salesperson wrote, *as that kind of
//! value*? Not "any substring of the notes": an email must be one of the notes' email
//! addresses, a phone one of its phone numbers (by digits), a website a domain written as a
//! website (not the domain of an email address), an amount a sum of money the notes name
//! (digits or words: "fifty thousand"), a date one a phrase of the notes resolves to, free
//! text mostly the notes' own words. Text is otherwise compared ignoring case, spaces and
//! punctuation ("O'Brien" matches "obrien"), Unicode-aware. A value that fails is flagged.
//!
//! Each check answers with the span of the notes it found the value in (`Span`, byte offsets
//! into the notes as written), so the card can quote the words a value came from: evidence
//! computed here, never taken from the model.

use std::collections::{HashMap, HashSet};
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

/// Byte offsets `[start, end)` into the notes as written.
pub type Span = (usize, usize);

/// A number of the notes and where it is written.
type Found = (f64, Span);

/// Lowercase letters and digits only.
pub fn squash(text: &str) -> String {
    squash_mapped(text).0
}

/// The squashed text, and for each of its bytes the span of the character of `text` it came
/// from.
fn squash_mapped(text: &str) -> (String, Vec<Span>) {
    let mut out = String::new();
    let mut map = Vec::new();
    for (at, c) in text.char_indices().filter(|(_, c)| c.is_alphanumeric()) {
        for l in c.to_lowercase() {
            out.push(l);
            map.extend(std::iter::repeat_n((at, at + c.len_utf8()), l.len_utf8()));
        }
    }
    (out, map)
}

/// The notes, prepared once for many checks.
pub struct Grounding {
    /// The notes as written, and lowercased.
    pub notes: String,
    pub lower: String,
    squashed: String,
    /// For each byte of `squashed`, the span of the notes it came from.
    squash_map: Vec<Span>,
    /// Every number-like token, and the subset that names money, with where they are.
    numbers: Vec<Found>,
    money: Vec<Found>,
    emails: Vec<(String, Span)>,
    /// Phone-like tokens, as digit strings.
    phones: Vec<(String, Span)>,
    /// Squashed spans of the notes that sit inside an email address.
    email_spans: Vec<(usize, usize)>,
    /// Each word of the notes, lowercased, and where it first occurs.
    words: HashMap<String, Span>,
    /// Each date a phrase resolves to, and the shortest such phrase.
    dates: HashMap<NaiveDate, Span>,
}

impl Grounding {
    pub fn new(notes: &str, today: NaiveDate) -> Self {
        let emails: Vec<(String, Span)> = EMAIL
            .find_iter(notes)
            .map(|m| (m.as_str().to_lowercase(), (m.start(), m.end())))
            .collect();
        let mut email_spans = Vec::new();
        let (squashed, squash_map) = squash_mapped(notes);
        for (e, _) in &emails {
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
            squash_map,
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
                .map(|m| (digits(m.as_str()), (m.start(), m.end())))
                .filter(|(d, _)| d.len() >= 7)
                .collect(),
            email_spans,
            emails,
            words: word_spans(notes),
            dates: date_phrases(notes, today),
        }
    }

    /// Where the notes contain this text (the first place).
    pub fn text_span(&self, value: &str) -> Option<Span> {
        self.occurrences(value).first().map(|s| self.unsquash(*s))
    }

    /// True when the notes contain this text.
    #[cfg(test)]
    pub fn has_text(&self, value: &str) -> bool {
        self.text_span(value).is_some()
    }

    /// A span of the squashed notes as a span of the notes as written.
    fn unsquash(&self, (a, b): (usize, usize)) -> Span {
        match (
            self.squash_map.get(a),
            b.checked_sub(1).and_then(|e| self.squash_map.get(e)),
        ) {
            (Some(start), Some(end)) => (start.0, end.1),
            _ => (0, 0),
        }
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

    /// Where the notes contain this amount.
    pub fn number_span(&self, value: f64) -> Option<Span> {
        near(&self.numbers, value)
    }

    /// Where the notes name this sum of money ("$25k", "48,000 USD", "fifty thousand").
    pub fn money_span(&self, value: f64) -> Option<Span> {
        near(&self.money, value)
    }

    /// True when the notes name this sum of money.
    #[cfg(test)]
    pub fn has_money(&self, value: f64) -> bool {
        self.money_span(value).is_some()
    }

    /// Where this is one of the notes' email addresses.
    pub fn email_span(&self, value: &str) -> Option<Span> {
        let v = value.trim().to_lowercase();
        self.emails.iter().find(|(e, _)| *e == v).map(|(_, s)| *s)
    }

    /// True when this is one of the notes' email addresses.
    #[cfg(test)]
    pub fn has_email(&self, value: &str) -> bool {
        self.email_span(value).is_some()
    }

    /// Where the notes hold a phone number with these digits.
    pub fn phone_span(&self, value: &str) -> Option<Span> {
        let d = digits(value);
        if d.len() < 7 {
            return None;
        }
        self.phones.iter().find(|(p, _)| *p == d).map(|(_, s)| *s)
    }

    /// True when the notes hold a phone number with these digits.
    #[cfg(test)]
    pub fn has_phone(&self, value: &str) -> bool {
        self.phone_span(value).is_some()
    }

    /// Where the notes write this domain as a website, not only inside an email address.
    pub fn website_span(&self, value: &str) -> Option<Span> {
        let host = website_host(value);
        self.occurrences(&host)
            .into_iter()
            .find(|(a, b)| !self.email_spans.iter().any(|(ea, eb)| ea <= a && b <= eb))
            .map(|s| self.unsquash(s))
    }

    /// True when the notes write this domain as a website.
    #[cfg(test)]
    pub fn has_website(&self, value: &str) -> bool {
        self.website_span(value).is_some()
    }

    /// The phrase of the notes that resolves to this date.
    pub fn date_span(&self, value: NaiveDate) -> Option<Span> {
        self.dates.get(&value).copied()
    }

    /// True when a date phrase of the notes resolves to this date.
    #[cfg(test)]
    pub fn has_date(&self, value: NaiveDate) -> bool {
        self.date_span(value).is_some()
    }

    /// Where the notes hold this word, or one that shares its stem ("pricing", "price").
    pub fn word_span(&self, word: &str) -> Option<Span> {
        let w = word.to_lowercase();
        self.words.get(&w).copied().or_else(|| {
            self.words
                .iter()
                .filter(|(n, _)| same_stem(n, &w))
                .map(|(_, s)| *s)
                .min()
        })
    }

    /// For free text that is mostly the notes' words (`from_notes`), the sentence of the
    /// notes that holds most of them.
    pub fn free_text_span(&self, text: &str) -> Option<Span> {
        if !from_notes(&self.notes, text) {
            return None;
        }
        let content: Vec<String> = content_words(text);
        if content.is_empty() {
            return self.text_span(text);
        }
        sentences(&self.notes)
            .into_iter()
            .map(|s| {
                let here: HashSet<String> = words(&self.notes[s.0..s.1]).into_iter().collect();
                let found = content
                    .iter()
                    .filter(|w| here.contains(*w) || here.iter().any(|n| same_stem(n, w)))
                    .count();
                (found, s)
            })
            .filter(|(found, _)| *found > 0)
            // Most words found; the earliest sentence among equals.
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.0.cmp(&a.1.0)))
            .map(|(_, s)| s)
    }
}

/// The span of the first value within a cent of `value`.
fn near(list: &[Found], value: f64) -> Option<Span> {
    list.iter()
        .find(|(n, _)| (n - value).abs() < 0.005)
        .map(|(_, s)| *s)
}

/// The sentences of a text (cut at `.`, `!`, `?` before a space, and at line ends), trimmed.
fn sentences(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next_blank = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        let end = match c {
            '\n' => Some(at),
            '.' | '!' | '?' if next_blank => Some(at + 1),
            _ => None,
        };
        if let Some(end) = end {
            out.push((start, end));
            start = at + c.len_utf8();
        }
    }
    out.push((start, text.len()));
    out.into_iter()
        .filter_map(|(a, b)| {
            let part = &text[a..b];
            let lead = part.len() - part.trim_start().len();
            let trail = part.len() - part.trim_end().len();
            (a + lead < b - trail).then_some((a + lead, b - trail))
        })
        .collect()
}

/// Words of a text that carry meaning: three letters or more, not stop words.
fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// A short quote of the notes around `span`, for the card: at most `max` characters, the
/// match whole when it fits (else its start), widened to whole words of context on both
/// sides, with `…` where the notes go on. Runs of blanks and line breaks read as one space.
/// Plain text: the caller escapes it for where it goes.
pub fn quote(notes: &str, span: Span, max: usize) -> String {
    let (a, b) = span;
    if a >= b || notes.get(a..b).is_none() {
        return String::new();
    }
    // The notes on one line, and where the span falls in it.
    let mut flat: Vec<char> = Vec::new();
    let (mut from, mut to) = (0, 0);
    for (at, c) in notes.char_indices() {
        if at == a {
            from = flat.len();
        }
        if at == b {
            to = flat.len();
        }
        if c.is_whitespace() {
            if flat.last().is_some_and(|l| *l != ' ') {
                flat.push(' ');
            }
        } else {
            flat.push(c);
        }
    }
    if b == notes.len() {
        to = flat.len();
    }
    while flat.last() == Some(&' ') {
        flat.pop();
    }
    let to = to.min(flat.len());
    let from = from.min(to);
    let max = max.max(8);
    let text = |r: std::ops::Range<usize>| flat[r].iter().collect::<String>();
    let open = if from > 0 { "…" } else { "" };
    if to - from + 2 >= max {
        let keep = max - 1 - open.chars().count();
        return format!("{open}{}…", text(from..from + keep).trim_end());
    }
    let room = max - (to - from) - 2;
    // Context on both sides, cut back to whole words; room one side leaves goes to the other.
    let left_edge = |n: usize| -> usize {
        let start = from.saturating_sub(n);
        if start == 0 {
            return 0;
        }
        (start..from)
            .find(|i| flat[*i] == ' ')
            .map_or(from, |i| i + 1)
    };
    let right_edge = |n: usize| -> usize {
        let end = (to + n).min(flat.len());
        if end == flat.len() {
            return end;
        }
        (to..=end).rev().find(|i| flat[*i] == ' ').unwrap_or(to)
    };
    let start = left_edge(room / 2);
    let end = right_edge(room - (from - start));
    let start = left_edge(room - (end - to));
    format!(
        "{}{}{}",
        if start > 0 { "…" } else { "" },
        text(start..end).trim(),
        if end < flat.len() { "…" } else { "" }
    )
}

/// True when free text is mostly the notes' own words: at least 70 % of its words (three
/// letters or more, not stop words) occur in the notes, stems compared.
pub fn from_notes(notes: &str, text: &str) -> bool {
    let notes_words: HashSet<String> = words(notes).into_iter().collect();
    let content = content_words(text);
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

/// Each lowercase word of a text and where it first occurs.
fn word_spans(text: &str) -> HashMap<String, Span> {
    let mut out = HashMap::new();
    for m in WORD.find_iter(text) {
        out.entry(m.as_str().to_lowercase().replace('’', "'"))
            .or_insert((m.start(), m.end()));
    }
    out
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Every date a phrase of up to five words of the notes resolves to.
/// Every date a phrase of up to five words of the notes resolves to, with the shortest
/// phrase that does.
fn date_phrases(notes: &str, today: NaiveDate) -> HashMap<NaiveDate, Span> {
    let is_cut = |c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '!' | '?');
    let mut tokens: Vec<Span> = Vec::new();
    let mut open: Option<usize> = None;
    for (at, c) in notes.char_indices() {
        match (is_cut(c), open) {
            (true, Some(start)) => {
                tokens.push((start, at));
                open = None;
            }
            (false, None) => open = Some(at),
            _ => {}
        }
    }
    if let Some(start) = open {
        tokens.push((start, notes.len()));
    }
    let mut out: HashMap<NaiveDate, Span> = HashMap::new();
    for start in 0..tokens.len() {
        for len in 1..=5.min(tokens.len() - start) {
            let phrase = tokens[start..start + len]
                .iter()
                .map(|(a, b)| &notes[*a..*b])
                .collect::<Vec<_>>()
                .join(" ");
            // A bare number is not a date; "15 Dec" and "12/15" are.
            if len == 1 && phrase.chars().all(|c| c.is_ascii_digit() || c == '.') {
                continue;
            }
            if let Some(d) = parse_date(&phrase, today) {
                let span = (tokens[start].0, tokens[start + len - 1].1);
                let shorter = |old: &Span| span.1 - span.0 < old.1 - old.0;
                if out.get(&d).is_none_or(shorter) {
                    out.insert(d, span);
                }
            }
        }
    }
    out
}

/// Every number-like token of the notes, and those that name money (a currency sign or word
/// next to them, a k/m suffix, or written in words with "thousand"/"million").
fn number_tokens(notes: &str) -> (Vec<Found>, Vec<Found>) {
    let mut numbers = Vec::new();
    let mut money = Vec::new();
    let chars: Vec<char> = notes.chars().collect();
    // Byte offset of each char, and of the end.
    let offsets: Vec<usize> = notes
        .char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(notes.len()))
        .collect();
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
        let sign = if start > 0 && matches!(chars[start - 1], '$' | '€' | '£') {
            Some(start - 1)
        } else if start > 1
            && chars[start - 1] == ' '
            && matches!(chars[start - 2], '$' | '€' | '£')
        {
            Some(start - 2)
        } else {
            None
        };
        let mut is_money = sign.is_some();
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
        let blank = after.chars().count() - after.trim_start().chars().count();
        let after = after.trim_start();
        let mut scale = 1.0;
        let mut end = i;
        for (word, factor) in [("thousand", 1_000.0), ("million", 1_000_000.0)] {
            if after.starts_with(word) {
                scale = factor;
                is_money = true;
                end = (i + blank + word.len()).min(chars.len());
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
            let span = (offsets[sign.unwrap_or(start)], offsets[end]);
            numbers.push((n, span));
            if is_money || n >= 1_000.0 {
                money.push((n, span));
            }
        }
    }
    for found in number_words(notes) {
        numbers.push(found);
        money.push(found);
    }
    // The first place in the notes that names a value is the one quoted.
    numbers.sort_by_key(|(_, span)| span.0);
    money.sort_by_key(|(_, span)| span.0);
    (numbers, money)
}

/// Amounts written in words: "fifty thousand", "twenty-five thousand dollars", "a million",
/// "one hundred and twenty thousand", "1.2 million" (digits with a scale word are read above).
fn number_words(notes: &str) -> Vec<Found> {
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
    // Words (runs of letters and digits; "twenty-five" is two) with where they are.
    let mut tokens: Vec<(String, Span)> = Vec::new();
    let mut open: Option<usize> = None;
    for (at, c) in notes
        .char_indices()
        .chain(std::iter::once((notes.len(), ' ')))
    {
        match (c.is_alphanumeric(), open) {
            (false, Some(start)) => {
                tokens.push((notes[start..at].to_lowercase(), (start, at)));
                open = None;
            }
            (true, None) => open = Some(at),
            _ => {}
        }
    }
    tokens.push((".".into(), (notes.len(), notes.len())));
    let mut out = Vec::new();
    let (mut total, mut current, mut seen) = (0.0f64, 0.0f64, false);
    let (mut first, mut last) = (0, 0);
    for (t, (a, b)) in &tokens {
        let t = t.as_str();
        match (t, unit(t)) {
            (_, Some(n)) if !(t == "a" || t == "an") || !seen => {
                if !seen {
                    first = *a;
                }
                current += n;
                seen = true;
                last = *b;
            }
            ("hundred", _) if seen => {
                current *= 100.0;
                last = *b;
            }
            ("thousand", _) if seen => {
                total += current.max(1.0) * 1_000.0;
                current = 0.0;
                last = *b;
            }
            ("million", _) if seen => {
                total += current.max(1.0) * 1_000_000.0;
                current = 0.0;
                last = *b;
            }
            ("and", _) if seen => {}
            _ => {
                if seen && total > 0.0 {
                    out.push((total + current, (first, last)));
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
        assert!(g.number_span(12.0).is_some());
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

    #[test]
    fn each_check_says_where_in_the_notes_it_found_the_value() {
        let notes = "Met Sean O'Brien (sean@acme.example, +1 415 555 0142). Budget is forty thousand dollars,\nmaybe 40k now and $0.5M next year. Demo on Friday.";
        let g = Grounding::new(notes, today());
        let at = |span: Option<Span>| span.map(|(a, b)| &notes[a..b]);
        assert_eq!(at(g.text_span("o'brien")), Some("O'Brien"));
        assert_eq!(
            at(g.email_span("Sean@Acme.example")),
            Some("sean@acme.example")
        );
        assert_eq!(at(g.phone_span("+14155550142")), Some("+1 415 555 0142"));
        assert_eq!(at(g.money_span(40_000.0)), Some("forty thousand"));
        assert_eq!(at(g.money_span(500_000.0)), Some("$0.5M"));
        assert_eq!(
            at(g.date_span(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap())),
            Some("Friday.")
        );
        assert_eq!(g.money_span(41_000.0), None);
        let g = Grounding::new("Signed: 40k for 2 years", today());
        assert_eq!(
            g.money_span(40_000.0)
                .map(|(a, b)| &"Signed: 40k for 2 years"[a..b]),
            Some("40k")
        );
    }

    #[test]
    fn a_quote_is_short_whole_worded_and_marks_what_it_leaves_out() {
        let notes = "We met at the expo in Berlin last week and they want the enterprise plan for about forty thousand dollars a year, starting in January with twelve seats.";
        let g = Grounding::new(notes, today());
        let span = g.money_span(40_000.0).unwrap();
        let q = quote(notes, span, 60);
        assert!(q.chars().count() <= 60, "{q}");
        assert!(q.contains("forty thousand"), "{q}");
        assert!(q.starts_with('…') && q.ends_with('…'), "{q}");
        let inner = q.trim_matches('…');
        assert!(notes.contains(inner), "{q} is a span of the notes");
        assert!(!inner.starts_with(' ') && !inner.ends_with(' '), "{q}");
        // Short notes are quoted whole; a long match is cut at its start.
        assert_eq!(quote("Budget 40k.", (7, 10), 60), "Budget 40k.");
        let long = "a".repeat(100);
        let q = quote(&long, (0, 100), 60);
        assert_eq!(q.chars().count(), 60);
        assert!(q.ends_with('…'));
        // Line breaks read as spaces; a span off a character boundary quotes nothing.
        assert_eq!(quote("Stage:\n\nProposal", (8, 16), 60), "Stage: Proposal");
        assert_eq!(quote("Lucía", (0, 4), 60), "");
    }
}
