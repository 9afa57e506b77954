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
use crate::domain::policy::{
    Assessment, Change, Given, Policy, RecordFacts, Refusal, Requirement, STANDARD, Who, names,
    still_needed,
};

/// Who is in a Slack user group.
pub trait Directory: Send + Sync {
    /// The members (Slack user ids) of a group named by id (`S…`) or handle (`@…`).
    fn members(&self, group: &str) -> BoxFuture<'_, Result<Arc<HashSet<String>>, String>>;
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

/// `<@U1>`, `@sales-managers`, `<!subteam^S1>`, `anyone`.
fn who_words(w: &Who) -> String {
    match w {
        Who::Everyone => "anyone".into(),
        Who::User(u) => format!("<@{u}>"),
        Who::Group(g) if g.starts_with('@') => g.clone(),
        Who::Group(g) => format!("<!subteam^{g}>"),
    }
}

fn list_words(list: &[Who]) -> String {
    if list.is_empty() {
        return "nobody".into();
    }
    if list.contains(&Who::Everyone) {
        return "anyone in the workspace".into();
    }
    let words: Vec<String> = list.iter().map(who_words).collect();
    match words.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => "nobody".into(),
    }
}

fn unreadable_words(m: &Membership) -> String {
    if m.unreadable.is_empty() {
        return String::new();
    }
    let groups: Vec<&str> = m.unreadable.iter().map(|(g, _)| g.as_str()).collect();
    format!(
        " (crmbot could not read the members of {} from Slack just now.)",
        groups.join(", ")
    )
}

fn ordinal(n: u32) -> &'static str {
    match n {
        1 => "a second",
        2 => "a third",
        _ => "another",
    }
}

/// What a requirement still wants, in words: "a second approver from @sales-managers (not
/// <@U1>)". `None` when it is met.
pub fn still_words(r: &Requirement, given: &[Given], requester: &str) -> Option<String> {
    let still = still_needed(r, given);
    if still == 0 {
        return None;
    }
    let have = r.approvals - still;
    if r.rule == STANDARD {
        let others: Vec<Who> = r
            .approvers
            .iter()
            .filter(|w| **w != Who::User(requester.to_string()))
            .cloned()
            .collect();
        return Some(match (r.self_approve, others.is_empty()) {
            (true, true) => format!("an approval from <@{requester}>"),
            (true, false) if others.contains(&Who::Everyone) => "an approval from anyone".into(),
            (true, false) => format!("an approval from <@{requester}> or {}", list_words(&others)),
            (false, _) if others.contains(&Who::Everyone) => {
                format!("an approval from anyone but <@{requester}>")
            }
            (false, _) => format!(
                "an approval from {} (not <@{requester}>)",
                list_words(&others)
            ),
        });
    }
    if r.approvers.contains(&Who::Everyone) {
        let count = match (have, still) {
            (0, 1) => "an approval".to_string(),
            (0, n) => format!("{n} approvals by different people"),
            (h, 1) => format!("{} approval", ordinal(h)),
            (_, n) => format!("{n} more approvals by different people"),
        };
        let but = if r.self_approve {
            String::new()
        } else {
            format!(" but <@{requester}>")
        };
        return Some(format!("{count} from anyone{but}"));
    }
    let count = match (have, still) {
        (0, 1) => "an approver".to_string(),
        (0, n) => format!("{n} approvers"),
        (h, 1) => format!("{} approver", ordinal(h)),
        (_, n) => format!("{n} more approvers"),
    };
    let not_you = if r.self_approve {
        String::new()
    } else {
        format!(" (not <@{requester}>)")
    };
    Some(format!(
        "{count} from {}{not_you}",
        list_words(&r.approvers)
    ))
}

