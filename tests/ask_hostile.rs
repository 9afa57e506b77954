//! Hostile values cannot change a query's shape: each value of the corpus (and, by proptest,
//! any string) is put in every filter position that takes text — eq, ne, like, in, not_in on
//! Name and on Account.Name — compiled, and parsed back with the crate's SOQL parser. The
//! WHERE clause must be exactly the plan's one condition with the value as its literal (for
//! like: `%` + value + `%`, the value's `%` and `_` escaped), and running the query over a
//! record whose Name is exactly the value must match it (eq, like, in) or not (ne, not_in).

mod ask_support;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crmbot::domain::plan::{self, Op as PlanOp};
use crmbot::domain::soql::compile;
use crmbot::sandbox::soql::{
    self, Cond, ExecContext, FieldInfo, LitChar, Literal, Op, RelationshipInfo, SoqlSource,
};

use ask_support::{TEXT_FIELDS, TEXT_OPS, hostile_values, plan_with, validate};

/// One Opportunity named `name` under one Account named `name`.
struct OneRecord {
    name: String,
}

const OPP: &str = "006xx0000000001AAA";
const ACC: &str = "001xx0000000001AAA";

impl SoqlSource for OneRecord {
    fn object(&self, name: &str) -> Option<String> {
        ["Opportunity", "Account"]
            .into_iter()
            .find(|o| o.eq_ignore_ascii_case(name))
            .map(str::to_string)
    }

    fn field(&self, _object: &str, field: &str) -> Option<FieldInfo> {
        let kind = match field.to_ascii_lowercase().as_str() {
            "id" => "id",
            "name" => "string",
            "accountid" => "reference",
            _ => return None,
        };
        Some(FieldInfo {
            name: field.to_string(),
            kind: kind.into(),
        })
    }

    fn relationship(&self, object: &str, relationship: &str) -> Option<RelationshipInfo> {
        (object == "Opportunity" && relationship.eq_ignore_ascii_case("Account")).then(|| {
            RelationshipInfo {
                name: "Account".into(),
                field: "AccountId".into(),
                targets: vec!["Account".into()],
            }
        })
    }

    fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        match object {
            "Opportunity" => vec![record(
                json!({"Id": OPP, "Name": self.name, "AccountId": ACC}),
            )],
            _ => vec![record(json!({"Id": ACC, "Name": self.name}))],
        }
    }

    fn record(&self, id: &str) -> Option<(String, Map<String, Value>)> {
        (id == ACC).then(|| {
            (
                "Account".to_string(),
                record(json!({"Id": ACC, "Name": self.name})),
            )
        })
    }
}

