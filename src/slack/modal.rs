//! The Edit modal: the flow's `EditForm` as a Slack view, and a view_submission's state
//! back into `EditValues`. Block ids are the form keys, so inline errors land on the input.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cards::cut;
use super::templates::{TemplateError, Templates};
use crate::flow::edit::{EditForm, EditValues, Input};

/// Slack's limits: 100 blocks a modal, 100 options a select, 75 characters an option.
const MAX_BLOCKS: usize = 100;
const MAX_OPTIONS: usize = 100;
const OPTION_CHARS: usize = 75;
const TEXT_INPUT_MAX: u32 = 3_000;
/// A section's text holds 3,000 characters.
const LONG_TEXT_CHUNK: usize = 2_900;

/// What the modal carries back in `private_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalMeta {
    pub pa: String,
    pub v: u32,
    /// Where to tell the editor about problems after the modal closes.
    pub channel: String,
}

#[derive(Serialize)]
struct Opt {
    text: String,
    value: String,
}

#[derive(Serialize)]
struct FieldView {
    key: String,
    label: String,
    required: bool,
    kind: &'static str,
    value: Option<String>,
    options: Vec<Opt>,
    initial_option: Option<Opt>,
    decimal: bool,
    multiline: bool,
    max_length: Option<u32>,
    /// A text too long for Slack's input, shown whole and kept as it is.
    chunks: Vec<String>,
}

#[derive(Serialize)]
struct ChoiceView {
    key: String,
    label: String,
    options: Vec<Opt>,
}

#[derive(Serialize)]
struct RecordView {
    title: String,
    choices: Vec<ChoiceView>,
    fields: Vec<FieldView>,
}

/// An option's value: the text itself when Slack allows it, else its position (`#3`).
fn option_value(text: &str, index: usize) -> String {
    if text.chars().count() <= OPTION_CHARS {
        text.to_string()
    } else {
        format!("#{index}")
    }
}

fn opt(text: &str, value: String) -> Opt {
    Opt {
        text: cut(text, OPTION_CHARS),
        value,
    }
}

pub fn render_modal(
    templates: &Templates,
    form: &EditForm,
    meta: &ModalMeta,
) -> Result<Value, TemplateError> {
    let mut blocks = 1;
    let mut records = Vec::new();
    let mut cut_short = false;
    for r in &form.records {
        let need = 1 + r.choices.len() + r.fields.iter().map(blocks_of).sum::<usize>();
        if blocks + need > MAX_BLOCKS {
            cut_short = true;
            break;
        }
        blocks += need;
        records.push(RecordView {
            title: format!("*{}*", super::cards::esc(&r.title)),
            choices: r
                .choices
                .iter()
                .map(|c| ChoiceView {
                    key: c.key.clone(),
                    label: cut(&c.label, 2_000),
                    options: c
                        .options
                        .iter()
                        .take(MAX_OPTIONS)
                        .map(|(v, t)| opt(t, v.clone()))
                        .collect(),
                })
                .collect(),
            fields: r
                .fields
                .iter()
                .map(|f| {
                    let mut view = FieldView {
                        key: f.key.clone(),
                        label: cut(&f.label, 2_000),
                        required: f.required,
                        kind: "text",
                        value: f.value.clone(),
                        options: vec![],
                        initial_option: None,
                        decimal: false,
                        multiline: false,
                        max_length: None,
                        chunks: vec![],
                    };
                    match &f.input {
                        Input::Select { options } => {
                            view.kind = "select";
                            view.options = options
                                .iter()
                                .enumerate()
                                .take(MAX_OPTIONS)
                                .map(|(i, o)| opt(o, option_value(o, i)))
                                .collect();
                            view.initial_option = f.value.as_ref().and_then(|v| {
                                options
                                    .iter()
                                    .position(|o| o == v)
                                    .filter(|&i| i < MAX_OPTIONS)
                                    .map(|i| opt(v, option_value(v, i)))
                            });
                        }
                        Input::Date => {
                            view.kind = "date";
                            view.value = f.value.clone().filter(|v| {
                                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
                            });
                        }
                        Input::Number { decimal } => {
                            view.kind = "number";
                            view.decimal = *decimal;
                            view.value = f.value.clone().filter(|v| v.parse::<f64>().is_ok());
                        }
                        Input::Text {
                            multiline,
                            max_length,
                        } => {
                            let max = max_length.unwrap_or(TEXT_INPUT_MAX).min(TEXT_INPUT_MAX);
                            view.multiline = *multiline;
                            view.max_length = Some(max);
                            match long_text(f.value.as_deref()) {
                                Some(chunks) => {
                                    let chars =
                                        f.value.as_deref().map_or(0, |v| v.chars().count());
                                    view.kind = "long";
                                    view.label = cut(
                                        &format!(
                                            "*{}* — {} characters, more than Slack's form can hold ({}): shown whole below and kept as it is.",
                                            super::cards::esc(&f.label),
                                            show_count(chars),
                                            show_count(TEXT_INPUT_MAX as usize)
                                        ),
                                        2_900,
                                    );
                                    view.chunks = chunks;
                                }
                                None => view.value = f.value.clone(),
                            }
                        }
                    }
                    view
                })
                .collect(),
        });
    }
    let intro = if cut_short {
        "Only the first records fit in one form; the others are kept as drafted."
    } else {
        "Change what the notes got wrong. Saving keeps every value shown, including ones the notes did not state."
    };
    let metadata = serde_json::to_string(meta).unwrap_or_default();
    templates.render(
        "edit_modal",
        &serde_json::json!({"metadata": metadata, "intro": intro, "records": records}),
    )
}

