//! The Block Kit templates of `blocks/`: compiled in, each replaceable from
//! `slack.blocks_dir`. A template's output is checked against slack-morphism's Block Kit
//! types before it is sent, so a broken override fails loudly here, not in Slack.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;
use serde_json::Value;

const BUILT_IN: &[(&str, &str)] = &[
    ("card", include_str!("../../blocks/card.json.j2")),
    (
        "edit_modal",
        include_str!("../../blocks/edit_modal.json.j2"),
    ),
    ("answer", include_str!("../../blocks/answer.json.j2")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read Block Kit template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("Block Kit template {name}: {message}")]
    Render { name: String, message: String },
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let source = match dir.map(|d| d.join(format!("{name}.json.j2"))) {
                Some(path) if path.exists() => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => built_in.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| TemplateError::Render {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders a template to JSON.
    pub fn render(&self, name: &str, view: &impl Serialize) -> Result<Value, TemplateError> {
        let fail = |message: String| TemplateError::Render {
            name: name.to_string(),
            message,
        };
        let text = self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(view))))
            .map_err(|e| fail(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON: {e}")))
    }
}
