//! Grounding: is a proposed value supported by what the salesperson wrote? Text is compared
//! ignoring case, spaces and punctuation ("O'Brien" matches "obrien"), Unicode-aware so
//! "Lucía" matches itself; numbers match when the notes contain the same amount in any usual
//! spelling ("$25k", "25,000"). A value that fails is flagged "not in your notes".

use super::coerce::parse_number_text;

/// Lowercase letters and digits only.
pub fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The notes, prepared once for many checks.
pub struct Grounding {
    squashed: String,
    numbers: Vec<f64>,
}

impl Grounding {
    pub fn new(notes: &str) -> Self {
        Grounding {
            squashed: squash(notes),
            numbers: number_tokens(notes),
        }
    }

    /// True when the notes contain this text.
    pub fn has_text(&self, value: &str) -> bool {
        let v = squash(value);
        !v.is_empty() && self.squashed.contains(&v)
    }

    /// True when the notes contain this amount.
    pub fn has_number(&self, value: f64) -> bool {
        self.numbers.iter().any(|n| (n - value).abs() < 0.005)
    }
}

/// Every number-like token of the notes, read as `parse_number_text` reads values.
fn number_tokens(notes: &str) -> Vec<f64> {
    let mut out = Vec::new();
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
        // A suffix such as 25k or 1.2M (but not the start of a word like "kilos").
        if let Some(&c) = chars.get(i)
            && matches!(c, 'k' | 'K' | 'm' | 'M')
            && !chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
        {
            token.push(c);
            i += 1;
        }
        if let Some(n) = parse_number_text(&token) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_matched_ignoring_case_spaces_and_punctuation() {
        let g = Grounding::new(
            "Spoke to Sean O'Brien at O'Reilly & Sons Ltd. sean.obrien@oreilly-sons.example, +1 415 555 0142. Lucía Fernández",
        );
        for found in [
            "Sean",
            "O'Brien",
            "O'Reilly & Sons Ltd",
            "sean.obrien@oreilly-sons.example",
            "+1 (415) 555-0142",
            "LUCÍA",
            "Fernández",
        ] {
            assert!(g.has_text(found), "{found}");
        }
        for missing in ["daniel.reed@apexcorp.com", "Apex", "Lucia", "", "---"] {
            assert!(!g.has_text(missing), "{missing}");
        }
    }

    #[test]
    fn amounts_match_in_any_usual_spelling() {
        let g = Grounding::new(
            "Moving it to Proposal at $25,000. Initech closed at 48k, signed on 2026-11-25. 1.2M pipeline.",
        );
        for n in [25000.0, 48000.0, 1_200_000.0] {
            assert!(g.has_number(n), "{n}");
        }
        for n in [50000.0, 1_000_000.0, 30000.0] {
            assert!(!g.has_number(n), "{n}");
        }
    }
}
