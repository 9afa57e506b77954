//! Getting JSON out of a model's text, tolerantly: local servers and weaker models wrap it in
//! a ```json fence or a sentence, or put raw newlines and tabs inside strings (a grammar
//! allows them; JSON does not). Those are escaped; nothing else is guessed. Whatever comes out
//! is validated anyway.

use serde_json::Value;

/// The JSON object in a reply: the whole text, the inside of a code fence, or the outermost
/// `{...}` with text around it.
pub fn extract_json(text: &str) -> Option<Value> {
    let text = text.trim_start_matches('\u{feff}');
    extract(text).or_else(|| {
        let escaped = escape_controls_in_strings(text);
        (escaped != text).then(|| extract(&escaped)).flatten()
    })
}

/// Raw control characters inside string literals, escaped (`\n`, `\t`, `\u0001`).
fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if c.is_control() && (c as u32) < 0x20 {
                match c {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    other => out.push_str(&format!("\\u{:04x}", other as u32)),
                }
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

fn extract(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return Some(v);
    }
    if let Some(start) = trimmed.find("```") {
        let after = &trimmed[start + 3..];
        let body = after.split_once('\n').map_or(after, |(first, rest)| {
            if first.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
                rest
            } else {
                after
            }
        });
        if let Some(end) = body.find("```")
            && let Ok(v) = serde_json::from_str::<Value>(body[..end].trim())
        {
            return Some(v);
        }
    }
    let start = trimmed.find('{')?;
    let end = trimmed.rfind('}')?;
    (end > start)
        .then(|| serde_json::from_str::<Value>(&trimmed[start..=end]).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_fenced_and_wrapped_json_are_accepted() {
        let want = json!({"records": []});
        for text in [
            r#"{"records": []}"#,
            "```json\n{\"records\": []}\n```",
            "```\n{\"records\": []}\n```",
            "Here is the draft:\n```json\n{\"records\": []}\n```\nAnything else?",
            "Sure! {\"records\": []} Hope that helps.",
        ] {
            assert_eq!(extract_json(text), Some(want.clone()), "{text}");
        }
    }

    #[test]
    fn raw_newlines_and_tabs_inside_strings_are_read() {
        let text = "{\"records\": [{\"fields\": {\"Description\": \"line one\nline\ttwo\"}}]}";
        let v = extract_json(text).expect("control characters are escaped");
        assert_eq!(
            v["records"][0]["fields"]["Description"],
            "line one\nline\ttwo"
        );
        // Newlines between tokens were always fine and stay so.
        assert_eq!(
            extract_json("{\n  \"records\": []\n}"),
            Some(json!({"records": []}))
        );
    }

    #[test]
    fn prose_is_not_json() {
        assert_eq!(
            extract_json("Sure! Here is the lead: Daniel Reed, Apex Corp."),
            None
        );
        assert_eq!(extract_json("{ not json }"), None);
        assert_eq!(extract_json(""), None);
    }
}
