//! The decisions on a pending action: store a new draft, reject, edit (approve and the write
//! live in `approve`, expiry and the checks of unknown writes in `settle`). Front ends (Slack,
//! the console) call these and then show the returned action; every change is a
//! compare-and-swap, durable before anyone is told.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tracing::instrument;

use super::action::{Edit, Glance, PendingAction, Place, capitalise, new_id};
pub use super::approve::Approval;
pub use super::drafting::DraftTrace;
use super::drafting::Drafting;
use super::people::{Owner, People};
use super::policy::{Access, Membership};
use super::proposal::Proposal;
use super::signin::Clients;
use super::write::record_name;
use crate::config::{DraftingSettings, OwnerChoice, SalesforceSettings, SlackSettings};
use crate::domain::action::{ActionState, Event, next};
use crate::domain::policy::may_decide;
use crate::flow::storage::{AuditEntry, AuditError, AuditKind, Records, Store, StoreError, Update};
use crate::salesforce::SalesforceClient;

/// The sled tree the actions live in.
pub const TREE: &str = "actions";

/// The actions tree, indexed by state: open = not decided for good; closed at = when it was
/// decided (or last changed).
pub(crate) fn action_records(store: &Store) -> Result<Records<PendingAction>, StoreError> {
    store.indexed_records(
        TREE,
        |a: &PendingAction| !a.state.is_final(),
        |a: &PendingAction| a.decided_at.unwrap_or(a.updated_at).timestamp(),
    )
}

/// The same tree, read as [`Glance`]s (never written through).
fn action_glances(store: &Store) -> Result<Records<Glance>, StoreError> {
    store.indexed_records(
        TREE,
        |a: &Glance| !a.state.is_final(),
        |a: &Glance| a.decided_at.unwrap_or(a.updated_at).timestamp(),
    )
}

/// The answer to a person's click.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The action changed (or the write finished); show it.
    Changed(Box<PendingAction>),
    /// Nothing changed; tell the person why. The action is included when it exists.
    Refused {
        reason: String,
        action: Option<Box<PendingAction>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this draft no longer exists")]
    Missing,
}

/// How writes are made and checked (from `[salesforce]`, and Slack's time limit).
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// The idempotency key field; `None` never upserts.
    pub key_field: Option<String>,
    /// After this, a write that cannot be found never happened.
    pub time_limit: StdDuration,
    /// How often an unknown write is looked for again.
    pub recheck: StdDuration,
    /// The longest a live crmbot takes over one write or undo, from the click that claims it
    /// to Salesforce's answer (see [`write_budget`]). A write or an undo still under way
    /// after this was left by a process that stopped, and a survivor takes it over.
    pub budget: StdDuration,
}

/// What [`write_budget`] adds for the rest (the store, the audit, scheduling).
const BUDGET_MARGIN: StdDuration = StdDuration::from_secs(10);

/// A write's budget: two Salesforce requests (the sign-in's token and the write itself, or
/// an undo's read and its write), each cut off at `salesforce.timeout`; two Slack calls made
/// between the claim and the request (the "Writing…" card and the Home tab), each cut off
/// at `slack.timeout`; and `BUDGET_MARGIN`. With the defaults (30 s, 10 s): 90 s.
pub fn write_budget(salesforce_timeout: StdDuration, slack_timeout: StdDuration) -> StdDuration {
    salesforce_timeout * 2 + slack_timeout * 2 + BUDGET_MARGIN
}

impl WriteSettings {
    pub fn from_settings(s: &SalesforceSettings, slack: &SlackSettings) -> WriteSettings {
        WriteSettings {
            key_field: Some(s.key_field.trim().to_string()).filter(|k| !k.is_empty()),
            time_limit: s.write_time_limit,
            recheck: s.recheck_interval,
            budget: write_budget(s.timeout, slack.timeout),
        }
    }
}

impl Default for WriteSettings {
    fn default() -> Self {
        WriteSettings::from_settings(&SalesforceSettings::default(), &SlackSettings::default())
    }
}

/// The pending-action use cases. Cheap to clone.
#[derive(Clone)]
pub struct Actions {
    store: Store,
    pub(super) records: Records<PendingAction>,
    /// The same records, only what the timers' scans need.
    pub(super) glances: Records<Glance>,
    drafting: Drafting,
    pub(super) access: Access,
    settings: DraftingSettings,
    pub(super) writes: WriteSettings,
    /// Unknown writes this process looks for: its own doubts, and on the timers' lease
    /// holder every unknown write in the store (`reconcile`, `adopt_orphans`).
    pub(super) unknown: Arc<Mutex<BTreeSet<String>>>,
    /// Actions being looked for in Salesforce right now: one check at a time per action.
    pub(super) checking: Arc<Mutex<BTreeSet<String>>>,
    /// Who people are in Salesforce, for the owner of what is created.
    pub(super) people: People,
    /// Whose Salesforce client checks and writes: the integration user's, or the person's.
    pub(super) clients: Clients,
}

