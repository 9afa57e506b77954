//! SOQL text -> tokens. String literals are decoded here with Salesforce's exact escape
//! list; `\%` and `\_` are kept apart from plain `%` and `_` because only LIKE may use them.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::SoqlError;

/// One character of a string literal: escaped LIKE wildcards stay distinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LitChar {
    Plain(char),
    /// `\%` or `\_`: a literal percent or underscore inside a LIKE pattern.
    EscapedWildcard(char),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    Number(String),
    Str(Vec<LitChar>),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    Comma,
    LParen,
    RParen,
    Dot,
    Colon,
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
}

pub fn lex(text: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let bad = |msg: String| Err(SoqlError::Malformed(msg));
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ',' => push(&mut tokens, &mut i, Token::Comma),
            '(' => push(&mut tokens, &mut i, Token::LParen),
            ')' => push(&mut tokens, &mut i, Token::RParen),
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                push(&mut tokens, &mut i, Token::Dot)
            }
            ':' => push(&mut tokens, &mut i, Token::Colon),
            '=' => push(&mut tokens, &mut i, Token::Op("=")),
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op("!="));
                i += 2;
            }
            '<' | '>' => {
                let next = chars.get(i + 1);
                let (op, len) = match (c, next) {
                    ('<', Some('=')) => ("<=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    _ => (">", 1),
                };
                tokens.push(Token::Op(op));
                i += len;
            }
            '\'' => {
                let (lit, next) = string(&chars, i + 1)?;
                tokens.push(Token::Str(lit));
                i = next;
            }
            '"' => return bad("strings take single quotes in SOQL".into()),
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | ':' | '-' | '+'))
                {
                    // A colon or sign only continues a datetime (2026-11-25T10:00:00+01:00),
                    // and a dash a date (2026-11-25).
                    let in_time = chars[start..i].contains(&'T');
                    let date_dash = chars[i] == '-' && (i - start == 4 || i - start == 7);
                    if matches!(chars[i], ':' | '+' | '-') && !in_time && !date_dash {
                        break;
                    }
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(number_or_date(&word)?);
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return bad(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

fn push(tokens: &mut Vec<Token>, i: &mut usize, t: Token) {
    tokens.push(t);
    *i += 1;
}

/// Decodes a quoted string starting after its opening quote; returns it and the index after
/// the closing quote.
fn string(chars: &[char], mut i: usize) -> Result<(Vec<LitChar>, usize), SoqlError> {
    let mut out = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '\'' => return Ok((out, i + 1)),
            '\\' => {
                let Some(&e) = chars.get(i + 1) else { break };
                let c = match e {
                    'n' | 'N' => '\n',
                    'r' | 'R' => '\r',
                    't' | 'T' => '\t',
                    'b' | 'B' => '\u{8}',
                    'f' | 'F' => '\u{c}',
                    '"' => '"',
                    '\'' => '\'',
                    '\\' => '\\',
                    '%' | '_' => {
                        out.push(LitChar::EscapedWildcard(e));
                        i += 2;
                        continue;
                    }
                    'u' => {
                        let hex: String = chars.get(i + 2..i + 6).unwrap_or(&[]).iter().collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                SoqlError::Malformed(format!("invalid unicode escape \\u{hex}"))
                            })?;
                        out.push(LitChar::Plain(code));
                        i += 6;
                        continue;
                    }
                    other => {
                        return Err(SoqlError::Malformed(format!(
                            "invalid escape sequence \\{other} in a string"
                        )));
                    }
                };
                out.push(LitChar::Plain(c));
                i += 2;
            }
            c => {
                out.push(LitChar::Plain(c));
                i += 1;
            }
        }
    }
    Err(SoqlError::Malformed("unterminated string literal".into()))
}

fn number_or_date(word: &str) -> Result<Token, SoqlError> {
    if word.len() >= 10 && word.as_bytes().get(4) == Some(&b'-') {
        if word.len() == 10 {
            return NaiveDate::parse_from_str(word, "%Y-%m-%d")
                .map(Token::Date)
                .map_err(|_| SoqlError::Malformed(format!("invalid date {word}")));
        }
        let normalized = word.replace('z', "Z");
        return DateTime::parse_from_rfc3339(&normalized)
            .or_else(|_| DateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .map(Token::DateTime)
            .map_err(|_| {
                SoqlError::Malformed(format!(
                    "invalid datetime {word} (a time zone, Z or +hh:mm, is required)"
                ))
            });
    }
    let digits = word.trim_start_matches(['-', '+']);
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    if valid {
        Ok(Token::Number(word.to_string()))
    } else {
        Err(SoqlError::Malformed(format!("invalid number {word}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &Token) -> String {
        match t {
            Token::Str(chars) => chars
                .iter()
                .map(|c| match c {
                    LitChar::Plain(c) => c.to_string(),
                    LitChar::EscapedWildcard(c) => format!("[{c}]"),
                })
                .collect(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_documented_escape_decodes() {
        let t = lex(r#"'a\nb\Nc\rd\te\bf\fg\'h\\i\"j\u00e9\%\_'"#).unwrap();
        assert_eq!(text(&t[0]), "a\nb\nc\rd\te\u{8}f\u{c}g'h\\i\"jé[%][_]");
        assert!(lex(r"'bad \q escape'").is_err());
        assert!(lex("'unterminated").is_err());
        assert!(lex("\"double\"").is_err());
    }

    #[test]
    fn numbers_dates_and_datetimes() {
        let t = lex("Amount > -1.5 AND CloseDate = 2026-11-25 AND CreatedDate > 2026-01-01T00:00:00Z AND X < 2026-01-01T10:00:00+01:00").unwrap();
        assert!(t.contains(&Token::Number("-1.5".into())));
        assert!(t.contains(&Token::Date(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())));
        assert_eq!(
            t.iter().filter(|t| matches!(t, Token::DateTime(_))).count(),
            2
        );
        assert!(
            lex("X = 2026-01-01T00:00:00").is_err(),
            "a datetime needs a zone"
        );
        assert!(lex("X = 2026-13-45").is_err());
        assert!(lex("X = 1.5e3").is_err());
    }

    #[test]
    fn literal_with_count_and_operators() {
        let t = lex("LAST_N_DAYS:30 <> != <= >=").unwrap();
        assert_eq!(
            t,
            vec![
                Token::Ident("LAST_N_DAYS".into()),
                Token::Colon,
                Token::Number("30".into()),
                Token::Op("!="),
                Token::Op("!="),
                Token::Op("<="),
                Token::Op(">=")
            ]
        );
    }
}
