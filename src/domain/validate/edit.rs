//! Values a person typed in the Edit modal go through the same type, picklist, length and
//! required rules as a model reply. A person's value needs no grounding in the notes: they
//! are the source.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{ValidationContext, finish, validate_field};
use crate::domain::draft::RecordDraft;
use crate::domain::schema::ObjectSchema;

/// Validates one record's edited values. `is_update` decides which fields may be set and
/// whether required fields must be present.
pub fn validate_edit(
    object: &ObjectSchema,
    values: &Map<String, Value>,
    is_update: bool,
    today: NaiveDate,
) -> RecordDraft {
    let ctx = ValidationContext {
        notes: "",
        today,
        hold_ungrounded: false,
        max_records: 1,
    };
    let mut issues = Vec::new();
    let mut fields = Vec::new();
    for (name, value) in values {
        if let Some(field) = validate_field(name, value, object, &ctx, None, is_update, &mut issues)
            && !fields
                .iter()
                .any(|f: &crate::domain::draft::DraftField| f.name == field.name)
        {
            fields.push(field);
        }
    }
    finish(object, None, Vec::new(), fields, issues, is_update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::draft::{FieldValue, IssueKind};
    use crate::domain::validate::tests::schema;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default()
    }

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_bad_picklist_value_blocks_and_a_good_one_passes() {
        let s = schema();
        let opp = s.object("Opportunity").unwrap();
        let bad = validate_edit(
            opp,
            &values(
                json!({"Name": "Apex deal", "StageName": "Almost won", "CloseDate": "2026-12-15"}),
            ),
            false,
            today(),
        );
        assert!(bad.is_blocked());
        assert!(
            bad.issues.iter().any(
                |i| i.kind == IssueKind::BadPicklist && i.field.as_deref() == Some("StageName")
            )
        );

        let good = validate_edit(
            opp,
            &values(
                json!({"Name": "Apex deal", "StageName": "prospecting", "CloseDate": "2026-12-15", "Amount": "25000"}),
            ),
            false,
            today(),
        );
        assert!(!good.is_blocked(), "{:?}", good.issues);
        assert_eq!(
            good.value("StageName"),
            Some(&FieldValue::Text("Prospecting".into()))
        );
        assert_eq!(good.value("Amount"), Some(&FieldValue::Number(25000.0)));
        assert!(good.fields.iter().all(|f| f.include));
    }

    #[test]
    fn clearing_a_required_field_blocks_a_create_but_not_an_update() {
        let s = schema();
        let lead = s.object("Lead").unwrap();
        let create = validate_edit(
            lead,
            &values(json!({"LastName": "", "Company": "Apex"})),
            false,
            today(),
        );
        assert!(create.issues.iter().any(
            |i| i.kind == IssueKind::MissingRequired && i.field.as_deref() == Some("LastName")
        ));
        let update = validate_edit(
            lead,
            &values(json!({"LastName": null, "Company": "Apex"})),
            true,
            today(),
        );
        assert!(!update.is_blocked());
    }
}
