//! A write or an undo whose process stopped, taken over: against the sandbox, with the
//! real approve flow claiming the write and nobody (or a late writer) finishing it.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::super::action::{PendingAction, UndoReport};
use super::super::actions::{Actions, Approval, Outcome, WriteSettings};
use super::super::drafting::Drafting;
use super::super::policy::Access;
use super::super::testing::{action, field, record};
use super::super::write::WritePlan;
use crate::config::{Config, LlmProvider, LlmSettings};
use crate::domain::action::ActionState;
use crate::flow::storage::{AuditKind, Store};
use crate::llm::Llm;
use crate::salesforce::SalesforceClient;
use crate::sandbox::{self, RunningSandbox, SandboxOptions};

const SUBJECT: &str = "Send Priya the renewal quote";

async fn setup() -> (Actions, Store, RunningSandbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sf = sandbox::start(listener, SandboxOptions::default())
        .await
        .unwrap();
    let mut config = Config::default();
    config.salesforce.instance_url = Some(sf.base_url().parse().unwrap());
    config.salesforce.access_token = Some(sandbox::DEFAULT_TOKEN.into());
    let client = SalesforceClient::new(&config.salesforce).unwrap();
    let llm = LlmSettings {
        provider: Some(LlmProvider::Rules),
        ..LlmSettings::default()
    };
    let drafting = Drafting::new(
        client,
        Arc::new(Llm::from_settings(&llm).unwrap()),
        config.objects.clone(),
        config.drafting.clone(),
        sf.base_url(),
    );
    let store = Store::temporary().unwrap();
    let actions = Actions::new(
        store.clone(),
        drafting,
        Access::open(),
        config.drafting.clone(),
        WriteSettings::default(),
    )
    .unwrap();
    (actions, store, sf)
}

/// A Task-only draft, approved by its requester: claimed (Writing), nothing sent yet.
async fn claimed(actions: &Actions) -> (PendingAction, WritePlan) {
    let mut a = action(
        vec![record(
            "Task",
            "create",
            vec![field("Subject", json!(SUBJECT))],
        )],
        false,
    );
    a.expires_at = chrono::Utc::now() + Duration::days(1);
    actions.records.insert_new(&a.id, &a).unwrap();
    match actions.begin_approve(&a.id, &a.requester, Some(1)).await {
        Ok(Approval::Writing(a, plan)) => (*a, plan),
        Ok(_) => panic!("the approval did not claim the write"),
        Err(e) => panic!("{e}"),
    }
}

fn tasks(sf: &RunningSandbox) -> usize {
    sf.records("Task")
        .iter()
        .filter(|t| t.get("Subject") == Some(&json!(SUBJECT)))
        .count()
}

/// Composite requests that write (a composite of queries is a check).
fn writes_sent(sf: &RunningSandbox) -> usize {
    sf.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/composite"))
        .filter(|r| {
            r.json().is_some_and(|b| {
                b["compositeRequest"]
                    .as_array()
                    .is_some_and(|subs| subs.iter().any(|s| s["method"] != "GET"))
            })
        })
        .count()
}

fn kinds(store: &Store, id: &str) -> Vec<AuditKind> {
    store
        .audit
        .for_action(id)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind)
        .collect()
}

fn state(actions: &Actions, id: &str) -> ActionState {
    actions.get(id).unwrap().unwrap().state
}

#[tokio::test]
async fn a_write_whose_process_stopped_is_found_by_a_check_and_never_sent_again() {
    let (actions, store, sf) = setup().await;
    let (a, plan) = claimed(&actions).await;
    // Within its budget the write is a live replica's: left alone.
    assert!(
        actions
            .adopt_orphans(chrono::Utc::now())
            .unwrap()
            .is_empty()
    );
    assert_eq!(state(&actions, &a.id), ActionState::Writing);
    // The process sent the write, Salesforce committed it, and the process died.
    let sent = actions.salesforce().composite(&plan.request).await.unwrap();
    assert!(sent.responses.iter().all(|r| r.http_status_code < 300));
    let later = chrono::Utc::now() + Duration::hours(1);
    let adopted = actions.adopt_orphans(later).unwrap();
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].state, ActionState::Unknown);
    assert_eq!(
        adopted[0].attempt.as_ref().unwrap().doubt.as_deref(),
        Some("the crmbot process writing this stopped")
    );
    // Taken over once.
    assert!(actions.adopt_orphans(later).unwrap().is_empty());
    let settled = actions.recheck_unknown().await.unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].state, ActionState::Done);
    assert_eq!(settled[0].written.len(), 1);
    assert_eq!((tasks(&sf), writes_sent(&sf)), (1, 1), "written once");
    let k = kinds(&store, &a.id);
    assert!(
        k.contains(&AuditKind::WriteUnknown) && k.contains(&AuditKind::Reconciled),
        "{k:?}"
    );
}

#[tokio::test]
async fn a_slow_writer_answering_after_the_takeover_still_settles_its_write() {
    let (actions, store, sf) = setup().await;
    let (a, plan) = claimed(&actions).await;
    let later = chrono::Utc::now() + Duration::hours(1);
    assert_eq!(actions.adopt_orphans(later).unwrap().len(), 1);
    // The survivor looks first: nothing there yet, which proves nothing (still Unknown).
    assert!(actions.recheck_unknown().await.unwrap().is_empty());
    assert_eq!(state(&actions, &a.id), ActionState::Unknown);
    // The writer was only slow: its request goes out now and its answer settles the write.
    match actions.complete_approve(a.clone(), plan).await.unwrap() {
        Outcome::Changed(done) => assert_eq!(done.state, ActionState::Done),
        Outcome::Refused { reason, .. } => panic!("{reason}"),
    }
    // Nothing left to look for, and nothing sent again.
    assert!(actions.recheck_unknown().await.unwrap().is_empty());
    assert_eq!(state(&actions, &a.id), ActionState::Done);
    assert_eq!((tasks(&sf), writes_sent(&sf)), (1, 1));
    let written = kinds(&store, &a.id)
        .into_iter()
        .filter(|k| *k == AuditKind::Written)
        .count();
    assert_eq!(written, 1, "one audit record of the write");
}

#[tokio::test]
async fn an_undo_whose_process_stopped_becomes_undo_unknown_after_its_budget() {
    let (actions, store, _sf) = setup().await;
    let mut a = action(vec![], false);
    a.state = ActionState::Undoing;
    a.undo = Some(UndoReport {
        by: "U1".into(),
        at: chrono::Utc::now(),
        undone: vec![],
        left: vec![],
        error: None,
        doubt: None,
    });
    actions.records.insert_new(&a.id, &a).unwrap();
    assert!(
        actions
            .adopt_orphans(chrono::Utc::now())
            .unwrap()
            .is_empty()
    );
    let adopted = actions
        .adopt_orphans(chrono::Utc::now() + Duration::hours(1))
        .unwrap();
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].state, ActionState::UndoUnknown);
    assert_eq!(
        adopted[0].undo.as_ref().unwrap().doubt.as_deref(),
        Some("the crmbot process undoing this stopped")
    );
    assert_eq!(kinds(&store, &a.id), [AuditKind::UndoFailed]);
}
