//! The card: what a pending action looks like in Slack, in each state. Rust decides what is
//! shown and cuts it to Block Kit's limits (50 blocks, 3,000 characters a section, 10
//! fields, ~11,000 characters in all); the `card` template lays it out.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::templates::{TemplateError, Templates};
use crate::domain::action::ActionState;
use crate::domain::draft::{IssueKind, Severity};
use crate::domain::validate::show_number;
use crate::flow::action::{PendingAction, capitalise};
use crate::flow::edit::{CREATE_NEW, NO_LINK, choice_key};
use crate::flow::policy::{approved_by, card_lines};
use crate::flow::proposal::{NOTHING_TO_WRITE, ProposedField, ProposedRecord};
use crate::flow::text::write_failure;
use crate::flow::write::record_name;

const MAX_BLOCKS: usize = 50;
const MAX_FIELDS: usize = 10;
/// Slack refuses messages whose blocks carry much more than this (msg_blocks_too_long).
const TEXT_BUDGET: usize = 11_000;
/// A value longer than this is cut on the card (the write keeps it whole).
const VALUE_CHARS: usize = 300;
const HEADER_CHARS: usize = 150;
const CONTEXT_CHARS: usize = 1_900;

/// A card ready for chat.postMessage / chat.update.
#[derive(Debug, Clone)]
pub struct Card {
    /// Notification and accessibility text.
    pub text: String,
    pub blocks: Value,
}

#[derive(Debug, Serialize)]
struct CardView {
    id: String,
    revision: u32,
    bid: String,
    header: String,
    status: Option<String>,
    records: Vec<RecordView>,
    more: Option<String>,
    problems: Vec<String>,
    /// The policy: the tier, who approved, whose approval is still needed.
    policy: Vec<String>,
    excerpt: Option<String>,
    buttons: bool,
    /// Approve, Edit and Reject, each when it applies.
    approve: bool,
    edit: bool,
    reject: bool,
    /// Undo, on a write still in its window (or an undo nobody could prove).
    undo: bool,
    approve_label: &'static str,
    footer: String,
}

#[derive(Debug, Serialize)]
struct RecordView {
    index: usize,
    title: String,
    chunks: Vec<Vec<String>>,
    notes: Vec<String>,
    /// Selects on the card for what several existing records could be.
    choices: Vec<ChoiceView>,
}

#[derive(Debug, Serialize)]
struct ChoiceView {
    label: String,
    options: Vec<OptionView>,
}

#[derive(Debug, Serialize)]
struct OptionView {
    text: String,
    /// `<form key>=<value>`: what the click chooses (≤ 150 characters).
    value: String,
}

impl RecordView {
    fn blocks(&self) -> usize {
        self.chunks.len().max(1) + usize::from(!self.notes.is_empty()) + self.choices.len()
    }

    fn chars(&self) -> usize {
        self.title.chars().count()
            + self
                .chunks
                .iter()
                .flatten()
                .map(|f| f.chars().count())
                .sum::<usize>()
            + self.notes.iter().map(|n| n.chars().count()).sum::<usize>()
    }
}