impl Actions {
    pub fn new(
        store: Store,
        drafting: Drafting,
        access: Access,
        settings: DraftingSettings,
        writes: WriteSettings,
    ) -> Result<Self, ActionError> {
        Ok(Actions {
            people: People::by_email(drafting.salesforce().clone()),
            clients: Clients::integration(drafting.salesforce().clone()),
            records: action_records(&store)?,
            glances: action_glances(&store)?,
            store,
            drafting,
            access,
            settings,
            writes,
            unknown: Arc::default(),
            checking: Arc::default(),
        })
    }

    /// Owners of creates decided with these people (`salesforce.owner`).
    pub fn with_people(mut self, people: People) -> Actions {
        self.people = people;
        self
    }

    /// Acts with each person's own Salesforce client (`salesforce.identity = "user"`).
    pub fn with_clients(mut self, clients: Clients) -> Actions {
        self.clients = clients;
        self
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whose client writes `a` and checks that write: the approver who decided it (the
    /// requester when the policy approved by itself).
    pub(super) fn writer<'a>(&self, a: &'a PendingAction) -> &'a str {
        match a.decided_by.as_deref() {
            Some(u) if u != super::policy::AUTO_APPROVER => u,
            _ => &a.requester,
        }
    }

    pub fn people(&self) -> &People {
        &self.people
    }

    /// The owner a new draft's creates get: the requester's User when `salesforce.owner`
    /// says requester (an approver's is decided on approval).
    pub async fn draft_owner(&self, requester: &str) -> Option<Owner> {
        match self.people.settings().owner {
            OwnerChoice::Requester => self.people.owner(requester).await,
            OwnerChoice::Approver | OwnerChoice::Integration => None,
        }
    }

    /// Whether other replicas share the store (a write under way may be theirs).
    pub(super) fn store_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// How writes are made and checked.
    pub fn write_settings(&self) -> &WriteSettings {
        &self.writes
    }

    pub fn drafting(&self) -> &Drafting {
        &self.drafting
    }

    /// The policy and the user-group directory decisions are made with.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// A reject or an edit the policy refused, audited with the rule.
    fn audit_decision_refused(&self, id: &str, user: &str, what: &str, reason: &str) {
        const RULE: &str = "the requester, policy.approvers or the draft's tier approvers";
        self.audit(AuditEntry {
            action_id: id.to_string(),
            kind: AuditKind::Refused,
            actor: Some(user.to_string()),
            summary: format!("{} by {user} refused by the policy", capitalise(what)),
            detail: json!({"reason": reason, "rule": RULE}),
        });
    }

    /// Whether `user` may reject or edit `a`: the requester, or anyone who may approve it.
    fn may_decide(&self, a: &PendingAction, m: &Membership) -> bool {
        let assessment = self.access.assess(a);
        may_decide(
            &assessment,
            &self.access.policy.approvers,
            &a.requester,
            &m.user,
            &|g| m.member(g),
        )
    }

    pub(super) fn salesforce(&self) -> &SalesforceClient {
        self.drafting.salesforce()
    }

    pub fn get(&self, id: &str) -> Result<Option<PendingAction>, ActionError> {
        Ok(self.records.get(id)?)
    }

    pub fn all(&self) -> Result<Vec<PendingAction>, ActionError> {
        Ok(self.records.all()?)
    }

    /// How many actions wait on a person or on Salesforce, per state (every such state
    /// listed, zeros included, so a gauge falls back to 0). Reads only undecided ones.
    pub fn pending_counts(&self) -> Result<Vec<(ActionState, usize)>, ActionError> {
        let waiting = [
            ActionState::Drafted,
            ActionState::PartlyApproved,
            ActionState::Writing,
            ActionState::Unknown,
            ActionState::Failed,
        ];
        let open = self.glances.open()?;
        Ok(waiting
            .into_iter()
            .map(|s| (s, open.iter().filter(|a| a.state == s).count()))
            .collect())
    }

