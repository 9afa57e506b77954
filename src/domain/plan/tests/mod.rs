//! One test per rule: what is accepted, and each refusal with its message.

mod values;

use serde_json::{Value, json};

use super::testing::{SAMPLE_ME, sample_schema};
use super::*;
use crate::domain::soql::compile;

fn check(plan: Value) -> Result<ValidatedPlan, Vec<PlanProblem>> {
    validate_plan(
        &plan,
        &sample_schema(),
        &PlanLimits::default(),
        Some(SAMPLE_ME),
    )
}

fn ok(plan: Value) -> ValidatedPlan {
    check(plan.clone()).unwrap_or_else(|p| panic!("{plan} was refused: {p:?}"))
}

/// The problems of a refused plan, as `path: message` lines.
fn refused(plan: Value) -> Vec<String> {
    match check(plan.clone()) {
        Ok(v) => panic!("{plan} was accepted: {v:?}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// Refused with exactly one problem at `path` whose message contains `words`.
fn refused_with(plan: Value, path: &str, words: &str) {
    let problems = check(plan.clone()).expect_err("accepted");
    assert_eq!(problems.len(), 1, "{plan}: {problems:#?}");
    assert!(
        problems[0].path == path && problems[0].message.contains(words),
        "{plan}: expected a problem at {path} containing {words:?}, got {problems:#?}"
    );
}

fn filter(field: &str, op: &str, value: Value) -> Value {
    json!({"object": "Opportunity", "fields": ["Id"],
           "filters": [{"field": field, "op": op, "value": value}]})
}

fn value_of(plan: Value) -> PlanValue {
    ok(plan).filters.remove(0).value
}

#[test]
fn the_design_example_is_accepted_and_compiled() {
    let plan = ok(json!({"object": "Opportunity",
        "fields": ["Id", "Name", "StageName", "Amount", "CloseDate", "Owner.Name"],
        "filters": [{"field": "IsClosed", "op": "eq", "value": false},
                    {"field": "Amount", "op": "gt", "value": 20000},
                    {"field": "CloseDate", "op": "eq", "value": "THIS_MONTH"}],
        "sort": [{"field": "CloseDate", "direction": "asc"}],
        "limit": 10}));
    assert_eq!(
        compile(&plan),
        "SELECT Id, Name, StageName, Amount, CloseDate, Owner.Name FROM Opportunity \
         WHERE IsClosed = false AND Amount > 20000 AND CloseDate = THIS_MONTH \
         ORDER BY CloseDate ASC LIMIT 10"
    );
    assert!(!plan.capped);
}

#[test]
fn a_plan_must_be_an_object_naming_a_known_object() {
    refused_with(json!([1, 2]), "", "could not be read");
    refused_with(
        json!({"fields": ["Id"]}),
        "object",
        "does not say what to search",
    );
    refused_with(
        json!({"object": "User", "fields": ["Id", "Password"]}),
        "object",
        "User is not one of the objects crmbot can search (Account, Contact, Lead, Opportunity, Task)",
    );
}

#[test]
fn names_match_case_insensitively_and_come_back_canonical() {
    let plan = ok(
        json!({"object": "opportunity", "fields": ["name", "ACCOUNT.NAME", "id"],
        "filters": [{"field": "stagename", "op": "EQ", "value": "closed won"}],
        "sort": [{"field": "closedate", "direction": "DESC"}]}),
    );
    assert_eq!(plan.object, "Opportunity");
    assert_eq!(plan.fields, ["Name", "Account.Name", "Id"]);
    assert_eq!(plan.filters[0].field, "StageName");
    assert_eq!(plan.filters[0].value, PlanValue::Text("Closed Won".into()));
    assert_eq!(
        plan.sort,
        [Sort {
            field: "CloseDate".into(),
            descending: true
        }]
    );
}

#[test]
fn fields_are_known_deduplicated_and_default_to_id_and_name() {
    refused_with(
        json!({"object": "Opportunity", "fields": ["Id", "Password"]}),
        "fields[1]",
        "Opportunity has no field Password",
    );
    refused_with(
        json!({"object": "Opportunity", "fields": "Name"}),
        "fields",
        "must be a list",
    );
    refused_with(
        json!({"object": "Opportunity", "fields": [42]}),
        "fields[0]",
        "must be a field name",
    );
    let plan = ok(json!({"object": "Lead", "fields": ["Name", "name", "Id", "NAME"]}));
    assert_eq!(plan.fields, ["Name", "Id"]);
    assert_eq!(ok(json!({"object": "Lead"})).fields, ["Id", "Name"]);
    assert_eq!(
        ok(json!({"object": "Task", "fields": []})).fields,
        ["Id", "Subject"]
    );
}

#[test]
fn id_is_selectable_even_when_the_schema_omits_it() {
    let mut schema = sample_schema();
    for object in schema.objects.values_mut() {
        object.fields.retain(|f| f.path != "Id");
    }
    let plan = validate_plan(
        &json!({"object": "Account", "fields": ["id", "Name"]}),
        &schema,
        &PlanLimits::default(),
        None,
    )
    .unwrap();
    assert_eq!(plan.fields, ["Id", "Name"]);
}

#[test]
fn filters_need_a_known_filterable_field_a_known_op_and_a_value() {
    refused_with(
        filter("Nope", "eq", json!("x")),
        "filters[0].field",
        "Opportunity has no field Nope",
    );
    refused_with(
        filter("Description", "like", json!("x")),
        "filters[0].field",
        "Description can't be used in a filter",
    );
    refused_with(
        filter("Name", "between", json!("x")),
        "filters[0].op",
        "between is not an operator crmbot knows",
    );
    refused_with(
        json!({"object": "Opportunity", "filters": [{"field": "Name", "op": "eq"}]}),
        "filters[0].value",
        "needs a value",
    );
    refused_with(
        json!({"object": "Opportunity", "filters": ["Name = 'x'"]}),
        "filters[0]",
        "needs a field, an op and a value",
    );
}

#[test]
fn each_operator_suits_its_field_type() {
    refused_with(
        filter("Amount", "like", json!("2")),
        "filters[0].op",
        "like can't be used with Amount (a number field)",
    );
    refused_with(
        filter("StageName", "gt", json!("Qualification")),
        "filters[0].op",
        "alphabetically",
    );
    refused_with(
        filter("IsClosed", "in", json!([true])),
        "filters[0].op",
        "in can't be used with IsClosed (a yes/no field)",
    );
    refused_with(
        filter("CloseDate", "in", json!(["2026-01-01"])),
        "filters[0].op",
        "a date field",
    );
    // Salesforce compares text alphabetically, so lt/gt are allowed on text.
    let plan = ok(filter("Name", "lt", json!("M")));
    assert!(compile(&plan).contains("WHERE Name < 'M'"));
}

#[test]
fn in_and_not_in_need_a_list_of_one_to_a_hundred_values() {
    refused_with(
        filter("Name", "in", json!("x")),
        "filters[0].value",
        "needs a list",
    );
    refused_with(
        filter("Name", "not_in", json!([])),
        "filters[0].value",
        "between 1 and 100",
    );
    let many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    refused_with(
        filter("Name", "in", json!(many)),
        "filters[0].value",
        "not 101",
    );
    refused_with(
        filter("Name", "eq", json!(["a", "b"])),
        "filters[0].value",
        "use in",
    );
    refused_with(
        filter("Name", "in", json!(["a", null])),
        "filters[0].value[1]",
        "can't hold null",
    );
    let value = value_of(filter("Amount", "not_in", json!([1, "2"])));
    assert_eq!(
        value,
        PlanValue::List(vec![PlanValue::Number(1.0), PlanValue::Number(2.0)])
    );
}

#[test]
fn a_query_longer_than_salesforce_accepts_is_refused() {
    let values: Vec<String> = (0..100)
        .map(|i| format!("{i}{}", "a".repeat(1500)))
        .collect();
    refused_with(
        filter("Name", "in", json!(values)),
        "filters",
        "100,000 characters",
    );
}

#[test]
fn the_limit_defaults_and_is_capped() {
    let with = |limit: Value| {
        let mut plan = json!({"object": "Lead"});
        plan["limit"] = limit;
        ok(plan)
    };
    let l = |p: ValidatedPlan| (p.limit, p.capped);
    assert_eq!(l(ok(json!({"object": "Lead"}))), (20, false));
    assert_eq!(l(with(Value::Null)), (20, false));
    assert_eq!(l(with(json!(0))), (20, false));
    assert_eq!(l(with(json!(-5))), (20, false));
    assert_eq!(l(with(json!(7))), (7, false));
    assert_eq!(l(with(json!("50"))), (50, false));
    assert_eq!(l(with(json!(12.9))), (12, false));
    assert_eq!(l(with(json!(200))), (200, false));
    assert_eq!(l(with(json!(100000))), (200, true));
    refused_with(
        json!({"object": "Lead", "limit": "lots"}),
        "limit",
        "whole number of rows (at most 200), not lots",
    );
    let tight = PlanLimits {
        default_limit: 20,
        max_limit: 5,
    };
    let plan = validate_plan(&json!({"object": "Lead"}), &sample_schema(), &tight, None).unwrap();
    assert_eq!((plan.limit, plan.capped), (5, false));
}

#[test]
fn sort_keys_are_sortable_fields_with_asc_or_desc() {
    let plan = ok(json!({"object": "Opportunity", "sort": [
        {"field": "Amount", "direction": "Desc"}, {"field": "Name"}, "CloseDate",
    ]}));
    assert_eq!(
        plan.sort
            .iter()
            .map(|s| (s.field.as_str(), s.descending))
            .collect::<Vec<_>>(),
        [("Amount", true), ("Name", false), ("CloseDate", false)]
    );
    refused_with(
        json!({"object": "Opportunity", "sort": [{"field": "Amount", "direction": "down"}]}),
        "sort[0].direction",
        "asc or desc, not down",
    );
    refused_with(
        json!({"object": "Opportunity", "sort": [{"field": "Description"}]}),
        "sort[0].field",
        "can't be sorted by Description",
    );
    refused_with(
        json!({"object": "Opportunity", "sort": ["Name", "Amount", "CloseDate", "StageName"]}),
        "sort",
        "at most 3 fields, not 4",
    );
    let twice = ok(json!({"object": "Opportunity", "sort": [
        {"field": "Amount", "direction": "desc"}, {"field": "amount", "direction": "asc"}]}));
    assert_eq!(twice.sort.len(), 1);
}

#[test]
fn every_problem_is_reported_and_unknown_keys_are_ignored() {
    let problems = refused(json!({"object": "Opportunity", "explain": "ignored",
        "fields": ["Id", "Bogus"],
        "filters": [{"field": "CloseDate", "op": "eq", "value": "SOONISH"},
                    {"field": "Amount", "op": "like", "value": "1"}],
        "sort": [{"field": "Name", "direction": "sideways"}],
        "limit": "many"}));
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "fields[1]",
            "filters[0].value",
            "filters[1].op",
            "sort[0].direction",
            "limit"
        ]
    );
    ok(json!({"object": "Lead", "reasoning": "x", "confidence": 0.9}));
}

#[test]
fn a_validated_plan_round_trips_through_json() {
    let plan = ok(json!({"object": "Opportunity",
        "filters": [{"field": "CloseDate", "op": "eq", "value": "THIS_MONTH"},
                    {"field": "OwnerId", "op": "eq", "value": "$me"},
                    {"field": "StageName", "op": "not_in", "value": ["Closed Won"]}]}));
    let text = serde_json::to_string(&plan).unwrap();
    assert!(text.contains(r#""op":"not_in""#), "{text}");
    let back: ValidatedPlan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}
