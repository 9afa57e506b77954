//! The policy at work: the rules of `domain::policy` plus the one thing they cannot know by
//! themselves — who is in which Slack user group — asked of a [`Directory`] (Slack's
//! `usergroups.users.list`, cached by the front end). Also the words a person reads about
//! the policy: on the card, and in a refusal.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::action::PendingAction;
use super::proposal::Proposal;
use crate::config::{AnswerSettings, QueryObjectConfig};
use crate::domain::action::ActionState;
use crate::domain::draft::IssueKind;
use crate::domain::policy::{Assessment, Change, Given, Policy, RecordFacts, Who, names};

mod words;

pub use words::{approved_by, card_lines, refusal_words, refused_by, still_words};
use words::{list_words, unreadable_words};

/// Who is in a Slack user group, and the email on a member's profile.
pub trait Directory: Send + Sync {
    /// The members (Slack user ids) of a group named by id (`S…`) or handle (`@…`).
    fn members(&self, group: &str) -> BoxFuture<'_, Result<Arc<HashSet<String>>, String>>;

    /// The (verified) email on a member's profile, to find their Salesforce User.
    fn email(&self, _user: &str) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async { Err("Slack profiles are only known in Slack".to_string()) })
    }
}

/// A directory without groups (the console): every group lookup fails, so a group grants
/// nothing.
pub struct NoGroups;

impl Directory for NoGroups {
    fn members(&self, _group: &str) -> BoxFuture<'_, Result<Arc<HashSet<String>>, String>> {
        Box::pin(async { Err("user groups are only known in Slack".to_string()) })
    }
}

/// One approval given to a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// A Slack user id, or `crmbot` for an auto-approval.
    pub user: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub revision: u32,
    /// The requirements (rule names) it counted for.
    pub counted: Vec<String>,
}

/// The groups one person is in (of those the policy names), looked up once per decision.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    pub user: String,
    groups: HashSet<String>,
    /// Groups that could not be read, and why.
    pub unreadable: Vec<(String, String)>,
}

impl Membership {
    /// Someone in no group (tests, the console).
    pub fn of(user: &str) -> Membership {
        Membership {
            user: user.to_string(),
            ..Membership::default()
        }
    }

    pub fn member(&self, group: &str) -> bool {
        self.groups.contains(group)
    }

    /// Whether `list` names this person.
    pub fn named_by(&self, list: &[Who]) -> bool {
        names(list, &self.user, &|g| self.member(g))
    }
}

/// What answers may show (`[policy.answers]`), applied to `[ask.objects]`.
#[derive(Debug, Clone, Default)]
pub struct AnswerScope {
    pub objects: Vec<String>,
    pub hide: Vec<String>,
}

impl AnswerScope {
    pub fn from_settings(a: &AnswerSettings) -> AnswerScope {
        AnswerScope {
            objects: a.objects.clone(),
            hide: a.hide.clone(),
        }
    }

    /// `[ask.objects]` without what answers may not show.
    pub fn apply(
        &self,
        objects: &BTreeMap<String, QueryObjectConfig>,
    ) -> BTreeMap<String, QueryObjectConfig> {
        objects
            .iter()
            .filter(|(name, _)| self.objects.is_empty() || self.objects.contains(name))
            .filter(|(name, _)| !self.hide.contains(name))
            .map(|(name, o)| {
                let mut o = o.clone();
                o.fields
                    .retain(|f| !self.hide.contains(&format!("{name}.{f}")));
                (name.clone(), o)
            })
            .collect()
    }
}

/// The policy and the directory it asks about groups. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    pub policy: Arc<Policy>,
    directory: Arc<dyn Directory>,
}

impl Access {
    pub fn new(policy: Policy, directory: Arc<dyn Directory>) -> Access {
        Access {
            policy: Arc::new(policy),
            directory,
        }
    }

    /// The default policy with no groups (unit tests, the console).
    pub fn open() -> Access {
        Access::new(Policy::default(), Arc::new(NoGroups))
    }