fn record(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn plain(value: &str) -> Literal {
    Literal::Str(value.chars().map(LitChar::Plain).collect())
}

/// `%value%` with the value's wildcards escaped, as the parser reads it.
fn contains_pattern(value: &str) -> Literal {
    let mut chars = vec![LitChar::Plain('%')];
    chars.extend(value.chars().map(|c| match c {
        '%' | '_' => LitChar::EscapedWildcard(c),
        c => LitChar::Plain(c),
    }));
    chars.push(LitChar::Plain('%'));
    Literal::Str(chars)
}

/// Compiles the plan `field op value` and checks the parsed query's shape and literal, then
/// runs it over a record named `value`. Returns what is wrong, if anything.
fn roundtrip(field: &str, op: PlanOp, value: &str, other: &str) -> Result<(), String> {
    let validated = validate(&plan_with(field, op, value, other));
    let text = compile(&validated);
    let shown = || text.escape_debug().to_string();
    let query = soql::parse(&text).map_err(|e| format!("{}: does not parse: {e}", shown()))?;
    let path: Vec<String> = field.split('.').map(str::to_string).collect();
    let want = match op {
        PlanOp::In | PlanOp::NotIn => Cond::In {
            path,
            negated: op == PlanOp::NotIn,
            values: vec![plain(value), plain(other)],
        },
        PlanOp::Like => Cond::Compare {
            path,
            op: Op::Like,
            value: contains_pattern(value),
        },
        PlanOp::Eq | PlanOp::Ne => Cond::Compare {
            path,
            op: if op == PlanOp::Eq { Op::Eq } else { Op::Ne },
            value: plain(value),
        },
        other => return Err(format!("{other} is not a text position")),
    };
    if query.object != "Opportunity"
        || query.filter.as_ref() != Some(&want)
        || query.limit != Some(10)
    {
        return Err(format!(
            "{}: parsed as {:?} / {:?} / limit {:?}",
            shown(),
            query.object,
            query.filter,
            query.limit
        ));
    }
    let source = OneRecord {
        name: value.to_string(),
    };
    let ctx = ExecContext {
        today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default(),
        api_version: "v62.0",
    };
    let out = soql::execute(&query, &source, &ctx).map_err(|e| format!("{}: {e}", shown()))?;
    let should_match = matches!(op, PlanOp::Eq | PlanOp::Like | PlanOp::In);
    if out.total_size != usize::from(should_match) {
        return Err(format!(
            "{}: matched {} records, expected {}",
            shown(),
            out.total_size,
            usize::from(should_match)
        ));
    }
    Ok(())
}

#[test]
fn the_corpus_is_large_and_hostile_enough() {
    let values = hostile_values();
    assert!(values.len() >= 50, "only {} hostile values", values.len());
    for needle in [
        "'", "\\", "\n", "\r", "\t", "%", "_", "\u{0}", "😀", "\u{202e}",
    ] {
        assert!(
            values.iter().any(|v| v.contains(needle)),
            "no hostile value contains {needle:?}"
        );
    }
    assert!(values.iter().any(|v| v.chars().count() >= 3_000));
}

#[test]
fn hostile_values_stay_one_literal_in_every_text_position() {
    let values = hostile_values();
    let mut failures = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let other = &values[(i + 1) % values.len()];
        for field in TEXT_FIELDS {
            for op in TEXT_OPS {
                if let Err(problem) = roundtrip(field, op, value, other) {
                    failures.push(format!(
                        "{field} {op} {:?}: {problem}",
                        value.escape_debug()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile positions broke:\n\n{}",
        failures.len(),
        values.len() * TEXT_FIELDS.len() * TEXT_OPS.len(),
        failures.join("\n\n")
    );
}

#[test]
fn too_long_values_are_refused_not_truncated() {
    let long = "x".repeat(plan::MAX_TEXT_CHARS + 1);
    let plan = plan_with("Name", PlanOp::Eq, &long, "");
    let problems = plan::validate_plan(
        &plan,
        &plan::testing::sample_schema(),
        &plan::PlanLimits::default(),
        None,
    )
    .unwrap_err();
    assert_eq!(problems[0].path, "filters[0].value");
    assert!(problems[0].message.contains("too long"), "{problems:?}");
}

fn is_me(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case(plan::ME)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_string_round_trips_through_eq(chars in proptest::collection::vec(any::<char>(), 0..80)) {
        let value: String = chars.into_iter().collect();
        prop_assume!(!is_me(&value));
        for field in TEXT_FIELDS {
            let result = roundtrip(field, PlanOp::Eq, &value, "");
            prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        }
    }

    #[test]
    fn any_text_round_trips_through_like(chars in proptest::collection::vec(any::<char>(), 1..80)) {
        let value: String = chars.into_iter().collect();
        prop_assume!(!is_me(&value) && !value.trim().is_empty());
        // The sandbox matches LIKE case-insensitively one character at a time, which differs
        // from lower-casing the whole string for characters such as 'İ' or a final 'Σ'.
        prop_assume!(value.chars().all(|c| c.to_lowercase().count() == 1) && !value.contains('Σ'));
        let result = roundtrip("Name", PlanOp::Like, &value, "");
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
