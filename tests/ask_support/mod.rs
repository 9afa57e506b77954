//! Shared helpers for the ask-plan tests: the hostile value corpus, plans that put a value in
//! every filter position that takes text, and the independent SOQL parser
//! (tools/soql-check, `@jetstreamapp/soql-parser-js`).
#![allow(dead_code)]

use serde_json::{Value, json};

use crmbot::domain::plan::testing::{SAMPLE_ME, sample_schema};
use crmbot::domain::plan::{Op, PlanLimits, ValidatedPlan, validate_plan};

/// Values a question may carry that must stay one string literal: quotes, backslashes,
/// escapes, control characters, LIKE wildcards, SOQL keywords and fragments, Unicode (emoji,
/// RTL, combining marks, separators) and long strings. None is blank (like needs text).
pub fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "O'Brien",
        "'",
        "''",
        "\\",
        "\\\\",
        "ends with \\",
        "\\'",
        "'\\",
        "\\' OR Id != null",
        "x' OR Name != '",
        "') OR (Id != null",
        "' OR '1'='1",
        "x'); DELETE FROM Account; --",
        "LIMIT 1",
        "' LIMIT 1 --",
        "' ORDER BY Name --",
        "Name = 'x'",
        "SELECT Id FROM User",
        "AND",
        "null",
        "NULL",
        "true",
        "TODAY",
        "LAST_N_DAYS:30",
        "2026-01-01",
        "-1",
        "1e5",
        ":name",
        "{!x}",
        "%",
        "_",
        "%%",
        "50%_off",
        "100%",
        "a_b",
        "\\%",
        "\\_",
        "%' OR Name LIKE '%",
        "line\nbreak",
        "cr\rhere",
        "tab\there",
        "\r\nx",
        "\\n not a newline",
        "\\u0041 not an A",
        "bell\u{7}",
        "backspace\u{8}",
        "formfeed\u{c}",
        "nul\u{0}byte",
        "\u{1}\u{2}\u{1f}",
        "del\u{7f}",
        "\u{85}next line",
        "line\u{2028}separator",
        "para\u{2029}separator",
        "\"double\"",
        "`backtick`",
        "emoji 😀🚀",
        "family 👨‍👩‍👧",
        "flag 🇫🇷",
        "עברית RTL",
        "العربية",
        "\u{202e}override",
        "zero\u{200b}width",
        "日本語の会社",
        "Ünïcödé GmbH",
        "combining e\u{301}",
        "  padded  ",
        "O'Reilly & Sons Ltd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    values.push("a".repeat(3_000));
    values.push("'".repeat(1_500));
    values.push("\\".repeat(1_000));
    values.push("%_".repeat(500));
    values.push("😀".repeat(1_000));
    values
}

/// The text-taking filter positions: operator, and fields on Opportunity.
pub const TEXT_OPS: [Op; 5] = [Op::Eq, Op::Ne, Op::Like, Op::In, Op::NotIn];
pub const TEXT_FIELDS: [&str; 2] = ["Name", "Account.Name"];

/// A plan with one filter `field op value` (a list `[value, other]` for in / not_in).
pub fn plan_with(field: &str, op: Op, value: &str, other: &str) -> Value {
    let value = if op.takes_list() {
        json!([value, other])
    } else {
        json!(value)
    };
    json!({"object": "Opportunity", "fields": ["Id", "Name"],
           "filters": [{"field": field, "op": op.name(), "value": value}],
           "limit": 10})
}

/// Validates against the sample schema, `$me` = the fixture's user.
pub fn validate(plan: &Value) -> ValidatedPlan {
    validate_plan(
        plan,
        &sample_schema(),
        &PlanLimits::default(),
        Some(SAMPLE_ME),
    )
    .unwrap_or_else(|p| panic!("{plan} was refused: {p:?}"))
}
