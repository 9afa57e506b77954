//! SOQL that Salesforce has and the sandbox does not. Such a query is refused with a
//! `MALFORMED_QUERY` that names the feature ("WITH SECURITY_ENFORCED is not supported by the
//! sandbox"), so a test can never pass on a query the sandbox silently misread.
//! tests/soql/unsupported.json lists every refused form.

use super::SoqlError;
use super::lexer::Token;

/// Keywords of clauses and forms the sandbox lacks, and how the message names them.
const KEYWORDS: &[(&str, &str)] = &[
    ("GROUP", "GROUP BY"),
    ("HAVING", "HAVING"),
    ("ROLLUP", "GROUP BY ROLLUP"),
    ("CUBE", "GROUP BY CUBE"),
    ("WITH", "WITH"),
    ("FOR", "FOR VIEW/REFERENCE/UPDATE"),
    ("UPDATE", "UPDATE TRACKING/VIEWSTAT"),
    ("USING", "USING SCOPE"),
    ("TYPEOF", "TYPEOF"),
    ("INCLUDES", "INCLUDES"),
    ("EXCLUDES", "EXCLUDES"),
];

/// Keywords named together with the word after them: WITH SECURITY_ENFORCED, FOR UPDATE,
/// UPDATE TRACKING.
const NAMED_WITH_NEXT_WORD: &[&str] = &["WITH", "FOR", "UPDATE"];

/// The error for an unsupported form.
pub fn unsupported(what: &str) -> SoqlError {
    SoqlError::Malformed(format!("{what} is not supported by the sandbox"))
}

fn is_ident(t: Option<&Token>, word: &str) -> bool {
    matches!(t, Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
}

/// Refuses a query that uses any unsupported keyword, naming every one it uses. A word right
/// after FROM or next to a dot is an object or field name (`FROM Group`), not a keyword.
pub fn scan(tokens: &[Token]) -> Result<(), SoqlError> {
    let mut found: Vec<String> = Vec::new();
    // The word after WITH / FOR / UPDATE belongs to it (FOR UPDATE is not UPDATE TRACKING).
    let mut named_already = false;
    for (i, t) in tokens.iter().enumerate() {
        let Token::Ident(word) = t else { continue };
        if std::mem::take(&mut named_already) {
            continue;
        }
        let before = i.checked_sub(1).and_then(|b| tokens.get(b));
        let after = tokens.get(i + 1);
        if is_ident(before, "FROM") || before == Some(&Token::Dot) || after == Some(&Token::Dot) {
            continue;
        }
        let upper = word.to_ascii_uppercase();
        let Some((keyword, name)) = KEYWORDS.iter().find(|(k, _)| *k == upper) else {
            continue;
        };
        let name = match after {
            Some(Token::Ident(next)) if NAMED_WITH_NEXT_WORD.contains(keyword) => {
                named_already = true;
                format!("{keyword} {}", next.to_ascii_uppercase())
            }
            _ => name.to_string(),
        };
        if !found.contains(&name) {
            found.push(name);
        }
    }
    // "GROUP BY ROLLUP" already says GROUP BY.
    if found.iter().any(|n| n.starts_with("GROUP BY ")) {
        found.retain(|n| n != "GROUP BY");
    }
    match found.as_slice() {
        [] => Ok(()),
        [one] => Err(unsupported(one)),
        [init @ .., last] => Err(SoqlError::Malformed(format!(
            "{} and {last} are not supported by the sandbox",
            init.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn message(soql: &str) -> String {
        match parse(soql) {
            Err(SoqlError::Malformed(m)) => m,
            other => panic!("{soql}: expected MALFORMED_QUERY, got {other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_feature_and_the_word_after_it() {
        let cases = [
            (
                "SELECT Id FROM Account WITH SECURITY_ENFORCED",
                "WITH SECURITY_ENFORCED is",
            ),
            ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "FOR UPDATE is"),
            ("SELECT Id FROM Account FOR VIEW", "FOR VIEW is"),
            (
                "SELECT Id FROM Account UPDATE TRACKING",
                "UPDATE TRACKING is",
            ),
            (
                "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName HAVING COUNT(Id) > 1",
                "GROUP BY and HAVING are",
            ),
            (
                "SELECT LeadSource, COUNT(Name) FROM Lead GROUP BY ROLLUP(LeadSource)",
                "GROUP BY ROLLUP is",
            ),
        ];
        for (soql, want) in cases {
            let m = message(soql);
            assert!(m.contains(want), "{soql}: {m}");
            assert!(m.ends_with("not supported by the sandbox"), "{soql}: {m}");
        }
    }

    #[test]
    fn functions_in_where_and_order_by_and_object_aliases_are_named() {
        let cases = [
            (
                "SELECT Name FROM Account WHERE DISTANCE(BillingAddress, GEOLOCATION(37.775, -122.418), 'mi') < 20",
                "the function DISTANCE()",
            ),
            (
                "SELECT Name FROM Account ORDER BY DISTANCE(BillingAddress, GEOLOCATION(1, 2), 'mi')",
                "the function DISTANCE()",
            ),
            (
                "SELECT Name FROM Opportunity WHERE CALENDAR_YEAR(CloseDate) = 2026",
                "the function CALENDAR_YEAR()",
            ),
            (
                "SELECT c.Name FROM Contact c WHERE c.LastName = 'Kim'",
                "an object alias (FROM Contact c)",
            ),
        ];
        for (soql, want) in cases {
            let m = message(soql);
            assert!(m.contains(want), "{soql}: {m}");
        }
    }

    #[test]
    fn object_and_field_names_that_look_like_keywords_are_not_refused_as_such() {
        assert!(parse("SELECT Id FROM Group WHERE Type = 'Queue'").is_ok());
        assert!(parse("SELECT Id, Owner.Name FROM Account WHERE Parent.Name = 'x'").is_ok());
    }

    #[test]
    fn a_field_selected_twice_in_any_case_is_malformed() {
        assert!(
            message("SELECT Id, Name, id FROM Account").contains("duplicate field selected: id")
        );
        assert!(
            message("SELECT Account.Name, account.NAME FROM Contact").contains("duplicate field")
        );
        assert!(parse("SELECT Name, Account.Name FROM Contact").is_ok());
    }

    #[test]
    fn offset_above_two_thousand_is_number_outside_valid_range() {
        let e = parse("SELECT Name FROM Account ORDER BY Name OFFSET 2001").unwrap_err();
        assert_eq!(e.error_code(), "NUMBER_OUTSIDE_VALID_RANGE");
        assert!(parse("SELECT Name FROM Account ORDER BY Name OFFSET 2000").is_ok());
    }
}
