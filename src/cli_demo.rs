//! `crmbot demo`: the whole product on one machine with nothing configured. The sandbox
//! runs in-process with its demo data, the configured model (or the offline `rules` one)
//! drafts and plans, and this console stands in for Slack: it calls the same flows
//! (drafting, the pending action, approve / edit / reject, questions) and prints what the
//! card and the answers say. `--script FILE` runs lines from a file and prints a transcript.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use secrecy::SecretString;

use crmbot::config::Config;
use crmbot::domain::notes::Notes;
use crmbot::flow::action::{PendingAction, Place};
use crmbot::flow::actions::{Actions, Outcome, WriteSettings};
use crmbot::flow::ask::{AskRequest, Asker, Asking, render_text};
use crmbot::flow::drafting::Drafting;
use crmbot::flow::edit::{EditValues, apply_edit, edit_form, field_key, key_owner};
use crmbot::flow::policy::Access;
use crmbot::flow::storage::Store;
use crmbot::flow::text;
use crmbot::llm::Llm;
use crmbot::salesforce::SalesforceClient;
use crmbot::sandbox::{self, SandboxOptions};

/// The console's user, as Slack would name them.
const YOU: &str = "U0DEMO";
/// The demo seed's sales rep: "my deals" are Dana's.
const YOU_EMAIL: &str = "dana.lee@crmbot.example";
const YOU_NAME: &str = "Dana Lee";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run the lines of this file instead of reading the keyboard, and print a transcript.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
}

const HELP: &str = "Type what you would type in Slack:
  /crm log <notes>        draft records from meeting notes (try: /crm log sample)
  approve | 1             approve the last draft: one Salesforce request writes it
  edit Field=value ...    change fields of the last draft (record 2: edit 2.Field=value)
  reject | 3              reject the last draft
  /crm ask <question>     ask about the pipeline (any other line is a question too)
  help, quit";

struct Demo {
    actions: Actions,
    asking: Asking,
    last: Option<String>,
    out: Box<dyn Write>,
}

struct DemoAsker;

impl Asker for DemoAsker {
    fn key(&self) -> String {
        YOU.into()
    }
    fn email(&self) -> futures::future::BoxFuture<'_, Option<String>> {
        Box::pin(async { Some(YOU_EMAIL.to_string()) })
    }
}

