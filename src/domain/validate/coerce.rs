//! Values as the model writes them, turned into the types Salesforce expects: `"$25k"` and
//! `"25,000"` become 25000, `"yes"` becomes true. What cannot be read is refused, never
//! guessed. Also: spotting values that look like Salesforce record ids, which the model is
//! never allowed to supply.

use serde_json::Value;

/// Reads a number from a JSON number or from text such as `$25k`, `25,000`, `€30k`, `1.2m`,
/// `25 000`, `48K USD`.
pub fn parse_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => parse_number_text(s),
        _ => None,
    }
}

pub fn parse_number_text(text: &str) -> Option<f64> {
    let mut t = text.trim().to_lowercase();
    for word in ["usd", "eur", "gbp", "dollars", "euros", "pounds"] {
        t = t.replace(word, "");
    }
    let t: String = t
        .chars()
        .filter(|c| !matches!(c, '$' | '€' | '£' | ',' | ' ' | '\u{a0}' | '_' | '%'))
        .collect();
    let (digits, factor) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1_000.0),
        'm' => (&t[..t.len() - 1], 1_000_000.0),
        'b' => (&t[..t.len() - 1], 1_000_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    if digits.is_empty()
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return None;
    }
    let n: f64 = digits.parse().ok()?;
    let n = n * factor;
    // Rounded to cents so 1.2m is exactly 1200000.
    n.is_finite().then(|| (n * 100.0).round() / 100.0)
}

/// Reads a boolean from JSON or from yes/no words.
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" => Some(true),
            "false" | "no" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A plausible email address: one `@`, a dot in the domain, no spaces.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

/// True for text shaped like a Salesforce record id: 15 or 18 letters and digits, with at
/// least one digit and one letter, and the 18-character form's checksum case pattern.
pub fn looks_like_record_id(text: &str) -> bool {
    let t = text.trim();
    if !(t.len() == 15 || t.len() == 18) || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let digits = t.chars().filter(char::is_ascii_digit).count();
    // Ids start with a key prefix and are mostly digits after it (005000000000001AAA);
    // words such as "PlatformRenewal" have none, and long plain numbers don't start with 00.
    // Key prefixes start with a digit (001, 00Q) or, for custom objects, a letter followed
    // by many digits (a0RE000000IJmcN).
    let starts_with_digit = t.starts_with(|c: char| c.is_ascii_digit());
    digits >= 3
        && (starts_with_digit || digits >= 5)
        && (t.chars().any(|c| c.is_ascii_alphabetic()) || t.starts_with("00"))
}

/// A number as text for messages: `25000` -> `25,000`.
pub fn show_number(n: f64) -> String {
    crate::domain::draft::FieldValue::Number(n).display()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn amounts_as_people_write_them() {
        let cases = [
            (json!(25000), 25000.0),
            (json!("$25k"), 25000.0),
            (json!("25,000"), 25000.0),
            (json!("$25,000.00"), 25000.0),
            (json!("48k"), 48000.0),
            (json!("1.2m"), 1_200_000.0),
            (json!("25 000"), 25000.0),
            (json!("€30K"), 30000.0),
            (json!("48000 USD"), 48000.0),
            (json!("-1.5"), -1.5),
        ];
        for (value, want) in cases {
            assert_eq!(parse_number(&value), Some(want), "{value}");
        }
        for bad in [
            json!("a lot"),
            json!("k"),
            json!(""),
            json!(true),
            json!("25k-30k"),
        ] {
            assert_eq!(parse_number(&bad), None, "{bad}");
        }
    }

    #[test]
    fn booleans_and_emails() {
        assert_eq!(parse_bool(&json!("Yes")), Some(true));
        assert_eq!(parse_bool(&json!(false)), Some(false));
        assert_eq!(parse_bool(&json!("maybe")), None);
        assert!(is_email("daniel@apex.example"));
        for bad in ["daniel", "daniel@apex", "a b@c.d", "@x.y", "a@b@c.d"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn record_ids_are_spotted_and_words_are_not() {
        for id in [
            "005000000000001AAA",
            "006000000000001",
            "00Q5g00000AbCdEFGH",
            "a0RE000000IJmcN",
        ] {
            assert!(looks_like_record_id(id), "{id}");
        }
        for word in [
            "PlatformRenewal",
            "Daniel",
            "daniel@apex.exa",
            "SOC2ReportFriday1",
            "Expansion2026ab",
            "141555501420000",
        ] {
            assert!(!looks_like_record_id(word), "{word}");
        }
    }
}
