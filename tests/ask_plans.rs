//! The questions fixture (tests/fixtures/questions.json): every plan with a `soql` validates
//! against a realistic schema and compiles to exactly that SOQL (whitespace aside); every
//! plan with a `reject` is refused with a message naming what `reject` names. Every compiled
//! query — the fixture's and the hostile corpus's — is also accepted by the crate's own SOQL
//! parser and by an independent one, `@jetstreamapp/soql-parser-js` (tools/soql-check).
//!
//! The independent check needs `npm ci --prefix tools/soql-check`. Without it the check is
//! skipped with a note, except under CI (env `CI` set), where it fails.

mod ask_support;
mod soql_check;

use serde::Deserialize;
use serde_json::Value;

use crmbot::domain::plan::testing::{SAMPLE_ME, sample_schema};
use crmbot::domain::plan::{PlanLimits, mentions_me, validate_plan};
use crmbot::domain::soql::compile;
use crmbot::sandbox::soql;

use ask_support::{TEXT_FIELDS, TEXT_OPS, hostile_values, plan_with, validate};
use soql_check::independent_parser;

#[derive(Debug, Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    question: String,
    plan: Value,
    #[serde(default)]
    soql: Option<String>,
    #[serde(default)]
    reject: Option<String>,
}

fn cases() -> Vec<Case> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/questions.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fixture.cases
}

fn normalize(soql: &str) -> String {
    soql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The fixture's compiled queries, by case id.
fn fixture_queries() -> Vec<(String, String)> {
    cases()
        .into_iter()
        .filter(|c| c.soql.is_some())
        .map(|c| (c.id, compile(&validate(&c.plan))))
        .collect()
}

/// Every hostile value in every text filter position, compiled.
fn hostile_queries() -> Vec<String> {
    let values = hostile_values();
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let other = &values[(i + 1) % values.len()];
        for field in TEXT_FIELDS {
            for op in TEXT_OPS {
                out.push(compile(&validate(&plan_with(field, op, value, other))));
            }
        }
    }
    out
}

#[test]
fn every_fixture_case_compiles_to_its_soql_or_is_refused() {
    let schema = sample_schema();
    let limits = PlanLimits::default();
    let cases = cases();
    assert!(cases.len() >= 10, "the fixture has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let result = validate_plan(&case.plan, &schema, &limits, Some(SAMPLE_ME));
        match (&case.soql, &case.reject, result) {
            (Some(want), None, Ok(plan)) => {
                let have = compile(&plan);
                if normalize(&have) != normalize(want) {
                    failures.push(format!("{}: expected\n  {want}\ngot\n  {have}", case.id));
                }
            }
            (Some(_), None, Err(problems)) => {
                failures.push(format!("{}: refused: {problems:?}", case.id));
            }
            (None, Some(reject), Err(problems)) => {
                // The key noun: the first word of `reject` ("User", "SOONISH").
                let noun = reject.split_whitespace().next().unwrap_or_default();
                if !problems.iter().any(|p| p.message.contains(noun)) {
                    failures.push(format!(
                        "{}: refused, but no problem names {noun:?}: {problems:?}",
                        case.id
                    ));
                }
            }
            (None, Some(_), Ok(plan)) => {
                failures.push(format!("{}: accepted: {}", case.id, compile(&plan)));
            }
            _ => failures.push(format!("{}: give exactly one of soql / reject", case.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn me_is_needed_exactly_for_the_cases_that_say_it() {
    let schema = sample_schema();
    let limits = PlanLimits::default();
    let mut seen = 0;
    for case in cases() {
        let says_me = case.plan.to_string().contains("\"$me\"");
        assert_eq!(mentions_me(&case.plan), says_me, "{}", case.id);
        if says_me && case.soql.is_some() {
            seen += 1;
            let problems = validate_plan(&case.plan, &schema, &limits, None).unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.message == "crmbot could not tell who you are in Salesforce."),
                "{}: {problems:?}",
                case.id
            );
        }
    }
    assert!(seen > 0, "the fixture has a $me case");
}

#[test]
fn limits_above_the_maximum_are_capped_and_say_so() {
    for case in cases().into_iter().filter(|c| c.soql.is_some()) {
        let plan = validate(&case.plan);
        let asked = case.plan["limit"].as_u64().unwrap_or(0);
        assert_eq!(plan.capped, asked > 200, "{} ({})", case.id, case.question);
    }
}

#[test]
fn every_compiled_query_parses_in_the_crate_parser() {
    let mut queries: Vec<String> = fixture_queries().into_iter().map(|(_, q)| q).collect();
    queries.extend(hostile_queries());
    for q in &queries {
        if let Err(e) = soql::parse(q) {
            panic!("the sandbox parser refuses {}: {e}", q.escape_debug());
        }
    }
}

#[test]
fn every_compiled_query_is_accepted_by_the_independent_parser() {
    let fixture = fixture_queries();
    let mut queries: Vec<String> = fixture.iter().map(|(_, q)| q.clone()).collect();
    queries.extend(hostile_queries());
    let Some(verdicts) = independent_parser(&queries) else {
        return;
    };
    let rejected: Vec<String> = queries
        .iter()
        .zip(&verdicts)
        .enumerate()
        .filter(|(_, (_, v))| v["ok"] != Value::Bool(true))
        .map(|(i, (q, v))| {
            let from = fixture
                .get(i)
                .map_or("hostile corpus", |(id, _)| id.as_str());
            let shown: String = q.escape_debug().to_string().chars().take(300).collect();
            format!("{from}: {shown}\n  parser: {}", v["error"])
        })
        .collect();
    assert!(
        rejected.is_empty(),
        "@jetstreamapp/soql-parser-js rejects {} of {} compiled queries:\n\n{}",
        rejected.len(),
        queries.len(),
        rejected.join("\n\n")
    );
}
