//! Whose approval counts: the policy's verdict on one click (or on the policy's own
//! auto-approval), the revision check, the audit record each approval leaves (with the rule
//! it counted for), and the refusals, audited with the rule that refused them.

use serde_json::json;

use super::Approval;
use crate::domain::action::ActionState;
use crate::domain::policy::{AUTO_TASKS, Assessment, Verdict, judge};
use crate::flow::action::PendingAction;
use crate::flow::actions::{ActionError, Actions, Outcome};
use crate::flow::policy::{
    AUTO_APPROVER, ApprovalRecord, Membership, given, refusal_words, refused_by, still_words,
};
use crate::flow::storage::{AuditEntry, AuditKind};
use crate::flow::write::WritePlan;

/// Why a click is refused before any Salesforce call, whether that is audited, and the
/// policy rule that refused it (when one did).
pub(super) struct Refusal {
    pub(super) reason: String,
    pub(super) audited: bool,
    pub(super) rule: Option<String>,
}

impl Refusal {
    pub(super) fn plain(reason: String) -> Refusal {
        Refusal {
            reason,
            audited: false,
            rule: None,
        }
    }
}

/// Who approves: a person (with the groups they are in), or the policy itself.
pub(super) enum Approver<'a> {
    Person(&'a Membership),
    Policy,
}

impl Approver<'_> {
    pub(super) fn user(&self) -> &str {
        match self {
            Approver::Person(m) => &m.user,
            Approver::Policy => AUTO_APPROVER,
        }
    }
}

impl Actions {
    /// The policy's verdict on this approval, and the revision check: a refusal, or what
    /// the approval comes to (with the assessment it was judged under).
    pub(super) fn verdict(
        &self,
        a: &PendingAction,
        by: &Approver<'_>,
        seen: Option<u32>,
    ) -> Result<(Verdict, Assessment), Refusal> {
        let assessment = self.access.assess(a);
        let given = given(a);
        let verdict = match by {
            Approver::Person(m) => {
                judge(&assessment, &a.requester, &given, &m.user, &|g| m.member(g))
            }
            Approver::Policy => match &assessment.auto {
                Some(rule) if a.state == ActionState::Drafted && given.is_empty() => {
                    Verdict::Complete {
                        counted: vec![rule.clone()],
                    }
                }
                _ => {
                    return Err(Refusal {
                        reason: "The policy does not let this draft be written without a click."
                            .into(),
                        audited: true,
                        rule: Some(AUTO_TASKS.into()),
                    });
                }
            },
        };
        if let Verdict::Refused { why, rule } = &verdict {
            let mut reason = refusal_words(&assessment, why, rule, &given, &a.requester);
            if let Approver::Person(m) = by
                && !m.unreadable.is_empty()
            {
                let groups: Vec<&str> = m.unreadable.iter().map(|(g, _)| g.as_str()).collect();
                reason.push_str(&format!(
                    " (crmbot could not read the members of {} from Slack just now; try again in a moment.)",
                    groups.join(", ")
                ));
            }
            return Err(Refusal {
                reason,
                audited: true,
                rule: Some(refused_by(&assessment, why, rule)),
            });
        }
        match seen {
            Some(seen) if seen != a.revision && !a.state.is_final() => Err(Refusal {
                reason: format!(
                    "This draft changed since you looked (you saw revision {seen}; it is now revision {}). Nothing was written: check the card and approve again.",
                    a.revision
                ),
                audited: true,
                rule: None,
            }),
            _ => Ok((verdict, assessment)),
        }
    }

    /// The audit record of an approval: who, under which rules, and — for the last one —
    /// the request about to be sent.
    pub(super) fn approval_entry(
        &self,
        action: &PendingAction,
        user: &str,
        plan: Option<&WritePlan>,
    ) -> AuditEntry {
        let approvals: Vec<&ApprovalRecord> = action
            .approvals
            .iter()
            .filter(|g| g.revision == action.revision)
            .collect();
        let rules: Vec<String> = approvals
            .last()
            .filter(|g| g.user == user)
            .map(|g| g.counted.clone())
            .unwrap_or_default();
        // When the requester approved their own draft: the setting that let them.
        let self_setting = (user == action.requester)
            .then(|| {
                action
                    .assessment
                    .iter()
                    .flat_map(|x| &x.requirements)
                    .find(|r| rules.contains(&r.rule))
                    .and_then(|r| r.self_rule.clone())
            })
            .flatten();
        let policy = json!({
            "rules": rules,
            "self_approve": self_setting,
            "approvals": approvals,
            "tiers": action.assessment.as_ref().map(|x| x.requirements.iter().map(|r| r.rule.clone()).collect::<Vec<_>>()),
        });
        let actor = (user != AUTO_APPROVER).then(|| user.to_string());
        match plan {
            Some(plan) => AuditEntry {
                action_id: action.id.clone(),
                kind: AuditKind::ApproveRequested,
                actor,
                summary: if user == AUTO_APPROVER {
                    format!(
                        "Approved by the policy without a click (attempt {})",
                        action.attempts
                    )
                } else {
                    format!("Approved by {user} (attempt {})", action.attempts)
                },
                detail: json!({
                    "revision": action.revision,
                    "request": plan.request,
                    "attempt": action.attempt,
                    "policy": policy,
                    "owner": action.owner,
                }),
            },
            None => {
                let given = given(action);
                let still: Vec<String> = action
                    .assessment
                    .iter()
                    .flat_map(|x| &x.requirements)
                    .filter_map(|r| still_words(r, &given, &action.requester))
                    .collect();
                AuditEntry {
                    action_id: action.id.clone(),
                    kind: AuditKind::ApprovalRecorded,
                    actor,
                    summary: format!(
                        "Approved by {user} under {}; still needs {}",
                        rules.join(", "),
                        still.join(" and ")
                    ),
                    detail: json!({
                        "revision": action.revision,
                        "approval": approvals.last(),
                        "policy": policy,
                        "still": still,
                    }),
                }
            }
        }
    }

    pub(super) fn refuse(
        &self,
        id: &str,
        user: &str,
        refusal: Refusal,
    ) -> Result<Approval, ActionError> {
        if refusal.audited {
            self.audit(AuditEntry {
                action_id: id.to_string(),
                kind: AuditKind::Refused,
                actor: (user != AUTO_APPROVER).then(|| user.to_string()),
                summary: match &refusal.rule {
                    Some(rule) => format!("Approval by {user} refused by the policy ({rule})"),
                    None => format!("Approval by {user} refused"),
                },
                detail: json!({"reason": refusal.reason, "rule": refusal.rule}),
            });
        }
        Ok(Approval::Refused(Outcome::Refused {
            reason: refusal.reason,
            action: self.records.get(id)?.map(Box::new),
        }))
    }
}
