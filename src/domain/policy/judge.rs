//! Judging one click on Approve against the requirements of a draft: does it count, for
//! which requirement, and is the draft then approved in full — and who may reject or edit.

use serde::{Deserialize, Serialize};

use super::{Assessment, Requirement, STANDARD, Who, names};

/// One approval given to a revision, and the requirements it counted for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Given {
    pub user: String,
    pub counted: Vec<String>,
}

/// What a click on Approve comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// With this click every requirement is met: write. `counted`: the rules it met.
    Complete { counted: Vec<String> },
    /// Recorded; more approvals are needed.
    Partly { counted: Vec<String> },
    /// Not this person, or not again; `rule` is the requirement that says so.
    Refused { why: Refusal, rule: String },
}

/// Why an approval does not count.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The person approved this revision already; someone else must.
    AlreadyApproved,
    /// The requester, where the requirement wants someone else.
    OwnDraft,
    /// Not among the approvers of any requirement still open.
    NotAnApprover,
}

/// Approvals still missing for `requirement`, given those so far.
pub fn still_needed(requirement: &Requirement, given: &[Given]) -> u32 {
    let have = given
        .iter()
        .filter(|g| g.counted.contains(&requirement.rule))
        .count() as u32;
    requirement.approvals.saturating_sub(have)
}

/// Whether `user` may count for `requirement`; `member` answers for groups (for `user`).
pub fn eligible(
    requirement: &Requirement,
    requester: &str,
    user: &str,
    member: &dyn Fn(&str) -> bool,
) -> bool {
    (user != requester || requirement.self_approve) && names(&requirement.approvers, user, member)
}

/// Judges a click on Approve by `user` on a draft by `requester`, with `given` approvals of
/// this revision so far.
pub fn judge(
    assessment: &Assessment,
    requester: &str,
    given: &[Given],
    user: &str,
    member: &dyn Fn(&str) -> bool,
) -> Verdict {
    let open: Vec<&Requirement> = assessment
        .requirements
        .iter()
        .filter(|r| still_needed(r, given) > 0)
        .collect();
    let approved_before = given.iter().any(|g| g.user == user);
    if open.is_empty() {
        // Already approved in full (a retry after a failed write): anyone who decided, or
        // could, may send it again.
        let may = user == requester
            || approved_before
            || assessment
                .requirements
                .iter()
                .any(|r| eligible(r, requester, user, member));
        return if may {
            Verdict::Complete { counted: vec![] }
        } else {
            Verdict::Refused {
                why: Refusal::NotAnApprover,
                rule: first_rule(assessment),
            }
        };
    }
    if approved_before {
        return Verdict::Refused {
            why: Refusal::AlreadyApproved,
            rule: open[0].rule.clone(),
        };
    }
    let counted: Vec<String> = open
        .iter()
        .filter(|r| eligible(r, requester, user, member))
        .map(|r| r.rule.clone())
        .collect();
    if counted.is_empty() {
        return Verdict::Refused {
            why: if user == requester {
                Refusal::OwnDraft
            } else {
                Refusal::NotAnApprover
            },
            rule: open[0].rule.clone(),
        };
    }
    let after: Vec<Given> = given
        .iter()
        .cloned()
        .chain(std::iter::once(Given {
            user: user.to_string(),
            counted: counted.clone(),
        }))
        .collect();
    if assessment
        .requirements
        .iter()
        .all(|r| still_needed(r, &after) == 0)
    {
        Verdict::Complete { counted }
    } else {
        Verdict::Partly { counted }
    }
}

/// Whether `user` may reject or edit: the requester, or anyone who may approve it.
pub fn may_decide(
    assessment: &Assessment,
    policy_approvers: &[Who],
    requester: &str,
    user: &str,
    member: &dyn Fn(&str) -> bool,
) -> bool {
    user == requester
        || names(policy_approvers, user, member)
        || assessment
            .requirements
            .iter()
            .any(|r| names(&r.approvers, user, member))
}

fn first_rule(a: &Assessment) -> String {
    a.requirements
        .first()
        .map_or_else(|| STANDARD.to_string(), |r| r.rule.clone())
}
