//! The effective policy in sentences, for `crmbot config`: an admin reads what the TOML
//! means without knowing the defaults and the inheritance rules by heart.

use super::super::Config;
use super::{MentionAnswers, SlashAnswers};
use crate::domain::policy::{Changes, Who};

/// `everyone`, `U1, @sales-managers`, `nobody`.
fn list(who: &[Who]) -> String {
    if who.is_empty() {
        "nobody".into()
    } else if who.contains(&Who::Everyone) {
        "anyone in the workspace".into()
    } else {
        who.iter()
            .map(Who::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Config {
    /// The effective policy in sentences, as TOML comments (`crmbot config` ends with it).
    pub fn policy_in_words(&self) -> String {
        let p = self.effective_policy();
        let mut lines = vec!["The policy in words:".to_string()];
        lines.push(match (&p.team_ids[..], &p.enterprise_id) {
            ([], None) => {
                "- crmbot answers only the Slack workspace of its bot token (auth.test); requests from any other do nothing.".into()
            }
            (teams, enterprise) => format!(
                "- crmbot answers only workspaces {}{}; requests from any other do nothing.",
                if teams.is_empty() { "-".into() } else { teams.join(", ") },
                enterprise
                    .as_ref()
                    .map_or(String::new(), |e| format!(" and every workspace of org {e}"))
            ),
        });
        lines.push(format!(
            "- /crm log: {}. Questions: {}.",
            list(&p.log),
            list(&p.ask)
        ));
        let s = &p.self_approve;
        let own = |b: bool| if b { "may" } else { "may not" };
        let mut standard = format!(
            "- Drafts outside the tiers: the requester {} approve their own creates and {} approve their own updates",
            own(s.create),
            own(s.update)
        );
        let overrides: Vec<String> = s
            .objects
            .iter()
            .chain(s.fields.iter())
            .map(|(k, v)| format!("{k}: {}", own(*v)))
            .collect();
        if !overrides.is_empty() {
            standard.push_str(&format!(" (except {})", overrides.join("; ")));
        }
        standard.push_str(&format!("; approvers: {}.", list(&p.approvers)));
        lines.push(standard);
        for t in &p.tiers {
            let mut what = format!(
                "{} {}",
                t.object,
                t.field.as_deref().unwrap_or("(any field)")
            );
            if !t.to.is_empty() {
                what.push_str(&format!(" to {}", t.to.join(" or ")));
            }
            let moves: Vec<String> = t
                .over
                .map(|o| format!("more than {o}"))
                .into_iter()
                .chain(t.over_percent.map(|o| format!("more than {o}%")))
                .collect();
            if !moves.is_empty() {
                what.push_str(&format!(" moving by {}", moves.join(" or ")));
            }
            lines.push(format!(
                "- Tier \"{}\": {what} ({}) needs {} distinct approver(s) from {}{}.",
                t.name,
                match t.changes {
                    Changes::Any => "creates and updates",
                    Changes::Creates => "creates",
                    Changes::Updates => "updates",
                },
                t.approvals,
                list(&t.approvers),
                if t.self_approve {
                    ", the requester counting"
                } else {
                    ", not the requester"
                }
            ));
        }
        lines.push(if p.auto_approve.tasks {
            "- Auto-approval: a draft of Tasks only, every value from the notes, is written without a click.".into()
        } else {
            "- Auto-approval: off; every write waits for a click.".into()
        });
        let u = &p.undo;
        lines.push(if u.window.is_zero() {
            "- Undo: off.".into()
        } else {
            let rule = crate::domain::policy::UndoRule {
                window: u.window,
                approver: u.approver,
                requester: u.requester,
                also: u.also.clone(),
            };
            format!(
                "- Undo: for {} after the approval, by {}.",
                rule.window_words(),
                rule.who()
            )
        });
        let a = &p.answers;
        lines.push(format!(
            "- Answers to /crm ask go to {}; to mentions, {}. Objects shown: {}{}{}.",
            match a.slash_command {
                SlashAnswers::Asker => "the asker only",
                SlashAnswers::Channel => "the channel",
            },
            match a.mentions {
                MentionAnswers::Thread => "the thread",
                MentionAnswers::Asker => "the asker only (in the thread)",
            },
            if a.objects.is_empty() {
                "all of [ask.objects]".into()
            } else {
                a.objects.join(", ")
            },
            if a.hide.is_empty() {
                String::new()
            } else {
                format!("; hidden: {}", a.hide.join(", "))
            },
            if a.unrestricted.is_empty() {
                String::new()
            } else {
                format!("; {} see(s) everything", list(&a.unrestricted))
            }
        ));
        lines.iter().map(|l| format!("# {l}\n")).collect::<String>()
    }
}
