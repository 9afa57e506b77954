//! The JSON Schema the model must answer in, generated from `CrmSchema`: one schema per
//! allowed object (discriminated by a `const` object name), every allowed field present and
//! nullable, picklist values as `enum`s. It follows OpenAI's strict structured-output rules
//! (every object closed with `additionalProperties: false`, every property required), so a
//! strict server can only produce allowed shapes; Anthropic's tool takes the same schema.
//! Nullable enums are written as `anyOf` (llama.cpp's grammar converter drops an `enum` next
//! to a type list), and every array and string is bounded (`maxItems`, `maxLength`) so a small
//! model under a grammar cannot loop until `max_tokens`; `for_carrier` removes the bounds a
//! provider does not accept.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::domain::schema::{CrmSchema, FieldKind, FieldSchema, ObjectSchema};

/// Longest text the model may put in one value. Salesforce allows far more in a
/// Description, but a draft's free text is a sentence or two, and long repetition bounds
/// make grammar-constrained decoding slow.
pub const MAX_TEXT: u32 = 1000;
/// Longest lookup or link value (a name or an email).
const MAX_NAME: u32 = 255;

/// How a schema reaches the model; each accepts a different subset of JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaCarrier {
    /// OpenAI strict structured outputs: `maxItems`, but no `maxLength`.
    OpenAiStrict,
    /// Anthropic tool input: neither bound.
    AnthropicTool,
    /// A local server's grammar, or the prompt: every bound.
    Grammar,
}

/// A schema the model answers in, with each carrier's form built and serialised once: a
/// draft's schema is about 13 KB and the same for every draft until describe changes.
#[derive(Debug)]
pub struct ModelSchema {
    value: Value,
    /// Per carrier (OpenAiStrict, AnthropicTool, Grammar): the form and its JSON text.
    forms: [OnceLock<(Value, String)>; 3],
}

impl ModelSchema {
    pub fn new(value: Value) -> ModelSchema {
        ModelSchema {
            value,
            forms: Default::default(),
        }
    }

    /// The schema as generated.
    pub fn value(&self) -> &Value {
        &self.value
    }

    fn form_of(&self, carrier: SchemaCarrier) -> &(Value, String) {
        let i = match carrier {
            SchemaCarrier::OpenAiStrict => 0,
            SchemaCarrier::AnthropicTool => 1,
            SchemaCarrier::Grammar => 2,
        };
        self.forms[i].get_or_init(|| {
            let form = for_carrier(&self.value, carrier);
            let text = form.to_string();
            (form, text)
        })
    }

    /// The schema as `carrier` takes it.
    pub fn form(&self, carrier: SchemaCarrier) -> &Value {
        &self.form_of(carrier).0
    }

    /// The same, as JSON text, serialised once.
    pub fn form_json(&self, carrier: SchemaCarrier) -> &str {
        &self.form_of(carrier).1
    }
}

/// The schema with the keywords `carrier` does not accept moved into the description. A
/// local grammar is not strict: there a nullable property may be left out, so a small model
/// need not spell out every empty field (each costs it tokens).
pub fn for_carrier(schema: &Value, carrier: SchemaCarrier) -> Value {
    let mut out = schema.clone();
    if carrier == SchemaCarrier::Grammar {
        optional_nulls(&mut out);
    }
    let drop: &[&str] = match carrier {
        SchemaCarrier::OpenAiStrict => &["maxLength"],
        SchemaCarrier::AnthropicTool => &["maxLength", "maxItems"],
        SchemaCarrier::Grammar => &[],
    };
    if !drop.is_empty() {
        strip(&mut out, drop);
    }
    out
}

fn nullable(v: &Value) -> bool {
    v["type"] == "null"
        || v["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")))
        || v["anyOf"]
            .as_array()
            .is_some_and(|a| a.iter().any(|b| b["type"] == "null"))
}

fn optional_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::Object(props)), Some(Value::Array(required))) =
                (map.get("properties"), map.get("required"))
            {
                let keep: Vec<Value> = required
                    .iter()
                    .filter(|r| {
                        r.as_str()
                            .is_none_or(|k| !props.get(k).is_some_and(nullable))
                    })
                    .cloned()
                    .collect();
                map.insert("required".into(), Value::Array(keep));
            }
            map.values_mut().for_each(optional_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(optional_nulls),
        _ => {}
    }
}

fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(map) => {
            for key in keys {
                if let Some(bound) = map.remove(*key) {
                    let what = if *key == "maxLength" {
                        "characters"
                    } else {
                        "items"
                    };
                    let note = format!("At most {bound} {what}.");
                    let text = match map.get("description").and_then(Value::as_str) {
                        Some(d) => format!("{d} {note}"),
                        None => note,
                    };
                    map.insert("description".into(), Value::String(text));
                }
            }
            map.values_mut().for_each(|c| strip(c, keys));
        }
        Value::Array(items) => items.iter_mut().for_each(|c| strip(c, keys)),
        _ => {}
    }
}