    /// The actions not yet decided (drafted, writing, unknown, failed): what start-up and
    /// the timers look at, without reading the decided ones.
    pub fn undecided(&self) -> Result<Vec<PendingAction>, ActionError> {
        Ok(self.records.open()?)
    }

    /// Forgets actions decided (written, rejected, expired) before `before`, with their
    /// card state; the audit log keeps their whole history. Returns how many.
    pub fn compact_decided_before(
        &self,
        before: chrono::DateTime<Utc>,
    ) -> Result<usize, ActionError> {
        Ok(self.records.remove_closed_before(before.timestamp())?)
    }

    /// Stores a new draft (before any card shows it) and audits what the model saw and said.
    pub fn create(
        &self,
        requester: &str,
        place: Place,
        notes: &str,
        proposal: Proposal,
        trace: DraftTrace,
        owner: Option<Owner>,
    ) -> Result<PendingAction, ActionError> {
        let now = Utc::now();
        let mut action = PendingAction {
            id: new_id(),
            revision: 1,
            state: ActionState::Drafted,
            requester: requester.to_string(),
            place,
            card_ts: None,
            notes: notes.to_string(),
            proposal,
            meeting_task: self.settings.meeting_task,
            created_at: now,
            updated_at: now,
            expires_at: now + Duration::days(i64::from(self.settings.expire_after_days)),
            decided_by: None,
            decided_at: None,
            edits: vec![],
            written: vec![],
            error: None,
            attempts: 0,
            attempt: None,
            assessment: None,
            approvals: vec![],
            owner,
            undo: None,
        };
        action.assessment = Some(self.access.assess(&action));
        self.records.insert_new(&action.id, &action)?;
        let mut detail = json!({"notes": notes});
        match self.prompt_detail(&trace) {
            (Some(sha), user) => {
                detail["prompt_sha256"] = json!(sha);
                detail["prompt_user"] = json!(user);
            }
            (None, whole) => detail["prompt"] = json!(whole),
        }
        for (k, v) in [
            ("raw_reply", json!(trace.raw_reply)),
            ("proposal", json!(action.proposal)),
            ("place", json!(action.place)),
            ("meeting_task", json!(action.meeting_task)),
            ("expires_at", json!(action.expires_at)),
            ("policy", json!(action.assessment)),
            ("owner", json!(action.owner)),
        ] {
            detail[k] = v;
        }
        self.audit(AuditEntry {
            action_id: action.id.clone(),
            kind: AuditKind::Drafted,
            actor: Some(requester.to_string()),
            summary: format!(
                "Drafted {} for {requester}",
                action
                    .proposal
                    .records
                    .iter()
                    .map(|r| format!("{} {} ({})", r.label, record_name(r), r.action))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            detail,
        });
        Ok(action)
    }

    /// How a draft's prompt is audited: the system prompt (the same for every draft until
    /// describe or the day changes) stored once and named by its SHA-256, and the rest
    /// (the user turn with the notes) inline. Without a stored system prompt, all inline.
    fn prompt_detail(&self, trace: &DraftTrace) -> (Option<String>, String) {
        let rest = (!trace.system.is_empty())
            .then(|| trace.prompt.strip_prefix(&*trace.system))
            .flatten()
            .map(|r| r.strip_prefix("\n\n").unwrap_or(r));
        let Some(rest) = rest else {
            return (None, trace.prompt.clone());
        };
        match self.store.audit.store_prompt(&trace.system) {
            Ok(sha) => (Some(sha), rest.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "prompt not stored apart; kept inline");
                (None, trace.prompt.clone())
            }
        }
    }

    /// Remembers where the card was posted.
    pub fn set_card(&self, id: &str, ts: &str) -> Result<PendingAction, ActionError> {
        let r = self.records.update(id, |a| {
            let mut a = a.clone();
            a.card_ts = Some(ts.to_string());
            Ok::<_, ()>(Update::Set(a.clone(), a))
        })?;
        r.map_err(|_| ActionError::Missing)
    }