/// Why a click on Approve does not count, in words for the person who clicked.
pub fn refusal_words(
    a: &Assessment,
    why: &Refusal,
    rule: &str,
    given: &[Given],
    requester: &str,
) -> String {
    let open: Vec<String> = a
        .requirements
        .iter()
        .filter_map(|r| still_words(r, given, requester))
        .collect();
    let needs = if open.is_empty() {
        "an approval from whoever approved it".to_string()
    } else {
        open.join(" and ")
    };
    let standard_self = a
        .requirements
        .iter()
        .any(|r| r.rule == STANDARD && r.self_approve);
    match why {
        Refusal::AlreadyApproved => {
            format!("You already approved this draft; it still needs {needs}. Nothing was written.")
        }
        Refusal::OwnDraft => format!(
            "You can't approve your own draft here ({}): it needs {needs}. Nothing was written.",
            refused_by(a, why, rule)
        ),
        Refusal::NotAnApprover if standard_self && rule == STANDARD => format!(
            "Only <@{requester}> or an approver can approve this draft. Nothing was written."
        ),
        Refusal::NotAnApprover => format!(
            "You can't approve this draft ({}): it needs {needs}. Nothing was written.",
            refused_by(a, why, rule)
        ),
    }
}

/// The setting that refused an approval, as the audit and the person see it: for the
/// requester, the self-approval setting; otherwise the tier, or the standard approvers.
pub fn refused_by(a: &Assessment, why: &Refusal, rule: &str) -> String {
    let r = a.requirements.iter().find(|r| r.rule == rule);
    match (r, why) {
        (Some(r), Refusal::OwnDraft) if r.rule == STANDARD => {
            r.self_rule.clone().unwrap_or_else(|| "self_approve".into())
        }
        (Some(r), _) if r.rule == STANDARD => "policy.approvers".into(),
        (Some(r), _) => format!("tier \"{}\"", r.rule),
        (None, _) => rule.to_string(),
    }
}

/// The card's lines about the policy: the tier and why, who approved, who still must.
pub fn card_lines(a: &PendingAction) -> Vec<String> {
    let Some(assessment) = &a.assessment else {
        return vec![];
    };
    let given = given(a);
    let mut lines = Vec::new();
    let auto_writing = a.state == ActionState::Writing
        && given.iter().any(|g| g.user == AUTO_APPROVER)
        && given.len() == 1;
    if let Some(rule) = assessment
        .auto
        .as_ref()
        .filter(|_| a.state == ActionState::Drafted)
    {
        lines.push(format!(
            ":robot_face: Auto-approved by the policy (`{rule}`: Tasks only, every value from the notes): crmbot writes it without a click."
        ));
        return lines;
    }
    if auto_writing {
        lines.push(":robot_face: Auto-approved by the policy: writing it without a click.".into());
        return lines;
    }
    if !matches!(
        a.state,
        ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed
    ) {
        return lines;
    }
    for r in &assessment.requirements {
        let why = r
            .because
            .as_ref()
            .map_or(String::new(), |b| format!(" ({b})"));
        let head = if r.rule == STANDARD {
            ":shield: Standard tier".to_string()
        } else {
            format!(":shield: Tier *{}*{why}", r.rule)
        };
        match still_words(r, &given, &a.requester) {
            Some(needs) => lines.push(format!("{head}: needs {needs}.")),
            None => lines.push(format!("{head}: approved.")),
        }
    }
    let approvers: Vec<String> = given.iter().map(|g| format!("<@{}>", g.user)).collect();
    if !approvers.is_empty() {
        lines.push(format!(
            ":ballot_box_with_check: Approved so far by {}.",
            approvers.join(", ")
        ));
    }
    lines
}

/// The user id an auto-approval is recorded under.
pub const AUTO_APPROVER: &str = "crmbot";

/// "<@U1> and <@U2>", or "the policy without a click (`auto_approve.tasks`)": who approved
/// the write (people first: after a failed auto-approval, the person who approved again).
pub fn approved_by(a: &PendingAction) -> Option<String> {
    let given: Vec<&ApprovalRecord> = a
        .approvals
        .iter()
        .filter(|g| g.revision == a.revision)
        .collect();
    let people: Vec<String> = given
        .iter()
        .filter(|g| g.user != AUTO_APPROVER)
        .map(|g| format!("<@{}>", g.user))
        .collect();
    match people.as_slice() {
        [] => given
            .iter()
            .find(|g| g.user == AUTO_APPROVER)
            .map(|g| format!("the policy without a click (`{}`)", g.counted.join(", "))),
        [one] => Some(one.clone()),
        [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
    }
}