    /// The groups `user` is in, among those `lists` name (each group asked once).
    pub async fn membership(&self, user: &str, lists: &[&[Who]]) -> Membership {
        let mut m = Membership::of(user);
        let mut groups: Vec<&str> = lists
            .iter()
            .flat_map(|l| l.iter())
            .filter_map(|w| match w {
                Who::Group(g) => Some(g.as_str()),
                _ => None,
            })
            .collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            match self.directory.members(g).await {
                Ok(members) if members.contains(user) => {
                    m.groups.insert(g.to_string());
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(group = %g, error = %e, "user group not readable; it grants nothing");
                    m.unreadable.push((g.to_string(), e));
                }
            }
        }
        m
    }

    /// The groups `user` is in, among those that may approve (the approvers, the tiers').
    pub async fn approver(&self, user: &str) -> Membership {
        let p = &self.policy;
        let mut lists: Vec<&[Who]> = vec![&p.approvers];
        lists.extend(p.tiers.iter().map(|t| t.approvers.as_slice()));
        self.membership(user, &lists).await
    }

    /// `Err(words)` unless the policy lets `user` log.
    pub async fn may_log(&self, user: &str) -> Result<(), String> {
        let m = self.membership(user, &[&self.policy.log]).await;
        if m.named_by(&self.policy.log) {
            Ok(())
        } else {
            Err(format!(
                "You can't log to Salesforce with crmbot: the policy lets {} do that. Nothing was drafted; ask your crmbot admin.{}",
                list_words(&self.policy.log),
                unreadable_words(&m)
            ))
        }
    }

    /// `Err(words)` unless the policy lets `user` ask.
    pub async fn may_ask(&self, user: &str) -> Result<(), String> {
        let m = self.membership(user, &[&self.policy.ask]).await;
        if m.named_by(&self.policy.ask) {
            Ok(())
        } else {
            Err(format!(
                "You can't ask crmbot about Salesforce: the policy lets {} do that. Ask your crmbot admin.{}",
                list_words(&self.policy.ask),
                unreadable_words(&m)
            ))
        }
    }

    /// The policy's reading of the action's current revision (the current policy, always).
    /// Auto-approval is for a draft as the model made it, before anyone or anything tried:
    /// an edited, approved or already attempted draft waits for a person.
    pub fn assess(&self, a: &PendingAction) -> Assessment {
        let (records, blocked) = facts(&a.proposal);
        let mut assessment = self.policy.assess(&a.requester, &records, blocked);
        let untouched = a.state == ActionState::Drafted
            && a.edits.is_empty()
            && a.approvals.is_empty()
            && a.attempts == 0;
        if !untouched {
            assessment.auto = None;
        }
        assessment
    }
}

/// The records of a proposal as the policy sees them: what each writes, and whether every
/// value came from the notes.
pub fn facts(p: &Proposal) -> (Vec<RecordFacts>, bool) {
    let records = p
        .records
        .iter()
        .map(|r| {
            let create = r.action != "update";
            let changes = r
                .fields
                .iter()
                .filter(|f| f.include && (create || f.changed))
                .map(|f| Change {
                    field: f.name.clone(),
                    old: f.old.clone().filter(|o| !o.is_null()),
                    new: f.value.clone(),
                })
                .collect();
            let grounded = r.fields.iter().all(|f| f.include)
                && !r.issues.iter().any(|i| i.kind == IssueKind::NotInNotes);
            RecordFacts {
                object: r.object.clone(),
                create,
                changes,
                grounded,
            }
        })
        .collect();
    let blocked = p.blocked || p.records.iter().any(|r| r.blocked);
    (records, blocked)
}

/// The approvals of the action's current revision, as the rules count them.
pub fn given(a: &PendingAction) -> Vec<Given> {
    a.approvals
        .iter()
        .filter(|g| g.revision == a.revision)
        .map(|g| Given {
            user: g.user.clone(),
            counted: g.counted.clone(),
        })
        .collect()
}

/// The user id an auto-approval is recorded under.
pub const AUTO_APPROVER: &str = "crmbot";