/// Blocks a field takes in the modal: one input, or the sections of a long text.
fn blocks_of(f: &crate::flow::edit::EditField) -> usize {
    match (&f.input, long_text(f.value.as_deref())) {
        (Input::Text { .. }, Some(chunks)) => 1 + chunks.len(),
        _ => 1,
    }
}

/// A text longer than Slack's text input holds, in sections Slack can show; `None` when it
/// fits the input.
fn long_text(value: Option<&str>) -> Option<Vec<String>> {
    let value = value?;
    if value.chars().count() <= TEXT_INPUT_MAX as usize {
        return None;
    }
    let chars: Vec<char> = value.chars().collect();
    Some(
        chars
            .chunks(LONG_TEXT_CHUNK)
            .map(|c| c.iter().collect())
            .collect(),
    )
}

/// 3351 -> "3,351".
fn show_count(n: usize) -> String {
    crate::domain::validate::show_number(n as f64)
}

/// Reads `view.state.values` into form answers. Select values given by position (`#3`)
/// are mapped back through the form.
pub fn read_values(form: &EditForm, state_values: &Value) -> EditValues {
    let mut values = EditValues::new();
    let Some(blocks) = state_values.as_object() else {
        return values;
    };
    for (block_id, actions) in blocks {
        let Some(v) = actions.get("v") else { continue };
        let raw = v
            .get("value")
            .and_then(Value::as_str)
            .or_else(|| {
                v.get("selected_option")
                    .and_then(|o| o.get("value"))
                    .and_then(Value::as_str)
            })
            .or_else(|| v.get("selected_date").and_then(Value::as_str))
            .map(str::to_string);
        let raw = raw.map(|r| unindex(form, block_id, r));
        values.insert(block_id.clone(), raw);
    }
    values
}

fn unindex(form: &EditForm, key: &str, raw: String) -> String {
    let Some(index) = raw.strip_prefix('#').and_then(|i| i.parse::<usize>().ok()) else {
        return raw;
    };
    form.records
        .iter()
        .flat_map(|r| &r.fields)
        .find(|f| f.key == key)
        .and_then(|f| match &f.input {
            Input::Select { options } => options.get(index).cloned(),
            _ => None,
        })
        .unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::edit::{EditField, EditRecord};
    use slack_morphism::prelude::SlackView;

    #[test]
    fn long_picklist_values_travel_by_position_and_the_view_fits_slack() {
        let long =
            "A very long picklist value that is far beyond seventy-five characters in total length"
                .to_string();
        let form = EditForm {
            revision: 3,
            records: vec![EditRecord {
                index: 0,
                title: "Lead: Reed (create)".into(),
                choices: vec![],
                fields: vec![
                    EditField {
                        key: "r0.Rating".into(),
                        name: "Rating".into(),
                        label: "Rating".into(),
                        input: Input::Select {
                            options: vec!["Hot".into(), long.clone()],
                        },
                        value: Some(long.clone()),
                        required: false,
                    },
                    EditField {
                        key: "r0.CloseDate".into(),
                        name: "CloseDate".into(),
                        label: "Close date".into(),
                        input: Input::Date,
                        value: Some("next week".into()),
                        required: true,
                    },
                ],
            }],
        };
        let meta = ModalMeta {
            pa: "abc".into(),
            v: 3,
            channel: "C1".into(),
        };
        let view = render_modal(&Templates::load(None).unwrap(), &form, &meta).unwrap();
        let parsed: Result<SlackView, _> = serde_json::from_value(view.clone());
        assert!(parsed.is_ok(), "{parsed:?}");
        let select = &view["blocks"][2]["element"];
        assert_eq!(select["options"][1]["value"], "#1");
        assert_eq!(select["initial_option"]["value"], "#1");
        assert!(
            view["blocks"][3]["element"].get("initial_date").is_none(),
            "not a date"
        );
        let back: ModalMeta =
            serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
        assert_eq!(back, meta);

        let state = serde_json::json!({"r0.Rating": {"v": {"type": "static_select", "selected_option": {"value": "#1"}}},
                                       "r0.CloseDate": {"v": {"type": "datepicker", "selected_date": "2026-12-15"}}});
        let values = read_values(&form, &state);
        assert_eq!(values["r0.Rating"].as_deref(), Some(long.as_str()));
        assert_eq!(values["r0.CloseDate"].as_deref(), Some("2026-12-15"));
    }
}
