//! The model: the configured provider can be built, and it drafts the sample note against
//! the configured org through the same `Drafting` use case `/crm log` uses — the one test
//! that proves key, base URL, model name, prompts, JSON output and the org's describe work
//! together. Nothing is written: drafting never writes.

use std::sync::Arc;
use std::time::Instant;

use super::{Check, DRAFT_TIMEOUT, MODEL, timed};
use crate::config::{Config, LlmProvider};
use crate::domain::notes::{Notes, SAMPLE_NOTE};
use crate::flow::drafting::{DraftError, Drafting};
use crate::llm::{Llm, LlmError, SystemPrompt};
use crate::salesforce::SalesforceClient;

pub(super) async fn checks(config: &Config, org: Option<SalesforceClient>) -> Vec<Check> {
    let llm = match Llm::from_settings(&config.llm) {
        Ok(llm) => llm,
        Err(e) => {
            let (detail, fix) = explain(&e, config);
            return vec![
                Check::problem(MODEL, "provider", detail, fix),
                Check::skipped(
                    MODEL,
                    "draft the sample note",
                    "the model is not configured",
                ),
            ];
        }
    };
    let provider = if config.llm.effective_provider() == LlmProvider::Rules {
        Check::warning(
            MODEL,
            "provider",
            "offline rules model: drafting works, questions only by keywords; a model reads them properly",
            "set LLM_API_KEY (OpenAI), LLM_PROVIDER=anthropic with LLM_API_KEY, or LLM_BASE_URL for a local OpenAI-compatible server",
        )
    } else {
        Check::ok(MODEL, "provider", llm.describe())
    };
    let mut checks = vec![provider];
    checks.extend(probe(config, &llm).await);
    let Some(client) = org else {
        checks.push(Check::skipped(
            MODEL,
            "draft the sample note",
            "drafting needs the Salesforce org (see above)",
        ));
        return checks;
    };
    checks.push(draft(config, llm, client).await);
    checks
}

/// How an OpenAI-compatible server takes JSON, and whether it reads the system prompt.
async fn probe(config: &Config, llm: &Llm) -> Vec<Check> {
    let report = match timed(DRAFT_TIMEOUT, llm.probe()).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return vec![],
        Ok(Err(e)) => {
            let (detail, fix) = explain(&e, config);
            return vec![Check::problem(MODEL, "request format", detail, fix)];
        }
        Err(late) => {
            return vec![Check::problem(
                MODEL,
                "request format",
                late,
                "check LLM_BASE_URL, or raise LLM_TIMEOUT for a slow local model",
            )];
        }
    };
    let carrier = &report.carrier;
    let format = match &carrier.fallback {
        Some(why) => Check::warning(
            MODEL,
            "request format",
            format!("{}: {why}", carrier.format),
            format!(
                "works as it is; set LLM_RESPONSE_FORMAT={} to skip the fallback at start-up",
                carrier.format
            ),
        ),
        None => Check::ok(MODEL, "request format", carrier.format),
    };
    let system = match report.system {
        SystemPrompt::Dropped { .. } => Check::problem(
            MODEL,
            "system prompt",
            report.describe(),
            "set LLM_SYSTEM_IN_USER=true: the server's chat template drops system messages",
        ),
        SystemPrompt::MovedToUser { .. } => Check::warning(
            MODEL,
            "system prompt",
            report.describe(),
            "works as it is; set LLM_SYSTEM_IN_USER=true to skip the check at start-up",
        ),
        _ => Check::ok(MODEL, "system prompt", report.describe()),
    };
    vec![format, system]
}

