//! Loading, overriding and printing the configuration.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn defaults_cover_the_five_standard_objects() {
    let config = Config::load_with(None, env(&[])).unwrap();
    let names: Vec<&str> = config.objects.keys().map(String::as_str).collect();
    assert_eq!(names, ["Account", "Contact", "Lead", "Opportunity", "Task"]);
    assert_eq!(config.objects["Lead"].lookup, ["Email"]);
    assert_eq!(config.llm.effective_provider(), LlmProvider::Rules);
    assert_eq!(config.salesforce.api_version, "v62.0");
}

#[test]
fn environment_overrides_the_file_with_the_public_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crmbot.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:4000\"\n[salesforce]\ninstance_url = \"https://file.example\"\n",
    )
    .unwrap();
    let config = Config::load_with(
        Some(&path),
        env(&[
            ("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9999"),
            ("LLM_API_KEY", "sk-test"),
            ("SLACK_API_URL", "http://127.0.0.1:9998/api"),
        ]),
    )
    .unwrap();
    assert_eq!(config.listen.port(), 4000, "file value kept");
    assert_eq!(
        config.salesforce.instance_url.unwrap().as_str(),
        "http://127.0.0.1:9999/"
    );
    assert_eq!(config.slack.api_url.as_str(), "http://127.0.0.1:9998/api");
    assert_eq!(config.llm.effective_provider(), LlmProvider::Openai);
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let err = Config::from_toml("listen = \"0.0.0.0:3000\"\n\n[salesforce]\ninstnce_url = \"x\"\n")
        .unwrap_err();
    assert!(err.contains("instnce_url"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn a_bad_value_names_the_key() {
    let err = Config::from_toml("[salesforce]\ninstance_url = \"not a url\"\n").unwrap_err();
    assert!(err.contains("instance_url"), "{err}");
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let err = Config::load_with(None, env(&[("LLM_PROVIDER", "gpt")])).unwrap_err();
    assert!(err.to_string().contains("LLM_PROVIDER"), "{err}");
    let err = Config::load_with(None, env(&[("SALESFORCE_API_VERSION", "62")])).unwrap_err();
    assert!(err.to_string().contains("salesforce.api_version"), "{err}");
}

#[test]
fn an_object_table_replaces_that_default_and_can_disable_one() {
    let config = Config::from_toml(
        "[objects.Lead]\nfields = [\"LastName\", \"Company\"]\n[objects.Task]\nenabled = false\n",
    )
    .unwrap();
    assert_eq!(config.objects["Lead"].fields, ["LastName", "Company"]);
    assert!(config.objects["Lead"].lookup.is_empty());
    assert!(!config.objects.contains_key("Task"));
    assert!(
        config.objects.contains_key("Opportunity"),
        "other defaults stay"
    );
}

#[test]
fn an_empty_secret_in_the_file_counts_as_not_set() {
    let config = Config::from_toml("[llm]\napi_key = \"\"\n").unwrap();
    assert!(config.llm.api_key.is_none());
    assert_eq!(config.llm.effective_provider(), LlmProvider::Rules);
}

#[test]
fn printed_configuration_masks_every_secret() {
    let config = Config::load_with(
        None,
        env(&[
            ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ("SALESFORCE_ACCESS_TOKEN", "00Dsecret!token"),
            ("LLM_API_KEY", "sk-secret"),
        ]),
    )
    .unwrap();
    let shown = config.to_masked_toml();
    for secret in ["xoxb-very-secret", "00Dsecret!token", "sk-secret"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert!(shown.contains("bot_token = \"********\""), "{shown}");
    assert!(!format!("{config:?}").contains("sk-secret"), "Debug leaks");
}

#[test]
fn secrets_can_come_from_files_named_by_file_variables() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("bot_token");
    std::fs::write(&token, "xoxb-from-a-file\n").unwrap();
    let path = token.display().to_string();
    let config = Config::load_with(None, env(&[("SLACK_BOT_TOKEN_FILE", path.as_str())])).unwrap();
    assert_eq!(
        config.slack.bot_token.unwrap().expose_secret(),
        "xoxb-from-a-file"
    );
    // The variable itself wins.
    let config = Config::load_with(
        None,
        env(&[
            ("SLACK_BOT_TOKEN_FILE", path.as_str()),
            ("SLACK_BOT_TOKEN", "xoxb-direct"),
        ]),
    )
    .unwrap();
    assert_eq!(
        config.slack.bot_token.unwrap().expose_secret(),
        "xoxb-direct"
    );
    // A file that cannot be read is an error naming the variable.
    let err = Config::load_with(None, env(&[("LLM_API_KEY_FILE", "/nonexistent/key")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("LLM_API_KEY_FILE=/nonexistent/key"), "{err}");
}

#[test]
fn local_model_settings_come_from_the_environment() {
    let config = Config::load_with(
        None,
        env(&[
            ("LLM_RESPONSE_FORMAT", "json_object_schema"),
            ("LLM_TIMEOUT", "120"),
            ("LLM_MAX_TOKENS", "700"),
            ("LLM_SYSTEM_IN_USER", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(config.llm.response_format, ResponseFormat::JsonObjectSchema);
    assert_eq!(config.llm.timeout, Duration::from_secs(120));
    assert_eq!(config.llm.max_tokens, 700);
    assert_eq!(config.llm.system_in_user, Some(true));
    let default = Config::load_with(None, env(&[])).unwrap();
    assert_eq!(default.llm.response_format, ResponseFormat::Auto);
    assert_eq!(default.llm.system_in_user, None);
    for (name, value) in [
        ("LLM_RESPONSE_FORMAT", "xml"),
        ("LLM_TIMEOUT", "soon"),
        ("LLM_MAX_TOKENS", "0"),
        ("LLM_SYSTEM_IN_USER", "maybe"),
    ] {
        let err = Config::load_with(None, env(&[(name, value)])).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn a_base_url_alone_means_an_openai_compatible_server_and_the_model_is_named() {
    let local =
        Config::load_with(None, env(&[("LLM_BASE_URL", "http://127.0.0.1:8080/v1")])).unwrap();
    assert_eq!(local.llm.effective_provider(), LlmProvider::Openai);
    assert_eq!(
        local.llm.describe(),
        "openai-compatible server at http://127.0.0.1:8080/v1, model gpt-4o-mini (LLM_MODEL to change)"
    );
    assert!(
        local
            .to_masked_toml()
            .contains("# Model in effect: openai-compatible server at http://127.0.0.1:8080/v1"),
        "{}",
        local.to_masked_toml()
    );
    let offline = Config::load_with(None, env(&[])).unwrap();
    assert!(offline.llm.describe().starts_with("rules (offline)"));
    let openai = Config::load_with(None, env(&[("LLM_API_KEY", "sk-1")])).unwrap();
    assert_eq!(
        openai.llm.describe(),
        "openai gpt-4o-mini at https://api.openai.com/v1"
    );
}

#[test]
fn the_example_file_is_a_valid_configuration() {
    let config = Config::from_toml(include_str!("../../crmbot.example.toml")).unwrap();
    config.check().unwrap();
    assert_eq!(config.server.max_connections, 256);
}

#[test]
fn per_user_sign_in_comes_from_the_environment_and_the_key_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret_key");
    std::fs::write(&key, "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n").unwrap();
    let path = key.display().to_string();
    let config = Config::load_with(
        None,
        env(&[
            ("SALESFORCE_IDENTITY", "User"),
            (
                "SALESFORCE_CALLBACK_URL",
                "https://crmbot.example.com/salesforce/oauth/callback",
            ),
            ("CRMBOT_SECRET_KEY_FILE", path.as_str()),
        ]),
    )
    .unwrap();
    assert_eq!(config.salesforce.identity, super::Identity::User);
    assert_eq!(
        config.salesforce.callback_url.as_ref().unwrap().path(),
        "/salesforce/oauth/callback"
    );
    assert_eq!(
        config.secret_key.as_ref().unwrap().expose_secret(),
        "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="
    );
    assert!(!config.to_masked_toml().contains("q83vEjRWeJ"), "masked");
    let err = Config::load_with(None, env(&[("SALESFORCE_IDENTITY", "everyone")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected integration or user"), "{err}");
    let toml = Config::from_toml("[salesforce]\nidentity = \"user\"\n").unwrap();
    assert_eq!(toml.salesforce.identity, super::Identity::User);
    assert_eq!(
        Config::default().salesforce.identity,
        super::Identity::Integration
    );
}