pub async fn demo(mut config: Config, args: DemoArgs, sample: &str) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a local port for the sandbox")?;
    let sandbox = sandbox::start(listener, SandboxOptions::default())
        .await
        .context("cannot start the local Salesforce")?;
    config.salesforce.instance_url = Some(sandbox.base_url().parse().context("sandbox URL")?);
    config.salesforce.access_token = Some(SecretString::from(sandbox::DEFAULT_TOKEN));
    let client = SalesforceClient::new(&config.salesforce).context("Salesforce")?;
    let llm = Arc::new(Llm::from_settings(&config.llm).context("model")?);
    let model = match llm.startup_report().await {
        Some(found) => format!("{}; {found}", llm.describe()),
        None => llm.describe(),
    };
    let instance = sandbox.base_url().trim_end_matches('/').to_string();
    let drafting = Drafting::new(
        client.clone(),
        llm.clone(),
        config.objects.clone(),
        config.drafting.clone(),
        instance,
    );
    let store = Store::temporary().context("in-memory database")?;
    let actions = Actions::new(
        store,
        drafting,
        Access::new(
            config.policy_rules(),
            std::sync::Arc::new(crmbot::flow::policy::NoGroups),
        ),
        config.drafting.clone(),
        WriteSettings::from_settings(&config.salesforce, &config.slack),
    )?;
    let asking = Asking::new(client, llm.clone(), config.ask.clone());
    let mut demo = Demo {
        actions,
        asking,
        last: None,
        out: Box::new(std::io::stdout()),
    };
    let script = args.script.is_some();
    let input: Box<dyn BufRead> = match &args.script {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let interactive = !script && std::io::stdin().is_terminal();
    demo.say(&format!(
        "crmbot demo — a local Salesforce with demo data at {}, model: {}.\n{HELP}\n",
        sandbox.base_url(),
        model
    ));
    for line in input.lines() {
        let line = line.context("cannot read input")?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if script || !interactive {
            demo.say(&format!("> {line}"));
        }
        if matches!(line, "quit" | "exit") {
            break;
        }
        demo.handle(line, sample).await;
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Demo {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    async fn handle(&mut self, line: &str, sample: &str) {
        let lower = line.to_lowercase();
        if let Some(notes) = line.strip_prefix("/crm log") {
            let notes = match notes.trim() {
                "sample" => sample,
                other => other,
            };
            return self.log(notes).await;
        }
        if let Some(q) = line.strip_prefix("/crm ask") {
            return self.ask(q.trim()).await;
        }
        match lower.split_whitespace().next().unwrap_or("") {
            "help" | "/crm" => self.say(HELP),
            "approve" | "1" => self.approve().await,
            "reject" | "3" => self.decide_reject().await,
            "edit" | "2" => self.edit(line.split_once(' ').map_or("", |(_, r)| r)).await,
            // Anything else is a question, as a mention would be in Slack.
            _ => self.ask(line).await,
        }
    }

    async fn log(&mut self, notes: &str) {
        let today = Utc::now().date_naive();
        let drafted = self
            .actions
            .drafting()
            .draft_traced(&Notes::new(notes), today, YOU_NAME)
            .await;
        let (proposal, trace) = match drafted {
            Ok(x) => x,
            Err(e) => return self.say(&format!("✗ {e}")),
        };
        let place = Place {
            channel: "demo".into(),
            thread_ts: None,
            source: None,
        };
        match self
            .actions
            .create(YOU, place, notes, proposal, trace, None)
        {
            Ok(a) => {
                self.last = Some(a.id.clone());
                self.card(&a);
            }
            Err(e) => self.say(&format!("✗ {e}")),
        }
    }

    fn card(&mut self, a: &PendingAction) {
        let mut body = text::render(&a.proposal);
        if let Some(i) = body.find("\nSalesforce:") {
            body.truncate(i + 1);
        }
        self.say(&format!(
            "┌ draft {} · revision {} · {}",
            a.id,
            a.revision,
            a.state.as_str()
        ));
        self.say(body.trim_end());
        if a.proposal.writes_nothing() {
            self.say("└ nothing to approve   [3] reject");
        } else {
            self.say("└ [1] approve   [2] edit Field=value   [3] reject");
        }
    }

    fn outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Changed(a) => match a.state.as_str() {
                "done" => {
                    for w in &a.written {
                        self.say(&format!(
                            "✓ {} {} {} — {}",
                            capital(&w.outcome),
                            w.label,
                            w.name,
                            w.url
                        ));
                    }
                    self.say("Written in one Salesforce request.");
                }
                "failed" => self.say(&format!("✗ {}", text::write_failure(a.error.as_ref()))),
                "rejected" => self.say("Rejected. Nothing was written."),
                _ => self.card(&a),
            },
            Outcome::Refused { reason, .. } => self.say(&format!("✗ {reason}")),
        }
    }

    async fn approve(&mut self) {
        let Some(id) = self.last.clone() else {
            return self.say("No draft yet: start with /crm log <notes>.");
        };
        match self.actions.approve(&id, YOU, None).await {
            Ok(o) => self.outcome(o),
            Err(e) => self.say(&format!("✗ {e}")),
        }
    }

    async fn decide_reject(&mut self) {
        let Some(id) = self.last.clone() else {
            return self.say("No draft yet: start with /crm log <notes>.");
        };
        match self.actions.reject(&id, YOU).await {
            Ok(o) => self.outcome(o),
            Err(e) => self.say(&format!("✗ {e}")),
        }
    }

    async fn edit(&mut self, changes: &str) {
        let Some(id) = self.last.clone() else {
            return self.say("No draft yet: start with /crm log <notes>.");
        };
        let action = match self.actions.may_edit(&id, YOU).await {
            Ok(Ok(a)) => a,
            Ok(Err(reason)) => return self.say(&format!("✗ {reason}")),
            Err(e) => return self.say(&format!("✗ {e}")),
        };
        let schema = match self.actions.drafting().schema().await {
            Ok((s, _)) => s,
            Err(e) => return self.say(&format!("✗ {e}")),
        };
        // Start from what the form shows, then apply the typed changes.
        let form = edit_form(&action.proposal, action.revision, &schema);
        let mut values: EditValues = form
            .records
            .iter()
            .flat_map(|r| r.fields.iter().map(|f| (f.key.clone(), f.value.clone())))
            .collect();
        for change in split_changes(changes) {
            let Some((field, value)) = change.split_once('=') else {
                return self.say(&format!("✗ `{change}`: write Field=value"));
            };
            let (record, field) = match field.split_once('.') {
                Some((n, f)) if n.chars().all(|c| c.is_ascii_digit()) => {
                    (n.parse::<usize>().unwrap_or(1).saturating_sub(1), f)
                }
                _ => (0, field),
            };
            let key = form
                .records
                .iter()
                .flat_map(|r| &r.fields)
                .find(|f| f.key.eq_ignore_ascii_case(&field_key(record, field.trim())))
                .map(|f| f.key.clone());
            let Some(key) = key else {
                return self.say(&format!(
                    "✗ record {} has no field {field} you may set",
                    record + 1
                ));
            };
            let value = value.trim().trim_matches('"').to_string();
            values.insert(key, (!value.is_empty()).then_some(value));
        }
        let instance = self.asking.instance_url().to_string();
        let rule = self.actions.drafting().free_text_rule(YOU_NAME);
        match apply_edit(&action.proposal, &schema, &values, &instance, &rule) {
            Err(errors) => {
                for (key, message) in errors {
                    let owner = key_owner(&action.proposal, &key)
                        .unwrap_or_else(|| "this draft".to_string());
                    self.say(&format!("✗ {owner}: {message}"));
                }
            }
            Ok(p) => match self.actions.save_edit(&id, YOU, action.revision, p).await {
                Ok(o) => self.outcome(o),
                Err(e) => self.say(&format!("✗ {e}")),
            },
        }
    }

    async fn ask(&mut self, question: &str) {
        let asker = DemoAsker;
        let req = AskRequest {
            question,
            today: Utc::now().date_naive(),
            previous: None,
            asker: &asker,
            scope: None,
            client: None,
        };
        match self.asking.ask(&req).await {
            Ok(a) => self.say(render_text(&a).trim_end()),
            Err(e) => self.say(&format!("✗ {e}")),
        }
    }
}

/// `Status="Working - Contacted" Title=CTO` -> the two changes.
fn split_changes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn capital(s: &str) -> String {
    crmbot::flow::action::capitalise(s)
}