async fn draft(config: &Config, llm: Llm, client: SalesforceClient) -> Check {
    let name = "draft the sample note";
    let instance_url = client.instance_url().to_string();
    let drafting = Drafting::new(
        client,
        Arc::new(llm),
        config.objects.clone(),
        config.drafting.clone(),
        instance_url,
    );
    let today = chrono::Local::now().date_naive();
    let started = Instant::now();
    let outcome = timed(
        DRAFT_TIMEOUT,
        drafting.draft(&Notes::new(SAMPLE_NOTE), today),
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let proposal = match outcome {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            let (detail, fix) = explain_draft(&e, config);
            return Check::problem(MODEL, name, detail, fix);
        }
        Err(late) => {
            return Check::problem(
                MODEL,
                name,
                late,
                "check LLM_BASE_URL, or choose a faster LLM_MODEL",
            );
        }
    };
    let records: Vec<String> = proposal
        .records
        .iter()
        .map(|r| format!("{} {}", r.object, r.action))
        .collect();
    let llm = &proposal.llm;
    let detail = format!(
        "{} record{} ({}) in {seconds:.1} s; {} model call{}, {} prompt + {} completion tokens",
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        records.join(", "),
        llm.calls,
        if llm.calls == 1 { "" } else { "s" },
        llm.prompt_tokens,
        llm.completion_tokens
    );
    if records.is_empty() {
        return Check::problem(
            MODEL,
            name,
            format!("{detail}: nothing drafted from a note that names a person and a company"),
            "choose a stronger LLM_MODEL, or check the prompts in llm.prompts_dir",
        );
    }
    let blocking = proposal
        .issues
        .iter()
        .chain(proposal.records.iter().flat_map(|r| r.issues.iter()))
        .find(|i| i.is_blocking());
    match blocking {
        Some(issue) => Check::warning(
            MODEL,
            name,
            format!("{detail}; approval would be blocked: {}", issue.message),
            "compare objects.* in crmbot.toml with the org's required fields (objects.<Name>.fields, .required)",
        ),
        None => Check::ok(MODEL, name, detail),
    }
}

fn explain_draft(e: &DraftError, config: &Config) -> (String, String) {
    match e {
        DraftError::Llm(e) => explain(e, config),
        DraftError::Reply(_) => (e.to_string(), not_json_fix()),
        DraftError::Salesforce(sf) => {
            let instance = config
                .salesforce
                .instance_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_default();
            super::salesforce::explain(sf, &instance)
        }
        DraftError::EmptyNotes | DraftError::NotesTooLong { .. } => (
            e.to_string(),
            "raise drafting.max_notes_chars in crmbot.toml".into(),
        ),
    }
}

fn not_json_fix() -> String {
    "choose a model that follows JSON instructions (LLM_MODEL); for a local server try LLM_RESPONSE_FORMAT=json_object_schema and LLM_SYSTEM_IN_USER=true, and raise LLM_MAX_TOKENS if replies are cut off".into()
}

/// A model error in plain words, and what to do. Never the key.
fn explain(e: &LlmError, config: &Config) -> (String, String) {
    let model = config.llm.model.as_deref().unwrap_or("the default model");
    let fix = match e {
        LlmError::Config(_) => "set LLM_API_KEY (or LLM_BASE_URL for a local server), or LLM_PROVIDER=rules to draft offline".to_string(),
        LlmError::Provider {
            status: 401 | 403, ..
        } => "the provider refused the key: check LLM_API_KEY (and that it belongs to LLM_PROVIDER)".to_string(),
        LlmError::Provider { status: 404, .. } => format!(
            "check LLM_MODEL (the provider may not offer {model}) and LLM_BASE_URL (OpenAI-compatible servers usually end in /v1)"
        ),
        LlmError::Provider { .. } => "check LLM_BASE_URL and LLM_MODEL".to_string(),
        LlmError::RateLimited { .. } => "try again in a minute; check the plan of the key in LLM_API_KEY".to_string(),
        LlmError::Timeout => "the model did not answer within LLM_TIMEOUT seconds: raise LLM_TIMEOUT for a slow local model, or choose a faster LLM_MODEL".to_string(),
        LlmError::Transport { .. } | LlmError::TooLarge { .. } => "check LLM_BASE_URL (is the server running and reachable?)".to_string(),
        LlmError::NotJson { .. } | LlmError::Refused { .. } | LlmError::Truncated => not_json_fix(),
        LlmError::Template(_) => "fix the templates in llm.prompts_dir, or unset it to use the built-in prompts".to_string(),
    };
    (e.to_string(), fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_errors_name_the_variable_to_fix() {
        let config = Config::default();
        let cases = [
            (
                LlmError::Provider {
                    status: 401,
                    message: "bad key".into(),
                },
                "LLM_API_KEY",
            ),
            (
                LlmError::Provider {
                    status: 404,
                    message: "no such model".into(),
                },
                "LLM_MODEL",
            ),
            (
                LlmError::Transport {
                    url: "http://127.0.0.1:9".into(),
                    cause: "refused".into(),
                },
                "LLM_BASE_URL",
            ),
            (LlmError::Config("no key".into()), "LLM_PROVIDER=rules"),
        ];
        for (e, variable) in cases {
            let (_, fix) = explain(&e, &config);
            assert!(fix.contains(variable), "{e}: {fix}");
        }
    }
}
