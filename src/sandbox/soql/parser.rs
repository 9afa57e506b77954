//! Tokens -> `Query`. The grammar is the subset crmbot emits plus common hand-written forms;
//! every clause outside it is refused by name ("GROUP BY is not supported by the sandbox"),
//! so a test can never pass on a query the sandbox silently misread.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::SoqlError;
use super::dates::{FIXED_LITERALS, N_LITERALS};
use super::lexer::{LitChar, Token, lex};
use super::unsupported::{self, unsupported};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Select,
    pub object: String,
    pub filter: Option<Cond>,
    pub order: Vec<Order>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    /// `SELECT COUNT()`.
    Count,
    Fields(Vec<Vec<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        path: Vec<String>,
        op: Op,
        value: Literal,
    },
    In {
        path: Vec<String>,
        negated: bool,
        values: Vec<Literal>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Str(Vec<LitChar>),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    /// A date literal such as THIS_MONTH or LAST_N_DAYS:30 (name upper-cased).
    Relative {
        name: String,
        n: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub path: Vec<String>,
    pub descending: bool,
    pub nulls_last: bool,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

pub fn parse(text: &str) -> Result<Query, SoqlError> {
    let tokens = lex(text)?;
    unsupported::scan(&tokens)?;
    let mut p = Parser { tokens, at: 0 };
    let query = p.query()?;
    if let Some(t) = p.peek() {
        return Err(SoqlError::Malformed(format!(
            "unexpected {} after the query",
            show(t)
        )));
    }
    Ok(query)
}

fn show(t: &Token) -> String {
    match t {
        Token::Ident(s) | Token::Number(s) => format!("'{s}'"),
        Token::Str(_) => "a string".into(),
        Token::Date(d) => format!("'{d}'"),
        Token::DateTime(d) => format!("'{}'", d.to_rfc3339()),
        Token::Comma => "','".into(),
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::Dot => "'.'".into(),
        Token::Colon => "':'".into(),
        Token::Op(op) => format!("'{op}'"),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {kw}")))
        }
    }

    fn expect(&mut self, want: &Token, what: &str) -> Result<(), SoqlError> {
        if self.peek() == Some(want) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {what}")))
        }
    }

    fn unexpected(&self, what: &str) -> SoqlError {
        match self.peek() {
            Some(t) => SoqlError::Malformed(format!("{what}, found {}", show(t))),
            None => SoqlError::Malformed(format!("{what}, found the end of the query")),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        let select = self.select_list()?;
        self.expect_kw("FROM")?;
        let object = match self.next() {
            Some(Token::Ident(o)) => o,
            _ => {
                return Err(SoqlError::Malformed(
                    "expected an object name after FROM".into(),
                ));
            }
        };
        if let Some(Token::Ident(alias)) = self.peek()
            && !["WHERE", "ORDER", "LIMIT", "OFFSET"]
                .iter()
                .any(|k| alias.eq_ignore_ascii_case(k))
        {
            return Err(unsupported(&format!(
                "an object alias (FROM {object} {alias})"
            )));
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let path = self.function_or_path()?;
                let descending = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let nulls_last = if self.eat_kw("NULLS") {
                    if self.eat_kw("LAST") {
                        true
                    } else {
                        self.expect_kw("FIRST")?;
                        false
                    }
                } else {
                    descending
                };
                order.push(Order {
                    path,
                    descending,
                    nulls_last,
                });
                if self.peek() != Some(&Token::Comma) {
                    break;
                }
                self.at += 1;
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.count("LIMIT")?)
        } else {
            None
        };
        let offset = if self.eat_kw("OFFSET") {
            Some(self.count("OFFSET")?)
        } else {
            None
        };
        if let Some(o) = offset
            && o > 2000
        {
            return Err(SoqlError::OutOfRange(format!(
                "Maximum SOQL offset allowed is 2000 (OFFSET {o})"
            )));
        }
        Ok(Query {
            select,
            object,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn count(&mut self, clause: &str) -> Result<usize, SoqlError> {
        match self.next() {
            Some(Token::Number(n)) => n.parse().map_err(|_| {
                SoqlError::Malformed(format!("{clause} takes a whole number, not {n}"))
            }),
            _ => Err(SoqlError::Malformed(format!(
                "{clause} takes a whole number"
            ))),
        }
    }

    fn select_list(&mut self) -> Result<Select, SoqlError> {
        if self.is_kw("COUNT") && self.tokens.get(self.at + 1) == Some(&Token::LParen) {
            self.at += 2;
            if self.peek() != Some(&Token::RParen) {
                return Err(unsupported("COUNT(field) and other aggregate functions"));
            }
            self.at += 1;
            return Ok(Select::Count);
        }
        let mut fields = Vec::new();
        loop {
            if self.peek() == Some(&Token::LParen) {
                return Err(unsupported("a child subquery"));
            }
            let path = self.path()?;
            if self.peek() == Some(&Token::LParen) {
                return Err(unsupported(&format!("the function {}()", path.join("."))));
            }
            // Names are case-insensitive, so `Id, id` selects Id twice.
            if fields.iter().any(|f: &Vec<String>| {
                f.len() == path.len() && f.iter().zip(&path).all(|(a, b)| a.eq_ignore_ascii_case(b))
            }) {
                return Err(SoqlError::Malformed(format!(
                    "duplicate field selected: {}",
                    path.join(".")
                )));
            }
            fields.push(path);
            if self.peek() != Some(&Token::Comma) {
                break;
            }
            self.at += 1;
        }
        if let Some(Token::Ident(w)) = self.peek()
            && !w.eq_ignore_ascii_case("FROM")
        {
            return Err(SoqlError::Malformed(format!(
                "unexpected '{w}' in the field list (aliases are not supported by the sandbox)"
            )));
        }
        Ok(Select::Fields(fields))
    }

    fn path(&mut self) -> Result<Vec<String>, SoqlError> {
        let mut parts = Vec::new();
        loop {
            match self.next() {
                Some(Token::Ident(name)) => parts.push(name),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("expected a field name"));
                }
            }
            if self.peek() != Some(&Token::Dot) {
                return Ok(parts);
            }
            self.at += 1;
        }
    }

    /// A field path where a function call (DISTANCE(...), CALENDAR_YEAR(...)) may stand
    /// instead: refused by name.
    fn function_or_path(&mut self) -> Result<Vec<String>, SoqlError> {
        let path = self.path()?;
        if self.peek() == Some(&Token::LParen) {
            return Err(unsupported(&format!("the function {}()", path.join("."))));
        }
        Ok(path)
    }

    /// AND and OR may not be mixed without parentheses, as in Salesforce.
    fn condition(&mut self) -> Result<Cond, SoqlError> {
        let first = self.unary()?;
        let mut items = vec![first];
        let mut joiner: Option<&str> = None;
        loop {
            let word = if self.is_kw("AND") {
                "AND"
            } else if self.is_kw("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != word) {
                return Err(SoqlError::Malformed(
                    "AND and OR must be grouped with parentheses when mixed".into(),
                ));
            }
            joiner = Some(word);
            self.at += 1;
            items.push(self.unary()?);
        }
        Ok(match (joiner, items.len()) {
            (_, 1) => items.remove(0),
            (Some("OR"), _) => Cond::Or(items),
            _ => Cond::And(items),
        })
    }

    fn unary(&mut self) -> Result<Cond, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::LParen) {
            self.at += 1;
            if self.is_kw("SELECT") {
                return Err(unsupported("a semi-join subquery"));
            }
            let inner = self.condition()?;
            self.expect(&Token::RParen, "')'")?;
            return Ok(inner);
        }
        let path = self.function_or_path()?;
        if self.eat_kw("NOT") {
            self.expect_kw("IN")?;
            return Ok(Cond::In {
                path,
                negated: true,
                values: self.list()?,
            });
        }
        if self.eat_kw("IN") {
            return Ok(Cond::In {
                path,
                negated: false,
                values: self.list()?,
            });
        }
        let op = if self.eat_kw("LIKE") {
            Op::Like
        } else {
            match self.next() {
                Some(Token::Op(op)) => match op {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    _ => Op::Ge,
                },
                _ => {
                    self.at -= 1;
                    return Err(
                        self.unexpected(&format!("expected an operator after {}", path.join(".")))
                    );
                }
            }
        };
        let value = self.literal()?;
        if op == Op::Like && !matches!(value, Literal::Str(_)) {
            return Err(SoqlError::Malformed("LIKE takes a string pattern".into()));
        }
        if op != Op::Like
            && let Literal::Str(chars) = &value
            && chars
                .iter()
                .any(|c| matches!(c, LitChar::EscapedWildcard(_)))
        {
            return Err(SoqlError::Malformed(
                "\\% and \\_ may only be used with LIKE".into(),
            ));
        }
        Ok(Cond::Compare { path, op, value })
    }

    fn list(&mut self) -> Result<Vec<Literal>, SoqlError> {
        self.expect(&Token::LParen, "'(' after IN")?;
        if self.is_kw("SELECT") {
            return Err(unsupported("a semi-join subquery"));
        }
        let mut values = vec![self.literal()?];
        while self.peek() == Some(&Token::Comma) {
            self.at += 1;
            values.push(self.literal()?);
        }
        self.expect(&Token::RParen, "')' to close the IN list")?;
        Ok(values)
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Number(n)) => n
                .parse()
                .map(Literal::Number)
                .map_err(|_| SoqlError::Malformed(format!("invalid number {n}"))),
            Some(Token::Date(d)) => Ok(Literal::Date(d)),
            Some(Token::DateTime(d)) => Ok(Literal::DateTime(d)),
            Some(Token::Ident(word)) => {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => Ok(Literal::Null),
                    "TRUE" => Ok(Literal::Bool(true)),
                    "FALSE" => Ok(Literal::Bool(false)),
                    u if FIXED_LITERALS.contains(&u) => Ok(Literal::Relative {
                        name: upper,
                        n: None,
                    }),
                    u if N_LITERALS.contains(&u) => {
                        self.expect(&Token::Colon, &format!("':n' after {u}"))?;
                        match self.next() {
                            Some(Token::Number(n)) if n.chars().all(|c| c.is_ascii_digit()) => {
                                let n: i64 = n.parse().map_err(|_| {
                                    SoqlError::Malformed(format!("invalid count in {u}:{n}"))
                                })?;
                                Ok(Literal::Relative {
                                    name: upper,
                                    n: Some(n),
                                })
                            }
                            _ => Err(SoqlError::Malformed(format!(
                                "{u} needs a whole number, e.g. {u}:30"
                            ))),
                        }
                    }
                    u if u.len() > 3
                        && u[..3].chars().all(|c| c.is_ascii_alphabetic())
                        && u[3..].chars().all(|c| c.is_ascii_digit() || c == '.') =>
                    {
                        Err(unsupported("a currency literal"))
                    }
                    _ => Err(SoqlError::Malformed(format!("unknown value '{word}'"))),
                }
            }
            Some(t) => Err(SoqlError::Malformed(format!(
                "expected a value, found {}",
                show(&t)
            ))),
            None => Err(SoqlError::Malformed(
                "expected a value, found the end of the query".into(),
            )),
        }
    }
}
