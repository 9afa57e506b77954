//! `ValidatedPlan` -> SOQL text:
//! `SELECT a, b FROM O WHERE c1 AND c2 ORDER BY f ASC, g DESC LIMIT n`.
//!
//! Validation guarantees the names and values; the compiler still never emits text it did not
//! shape itself: names keep only `[A-Za-z0-9_.]`, date literals only `[A-Za-z0-9_:]`, numbers
//! are formatted from `f64`, and every string goes through `quote` / `quote_contains`. So
//! even a hand-built `ValidatedPlan` cannot smuggle SOQL in, only fail to parse.

use chrono::SecondsFormat;

use super::{quote, quote_contains};
use crate::domain::plan::{Filter, Op, PlanValue, ValidatedPlan};

/// The SOQL query for a validated plan.
pub fn compile(plan: &ValidatedPlan) -> String {
    let fields: Vec<String> = plan.fields.iter().map(|f| name(f)).collect();
    let fields = if fields.is_empty() {
        "Id".to_string()
    } else {
        fields.join(", ")
    };
    let mut soql = format!("SELECT {fields} FROM {}", name(&plan.object));
    if !plan.filters.is_empty() {
        let conditions: Vec<String> = plan.filters.iter().map(condition).collect();
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    if !plan.sort.is_empty() {
        let keys: Vec<String> = plan
            .sort
            .iter()
            .map(|s| {
                let direction = if s.descending { "DESC" } else { "ASC" };
                format!("{} {direction}", name(&s.field))
            })
            .collect();
        soql.push_str(" ORDER BY ");
        soql.push_str(&keys.join(", "));
    }
    soql.push_str(&format!(" LIMIT {}", plan.limit));
    soql
}

fn condition(filter: &Filter) -> String {
    let field = name(&filter.field);
    match filter.op {
        Op::In | Op::NotIn => {
            let mut items = Vec::new();
            flatten(&filter.value, &mut items);
            let items: Vec<String> = items.into_iter().map(literal).collect();
            let op = if filter.op == Op::In { "IN" } else { "NOT IN" };
            format!("{field} {op} ({})", items.join(", "))
        }
        Op::Like => match &filter.value {
            PlanValue::Text(text) => format!("{field} LIKE {}", quote_contains(text)),
            other => format!("{field} LIKE {}", literal(other)),
        },
        op => {
            let symbol = match op {
                Op::Eq => "=",
                Op::Ne => "!=",
                Op::Lt => "<",
                Op::Lte => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            format!("{field} {symbol} {}", literal(&filter.value))
        }
    }
}

fn flatten<'a>(value: &'a PlanValue, out: &mut Vec<&'a PlanValue>) {
    match value {
        PlanValue::List(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// One value as a SOQL literal.
fn literal(value: &PlanValue) -> String {
    match value {
        PlanValue::Null => "null".into(),
        PlanValue::Text(text) | PlanValue::Id(text) => quote(text),
        PlanValue::Number(n) => number(*n),
        PlanValue::Boolean(b) => b.to_string(),
        PlanValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        PlanValue::DateTime(d) => d.to_rfc3339_opts(SecondsFormat::Secs, true),
        PlanValue::DateLiteral(l) => l
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':'))
            .collect(),
        // Only in/not_in take lists (see `condition`); elsewhere a list cannot pass
        // validation, and a hand-built one compiles to text Salesforce refuses.
        PlanValue::List(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("({})", items.join(", "))
        }
    }
}

/// A number without exponent or spurious `.0`: `20000`, `-1.5`, `0.0000001`. Rust's `f64`
/// Display never uses exponent notation, which SOQL would refuse.
fn number(n: f64) -> String {
    if !n.is_finite() {
        return "null".into();
    }
    if n == 0.0 {
        return "0".into();
    }
    n.to_string()
}

/// A field path or object name, restricted to the characters SOQL names are made of.
fn name(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        .collect();
    if kept.is_empty() { "Id".into() } else { kept }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::domain::plan::Sort;

    fn plan(filters: Vec<Filter>) -> ValidatedPlan {
        ValidatedPlan {
            object: "Opportunity".into(),
            fields: vec!["Id".into(), "Name".into()],
            filters,
            sort: vec![],
            limit: 10,
            capped: false,
        }
    }

    fn f(field: &str, op: Op, value: PlanValue) -> Filter {
        Filter {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn every_value_kind_has_its_literal_form() {
        let soql = compile(&plan(vec![
            f("IsClosed", Op::Eq, PlanValue::Boolean(false)),
            f("Amount", Op::Gt, PlanValue::Number(20000.0)),
            f("Probability", Op::Lte, PlanValue::Number(-1.5)),
            f(
                "CloseDate",
                Op::Gte,
                PlanValue::Date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            ),
            f(
                "CreatedDate",
                Op::Lt,
                PlanValue::DateTime(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
            ),
            f(
                "CloseDate",
                Op::Eq,
                PlanValue::DateLiteral("LAST_N_DAYS:30".into()),
            ),
            f(
                "OwnerId",
                Op::Ne,
                PlanValue::Id("005xx0000012345AAA".into()),
            ),
            f("Description", Op::Eq, PlanValue::Null),
            f("Name", Op::Like, PlanValue::Text("50%_off".into())),
            f(
                "StageName",
                Op::NotIn,
                PlanValue::List(vec![
                    PlanValue::Text("a'b".into()),
                    PlanValue::Text("c".into()),
                ]),
            ),
        ]));
        assert_eq!(
            soql,
            "SELECT Id, Name FROM Opportunity WHERE IsClosed = false AND Amount > 20000 \
             AND Probability <= -1.5 AND CloseDate >= 2026-12-31 \
             AND CreatedDate < 2026-01-02T03:04:05Z AND CloseDate = LAST_N_DAYS:30 \
             AND OwnerId != '005xx0000012345AAA' AND Description = null \
             AND Name LIKE '%50\\%\\_off%' AND StageName NOT IN ('a\\'b', 'c') LIMIT 10"
        );
    }

    #[test]
    fn numbers_never_use_exponents() {
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number(f64::NAN), "null");
    }

    #[test]
    fn sort_and_empty_field_list() {
        let mut p = plan(vec![]);
        p.fields.clear();
        p.sort = vec![
            Sort {
                field: "CloseDate".into(),
                descending: false,
            },
            Sort {
                field: "Amount".into(),
                descending: true,
            },
        ];
        assert_eq!(
            compile(&p),
            "SELECT Id FROM Opportunity ORDER BY CloseDate ASC, Amount DESC LIMIT 10"
        );
    }

    #[test]
    fn hand_built_names_cannot_inject() {
        let mut p = plan(vec![f(
            "Name = 'x' OR Id != null OR Name",
            Op::Eq,
            PlanValue::DateLiteral("TODAY OR Id != null".into()),
        )]);
        p.object = "Opportunity WHERE Id != null --".into();
        let soql = compile(&p);
        assert_eq!(
            soql,
            "SELECT Id, Name FROM OpportunityWHEREIdnull WHERE NamexORIdnullORName = TODAYORIdnull LIMIT 10"
        );
    }
}
