//! A draft too large for one subrequest per record is still one request: its records go
//! into sObject-collection subrequests (200 rows each) inside the same composite, in waves
//! so parents are created before the children that reference them (`@{c0_0[3].id}`).
//! Creates of an object that has the key field go in upsert collections by that key (one
//! object per collection, as Salesforce requires).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{
    MAX_SUBREQUESTS, OrgFacts, Step, WritePlan, created_or_id, meeting_subrequest, own, proof,
    record_body, step,
};
use crate::flow::action::{PendingAction, record_key};
use crate::salesforce::{CompositeRequest, CompositeSubrequest, SalesforceClient};

/// A record's index and its collection row.
type Row = (usize, Map<String, Value>);

/// Rows in one sObject-collection request.
const ROWS: usize = 200;
/// Collection subrequests a composite takes (they count like queries).
const MAX_COLLECTIONS: usize = 5;

pub(super) fn plan(
    action: &PendingAction,
    sf: &SalesforceClient,
    facts: &OrgFacts,
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
    let mut probes = Vec::new();
    for (wave, members) in &waves {
        // One collection kind per group: plain creates, upserts of one object by key, updates.
        let mut groups: BTreeMap<(u8, String), Vec<Row>> = BTreeMap::new();
        for &i in members {
            let r = &records[i];
            let update = r.action == "update";
            let parent = |j: usize| Value::String(refs[j].clone().unwrap_or_default());
            let mut body = record_body(r, &parent);
            if !update {
                own(&mut body, &r.object, action, facts);
            }
            let plain = body.clone();
            let group = if update {
                if body.is_empty() {
                    continue;
                }
                body.insert("id".into(), json!(r.id));
                (2, String::new())
            } else if let Some(field) = facts.key(&r.object) {
                body.insert(field.into(), json!(record_key(&action.id, Some(i))));
                (1, r.object.clone())
            } else {
                (0, String::new())
            };
            body.insert("attributes".into(), json!({"type": r.object}));
            let probe_step = step(String::new(), None, i, r);
            probes.push(proof::probe(&action.id, &probe_step, &plain, facts, None));
            groups.entry(group).or_default().push((i, body));
        }
        for ((kind, object), rows) in groups {
            let (prefix, method, url) = match kind {
                0 => ("c", "POST", sf.collections_url()),
                1 => {
                    let field = facts.key(&object).unwrap_or_default();
                    (
                        "k",
                        "PATCH",
                        format!("{}/{object}/{field}", sf.collections_url()),
                    )
                }
                _ => ("u", "PATCH", sf.collections_url()),
            };
            let tag = if kind == 1 {
                format!("{object}_")
            } else {
                String::new()
            };
            for (chunk, part) in rows.chunks(ROWS).enumerate() {
                let reference = format!("{prefix}{wave}_{tag}{chunk}");
                for (k, (i, _)) in part.iter().enumerate() {
                    refs[*i] = Some(format!("@{{{reference}[{k}].id}}"));
                    steps.push(step(reference.clone(), Some(k), *i, &records[*i]));
                }
                subrequests.push(CompositeSubrequest {
                    method: method.into(),
                    url: url.clone(),
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
        let (sub, step, probe) = meeting_subrequest(action, sf, facts, &reference);
        subrequests.push(sub);
        steps.push(step);
        probes.push(probe);
    }
    let collections = subrequests
        .iter()
        .filter(|s| s.url.contains("/composite/sobjects"))
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
        retry_safe: proof::retry_safe(&probes),
        steps,
        probes,
    })
}
