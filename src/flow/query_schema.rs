//! Builds the `QuerySchema` questions may use: the configured queryable objects and fields
//! (relationship paths such as `Account.Name` and `Owner.Name` included) that the org's
//! describe confirms, with their types, picklist values and filterable/sortable flags.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::schema::SchemaProblem;
use crate::config::QueryObjectConfig;
use crate::domain::plan::{QueryField, QueryObject, QuerySchema};
use crate::domain::schema::FieldKind;
use crate::salesforce::{DescribeField, SObjectDescribe, SalesforceClient, SalesforceError};

/// Describes what is needed (from the client's cache when fresh) and builds the schema.
pub async fn query_schema(
    sf: &SalesforceClient,
    objects: &BTreeMap<String, QueryObjectConfig>,
) -> Result<(QuerySchema, Vec<SchemaProblem>), SalesforceError> {
    let mut describes: BTreeMap<String, std::sync::Arc<SObjectDescribe>> = BTreeMap::new();
    let names: Vec<String> = objects.keys().cloned().collect();
    describe_all(sf, &names, &mut describes).await?;
    // The parents named by relationship paths.
    let mut targets = Vec::new();
    for (name, config) in objects {
        let Some(d) = describes.get(name) else {
            continue;
        };
        for path in &config.fields {
            if let Some((rel, _)) = path.split_once('.')
                && let Some(f) = relationship(d, rel)
                && let [only] = f.reference_to.as_slice()
                && !describes.contains_key(only)
                && !targets.contains(only)
            {
                targets.push(only.clone());
            }
        }
    }
    describe_all(sf, &targets, &mut describes).await?;

    let mut schema = QuerySchema::default();
    let mut problems = Vec::new();
    for (name, config) in objects {
        let Some(d) = describes.get(name) else {
            problems.push(SchemaProblem {
                key: format!("ask.objects.{name}"),
                message: format!("the org has no object {name} (or this user cannot see it)"),
            });
            continue;
        };
        let mut fields = Vec::new();
        for path in &config.fields {
            match query_field(d, path, &describes) {
                Some(f) => fields.push(f),
                None => problems.push(SchemaProblem {
                    key: format!("ask.objects.{name}.fields"),
                    message: format!("{name}.{path} does not exist in the org"),
                }),
            }
        }
        schema.objects.insert(
            name.clone(),
            QueryObject {
                name: d.name.clone(),
                label: d.label.clone(),
                fields,
            },
        );
    }
    Ok((schema, problems))
}

/// Describes `names` at once (from the client's cache when fresh) into `into`. An object
/// the org lacks is left out (a schema problem for the caller), not a failure.
pub(super) async fn describe_all(
    sf: &SalesforceClient,
    names: &[String],
    into: &mut BTreeMap<String, std::sync::Arc<SObjectDescribe>>,
) -> Result<(), SalesforceError> {
    let results = join_all(names.iter().map(|n| sf.describe(n))).await;
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(d) => {
                into.insert(name.clone(), d);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn relationship<'a>(d: &'a SObjectDescribe, rel: &str) -> Option<&'a DescribeField> {
    d.fields.iter().find(|f| {
        f.relationship_name
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(rel))
    })
}

fn field<'a>(d: &'a SObjectDescribe, name: &str) -> Option<&'a DescribeField> {
    d.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

fn query_field(
    d: &SObjectDescribe,
    path: &str,
    describes: &BTreeMap<String, std::sync::Arc<SObjectDescribe>>,
) -> Option<QueryField> {
    match path.split_once('.') {
        None => {
            let f = field(d, path)?;
            Some(from_describe(
                f,
                f.name.clone(),
                f.label.clone(),
                f.name == "OwnerId",
            ))
        }
        Some((rel, name)) => {
            let r = relationship(d, rel)?;
            let rel_name = r.relationship_name.clone().unwrap_or_default();
            let label = format!("{} {}", r.label.trim_end_matches(" ID"), name);
            match r.reference_to.as_slice() {
                [only] => {
                    let target = describes.get(only)?;
                    let f = field(target, name)?;
                    let is_owner = rel_name == "Owner" && f.name == "Id";
                    Some(from_describe(
                        f,
                        format!("{rel_name}.{}", f.name),
                        label,
                        is_owner,
                    ))
                }
                // Polymorphic (Owner of a Lead, Who, What): the common Name and Id only.
                _ if name.eq_ignore_ascii_case("Name") => Some(QueryField {
                    path: format!("{rel_name}.Name"),
                    label,
                    kind: FieldKind::String,
                    picklist: vec![],
                    filterable: true,
                    sortable: true,
                    is_owner: false,
                }),
                _ => None,
            }
        }
    }
}

fn from_describe(f: &DescribeField, path: String, label: String, is_owner: bool) -> QueryField {
    QueryField {
        path,
        label,
        kind: FieldKind::from_describe(&f.field_type),
        picklist: f
            .picklist_values
            .iter()
            .filter(|p| p.active)
            .map(|p| p.value.clone())
            .collect(),
        filterable: f.filterable,
        sortable: f.sortable,
        is_owner,
    }
}
