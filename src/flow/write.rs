//! Turns an approved action into one composite request (allOrNone) and reads its answer.
//! Parents go before the records that reference them (`@{r0.id}`). Where the org has
//! crmbot's key field, every create is an upsert by a key made of the action id and the
//! record's index, so the same request sent twice cannot create a second record; either
//! way the plan says how to find each record afterwards (`Probe`), for when nobody can tell
//! whether the write landed.

use serde_json::{Map, Value, json};

use super::action::{PendingAction, Probe, WriteFailure, Written, provenance, record_key};
use super::proposal::{NOTHING_TO_WRITE, ProposedRecord, record_url};
use crate::domain::draft::IssueKind;
use crate::salesforce::{
    CompositeRequest, CompositeResponse, CompositeSubrequest, SalesforceClient,
};

/// Composite takes at most 25 subrequests.
pub const MAX_SUBREQUESTS: usize = 25;

/// Task.Subject holds 255 characters.
const SUBJECT_MAX: usize = 255;
/// Task.Description holds 32,000 characters.
const DESCRIPTION_MAX: usize = 32_000;

/// What one subrequest writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub reference: String,
    /// The row within a collection subrequest's answer (large drafts); `None` for a single
    /// record subrequest.
    pub index: Option<usize>,
    /// Index into the proposal's records; `None` for the meeting Task.
    pub record: Option<usize>,
    pub object: String,
    pub label: String,
    pub name: String,
    /// `created` or `updated`.
    pub outcome: &'static str,
    /// The existing record's id (updates).
    pub id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WritePlan {
    pub request: CompositeRequest,
    pub steps: Vec<Step>,
    /// How to find each record afterwards, in step order.
    pub probes: Vec<Probe>,
    /// Every create is an upsert by key: sending the request again cannot duplicate.
    pub retry_safe: bool,
}

