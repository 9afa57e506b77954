//! The policy in words a person reads: on the card (the tier and why, who approved, whose
//! approval is still needed), in a refusal, and for who approved a write.

use super::super::action::PendingAction;
use super::{AUTO_APPROVER, ApprovalRecord, Membership, given};
use crate::domain::action::ActionState;
use crate::domain::policy::{Assessment, Given, Refusal, Requirement, STANDARD, Who, still_needed};

/// `<@U1>`, `@sales-managers`, `<!subteam^S1>`, `anyone`.
fn who_words(w: &Who) -> String {
    match w {
        Who::Everyone => "anyone".into(),
        Who::User(u) => format!("<@{u}>"),
        Who::Group(g) if g.starts_with('@') => g.clone(),
        Who::Group(g) => format!("<!subteam^{g}>"),
    }
}

pub(super) fn list_words(list: &[Who]) -> String {
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

pub(super) fn unreadable_words(m: &Membership) -> String {
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
    // An auto-approval that could not write hands the draft to a person: it is no approval.
    let approvers: Vec<String> = given
        .iter()
        .filter(|g| g.user != AUTO_APPROVER)
        .map(|g| format!("<@{}>", g.user))
        .collect();
    if !approvers.is_empty() {
        lines.push(format!(
            ":ballot_box_with_check: Approved so far by {}.",
            approvers.join(", ")
        ));
    }
    lines
}

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
