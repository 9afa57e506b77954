//! Describe JSON: `GET /sobjects` (global describe) and `GET /sobjects/{O}/describe`, with the
//! keys real orgs return (salesforce.md §1.7, §1.8) so describe-driven clients (required
//! fields, picklists, lengths, relationship names) work against the sandbox unchanged.

use serde_json::{Value, json};

use super::schema::{FieldDef, ObjectDef, Schema};

fn urls(version: &str, o: &ObjectDef) -> Value {
    let base = format!("/services/data/{version}/sobjects/{}", o.name);
    json!({
        "compactLayouts": format!("{base}/describe/compactLayouts"),
        "rowTemplate": format!("{base}/{{ID}}"),
        "approvalLayouts": format!("{base}/describe/approvalLayouts"),
        "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
        "listviews": format!("{base}/listviews"),
        "describe": format!("{base}/describe"),
        "quickActions": format!("{base}/quickActions"),
        "layouts": format!("{base}/describe/layouts"),
        "sobject": base,
    })
}

fn object_summary(version: &str, o: &ObjectDef) -> Value {
    json!({
        "activateable": false, "associateEntityType": null, "associateParentEntity": null,
        "createable": o.createable, "custom": o.is_custom(), "customSetting": false,
        "deepCloneable": false, "deletable": o.deletable, "deprecatedAndHidden": false,
        "feedEnabled": false, "hasSubtypes": false, "isInterface": false, "isSubtype": false,
        "keyPrefix": o.key_prefix, "label": o.label, "labelPlural": o.label_plural,
        "layoutable": true, "mergeable": matches!(o.name.as_str(), "Account" | "Contact" | "Lead"),
        "mruEnabled": true, "name": o.name, "queryable": true, "replicateable": true,
        "retrieveable": true, "searchable": true, "triggerable": true,
        "undeletable": o.deletable, "updateable": o.updateable,
        "urls": urls(version, o),
    })
}

/// `GET /sobjects`.
pub fn global(version: &str, schema: &Schema) -> Value {
    let sobjects: Vec<Value> = schema
        .objects()
        .iter()
        .map(|o| object_summary(version, o))
        .collect();
    json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})
}

/// `GET /sobjects/{O}`: the object's summary and recent items.
pub fn basic(version: &str, o: &ObjectDef) -> Value {
    json!({"objectDescribe": object_summary(version, o), "recentItems": []})
}

/// `GET /sobjects/{O}/describe`.
pub fn object(version: &str, schema: &Schema, o: &ObjectDef) -> Value {
    let mut out = object_summary(version, o);
    let children: Vec<Value> = schema
        .child_relationships(&o.name)
        .into_iter()
        .map(|c| {
            json!({"cascadeDelete": false, "childSObject": c.object, "deprecatedAndHidden": false,
                   "field": c.field, "junctionIdListNames": [], "junctionReferenceTo": [],
                   "relationshipName": c.name, "restrictedDelete": false})
        })
        .collect();
    out["actionOverrides"] = json!([]);
    out["childRelationships"] = Value::Array(children);
    out["compactLayoutable"] = json!(true);
    out["fields"] = Value::Array(o.fields.iter().map(field).collect());
    out["listviewable"] = Value::Null;
    out["lookupLayoutable"] = Value::Null;
    out["namedLayoutInfos"] = json!([]);
    out["networkScopeFieldName"] = Value::Null;
    out["recordTypeInfos"] = json!([{
        "active": true, "available": true, "defaultRecordTypeMapping": true,
        "developerName": "Master", "master": true, "name": "Master",
        "recordTypeId": "012000000000000AAA",
        "urls": {"layout": format!("/services/data/{version}/sobjects/{}/describe/layouts/012000000000000AAA", o.name)}
    }]);
    out["searchLayoutable"] = json!(true);
    out["supportedScopes"] = json!([{"label": "All", "name": "everything"}]);
    out
}

fn soap_type(kind: &str) -> &'static str {
    match kind {
        "boolean" => "xsd:boolean",
        "int" => "xsd:int",
        "double" | "currency" | "percent" => "xsd:double",
        "date" => "xsd:date",
        "datetime" => "xsd:dateTime",
        "id" | "reference" => "tns:ID",
        _ => "xsd:string",
    }
}

fn field(f: &FieldDef) -> Value {
    let kind = f.kind.as_str();
    let text = !matches!(
        kind,
        "boolean" | "int" | "double" | "currency" | "percent" | "date" | "datetime"
    );
    let length = if matches!(kind, "id" | "reference") {
        18
    } else if text {
        f.length
    } else {
        0
    };
    let picklist: Vec<Value> = f
        .picklist
        .iter()
        .map(|v| {
            json!({"active": true, "defaultValue": f.default.as_deref() == Some(v.as_str()),
                   "label": v, "validFor": null, "value": v})
        })
        .collect();
    let long_text = kind == "textarea" && f.length > 255;
    let mut out = json!({
        "aggregatable": !long_text, "aiPredictionField": false, "autoNumber": false,
        "byteLength": length * 3, "calculated": false, "calculatedFormula": null,
        "cascadeDelete": false, "caseSensitive": false, "compoundFieldName": null,
        "controllerName": null, "createable": f.createable, "custom": f.is_custom(),
        "defaultValue": null, "defaultValueFormula": null,
        "defaultedOnCreate": f.defaulted_on_create, "dependentPicklist": false,
        "deprecatedAndHidden": false, "digits": f.digits, "displayLocationInDecimal": false,
        "encrypted": false, "externalId": f.external_id, "extraTypeInfo": null,
        "filterable": !long_text, "filteredLookupInfo": null, "formulaTreatNullNumberAsZero": false,
        "groupable": !long_text && !matches!(kind, "double" | "currency" | "percent" | "datetime"),
    });
    let more = json!({
        "highScaleNumber": false, "htmlFormatted": false, "idLookup": f.id_lookup,
        "inlineHelpText": null, "label": f.label(), "length": length, "mask": null,
        "maskType": null, "name": f.name, "nameField": f.name_field, "namePointing": f.reference_to.len() > 1,
        "nillable": f.nillable, "permissionable": f.nillable && !f.system, "picklistValues": picklist,
        "polymorphicForeignKey": f.reference_to.len() > 1, "precision": f.precision,
        "queryByDistance": false, "referenceTargetField": null, "referenceTo": f.reference_to,
        "relationshipName": f.relationship_name, "relationshipOrder": null,
        "restrictedDelete": false, "restrictedPicklist": f.restricted, "scale": f.scale,
        "searchPrefilterable": false, "soapType": soap_type(kind), "sortable": !long_text,
        "type": kind, "unique": f.unique, "updateable": f.updateable,
        "writeRequiresMasterRead": false,
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut out, more) {
        a.extend(b);
    }
    out
}
