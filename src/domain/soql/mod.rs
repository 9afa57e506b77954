//! SOQL text is built here and nowhere else, only from values that passed validation: literal
//! quoting (used by the duplicate check and the compiler) and `compile`, which turns a
//! `ValidatedPlan` of the read path (`/crm ask`) into a query. Quoting follows Salesforce's
//! documented escape list (salesforce.md §5.4): the backslash first, then quotes and control
//! characters.

mod compile;

pub use compile::compile;

/// A SOQL string literal, quotes included: `O'Brien` -> `'O\'Brien'`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    push_escaped(&mut out, value, false);
    out.push('\'');
    out
}

/// A SOQL LIKE pattern that matches `value` literally somewhere in the field:
/// `50%_off` -> `'%50\%\_off%'`.
pub fn quote_contains(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    out.push_str("'%");
    push_escaped(&mut out, value, true);
    out.push_str("%'");
    out
}

fn push_escaped(out: &mut String, value: &str, like: bool) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '%' if like => out.push_str("\\%"),
            '_' if like => out.push_str("\\_"),
            // Other control characters have no SOQL escape; \uXXXX keeps them exact. The
            // Unicode line and paragraph separators too: parsers that read a string literal
            // line by line (soql-parser-js) stop at them.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_escaped_backslash_first() {
        assert_eq!(quote("O'Reilly & Sons Ltd"), r"'O\'Reilly & Sons Ltd'");
        assert_eq!(quote(r"ends with \"), r"'ends with \\'");
        assert_eq!(quote(r"\' OR Id != null"), r"'\\\' OR Id != null'");
        assert_eq!(quote("a\nb\t\"c\""), r#"'a\nb\t\"c\"'"#);
    }

    #[test]
    fn like_wildcards_are_literal_inside_contains() {
        assert_eq!(quote_contains("50%_off"), r"'%50\%\_off%'");
        assert_eq!(quote("50%_off"), "'50%_off'");
    }

    #[test]
    fn other_control_characters_become_unicode_escapes() {
        assert_eq!(quote("a\u{1}b"), r"'a\u0001b'");
        assert_eq!(quote("a\u{2028}b\u{0}"), r"'a\u2028b\u0000'");
    }
}
