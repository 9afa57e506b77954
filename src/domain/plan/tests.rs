//! One test per rule: what is accepted, and each refusal with its message.

use chrono::{NaiveDate, TimeZone, Utc};
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
fn null_goes_with_eq_and_ne_only() {
    assert_eq!(
        value_of(filter("NextStep", "ne", Value::Null)),
        PlanValue::Null
    );
    refused_with(
        filter("Amount", "gt", Value::Null),
        "filters[0].value",
        "only be used with eq or ne",
    );
}

#[test]
fn numbers_are_finite_and_may_come_as_text() {
    assert_eq!(
        value_of(filter("Amount", "gt", json!("20000"))),
        PlanValue::Number(20000.0)
    );
    assert_eq!(
        value_of(filter("Amount", "gt", json!(1.5))),
        PlanValue::Number(1.5)
    );
    for bad in [json!("NaN"), json!("inf"), json!("lots"), json!(true)] {
        refused_with(
            filter("Amount", "gt", bad),
            "filters[0].value",
            "is not a number",
        );
    }
    refused_with(
        filter("Amount", "gt", json!(1e300)),
        "filters[0].value",
        "too large",
    );
}

#[test]
fn booleans_are_true_or_false() {
    assert_eq!(
        value_of(filter("IsWon", "eq", json!("TRUE"))),
        PlanValue::Boolean(true)
    );
    refused_with(
        filter("IsWon", "eq", json!("maybe")),
        "filters[0].value",
        "true or false",
    );
}

#[test]
fn date_fields_take_iso_dates_or_date_literals() {
    assert_eq!(
        value_of(filter("CloseDate", "lte", json!("2026-12-31"))),
        PlanValue::Date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
    );
    assert_eq!(
        value_of(filter("CloseDate", "eq", json!("last_n_days:030"))),
        PlanValue::DateLiteral("LAST_N_DAYS:30".into())
    );
    assert_eq!(
        value_of(filter("CloseDate", "eq", json!("this_fiscal_year"))),
        PlanValue::DateLiteral("THIS_FISCAL_YEAR".into())
    );
    refused_with(
        filter("CloseDate", "eq", json!("SOONISH")),
        "filters[0].value",
        "SOONISH is neither an ISO date nor a Salesforce date literal",
    );
    for bad in [
        "next friday",
        "2026-13-01",
        "31/12/2026",
        "THIS_MONTH:3",
        "LAST_N_DAYS:-1",
    ] {
        refused_with(
            filter("CloseDate", "eq", json!(bad)),
            "filters[0].value",
            "neither",
        );
    }
    refused_with(
        filter("CloseDate", "eq", json!("LAST_N_DAYS")),
        "filters[0].value",
        "LAST_N_DAYS needs a number, such as LAST_N_DAYS:30",
    );
    refused_with(
        filter("CloseDate", "eq", json!("2026-12-31T10:00:00Z")),
        "filters[0].value",
        "give a date such as 2026-12-31 without a time",
    );
    refused_with(
        filter("CloseDate", "eq", json!("1500-01-01")),
        "filters[0].value",
        "outside the dates Salesforce accepts",
    );
}

#[test]
fn every_date_literal_is_accepted_and_compiled_bare() {
    for literal in DATE_LITERALS {
        let text = literal.replace(":n", ":7");
        let plan = ok(filter("CloseDate", "gte", json!(text)));
        assert!(compile(&plan).contains(&format!("CloseDate >= {text} ")));
    }
    assert_eq!(DATE_LITERALS.len(), 23 + 21);
}

#[test]
fn datetime_fields_take_datetimes_dates_at_midnight_utc_and_literals() {
    let at = |v: &str| value_of(filter("CreatedDate", "gt", json!(v)));
    let utc = |h| PlanValue::DateTime(Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap());
    assert_eq!(at("2026-11-25"), utc(0));
    assert_eq!(at("2026-11-25T10:00:00+02:00"), utc(8));
    assert_eq!(at("2026-11-25T08:00:00.750Z"), utc(8));
    assert_eq!(at("2026-11-25T08:00:00"), utc(8));
    assert_eq!(at("LAST_WEEK"), PlanValue::DateLiteral("LAST_WEEK".into()));
    refused_with(
        filter("CreatedDate", "gt", json!("yesterday-ish")),
        "filters[0].value",
        "yesterday-ish is neither an ISO date or date/time nor a Salesforce date literal",
    );
    let plan = ok(filter("CreatedDate", "gt", json!("2026-11-25")));
    assert!(compile(&plan).contains("CreatedDate > 2026-11-25T00:00:00Z"));
}

