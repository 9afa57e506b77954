//! Getting JSON out of a model's text, tolerantly: local servers and weaker models wrap it in
//! a ```json fence or a sentence. Whatever comes out is validated anyway.

use serde_json::Value;

/// The JSON object in a reply: the whole text, the inside of a code fence, or the outermost
/// `{...}` with text around it.
pub fn extract_json(text: &str) -> Option<Value> {
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
    fn prose_is_not_json() {
        assert_eq!(
            extract_json("Sure! Here is the lead: Daniel Reed, Apex Corp."),
            None
        );
        assert_eq!(extract_json("{ not json }"), None);
        assert_eq!(extract_json(""), None);
    }
}
