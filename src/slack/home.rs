//! App Home: the member's own drafts still waiting, the drafts waiting for their approval,
//! and their last writes, with Approve, Edit and Reject on each waiting draft — the same
//! buttons (and block ids) as the card, so a click here is the same decision as there.
//! Published with views.publish when the member opens the tab, and again after a draft
//! they asked for or clicked on changes — for members who have opened it (a bounded cache
//! remembers who), so nobody else costs a Slack call.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tracing::warn;

use super::app::SlackApp;
use super::cards::{cut, esc};
use crate::domain::action::ActionState;
use crate::domain::policy::{Verdict, judge};
use crate::flow::action::PendingAction;
use crate::flow::policy::given;
use crate::flow::write::record_name;

/// Drafts and writes listed per section.
pub const SHOWN: usize = 10;
/// Members whose Home is kept fresh (those who opened it lately).
const REMEMBERED: u64 = 10_000;

/// Who has opened the Home tab lately: their view is republished when a draft of theirs
/// changes.
#[derive(Clone)]
pub struct HomeViews {
    opened: moka::sync::Cache<String, ()>,
}

impl Default for HomeViews {
    fn default() -> Self {
        HomeViews {
            opened: moka::sync::Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_idle(Duration::from_secs(7 * 24 * 3600))
                .build(),
        }
    }
}

/// `app_home_opened`: publish the member's Home.
pub async fn opened(app: &SlackApp, user: &str) {
    app.home.opened.insert(user.to_string(), ());
    publish(app, user).await;
}

/// After a draft changed: `user`'s Home (its requester's, or whoever clicked), if opened.
pub async fn refresh(app: &SlackApp, user: &str) {
    if app.home.opened.contains_key(user) {
        publish(app, user).await;
    }
}

async fn publish(app: &SlackApp, user: &str) {
    // One read of the store: the waiting drafts and the written ones both come from it.
    let actions = app.actions.clone();
    let all = match tokio::task::spawn_blocking(move || actions.all()).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return warn!(error = %e, "App Home not published: store"),
        Err(e) => return warn!(error = %e, "App Home not published"),
    };
    let membership = app.actions.access().approver(user).await;
    let waiting = |a: &&PendingAction| {
        matches!(
            a.state,
            ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed
        ) && !a.is_expired(Utc::now())
    };
    let mut mine: Vec<&PendingAction> = all
        .iter()
        .filter(|a| a.requester == user)
        .filter(waiting)
        .collect();
    let mut to_approve: Vec<&PendingAction> = all
        .iter()
        .filter(|a| a.requester != user)
        .filter(waiting)
        .filter(|a| {
            let assessment = app.actions.access().assess(a);
            matches!(
                judge(&assessment, &a.requester, &given(a), user, &|g| membership
                    .member(g)),
                Verdict::Partly { .. } | Verdict::Complete { .. }
            )
        })
        .collect();
    let mut written: Vec<&PendingAction> = all
        .iter()
        .filter(|a| a.state == ActionState::Done && a.requester == user)
        .collect();
    for list in [&mut mine, &mut to_approve, &mut written] {
        list.sort_by_key(|a| std::cmp::Reverse(a.updated_at));
    }
    let view = home_view(&mine, &to_approve, &written);
    if let Err(e) = app.web.publish_home(user, &view).await {
        warn!(error = %e, "App Home not published");
    }
}

/// One draft as a Home row: what it is, where its card is, and the card's buttons.
fn draft_blocks(a: &PendingAction) -> Vec<Value> {
    let names: Vec<String> = a
        .proposal
        .records
        .iter()
        .map(|r| format!("{} {} ({})", r.label, esc(&record_name(r)), r.action))
        .collect();
    let state = match a.state {
        ActionState::PartlyApproved => " · approved once, needs another approval",
        ActionState::Failed => " · the write failed; approve again or edit",
        _ => "",
    };
    let text = cut(
        &format!(
            "*{}*{state}\nAsked by <@{}> in <#{}>",
            if names.is_empty() {
                "Nothing to write".to_string()
            } else {
                names.join(", ")
            },
            a.requester,
            a.place.channel
        ),
        2_900,
    );
    let value = json!(a.id);
    let button = |action_id: &str, label: &str| {
        json!({"type": "button", "action_id": action_id, "value": value,
               "text": {"type": "plain_text", "text": label}})
    };
    let mut approve = button("crm_approve", "Approve");
    approve["style"] = json!("primary");
    let mut reject = button("crm_reject", "Reject");
    reject["confirm"] = json!({"title": {"type": "plain_text", "text": "Reject this draft?"},
        "text": {"type": "plain_text", "text": "Nothing will be written to Salesforce."},
        "confirm": {"type": "plain_text", "text": "Reject"},
        "deny": {"type": "plain_text", "text": "Keep"}, "style": "danger"});
    vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
        json!({"type": "actions",
               "block_id": format!("pa:{}:{}:{}", a.id, a.revision, a.state.as_str()),
               "elements": [approve, button("crm_edit", "Edit"), reject]}),
    ]
}

fn written_line(a: &PendingAction) -> String {
    let records: Vec<String> = a
        .written
        .iter()
        .map(|w| format!("<{}|{} {}>", w.url, w.label, esc(&w.name)))
        .collect();
    let when = a
        .decided_at
        .map_or_else(String::new, |t| t.format(" (%Y-%m-%d)").to_string());
    format!("• {}{when}", records.join(", "))
}

/// The Home view (at most 100 blocks: three sections of at most `SHOWN`).
pub fn home_view(
    mine: &[&PendingAction],
    to_approve: &[&PendingAction],
    written: &[&PendingAction],
) -> Value {
    let header =
        |text: &str| json!({"type": "header", "text": {"type": "plain_text", "text": text}});
    let note =
        |text: &str| json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]});
    let mut blocks = vec![header("Your drafts waiting")];
    if mine.is_empty() {
        blocks.push(note(
            "None. Log a meeting with `/crm log <notes>` or the Log to CRM shortcut.",
        ));
    }
    for a in mine.iter().take(SHOWN) {
        blocks.extend(draft_blocks(a));
    }
    blocks.push(header("Waiting for your approval"));
    if to_approve.is_empty() {
        blocks.push(note("Nothing waits for you."));
    }
    for a in to_approve.iter().take(SHOWN) {
        blocks.extend(draft_blocks(a));
    }
    blocks.push(header("Your last writes"));
    let lines: Vec<String> = written
        .iter()
        .take(SHOWN)
        .map(|a| written_line(a))
        .collect();
    blocks.push(if lines.is_empty() {
        note("Nothing written yet.")
    } else {
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&lines.join("\n"), 2_900)}})
    });
    json!({"type": "home", "blocks": blocks})
}