#[test]
fn picklist_values_are_checked_and_canonical() {
    assert_eq!(
        value_of(filter("StageName", "eq", json!(" negotiation/review "))),
        PlanValue::Text("Negotiation/Review".into())
    );
    refused_with(
        filter("StageName", "in", json!(["Closed Won", "Almost There"])),
        "filters[0].value[1]",
        "Almost There is not a StageName value; the values are: Prospecting, Qualification",
    );
    // like is "contains": any text, not a list value.
    assert_eq!(
        value_of(filter("StageName", "like", json!("Closed"))),
        PlanValue::Text("Closed".into())
    );
    // An empty list means the org does not restrict the values.
    let mut schema = sample_schema();
    if let Some(o) = schema.objects.get_mut("Opportunity") {
        for f in &mut o.fields {
            f.picklist.clear();
        }
    }
    let plan = validate_plan(
        &filter("StageName", "eq", json!("Anything")),
        &schema,
        &PlanLimits::default(),
        None,
    )
    .unwrap();
    assert_eq!(plan.filters[0].value, PlanValue::Text("Anything".into()));
}

#[test]
fn multi_select_picklists_match_each_value() {
    let mut schema = sample_schema();
    if let Some(o) = schema.objects.get_mut("Account") {
        o.fields.push(QueryField {
            path: "Regions__c".into(),
            label: "Regions".into(),
            kind: FieldKind::MultiPicklist,
            picklist: vec!["EMEA".into(), "APAC".into()],
            filterable: true,
            sortable: false,
            is_owner: false,
        });
    }
    let run = |v: Value, op: &str| {
        let plan = json!({"object": "Account",
                          "filters": [{"field": "Regions__c", "op": op, "value": v}]});
        validate_plan(&plan, &schema, &PlanLimits::default(), None)
    };
    assert_eq!(
        run(json!("apac;emea"), "eq").unwrap().filters[0].value,
        PlanValue::Text("APAC;EMEA".into())
    );
    assert!(run(json!("LATAM"), "eq").is_err());
    assert!(run(json!(["EMEA"]), "in").is_err());
}

#[test]
fn text_values_are_kept_exactly_and_bounded() {
    let hostile = "x' OR Name != '\\\n%_";
    assert_eq!(
        value_of(filter("Name", "eq", json!(hostile))),
        PlanValue::Text(hostile.into())
    );
    assert_eq!(
        value_of(filter("Name", "eq", json!(42))),
        PlanValue::Text("42".into())
    );
    refused_with(
        filter("Name", "eq", json!(true)),
        "filters[0].value",
        "give text",
    );
    refused_with(
        filter("Name", "like", json!("  ")),
        "filters[0].value",
        "needs some text",
    );
    let long = "a".repeat(MAX_TEXT_CHARS + 1);
    refused_with(
        filter("Name", "eq", json!(long)),
        "filters[0].value",
        "too long",
    );
    // Escaping counts: 2,001 quotes become 4,002 characters.
    refused_with(
        filter("Name", "eq", json!("'".repeat(2001))),
        "filters[0].value",
        "too long",
    );
    ok(filter("Name", "eq", json!("a".repeat(MAX_TEXT_CHARS))));
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
fn record_ids_never_come_from_the_model() {
    refused_with(
        filter("AccountId", "eq", json!("001xx000003DGb2AAG")),
        "filters[0].value",
        "does not filter AccountId by a record id",
    );
    refused_with(
        filter("Id", "in", json!(["006xx000001a2b3AAA"])),
        "filters[0].value[0]",
        "record id",
    );
    refused_with(
        filter("OwnerId", "eq", json!("Dana Lee")),
        "filters[0].value",
        "Owner.Name",
    );
    assert_eq!(
        value_of(filter("AccountId", "eq", Value::Null)),
        PlanValue::Null
    );
}

#[test]
fn me_is_the_asking_user_on_owner_fields_only() {
    let mine = filter("OwnerId", "eq", json!("$me"));
    assert!(mentions_me(&mine));
    assert!(mentions_me(&filter("OwnerId", "in", json!(["$ME"]))));
    assert!(!mentions_me(&filter("Name", "eq", json!("me"))));
    assert!(!mentions_me(&json!("$me")));
    assert_eq!(value_of(mine.clone()), PlanValue::Id(SAMPLE_ME.into()));
    let schema = sample_schema();
    let limits = PlanLimits::default();
    for me in [None, Some(""), Some("not an id")] {
        let problems = validate_plan(&mine, &schema, &limits, me).unwrap_err();
        assert_eq!(problems[0].path, "filters[0].value");
        assert_eq!(
            problems[0].message,
            "crmbot could not tell who you are in Salesforce."
        );
    }
    refused_with(
        filter("Owner.Name", "eq", json!("$me")),
        "filters[0].value",
        "$me (you) can only be compared with an owner field such as OwnerId, not Owner.Name",
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