    /// Reject: the requester and whoever may approve it; nothing reaches Salesforce.
    #[instrument(skip(self), fields(action = %id))]
    pub async fn reject(&self, id: &str, user: &str) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let member = self.access.approver(user).await;
        let refusal = |a: &PendingAction| {
            format!(
                "Only <@{}> or an approver can reject this draft.",
                a.requester
            )
        };
        if let Some(a) = self.records.get(id)?
            && !self.may_decide(&a, &member)
        {
            let reason = refusal(&a);
            self.audit_decision_refused(id, user, "reject", &reason);
            return Ok(Outcome::Refused {
                reason,
                action: Some(Box::new(a)),
            });
        }
        let r = self.records.update(id, |a| {
            if !self.may_decide(a, &member) {
                return Err(refusal(a));
            }
            let state =
                next(a.state, Event::Reject, now, a.expires_at).map_err(|e| e.to_string())?;
            let mut a = a.clone();
            a.state = state;
            a.decided_by = Some(user.to_string());
            a.decided_at = Some(now);
            a.updated_at = now;
            Ok(Update::Set(a.clone(), a))
        });
        self.settle(id, user, r, AuditKind::Rejected, |a| {
            format!("Rejected by {}", a.decided_by.as_deref().unwrap_or("?"))
        })
    }

    /// Checks that `user` may edit now, without changing anything (the modal opens on it).
    pub async fn may_edit(
        &self,
        id: &str,
        user: &str,
    ) -> Result<Result<PendingAction, String>, ActionError> {
        let Some(a) = self.records.get(id)? else {
            return Err(ActionError::Missing);
        };
        let member = self.access.approver(user).await;
        if !self.may_decide(&a, &member) {
            let reason = format!(
                "Only <@{}> or an approver can edit this draft.",
                a.requester
            );
            self.audit_decision_refused(&a.id, user, "edit", &reason);
            return Ok(Err(reason));
        }
        Ok(next(a.state, Event::Edit, Utc::now(), a.expires_at)
            .map(|_| a)
            .map_err(|e| e.to_string()))
    }

    /// Stores an edited proposal as a new revision, if `base_revision` is still current.
    /// Approvals of earlier revisions no longer count: the new one is approved afresh.
    pub async fn save_edit(
        &self,
        id: &str,
        user: &str,
        base_revision: u32,
        proposal: Proposal,
    ) -> Result<Outcome, ActionError> {
        let now = Utc::now();
        let member = self.access.approver(user).await;
        let r = self.records.update(id, |a| {
            if !self.may_decide(a, &member) {
                return Err("You can't edit this draft.".to_string());
            }
            let state = next(a.state, Event::Edit, now, a.expires_at).map_err(|e| e.to_string())?;
            if a.revision != base_revision {
                return Err(
                    "Someone changed this draft while you were editing; open Edit again.".into(),
                );
            }
            let mut a = a.clone();
            a.state = state;
            a.revision += 1;
            a.proposal = proposal.clone();
            a.updated_at = now;
            a.error = None;
            a.edits.push(Edit {
                by: user.to_string(),
                at: now,
                revision: a.revision,
            });
            a.approvals.clear();
            // Only a draft as the model made it may be written without a click.
            let mut assessment = self.access.assess(&a);
            assessment.auto = None;
            a.assessment = Some(assessment);
            Ok(Update::Set(a.clone(), a))
        });
        self.settle(id, user, r, AuditKind::Edited, |a| {
            format!(
                "Edited by {} (revision {})",
                a.edits.last().map_or("?", |e| e.by.as_str()),
                a.revision
            )
        })
    }

    fn settle(
        &self,
        id: &str,
        user: &str,
        result: Result<Result<PendingAction, String>, StoreError>,
        kind: AuditKind,
        summary: impl Fn(&PendingAction) -> String,
    ) -> Result<Outcome, ActionError> {
        match result {
            Err(StoreError::Missing(_)) => Err(ActionError::Missing),
            Err(e) => Err(e.into()),
            Ok(Err(reason)) => Ok(Outcome::Refused {
                reason,
                action: self.records.get(id)?.map(Box::new),
            }),
            Ok(Ok(a)) => {
                self.audit(AuditEntry {
                    action_id: a.id.clone(),
                    kind,
                    actor: Some(user.to_string()),
                    summary: summary(&a),
                    detail: if kind == AuditKind::Edited {
                        json!({"revision": a.revision, "proposal": a.proposal, "policy": a.assessment})
                    } else {
                        Value::Null
                    },
                });
                Ok(Outcome::Changed(Box::new(a)))
            }
        }
    }

    /// Audit failures are logged, not shown: the user's action already happened.
    pub(super) fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit.append(entry) {
            tracing::error!(error = %e, "audit record could not be stored");
        }
    }

    /// An audit record that must be stored before anything else happens (an approval):
    /// the caller stops on an error.
    pub(super) fn audit_first(&self, entry: AuditEntry) -> Result<(), AuditError> {
        self.store.audit.append(entry).map(|_| ()).inspect_err(|e| {
            tracing::error!(error = %e, "audit record could not be stored");
        })
    }
}