/// Escapes text for mrkdwn: `&`, `<` and `>` would otherwise become links or mentions.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts to `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `<!date^…>` shows a time in each reader's time zone.
pub fn slack_time(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// How the card is drawn, from `[slack]` in crmbot.toml.
#[derive(Debug, Clone)]
pub struct CardSettings {
    /// Characters of the notes quoted on the card (the channel sees them); 0 for none.
    pub notes_excerpt_chars: usize,
    /// How long after the approval a written card offers Undo (`policy.undo.window`).
    pub undo_window: std::time::Duration,
}

impl Default for CardSettings {
    fn default() -> Self {
        CardSettings {
            notes_excerpt_chars: 280,
            undo_window: crate::domain::policy::UndoRule::default().window,
        }
    }
}

pub fn render_card(
    templates: &Templates,
    action: &PendingAction,
    now: DateTime<Utc>,
    settings: &CardSettings,
) -> Result<Card, TemplateError> {
    let view = card_view(action, now, settings);
    let text = fallback_text(action);
    let blocks = templates.render("card", &view)?;
    Ok(Card { text, blocks })
}

/// The notification text: mrkdwn too, so names from the notes are escaped.
fn fallback_text(a: &PendingAction) -> String {
    let names = a
        .proposal
        .records
        .iter()
        .map(|r| esc(&format!("{} {}", r.label, record_name(r))))
        .collect::<Vec<_>>()
        .join(", ");
    let text = match a.state {
        ActionState::Drafted => format!("Draft: {names} - approve, edit or reject"),
        ActionState::PartlyApproved => {
            format!("Draft: {names} - approved once, waiting for another approval")
        }
        ActionState::Writing => format!("Writing to Salesforce: {names}"),
        ActionState::Unknown => format!("Checking whether Salesforce saved: {names}"),
        ActionState::Done => format!(
            "Written to Salesforce: {}",
            a.written
                .iter()
                .map(|w| esc(&format!("{} {} {}", w.outcome, w.label, w.name)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ActionState::Failed => format!("The write failed: {names}"),
        ActionState::Rejected => format!("Rejected: {names}"),
        ActionState::Expired => format!("Expired: {names}"),
        ActionState::Undoing => format!("Undoing the write: {names}"),
        ActionState::Undone => format!("Write undone: {names}"),
        ActionState::UndoUnknown => format!("Checking whether Salesforce undid: {names}"),
    };
    cut(&text, 2_000)
}

fn card_view(a: &PendingAction, now: DateTime<Utc>, settings: &CardSettings) -> CardView {
    let p = &a.proposal;
    let header = match (a.state, p.records.as_slice()) {
        (ActionState::Done | ActionState::Undoing | ActionState::UndoUnknown, _) => {
            "Written to Salesforce".to_string()
        }
        (ActionState::Undone, _) => "Write undone".to_string(),
        (ActionState::Rejected, _) => "Draft rejected".to_string(),
        (ActionState::Expired, _) => "Draft expired".to_string(),
        (_, [one]) => format!(
            "{} {}: {}",
            if one.action == "update" {
                "Update"
            } else {
                "New"
            },
            one.label,
            record_name(one)
        ),
        (_, []) => "Nothing to write".to_string(),
        (_, many) => format!("Draft: {} records from your notes", many.len()),
    };
    let status = status_line(a, now, settings);
    let waiting = matches!(
        a.state,
        ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed
    );
    let show_records = waiting || matches!(a.state, ActionState::Writing | ActionState::Unknown);
    let mut records: Vec<RecordView> = if show_records {
        p.records
            .iter()
            .enumerate()
            .map(|(i, r)| record_view(i, r))
            .collect()
    } else {
        Vec::new()
    };
    let mut problems: Vec<String> = p
        .issues
        .iter()
        .map(|i| format!("{} {}", icon(i.severity), esc(&i.message)))
        .map(|s| cut(&s, CONTEXT_CHARS))
        .take(10)
        .collect();
    let nothing = p.writes_nothing();
    if let Some(owner) = a.owner.as_ref().filter(|_| !nothing) {
        let whose = if owner.member == a.requester {
            "who logged it"
        } else {
            "who approved it"
        };
        problems.insert(0, cut(&esc(&owner.card_line(whose)), CONTEXT_CHARS));
        problems.truncate(10);
    }
    if show_records && a.meeting_task && waiting && !nothing {
        problems.push("Approving also logs this meeting as a completed Task.".into());
        problems.truncate(10);
    }
    let excerpt = match &a.place.source {
        // Notes taken from Slack: a link back rather than a quote of what is already there.
        Some(link) => Some(format!(
            "Logged by <@{}> from <{}|this conversation>",
            a.requester,
            link.replace(['|', '>', '<'], "")
        )),
        None => (settings.notes_excerpt_chars > 0).then(|| {
            format!(
                "From <@{}>'s notes: “{}”",
                a.requester,
                esc(&cut(a.notes.trim(), settings.notes_excerpt_chars))
            )
        }),
    };
    // While unknown, only a write that cannot duplicate may be sent again; nobody may edit
    // or reject what Salesforce may already hold. Approve (and Edit, which has no record to
    // change) only when there is a write.
    let retry_safe = a.attempt.as_ref().is_some_and(|t| t.retry_safe);
    // A draft the policy writes without a click shows no buttons until that fails.
    let auto =
        a.state == ActionState::Drafted && a.assessment.as_ref().is_some_and(|x| x.auto.is_some());
    let approve = (waiting && !auto && !nothing) || (a.state == ActionState::Unknown && retry_safe);
    let edit = waiting && !auto && !nothing;
    let reject = waiting && !auto;
    let undo = match a.state {
        ActionState::Done => undo_until(a, settings).is_some_and(|until| now < until),
        ActionState::UndoUnknown => true,
        _ => false,
    };
    let buttons = approve || edit || reject || undo;
    if nothing && waiting {
        problems.insert(
            0,
            format!("{NOTHING_TO_WRITE}. Reject to close this draft, or run `/crm log` again with more detail."),
        );
        problems.truncate(10);
    }
    let policy: Vec<String> = card_lines(a)
        .into_iter()
        .map(|l| cut(&l, CONTEXT_CHARS))
        .take(8)
        .collect();
    if !edit {
        records.iter_mut().for_each(|r| r.choices.clear());
    }
    let footer = match a.state {
        ActionState::Drafted | ActionState::PartlyApproved | ActionState::Failed => format!(
            "Draft {} · revision {} · expires {}",
            a.id,
            a.revision,
            slack_time(a.expires_at)
        ),
        _ => format!("Draft {} · revision {}", a.id, a.revision),
    };
    // Fit Block Kit: fixed blocks are header, status, problems, policy, excerpt, actions,
    // footer.
    let fixed = 7;
    let fixed_chars = header.chars().count()
        + status.as_ref().map_or(0, |s| s.chars().count())
        + problems.iter().map(|s| s.chars().count()).sum::<usize>()
        + policy.iter().map(|s| s.chars().count()).sum::<usize>()
        + excerpt.as_ref().map_or(0, |s| s.chars().count())
        + 400;
    let total = records.len();
    loop {
        let blocks: usize = fixed + records.iter().map(RecordView::blocks).sum::<usize>();
        let chars: usize = fixed_chars + records.iter().map(RecordView::chars).sum::<usize>();
        let more_needed = records.len() < total;
        if (blocks + usize::from(more_needed) <= MAX_BLOCKS && chars <= TEXT_BUDGET)
            || records.len() <= 1
        {
            break;
        }
        records.pop();
    }
    let more = (records.len() < total).then(|| {
        let rest: Vec<String> = p.records[records.len()..]
            .iter()
            .map(|r| format!("{} {} ({})", r.label, esc(&record_name(r)), r.action))
            .collect();
        cut(
            &format!(
                "*…and {} more record(s)*, written on approval like the ones above: {}",
                rest.len(),
                rest.join(", ")
            ),
            2_900,
        )
    });
    CardView {
        id: a.id.clone(),
        revision: a.revision,
        bid: format!("pa:{}:{}:{}", a.id, a.revision, a.state.as_str()),
        header: cut(&header, HEADER_CHARS),
        status,
        records,
        more,
        problems,
        policy,
        excerpt,
        buttons,
        approve,
        edit,
        reject,
        undo,
        approve_label: match a.state {
            ActionState::Failed | ActionState::Unknown => "Approve again",
            ActionState::PartlyApproved => "Approve (second)",
            _ => "Approve",
        },
        footer,
    }
}

/// Until when the card offers Undo of a written action.
fn undo_until(a: &PendingAction, settings: &CardSettings) -> Option<DateTime<Utc>> {
    if settings.undo_window.is_zero() || a.written.is_empty() {
        return None;
    }
    let since = a.decided_at.unwrap_or(a.updated_at);
    Some(since + chrono::Duration::milliseconds(settings.undo_window.as_millis() as i64))
}

/// What an undo did, record by record, and what it left alone and why.
fn undone_line(a: &PendingAction) -> String {
    let Some(u) = &a.undo else {
        return ":leftwards_arrow_with_hook: The write was undone.".into();
    };
    let link = |l: &crate::flow::action::UndoLine| {
        format!("{} <{}|{}>", l.label, l.url, esc(&cut(&l.name, 80)))
    };
    let mut lines: Vec<String> = u
        .undone
        .iter()
        .map(|l| {
            format!(
                ":leftwards_arrow_with_hook: {}: {}",
                link(l),
                esc(&cut(&l.what, 300))
            )
        })
        .collect();
    lines.extend(u.left.iter().map(|l| {
        format!(
            ":warning: Left alone: {}: {}",
            link(l),
            esc(&cut(&l.what, 300))
        )
    }));
    format!(
        "{}\nUndone by <@{}> on {}.",
        cut(&lines.join("\n"), 2_600),
        u.by,
        slack_time(u.at)
    )
}

fn status_line(a: &PendingAction, now: DateTime<Utc>, settings: &CardSettings) -> Option<String> {
    let by = |u: &Option<String>| {
        u.as_deref()
            .map_or("someone".to_string(), |u| format!("<@{u}>"))
    };
    let when = a
        .decided_at
        .map_or_else(String::new, |t| format!(" on {}", slack_time(t)));
    let line = match a.state {
        ActionState::Drafted if a.is_expired(now) => {
            ":hourglass: This draft has expired; nothing was written.".to_string()
        }
        ActionState::Drafted | ActionState::PartlyApproved => return None,
        ActionState::Writing => ":hourglass_flowing_sand: Writing to Salesforce…".to_string(),
        ActionState::Unknown => unknown_line(a),
        ActionState::Done => {
            let lines: Vec<String> = a
                .written
                .iter()
                .map(|w| {
                    format!(
                        ":white_check_mark: {} {} <{}|{}>",
                        capitalise(&w.outcome),
                        w.label,
                        w.url,
                        esc(&cut(&w.name, 120))
                    )
                })
                .collect();
            let mut text = format!(
                "{}\nApproved by {}{when}.",
                cut(&lines.join("\n"), 2_400),
                approved_by(a).unwrap_or_else(|| by(&a.decided_by))
            );
            match (&a.undo, undo_until(a, settings)) {
                (Some(u), _) if u.error.is_some() => text.push_str(&format!(
                    "\n:x: Undo by <@{}> was refused by Salesforce: {}. Nothing was undone.",
                    u.by,
                    esc(&cut(u.error.as_deref().unwrap_or_default(), 300))
                )),
                (_, Some(until)) if now < until => {
                    text.push_str(&format!("\nUndo is possible until {}.", slack_time(until)))
                }
                _ => {}
            }
            text
        }
        ActionState::Undoing => {
            ":hourglass_flowing_sand: Undoing the write in Salesforce…".to_string()
        }
        ActionState::Undone => undone_line(a),
        ActionState::UndoUnknown => format!(
            ":hourglass_flowing_sand: crmbot cannot tell whether Salesforce undid this write ({}). Undo again reads Salesforce first and sends only what is still to undo.",
            esc(a
                .undo
                .as_ref()
                .and_then(|u| u.doubt.as_deref())
                .unwrap_or("the undo was interrupted"))
        ),
        ActionState::Failed => format!(":x: {}", esc(&write_failure(a.error.as_ref()))),
        ActionState::Rejected => format!(
            ":no_entry_sign: Rejected by {}{when}. Nothing was written to Salesforce.",
            by(&a.decided_by)
        ),
        ActionState::Expired => format!(
            ":hourglass: Expired {} without a decision. Nothing was written; run `/crm log` again if it is still needed.",
            slack_time(a.expires_at)
        ),
    };
    Some(cut(&line, 2_900))
}

/// The card of a write nobody can yet prove landed or not.
fn unknown_line(a: &PendingAction) -> String {
    let t = a.attempt.as_ref();
    let why = t
        .and_then(|t| t.doubt.clone())
        .unwrap_or_else(|| "the write was interrupted".into());
    let checks = t.map_or(0, |t| t.checks);
    let last = t.and_then(|t| t.checked_at).map_or_else(String::new, |at| {
        format!(" (looked {checks} time(s), last at {})", slack_time(at))
    });
    let safe = if t.is_some_and(|t| t.retry_safe) {
        " Approving again is safe: it cannot create a second record."
    } else {
        " Nothing will be written again until crmbot knows."
    };
    format!(
        ":hourglass_flowing_sand: Checking whether Salesforce saved this… {}, so crmbot is looking for it in Salesforce{last} and will update this card by itself.{safe}",
        capitalise(&esc(&why))
    )
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Warning => ":warning:",
        Severity::Blocking => ":no_entry:",
    }
}

fn record_view(index: usize, r: &ProposedRecord) -> RecordView {
    let action = match r.action.as_str() {
        "create" => "create".to_string(),
        "update" => match (&r.url, &r.id) {
            (Some(url), Some(id)) => format!("update <{url}|{id}>"),
            _ => "update".into(),
        },
        "ambiguous" => "choose which existing record (Edit)".into(),
        "not_found" => "record to update not found".into(),
        other => other.to_string(),
    };
    let mut title = format!("*{}* · {}", esc(&r.label), action);
    let links: Vec<String> = r
        .links
        .iter()
        .map(|l| match (l.status.as_str(), &l.id, l.record) {
            ("existing", Some(id), _) => format!("{} → existing {} {id}", l.field, l.object),
            ("in_draft", _, Some(j)) => format!("{} → record {} of this draft", l.field, j + 1),
            ("ambiguous", _, _) => format!(
                "{} → several {} records match (Edit to choose)",
                l.field, l.object
            ),
            _ => format!("{} → no matching {}; written without it", l.field, l.object),
        })
        .collect();
    if !links.is_empty() {
        title.push('\n');
        title.push_str(&links.join("\n"));
    }
    let fields: Vec<String> = r.fields.iter().map(|f| field_text(r, f)).collect();
    let chunks: Vec<Vec<String>> = if fields.is_empty() {
        vec![vec![]]
    } else {
        fields.chunks(MAX_FIELDS).map(<[String]>::to_vec).collect()
    };
    let mut notes: Vec<String> = evidence_line(r).into_iter().collect();
    notes.extend(r.issues.iter().map(|i| {
        cut(
            &format!("{} {}", icon(i.severity), esc(&i.message)),
            CONTEXT_CHARS,
        )
    }));
    if !r.candidates.is_empty() {
        let list = r
            .candidates
            .iter()
            .take(5)
            .map(|c| format!("{} ({})", esc(&c.label), c.id))
            .collect::<Vec<_>>()
            .join(", ");
        notes.push(cut(
            &format!(":question: Candidates: {list}"),
            CONTEXT_CHARS,
        ));
    }
    if notes.len() > 10 {
        let rest = notes.split_off(9);
        notes.push(cut(&rest.join(" · "), CONTEXT_CHARS));
    }
    RecordView {
        index,
        title: cut(&title, 2_900),
        chunks,
        notes,
        choices: choices(index, r),
    }
}

/// The words of the notes each value was found in, one context element for the record:
/// quotes computed by the grounding check (a value without one has its "not in your notes"
/// mark among the issues instead).
fn evidence_line(r: &ProposedRecord) -> Option<String> {
    let quotes: Vec<String> = r
        .fields
        .iter()
        .filter_map(|f| {
            let q = f.evidence.as_deref()?;
            Some(format!("*{}* “{}”", esc(&f.label), esc(q)))
        })
        .collect();
    (!quotes.is_empty()).then(|| {
        cut(
            &format!(":mag: From your notes: {}", quotes.join(" · ")),
            CONTEXT_CHARS,
        )
    })
}

/// One select per open choice (which existing record; which parent), as the Edit form offers
/// them; the option value carries the form key so a click applies like a saved form.
fn choices(index: usize, r: &ProposedRecord) -> Vec<ChoiceView> {
    let mut out = Vec::new();
    let option = |key: &str, value: &str, text: &str| OptionView {
        text: cut(text, 75),
        value: format!("{key}={value}"),
    };
    if r.action == "ambiguous" && !r.candidates.is_empty() {
        let key = choice_key(index, "record");
        let mut options: Vec<OptionView> = r
            .candidates
            .iter()
            .take(99)
            .map(|c| option(&key, &c.id, &c.label))
            .collect();
        options.push(option(
            &key,
            CREATE_NEW,
            &format!("Create a new {}", r.label),
        ));
        out.push(ChoiceView {
            label: cut(&format!("Which {}?", r.label), 150),
            options,
        });
    }
    for l in r
        .links
        .iter()
        .filter(|l| l.status == "ambiguous" && !l.candidates.is_empty())
    {
        let key = choice_key(index, &l.field);
        let mut options: Vec<OptionView> = l
            .candidates
            .iter()
            .take(99)
            .map(|c| option(&key, &c.id, &c.label))
            .collect();
        options.push(option(&key, NO_LINK, "No link"));
        out.push(ChoiceView {
            label: cut(&format!("Which {}?", l.object), 150),
            options,
        });
    }
    out
}

fn field_text(r: &ProposedRecord, f: &ProposedField) -> String {
    let chars = f.display.chars().count();
    let mut value = esc(&cut(&f.display, VALUE_CHARS));
    if chars > VALUE_CHARS {
        // Whatever the card leaves out is still written: the approver is told.
        value.push_str(&format!(
            " _(cut here: {} characters in all, every one of them written; Edit shows the whole text)_",
            show_number(chars as f64)
        ));
    }
    if f.added.is_some() && f.include {
        return cut(
            &format!(
                "*{}* _(added below the current text)_\n{value}",
                esc(&f.label)
            ),
            1_900,
        );
    }
    let shown = match (&f.old, r.action.as_str()) {
        (Some(old), "update") if f.changed => {
            let old = match old {
                Value::Null => "(empty)".to_string(),
                Value::String(s) => esc(&cut(s, VALUE_CHARS / 2)),
                Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), show_number),
                other => esc(&cut(&other.to_string(), VALUE_CHARS / 2)),
            };
            format!("{old} → {value}")
        }
        (Some(_), "update") => format!("{value} (no change)"),
        _ => value,
    };
    let kept = r
        .issues
        .iter()
        .any(|i| i.kind == IssueKind::FreeTextKept && i.field.as_deref() == Some(f.name.as_str()));
    let held = match (f.include, kept) {
        (true, _) => "",
        (false, true) => " _(not written: Salesforce's text is kept)_",
        (false, false) => " _(not written; Edit to keep)_",
    };
    cut(&format!("*{}*\n{shown}{held}", esc(&f.label)), 1_900)
}

#[cfg(test)]
mod tests;
