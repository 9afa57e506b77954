//! Builds the `CrmSchema` from what the admin allowed (config) and what the org has
//! (describe): a field is offered to the model only if both agree, with the org's types,
//! lengths, picklist values and required flags. What the config names but the org lacks is
//! reported as a `SchemaProblem` (doctor shows them; drafting just leaves the field out).

use std::collections::BTreeMap;

use crate::config::ObjectConfig;
use crate::domain::schema::{CrmSchema, FieldKind, FieldSchema, LinkSchema, ObjectSchema};
use crate::salesforce::{DescribeField, SObjectDescribe};

/// Something configured that the org does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// `objects.Lead.fields` style key in crmbot.toml.
    pub key: String,
    pub message: String,
}

/// Config ∩ describe. `describes` holds the describe of each configured object that exists.
pub fn build_schema(
    objects: &BTreeMap<String, ObjectConfig>,
    describes: &BTreeMap<String, &SObjectDescribe>,
) -> (CrmSchema, Vec<SchemaProblem>) {
    let mut schema = CrmSchema::default();
    let mut problems = Vec::new();
    for (name, config) in objects {
        let Some(describe) = describes.get(name) else {
            problems.push(SchemaProblem {
                key: format!("objects.{name}"),
                message: format!("the org has no object {name} (or this user cannot see it)"),
            });
            continue;
        };
        let mut fields = Vec::new();
        for field_name in &config.fields {
            match describe_field(describe, field_name) {
                None => problems.push(SchemaProblem {
                    key: format!("objects.{name}.fields"),
                    message: format!("{name}.{field_name} does not exist in the org"),
                }),
                Some(f) if !f.createable && !f.updateable => problems.push(SchemaProblem {
                    key: format!("objects.{name}.fields"),
                    message: format!("{name}.{field_name} is read-only in the org"),
                }),
                Some(f) => match field_schema(f, config) {
                    Some(schema) => fields.push(schema),
                    None => problems.push(SchemaProblem {
                        key: format!("objects.{name}.fields"),
                        message: format!(
                            "{name}.{field_name} is a {} field; crmbot never takes ids or this type from the model",
                            f.field_type
                        ),
                    }),
                },
            }
        }
        let mut lookup_fields = Vec::new();
        for l in &config.lookup {
            match describe_field(describe, l) {
                Some(f) if f.field_type != "id" && f.field_type != "reference" => {
                    lookup_fields.push(f.name.clone())
                }
                _ => problems.push(SchemaProblem {
                    key: format!("objects.{name}.lookup"),
                    message: format!("{name}.{l} cannot be a lookup field"),
                }),
            }
        }
        let mut links = Vec::new();
        for rel in &config.links {
            let reference = describe.fields.iter().find(|f| {
                f.field_type == "reference"
                    && f.relationship_name
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(rel))
            });
            match reference {
                Some(f) if f.createable || f.updateable => {
                    let target = f.reference_to.first().cloned().unwrap_or_default();
                    if objects.contains_key(&target) {
                        links.push(LinkSchema {
                            relationship: f.relationship_name.clone().unwrap_or_default(),
                            field: f.name.clone(),
                            target,
                        });
                    } else {
                        problems.push(SchemaProblem {
                            key: format!("objects.{name}.links"),
                            message: format!(
                                "{name}.{rel} points at {target}, which is not an allowed object"
                            ),
                        });
                    }
                }
                _ => problems.push(SchemaProblem {
                    key: format!("objects.{name}.links"),
                    message: format!("{name} has no writable relationship named {rel}"),
                }),
            }
        }
        schema.objects.insert(
            describe.name.clone(),
            ObjectSchema {
                name: describe.name.clone(),
                label: describe.label.clone(),
                key_prefix: describe.key_prefix.clone(),
                fields,
                lookup_fields,
                match_keys: config.match_keys.clone(),
                links,
            },
        );
    }
    (schema, problems)
}

fn describe_field<'a>(describe: &'a SObjectDescribe, name: &str) -> Option<&'a DescribeField> {
    describe
        .fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

fn field_schema(f: &DescribeField, config: &ObjectConfig) -> Option<FieldSchema> {
    let kind = FieldKind::from_describe(&f.field_type);
    if matches!(
        kind,
        FieldKind::Reference | FieldKind::Id | FieldKind::Other
    ) {
        return None;
    }
    let listed = |list: &[String]| list.iter().any(|x| x.eq_ignore_ascii_case(&f.name));
    let required =
        (f.createable && !f.nillable && !f.defaulted_on_create && kind != FieldKind::Boolean)
            || listed(&config.required);
    Some(FieldSchema {
        name: f.name.clone(),
        label: f.label.clone(),
        kind,
        createable: f.createable,
        updateable: f.updateable,
        required_on_create: required,
        length: (f.length > 0 && !kind.is_number()).then_some(f.length as u32),
        picklist: f
            .picklist_values
            .iter()
            .filter(|p| p.active)
            .map(|p| p.value.clone())
            .collect(),
        restricted_picklist: f.restricted_picklist,
        free_text: listed(&config.free_text),
    })
}
