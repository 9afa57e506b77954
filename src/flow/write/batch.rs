//! A draft too large for one subrequest per record is still one request: its records go
//! into sObject-collection subrequests (200 rows each) inside the same composite, in waves
//! so parents are created before the children that reference them (`@{c0_0[3].id}`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{
    MAX_SUBREQUESTS, Step, WritePlan, created_or_id, meeting_step, meeting_task, record_body, step,
};
use crate::flow::action::PendingAction;
use crate::salesforce::{CompositeRequest, CompositeSubrequest, SalesforceClient};

/// Rows in one sObject-collection request.
const ROWS: usize = 200;
/// Collection subrequests a composite takes (they count like queries).
const MAX_COLLECTIONS: usize = 5;

pub(super) fn plan(
    action: &PendingAction,
    sf: &SalesforceClient,
    order: &[usize],
) -> Result<WritePlan, Vec<String>> {
    let records = &action.proposal.records;
    // Depth: 0 without an in-draft parent, else one more than its deepest parent.
    let mut depth = vec![0usize; records.len()];
    for &i in order {
        depth[i] = records[i]
            .links
            .iter()
            .filter(|l| l.status == "in_draft")
            .filter_map(|l| l.record)
            .map(|p| depth[p] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut waves: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in order {
        waves.entry(depth[i]).or_default().push(i);
    }
    let mut refs: Vec<Option<String>> = vec![None; records.len()];
    let mut subrequests = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    for (wave, members) in &waves {
        for (kind, update) in [("c", false), ("u", true)] {
            let mut rows: Vec<(usize, Map<String, Value>)> = Vec::new();
            for &i in members {
                let r = &records[i];
                if (r.action == "update") != update {
                    continue;
                }
                let parent = |j: usize| Value::String(refs[j].clone().unwrap_or_default());
                let mut body = record_body(r, &parent);
                if update {
                    if body.is_empty() {
                        continue;
                    }
                    body.insert("id".into(), json!(r.id));
                }
                body.insert("attributes".into(), json!({"type": r.object}));
                rows.push((i, body));
            }
            for (chunk, part) in rows.chunks(ROWS).enumerate() {
                let reference = format!("{kind}{wave}_{chunk}");
                for (k, (i, _)) in part.iter().enumerate() {
                    refs[*i] = Some(format!("@{{{reference}[{k}].id}}"));
                    steps.push(step(reference.clone(), Some(k), *i, &records[*i]));
                }
                subrequests.push(CompositeSubrequest {
                    method: if update { "PATCH" } else { "POST" }.into(),
                    url: sf.collections_url(),
                    reference_id: reference,
                    body: Some(json!({
                        "allOrNone": true,
                        "records": part.iter().map(|(_, b)| Value::Object(b.clone())).collect::<Vec<_>>(),
                    })),
                });
            }
        }
    }
    if action.meeting_task {
        let created = |i: usize| Value::String(refs[i].clone().unwrap_or_default());
        let reference = |i: usize| created_or_id(records, i, &created);
        let (body, name) = meeting_task(action, &reference);
        subrequests.push(CompositeSubrequest {
            method: "POST".into(),
            url: sf.sobject_url("Task"),
            reference_id: "meeting".into(),
            body: Some(body),
        });
        steps.push(meeting_step(name));
    }
    let collections = subrequests
        .iter()
        .filter(|s| s.url.ends_with("/composite/sobjects"))
        .count();
    if collections > MAX_COLLECTIONS || subrequests.len() > MAX_SUBREQUESTS {
        return Err(vec![format!(
            "This draft has {} records in {} levels of links; one approval writes at most {} collections of {ROWS}. Split the notes into smaller logs.",
            records.len(),
            waves.len(),
            MAX_COLLECTIONS
        )]);
    }
    Ok(WritePlan {
        request: CompositeRequest {
            all_or_none: true,
            collate_subrequests: false,
            subrequests,
        },
        steps,
    })
}
