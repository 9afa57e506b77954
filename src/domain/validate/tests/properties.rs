//! Properties over arbitrary JSON: no panic, nothing forbidden ever comes out.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "Lead",
            "Opportunity",
            "Task",
            "OwnerId",
            "Email",
            "Amount",
            "CloseDate",
            "Status",
            "Name",
            "records",
            "fields",
            "lookup",
            "link",
            "object",
            "Account"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "records",
                        "object",
                        "lookup",
                        "link",
                        "fields",
                        "Email",
                        "Amount",
                        "CloseDate",
                        "StageName",
                        "Status",
                        "OwnerId",
                        "Name",
                        "LastName",
                        "Company",
                        "Account",
                        "x"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn assert_safe(d: &ValidatedDraft, s: &CrmSchema) {
    for r in &d.records {
        let object = s.object(&r.object).expect("only allowed objects");
        for f in &r.fields {
            let spec = object.field(&f.name).expect("only allowed fields");
            assert!(!matches!(spec.kind, FieldKind::Reference | FieldKind::Id));
            assert_ne!(f.name, "OwnerId");
            if let FieldValue::Text(t) = &f.value {
                assert!(!looks_like_record_id(t) || spec.kind.is_picklist(), "{t}");
            }
        }
        if let Some(lookup) = &r.lookup {
            for (field, value) in &lookup.criteria {
                assert!(object.lookup_fields.contains(field));
                assert!(!looks_like_record_id(value));
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics_and_never_yields_a_forbidden_field(reply in arbitrary_json()) {
        let s = schema();
        let ctx = ValidationContext { notes: "notes", today: today(), hold_ungrounded: true, max_records: 50 };
        if let Ok(d) = validate(&reply, &s, &ctx) {
            assert_safe(&d, &s);
        }
    }

    #[test]
    fn arbitrary_values_in_every_field_never_panic(
        object in prop::sample::select(vec!["Lead", "Contact", "Account", "Opportunity", "Task"]),
        values in prop::collection::vec(arbitrary_json(), 12),
        notes in ".{0,80}",
    ) {
        let s = schema();
        let names: Vec<String> = s.objects[object].fields.iter().map(|f| f.name.clone()).chain(["OwnerId".to_string(), "Id".to_string()]).collect();
        let fields: serde_json::Map<String, Value> = names.into_iter().zip(values).collect();
        let reply = json!({"records": [{"object": object, "lookup": null, "link": null, "fields": fields}]});
        let ctx = ValidationContext { notes: &notes, today: today(), hold_ungrounded: true, max_records: 50 };
        let d = validate(&reply, &s, &ctx).unwrap();
        assert_safe(&d, &s);
    }
}
