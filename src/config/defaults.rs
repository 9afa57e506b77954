//! The compiled-in defaults: what crmbot does with no crmbot.toml at all, including the
//! allowlist for Lead, Contact, Account, Opportunity and Task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::domain::free_text::FreeTextUpdates;

use super::{
    Config, DraftingSettings, LlmSettings, ObjectConfig, ResponseFormat, SalesforceSettings,
    ServerSettings, SlackSettings, StoreSettings,
};

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 3000)),
            data_dir: PathBuf::from("./data"),
            audit_key: None,
            secret_key: None,
            server: ServerSettings::default(),
            store: StoreSettings::default(),
            slack: SlackSettings::default(),
            salesforce: SalesforceSettings::default(),
            llm: LlmSettings::default(),
            drafting: DraftingSettings::default(),
            ask: super::AskSettings::default(),
            policy: super::PolicySettings::default(),
            objects: default_objects(),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            keep_decided_days: 30,
            cache_mb: crate::store::DEFAULT_CACHE_MB,
            database_url: None,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_body_bytes: 1_000_000,
        }
    }
}

impl Default for SlackSettings {
    fn default() -> Self {
        SlackSettings {
            signing_secret: None,
            bot_token: None,
            app_token: None,
            api_url: Url::parse("https://slack.com/api").expect("static URL parses"),
            approvers: Vec::new(),
            workers: 8,
            decision_workers: 4,
            background_threads: 0,
            draft_queue: 200,
            question_queue: 100,
            decision_queue: 1_000,
            drafts_per_user: 5,
            blocks_dir: None,
            notes_excerpt_chars: 280,
            timeout: Duration::from_secs(10),
            user_rate_limit: 20,
        }
    }
}

impl Default for SalesforceSettings {
    fn default() -> Self {
        SalesforceSettings {
            instance_url: None,
            api_version: "v62.0".to_string(),
            access_token: None,
            client_id: None,
            client_secret: None,
            username: None,
            private_key_file: None,
            refresh_token: None,
            login_url: None,
            describe_ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            max_rows: 2000,
            key_field: "Crmbot_Key__c".to_string(),
            write_time_limit: Duration::from_secs(660),
            recheck_interval: Duration::from_secs(30),
            max_response_bytes: 20_000_000,
            owner: super::OwnerChoice::default(),
            unmapped: super::UnmappedChoice::default(),
            users: std::collections::BTreeMap::new(),
            identity: super::Identity::default(),
            callback_url: None,
        }
    }
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            provider: None,
            base_url: None,
            api_key: None,
            model: None,
            response_format: ResponseFormat::Auto,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            max_tokens: 2048,
            system_in_user: None,
            prompts_dir: None,
        }
    }
}

impl Default for DraftingSettings {
    fn default() -> Self {
        DraftingSettings {
            max_notes_chars: 12_000,
            max_records: 500,
            hold_ungrounded: true,
            expire_after_days: 7,
            meeting_task: true,
            free_text_updates: FreeTextUpdates::Append,
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The default allowlist: the standard fields a salesperson's notes usually carry.
pub fn default_objects() -> BTreeMap<String, ObjectConfig> {
    let mut objects = BTreeMap::new();
    objects.insert(
        "Lead".to_string(),
        ObjectConfig {
            fields: strings(&[
                "FirstName",
                "LastName",
                "Company",
                "Title",
                "Email",
                "Phone",
                "LeadSource",
                "Status",
                "Industry",
                "Description",
            ]),
            lookup: strings(&["Email"]),
            match_keys: vec![
                strings(&["Email"]),
                strings(&["FirstName", "LastName", "Company"]),
            ],
            free_text: strings(&["Description"]),
            required: strings(&["Company"]),
            ..ObjectConfig::default()
        },
    );
    objects.insert(
        "Contact".to_string(),
        ObjectConfig {
            fields: strings(&[
                "FirstName",
                "LastName",
                "Title",
                "Email",
                "Phone",
                "MobilePhone",
                "Department",
                "Description",
            ]),
            lookup: strings(&["Email"]),
            match_keys: vec![
                strings(&["Email"]),
                strings(&["FirstName", "LastName", "Account.Name"]),
            ],
            free_text: strings(&["Description"]),
            links: strings(&["Account"]),
            ..ObjectConfig::default()
        },
    );
    objects.insert(
        "Account".to_string(),
        ObjectConfig {
            fields: strings(&[
                "Name",
                "Type",
                "Industry",
                "Website",
                "Phone",
                "BillingCity",
                "BillingCountry",
                "Description",
            ]),
            lookup: strings(&["Name"]),
            match_keys: vec![strings(&["Name"])],
            free_text: strings(&["Description"]),
            ..ObjectConfig::default()
        },
    );
    objects.insert(
        "Opportunity".to_string(),
        ObjectConfig {
            fields: strings(&[
                "Name",
                "StageName",
                "Amount",
                "CloseDate",
                "NextStep",
                "Type",
                "LeadSource",
                "Description",
            ]),
            lookup: strings(&["Name"]),
            match_keys: vec![strings(&["Name"])],
            free_text: strings(&["Description", "NextStep"]),
            links: strings(&["Account"]),
            ..ObjectConfig::default()
        },
    );
    objects.insert(
        "Task".to_string(),
        ObjectConfig {
            fields: strings(&[
                "Subject",
                "ActivityDate",
                "Status",
                "Priority",
                "Description",
            ]),
            free_text: strings(&["Subject", "Description"]),
            ..ObjectConfig::default()
        },
    );
    objects
}
