//! The salesperson's note text. It is customer data: it may hold names, emails and deal
//! terms, so its `Debug` form prints only its length and it can never leak into a log line by
//! accident (`?notes` is safe; the text itself is logged only at debug level, on purpose).

use std::fmt;

/// The built-in sample note: what `crmbot extract --sample` drafts from and what
/// `crmbot doctor` drafts to prove the model and the org work together.
pub const SAMPLE_NOTE: &str = "We spoke with Daniel Reed from Apex Corp. He wants a demo next week for the enterprise plan. His email is daniel@apex.example.";

/// Notes as typed after `/crm log`, or read by `crmbot extract`. Untrusted data.
#[derive(Clone, PartialEq, Eq)]
pub struct Notes(String);

impl Notes {
    /// Wraps the text, trimming surrounding white space.
    pub fn new(text: impl Into<String>) -> Self {
        Notes(text.into().trim().to_string())
    }

    /// The text itself; call sites that log it must do so at debug level only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when there is nothing but white space.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in characters (what a user counts), not bytes.
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Notes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notes(len: {})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_text() {
        let notes = Notes::new("  daniel@apex.example wants a demo ");
        let shown = format!("{notes:?}");
        assert!(!shown.contains("daniel"), "{shown}");
        assert_eq!(shown, "Notes(len: 32)");
        assert_eq!(notes.as_str(), "daniel@apex.example wants a demo");
    }
}