/// Builds the write, or says why it can't be approved yet.
pub fn plan_write(
    action: &PendingAction,
    sf: &SalesforceClient,
    facts: &OrgFacts,
) -> Result<WritePlan, Vec<String>> {
    if action.proposal.writes_nothing() {
        return Err(vec![NOTHING_TO_WRITE.into()]);
    }
    let records = &action.proposal.records;
    let mut problems = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let name = record_name(r);
        match r.action.as_str() {
            "ambiguous" => problems.push(format!(
                "{} {name}: several existing records match; choose one with Edit or log it again with more detail",
                r.label
            )),
            "not_found" => problems.push(format!(
                "{} {name}: the record to update was not found",
                r.label
            )),
            _ => {}
        }
        for issue in r.issues.iter().filter(|i| i.is_blocking()) {
            problems.push(format!("{} {name}: {}", r.label, issue.message));
        }
        for l in &r.links {
            // Drafts since the link ambiguity became an issue say it there already.
            let told = r.issues.iter().any(|i| {
                i.kind == IssueKind::Ambiguous && i.field.as_deref() == Some(l.field.as_str())
            });
            if l.status == "ambiguous" && !told {
                problems.push(format!(
                    "{} {name}: several {} records could be its {}; fix the link with Edit",
                    r.label, l.object, l.field
                ));
            }
            if l.status == "in_draft" && l.record.is_none_or(|j| j >= records.len() || j == i) {
                problems.push(format!(
                    "{} {name}: its {} link is broken",
                    r.label, l.field
                ));
            }
        }
    }
    for issue in action.proposal.issues.iter().filter(|i| i.is_blocking()) {
        problems.push(issue.message.clone());
    }
    if let Some(owner) = action.owner.as_ref().filter(|o| o.refused) {
        problems.push(format!(
            "{} and crmbot writes only for people it can map (salesforce.unmapped = \"refuse\"); ask your crmbot admin to add them to [salesforce.users]",
            owner.unmapped.as_deref().unwrap_or("The owner is not mapped to a Salesforce user")
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let order = parents_first(records).ok_or_else(|| {
        vec!["The records of this draft link to each other in a circle; edit the links".into()]
    })?;
    let mut subrequests = Vec::new();
    let mut steps = Vec::new();
    let mut probes = Vec::new();
    let single_ref = |j: usize| Value::String(format!("@{{r{j}.id}}"));
    for &i in &order {
        let r = &records[i];
        let update = r.action == "update";
        let mut body = record_body(r, &single_ref);
        if !update {
            own(&mut body, &r.object, action, facts);
        }
        let reference = format!("r{i}");
        let step = step(reference.clone(), None, i, r);
        let (method, url) = match (&r.id, update) {
            (Some(id), true) => {
                if body.is_empty() {
                    continue; // nothing would change
                }
                ("PATCH", format!("{}/{id}", sf.sobject_url(&r.object)))
            }
            _ => create_target(sf, facts, &r.object, &record_key(&action.id, Some(i))),
        };
        probes.push(proof::probe(&action.id, &step, &body, facts, None));
        subrequests.push(CompositeSubrequest {
            method: method.into(),
            url,
            reference_id: reference,
            body: Some(Value::Object(body)),
        });
        steps.push(step);
    }
    if subrequests.len() + usize::from(action.meeting_task) > MAX_SUBREQUESTS {
        // Too many for one subrequest each: sObject collections inside the composite.
        return batch::plan(action, sf, facts, &order);
    }
    if action.meeting_task {
        let refs = |i: usize| created_or_id(records, i, &single_ref);
        let (sub, step, probe) = meeting_subrequest(action, sf, facts, &refs);
        subrequests.push(sub);
        steps.push(step);
        probes.push(probe);
    }
    if subrequests.is_empty() {
        return Err(vec![
            "Nothing to write: every value already matches Salesforce".into(),
        ]);
    }
    Ok(WritePlan {
        request: CompositeRequest {
            all_or_none: true,
            collate_subrequests: false,
            subrequests,
        },
        retry_safe: proof::retry_safe(&probes),
        steps,
        probes,
    })
}

/// The meeting Task's subrequest (an upsert by key where Task has the key field), its step
/// and how to find it afterwards (by key, or by its values and provenance line).
pub(super) fn meeting_subrequest(
    action: &PendingAction,
    sf: &SalesforceClient,
    facts: &OrgFacts,
    reference: &dyn Fn(usize) -> Option<Value>,
) -> (CompositeSubrequest, Step, Probe) {
    let (mut body, name) = meeting_task(action, reference);
    if let Some(map) = body.as_object_mut() {
        own(map, "Task", action, facts);
    }
    let step = meeting_step(name);
    let (method, url) = create_target(sf, facts, "Task", &record_key(&action.id, None));
    let confirm = Some(("Description".to_string(), provenance(&action.id)));
    let probe = proof::probe(&action.id, &step, as_map(&body), facts, confirm);
    let sub = CompositeSubrequest {
        method: method.into(),
        url,
        reference_id: "meeting".into(),
        body: Some(body),
    };
    (sub, step, probe)
}

/// Where a create goes: an upsert by key when the org has the key field on the object
/// (`PATCH .../Lead/Crmbot_Key__c/<key>`), else a plain `POST`.
fn create_target(
    sf: &SalesforceClient,
    facts: &OrgFacts,
    object: &str,
    key: &str,
) -> (&'static str, String) {
    match facts.key(object) {
        Some(field) => ("PATCH", format!("{}/{field}/{key}", sf.sobject_url(object))),
        None => ("POST", sf.sobject_url(object)),
    }
}

/// The owner code decided (`action.owner`) on a create, where the object has owners;
/// without one Salesforce makes the writing user the owner.
pub(super) fn own(
    body: &mut Map<String, Value>,
    object: &str,
    action: &PendingAction,
    facts: &OrgFacts,
) {
    if let Some(id) = action.owner.as_ref().and_then(|o| o.user_id())
        && facts.owned(object)
    {
        body.insert("OwnerId".into(), Value::String(id.to_string()));
    }
}

fn as_map(v: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    v.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The Task that logs the meeting: linked to the draft's person (WhoId) and deal or account
/// (WhatId; never next to a Lead, which Salesforce refuses).
pub(super) fn meeting_task(
    action: &PendingAction,
    reference: &dyn Fn(usize) -> Option<Value>,
) -> (Value, String) {
    let records = &action.proposal.records;
    let find = |object: &str| records.iter().position(|r| r.object == object);
    let who_index = find("Contact").or_else(|| find("Lead"));
    let who = who_index.and_then(reference);
    let who_is_lead = who_index.is_some_and(|i| records[i].object == "Lead");
    let what = if who_is_lead {
        None
    } else {
        find("Opportunity")
            .or_else(|| find("Account"))
            .and_then(reference)
    };
    let first_line = action
        .notes
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let room = SUBJECT_MAX - "Meeting: ".len() - 1;
    let mut summary: String = first_line.chars().take(room.min(80)).collect();
    if summary.chars().count() < first_line.chars().count() {
        summary.push('…');
    }
    let subject = format!("Meeting: {summary}");
    // The notes, then where they came from: a later check confirms the Task by this line.
    let footer = format!("\n\n{}", provenance(&action.id));
    let notes: String = action
        .notes
        .chars()
        .take(DESCRIPTION_MAX - footer.chars().count())
        .collect();
    let description = format!("{notes}{footer}");
    let mut body = json!({
        "Subject": subject,
        "Description": description,
        "Status": "Completed",
        "ActivityDate": action.proposal.today.to_string(),
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(who) = who {
            map.insert("WhoId".into(), who);
        }
        if let Some(what) = what {
            map.insert("WhatId".into(), what);
        }
    }
    (body, subject)
}

/// What a record sends: its kept values (for an update, only the changed ones) and its
/// links; a parent created in the same write is referenced through `parent`.
pub(super) fn record_body(
    r: &ProposedRecord,
    parent: &dyn Fn(usize) -> Value,
) -> Map<String, Value> {
    let update = r.action == "update";
    let mut body = Map::new();
    for f in r
        .fields
        .iter()
        .filter(|f| f.include && (!update || f.changed))
    {
        body.insert(f.name.clone(), f.value.clone());
    }
    for l in &r.links {
        match (l.status.as_str(), &l.id, l.record) {
            ("existing", Some(id), _) => {
                body.insert(l.field.clone(), Value::String(id.clone()));
            }
            ("in_draft", _, Some(j)) => {
                body.insert(l.field.clone(), parent(j));
            }
            _ => {}
        }
    }
    body
}

/// How the meeting Task points at record `i`: its reference when created by this write,
/// its id when updated.
pub(super) fn created_or_id(
    records: &[ProposedRecord],
    i: usize,
    created: &dyn Fn(usize) -> Value,
) -> Option<Value> {
    let r = records.get(i)?;
    match (r.action.as_str(), &r.id) {
        ("update", Some(id)) => Some(Value::String(id.clone())),
        ("create", _) => Some(created(i)),
        _ => None,
    }
}

pub(super) fn step(reference: String, index: Option<usize>, i: usize, r: &ProposedRecord) -> Step {
    let update = r.action == "update";
    Step {
        reference,
        index,
        record: Some(i),
        object: r.object.clone(),
        label: r.label.clone(),
        name: record_name(r),
        outcome: if update { "updated" } else { "created" },
        id: if update { r.id.clone() } else { None },
    }
}

pub(super) fn meeting_step(name: String) -> Step {
    Step {
        reference: "meeting".into(),
        index: None,
        record: None,
        object: "Task".into(),
        label: "Task".into(),
        name,
        outcome: "created",
        id: None,
    }
}

/// A permission refusal in plain words: who can't do what, and who can change that.
fn no_access(step: &Step, said: &str) -> String {
    let verb = if step.outcome == "created" {
        "create"
    } else {
        "edit"
    };
    format!(
        "{INTEGRATION_CANT} {verb} this {} in Salesforce: its permissions there do not allow it. A Salesforce admin can grant it (Salesforce said: {said})",
        step.label
    )
}

const INTEGRATION_CANT: &str = "crmbot's Salesforce user can't";

/// A permission refusal of a write made with the approver's own sign-in, in words about
/// them (the card is read by the channel).
pub(super) fn as_person(message: &str) -> String {
    match message.strip_prefix(INTEGRATION_CANT) {
        Some(rest) => format!("The approver's own Salesforce user can't{rest}").replacen(
            "its permissions there",
            "their permissions there",
            1,
        ),
        None => message.to_string(),
    }
}

/// The errors a rolled-back write reports for the steps that did not cause it.
fn is_rollback_noise(code: &str) -> bool {
    matches!(
        code,
        "PROCESSING_HALTED" | "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    )
}

/// Record indexes with every in-draft parent before its children; `None` on a cycle.
fn parents_first(records: &[ProposedRecord]) -> Option<Vec<usize>> {
    let parents = |i: usize| -> Vec<usize> {
        records[i]
            .links
            .iter()
            .filter(|l| l.status == "in_draft")
            .filter_map(|l| l.record)
            .collect()
    };
    let mut order = Vec::with_capacity(records.len());
    let mut placed = vec![false; records.len()];
    while order.len() < records.len() {
        let before = order.len();
        for i in 0..records.len() {
            if !placed[i] && parents(i).iter().all(|&p| p < records.len() && placed[p]) {
                placed[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            return None;
        }
    }
    Some(order)
}

/// A person's name for a record: Name, or First Last, or Subject, or Company.
pub fn record_name(r: &ProposedRecord) -> String {
    let get = |name: &str| {
        r.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.display.clone())
    };
    if let Some(n) = get("Name").or_else(|| r.name.clone()) {
        return n;
    }
    let full = [get("FirstName"), get("LastName")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        return full;
    }
    get("Subject")
        .or_else(|| get("Company"))
        .or_else(|| r.id.clone())
        .unwrap_or_else(|| format!("(new {})", r.label))
}

/// What a composite answer says about the write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Written(Vec<Written>),
    /// Salesforce refused it (allOrNone: nothing was written).
    Refused(WriteFailure),
    /// The answer is not one a write gets: it proves nothing either way.
    Unreadable(String),
}

/// Reads a composite answer. allOrNone: either every step succeeded, or the first real
/// error (not the "rolled back" noise of the others) says why nothing was written. An
/// answer lacking a step's subresponse proves nothing.
pub fn read_outcome(
    plan: &WritePlan,
    response: &CompositeResponse,
    instance_url: &str,
) -> WriteOutcome {
    let mut written = Vec::new();
    let mut failure: Option<WriteFailure> = None;
    for step in &plan.steps {
        let Some(sub) = response
            .responses
            .iter()
            .find(|s| s.reference_id == step.reference)
        else {
            return WriteOutcome::Unreadable(format!(
                "Salesforce's answer has nothing for {} {}",
                step.label, step.name
            ));
        };
        // A row of a collection answers inside the array, with its own success flag.
        let (ok, body) = match step.index {
            Some(k) => {
                let row = sub.body.get(k).cloned().unwrap_or(Value::Null);
                let ok = (200..300).contains(&sub.http_status_code)
                    && row["success"].as_bool().unwrap_or(false);
                let body = if ok { row } else { row["errors"].clone() };
                (ok, body)
            }
            None => ((200..300).contains(&sub.http_status_code), sub.body.clone()),
        };
        if ok {
            let id = body
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| step.id.clone())
                .unwrap_or_default();
            written.push(Written {
                object: step.object.clone(),
                label: step.label.clone(),
                outcome: step.outcome.to_string(),
                url: record_url(instance_url, &step.object, &id),
                id,
                name: step.name.clone(),
            });
            continue;
        }
        let errors = body
            .as_array()
            .cloned()
            .or_else(|| sub.body.as_array().cloned())
            .unwrap_or_default();
        let first = errors.first().cloned().unwrap_or(Value::Null);
        // Collections say `statusCode`, the rest `errorCode`.
        let code = first
            .get("errorCode")
            .or_else(|| first.get("statusCode"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if code.as_deref().is_some_and(is_rollback_noise) && failure.is_some() {
            continue;
        }
        let said = first
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("Salesforce refused the write");
        let candidate = WriteFailure {
            message: match code.as_deref() {
                Some("INSUFFICIENT_ACCESS_OR_READONLY") => no_access(step, said),
                _ => said.to_string(),
            },
            fields: first
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            record: Some(format!("{} {}", step.label, step.name)),
            transient: sub.http_status_code >= 500,
            code,
        };
        // A rolled-back step's noise gives way to the step that caused it.
        match &failure {
            Some(f) if !f.code.as_deref().is_some_and(is_rollback_noise) => {}
            _ => failure = Some(candidate),
        }
    }
    match failure {
        Some(f) => WriteOutcome::Refused(f),
        None => WriteOutcome::Written(written),
    }
}

mod batch;
mod facts;
mod proof;
#[cfg(test)]
mod tests;

pub use facts::OrgFacts;