/// The schema of a draft reply: `{"records": [<one of the objects>]}`, at most
/// `max_records` of them.
pub fn draft_schema(schema: &CrmSchema, max_records: usize) -> Value {
    let mut defs = Map::new();
    let mut refs = Vec::new();
    for object in schema.objects.values() {
        let name = def_name(&object.name);
        defs.insert(name.clone(), record_schema(object, schema));
        refs.push(json!({ "$ref": format!("#/$defs/{name}") }));
    }
    json!({
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "description": "The records the notes support; empty when there is nothing to log.",
                "maxItems": max_records,
                "items": { "anyOf": refs }
            }
        },
        "required": ["records"],
        "additionalProperties": false,
        "$defs": Value::Object(defs)
    })
}

fn def_name(object: &str) -> String {
    object
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn closed(properties: Map<String, Value>) -> Value {
    let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
    json!({
        "type": "object",
        "properties": Value::Object(properties),
        "required": required,
        "additionalProperties": false
    })
}

fn nullable_strings(fields: &[String]) -> Value {
    closed(
        fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    json!({"type": ["string", "null"], "maxLength": MAX_NAME}),
                )
            })
            .collect(),
    )
}

fn record_schema(object: &ObjectSchema, schema: &CrmSchema) -> Value {
    let mut props = Map::new();
    props.insert(
        "object".into(),
        json!({"type": "string", "const": object.name}),
    );
    props.insert(
        "lookup".into(),
        if object.lookup_fields.is_empty() {
            json!({"type": "null", "description": "Records of this object are only created."})
        } else {
            json!({"anyOf": [
                {"type": "null"},
                nullable_strings(&object.lookup_fields)
            ], "description": "null to create; exact values naming the one existing record to update."})
        },
    );
    let links: Map<String, Value> = object
        .links
        .iter()
        .filter_map(|l| {
            let target = schema.object(&l.target)?;
            (!target.lookup_fields.is_empty()).then(|| {
                (
                    l.relationship.clone(),
                    json!({"anyOf": [{"type": "null"}, nullable_strings(&target.lookup_fields)]}),
                )
            })
        })
        .collect();
    props.insert(
        "link".into(),
        if links.is_empty() {
            json!({"type": "null"})
        } else {
            json!({"anyOf": [{"type": "null"}, closed(links)]})
        },
    );
    props.insert(
        "fields".into(),
        closed(
            object
                .fields
                .iter()
                .filter(|f| {
                    !matches!(
                        f.kind,
                        FieldKind::Reference | FieldKind::Id | FieldKind::Other
                    )
                })
                .map(|f| (f.name.clone(), field_schema(f)))
                .collect(),
        ),
    );
    closed(props)
}

