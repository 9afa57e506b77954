//! Free text Salesforce already holds is never lost to an update: the new text goes below
//! the current one, dated and signed, or the field is left as it is. Re-logging a meeting
//! with an existing Lead must not wipe the Description people wrote there before.

/// What an update does to a free-text field (Description, NextStep) that already has text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeTextUpdates {
    /// The new text is added below the current one, after a dated, signed line.
    #[default]
    Append,
    /// The current text stays; the new one is not written.
    Keep,
}

/// What becomes of one free-text value on an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The field is empty in Salesforce: the new text is written as it is.
    Empty,
    /// Salesforce's text already contains the new text: there is nothing to add.
    AlreadyThere,
    /// The whole text to write: the current text, the stamp, the new text.
    Text(String),
    /// Both together would pass the field's length (in characters).
    TooLong { chars: usize, max: u32 },
}

/// The line that dates and signs an addition: `[2026-11-25 · Dana Lee via crmbot]`.
pub fn stamp(date: &str, author: &str) -> String {
    let author = author.trim();
    if author.is_empty() {
        format!("[{date} · via crmbot]")
    } else {
        format!("[{date} · {author} via crmbot]")
    }
}

/// Adds `new` below `current`, after `stamp`.
pub fn append(current: &str, new: &str, stamp: &str, max: Option<u32>) -> Appended {
    let current = current.trim_end();
    let new = new.trim();
    if current.trim().is_empty() {
        return Appended::Empty;
    }
    if new.is_empty() || squash(current).contains(&squash(new)) {
        return Appended::AlreadyThere;
    }
    let text = format!("{current}\n\n{stamp}\n{new}");
    let chars = text.chars().count();
    match max {
        Some(max) if chars > max as usize => Appended::TooLong { chars, max },
        _ => Appended::Text(text),
    }
}

/// Lower case, whitespace collapsed: re-logging the same notes adds nothing.
fn squash(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "[2026-11-25 · Dana Lee via crmbot]";

    #[test]
    fn the_new_text_goes_below_the_current_one_after_the_stamp() {
        assert_eq!(
            append("Budget approved.\n", "Wants a pilot.", STAMP, Some(32_000)),
            Appended::Text(format!("Budget approved.\n\n{STAMP}\nWants a pilot."))
        );
        assert_eq!(stamp("2026-11-25", "Dana Lee"), STAMP);
        assert_eq!(stamp("2026-11-25", " "), "[2026-11-25 · via crmbot]");
    }

    #[test]
    fn nothing_is_added_twice_or_to_nothing() {
        assert_eq!(append("", "Wants a pilot.", STAMP, None), Appended::Empty);
        assert_eq!(
            append("  \n", "Wants a pilot.", STAMP, None),
            Appended::Empty
        );
        assert_eq!(
            append(
                &format!("Budget.\n\n{STAMP}\nWants a  pilot."),
                "wants a pilot.",
                STAMP,
                None
            ),
            Appended::AlreadyThere
        );
    }

    #[test]
    fn a_text_that_would_not_fit_is_said_so() {
        assert_eq!(
            append("x".repeat(240).as_str(), "more", STAMP, Some(255)),
            Appended::TooLong {
                chars: 240 + 2 + STAMP.chars().count() + 1 + 4,
                max: 255
            }
        );
    }
}
