//! Filter values: each type's accepted forms and refusals.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::{filter, ok, refused_with, value_of};
use crate::domain::plan::testing::{SAMPLE_ME, sample_schema};
use crate::domain::plan::*;
use crate::domain::schema::FieldKind;
use crate::domain::soql::compile;

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