fn field_schema(f: &FieldSchema) -> Value {
    let max_len = f.length.unwrap_or(MAX_TEXT).min(MAX_TEXT);
    let mut s = match f.kind {
        k if k.is_number() => json!({"type": ["number", "null"]}),
        FieldKind::Boolean => json!({"type": ["boolean", "null"]}),
        FieldKind::Date => {
            json!({"type": ["string", "null"], "maxLength": 10, "description": "ISO date YYYY-MM-DD"})
        }
        FieldKind::DateTime => {
            json!({"type": ["string", "null"], "maxLength": 30, "description": "ISO date-time with zone, e.g. 2026-11-25T15:00:00Z"})
        }
        FieldKind::Picklist if !f.picklist.is_empty() => {
            // Not `{"type": [..., "null"], "enum": [...]}`: llama.cpp's converter drops the enum.
            json!({"anyOf": [{"type": "string", "enum": f.picklist}, {"type": "null"}]})
        }
        FieldKind::MultiPicklist => json!({
            "type": ["string", "null"],
            "maxLength": max_len,
            "description": format!("values separated by ';' from: {}", f.picklist.join(", "))
        }),
        _ => json!({"type": ["string", "null"], "maxLength": max_len}),
    };
    if f.label != f.name
        && let Some(obj) = s.as_object_mut()
        && !obj.contains_key("description")
    {
        obj.insert("description".into(), Value::String(f.label.clone()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::LinkSchema;

    fn field(name: &str, kind: FieldKind, picklist: &[&str]) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            label: name.into(),
            kind,
            createable: true,
            updateable: true,
            required_on_create: false,
            length: None,
            picklist: picklist.iter().map(|s| s.to_string()).collect(),
            restricted_picklist: true,
            free_text: false,
        }
    }

    fn schema() -> CrmSchema {
        let mut s = CrmSchema::default();
        s.objects.insert(
            "Account".into(),
            ObjectSchema {
                name: "Account".into(),
                label: "Account".into(),
                key_prefix: None,
                fields: vec![field("Name", FieldKind::String, &[])],
                lookup_fields: vec!["Name".into()],
                match_keys: vec![],
                links: vec![],
            },
        );
        s.objects.insert(
            "Opportunity".into(),
            ObjectSchema {
                name: "Opportunity".into(),
                label: "Opportunity".into(),
                key_prefix: None,
                fields: vec![
                    field("Name", FieldKind::String, &[]),
                    field(
                        "StageName",
                        FieldKind::Picklist,
                        &["Prospecting", "Closed Won"],
                    ),
                    field("Amount", FieldKind::Currency, &[]),
                    field("CloseDate", FieldKind::Date, &[]),
                    field("AccountId", FieldKind::Reference, &[]),
                ],
                lookup_fields: vec!["Name".into()],
                match_keys: vec![],
                links: vec![LinkSchema {
                    relationship: "Account".into(),
                    field: "AccountId".into(),
                    target: "Account".into(),
                }],
            },
        );
        s.objects.insert(
            "Task".into(),
            ObjectSchema {
                name: "Task".into(),
                label: "Task".into(),
                key_prefix: None,
                fields: vec![field("Subject", FieldKind::Combobox, &[])],
                lookup_fields: vec![],
                match_keys: vec![],
                links: vec![],
            },
        );
        s
    }

    /// Walks every schema object: closed, and every property required (strict mode).
    fn assert_strict(v: &Value, path: &str) {
        match v {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("object")) {
                    assert_eq!(
                        map.get("additionalProperties"),
                        Some(&json!(false)),
                        "{path}"
                    );
                    let props: Vec<&String> =
                        map["properties"].as_object().unwrap().keys().collect();
                    let required: Vec<&str> = map["required"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap())
                        .collect();
                    assert_eq!(props.len(), required.len(), "{path}");
                    for p in props {
                        assert!(required.contains(&p.as_str()), "{path}.{p} not required");
                    }
                }
                for (k, child) in map {
                    assert_strict(child, &format!("{path}.{k}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|i| assert_strict(i, path)),
            _ => {}
        }
    }

    #[test]
    fn the_schema_is_strict_everywhere() {
        assert_strict(&draft_schema(&schema(), 50), "$");
    }

    /// Every array has `maxItems` and every string `maxLength` (or an enum/const).
    fn assert_bounded(v: &Value, path: &str) {
        let Value::Object(map) = v else { return };
        let types: Vec<&str> = match map.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if types.contains(&"array") {
            assert!(
                map.contains_key("maxItems"),
                "{path}: array without maxItems"
            );
        }
        if types.contains(&"string") && !map.contains_key("enum") && !map.contains_key("const") {
            assert!(
                map.contains_key("maxLength"),
                "{path}: string without maxLength"
            );
        }
        for (k, child) in map {
            match child {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .for_each(|(i, c)| assert_bounded(c, &format!("{path}.{k}[{i}]"))),
                c => assert_bounded(c, &format!("{path}.{k}")),
            }
        }
    }

    #[test]
    fn every_array_and_string_is_bounded_and_carriers_drop_what_they_refuse() {
        let s = draft_schema(&schema(), 50);
        assert_bounded(&s, "$");
        assert_eq!(s["properties"]["records"]["maxItems"], 50);
        let openai = for_carrier(&s, SchemaCarrier::OpenAiStrict);
        assert!(!openai.to_string().contains("maxLength"));
        assert!(openai.to_string().contains("maxItems"));
        assert!(openai.to_string().contains("At most 1000 characters."));
        let anthropic = for_carrier(&s, SchemaCarrier::AnthropicTool);
        assert!(!anthropic.to_string().contains("maxItems"));
        let grammar = for_carrier(&s, SchemaCarrier::Grammar);
        assert!(grammar.to_string().contains("maxLength"));
        let lead_fields = &grammar["$defs"]["Opportunity"]["properties"]["fields"];
        assert_eq!(
            lead_fields["required"],
            json!([]),
            "nullable fields may be left out"
        );
        assert_eq!(
            grammar["$defs"]["Opportunity"]["required"],
            json!(["object", "fields"]),
            "lookup and link are nullable too"
        );
    }

    #[test]
    fn objects_fields_picklists_and_links_come_from_the_crm_schema() {
        let s = draft_schema(&schema(), 50);
        let opp = &s["$defs"]["Opportunity"];
        assert_eq!(opp["properties"]["object"]["const"], "Opportunity");
        let fields = &opp["properties"]["fields"]["properties"];
        assert_eq!(
            fields["StageName"],
            json!({"anyOf": [{"type": "string", "enum": ["Prospecting", "Closed Won"]}, {"type": "null"}]}),
            "a nullable enum is an anyOf, never an enum beside a type list"
        );
        assert_eq!(fields["Amount"]["type"], json!(["number", "null"]));
        assert!(
            fields.get("AccountId").is_none(),
            "reference fields are never offered"
        );
        assert_eq!(
            opp["properties"]["link"]["anyOf"][1]["properties"]["Account"]["anyOf"][1]["properties"]
                ["Name"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            s["$defs"]["Task"]["properties"]["lookup"]["type"], "null",
            "tasks are only created"
        );
        assert_eq!(
            s["properties"]["records"]["items"]["anyOf"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
