//! One behaviour suite for both storage backends: every test runs against sled and against
//! PostgreSQL (see `pg_support` for where the server comes from, and when a PostgreSQL test
//! is skipped). What the use cases rely on: compare-and-swap, the state index, retention,
//! the audit chain, prompts by hash, event dedupe, thread plans, leases.

mod pg_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crmbot::flow::storage::{AuditEntry, AuditKind, Store, StoreError, Update, VerifyReport};

/// Where a test's store lives, so it can be opened again (a second replica, a restart)
/// and changed behind crmbot's back.
enum Place {
    Sled(tempfile::TempDir),
    Postgres(SecretString),
}

impl Place {
    fn open(&self) -> Store {
        self.open_keyed(None)
    }

    fn open_keyed(&self, key: Option<&str>) -> Store {
        let key = key.map(|k| SecretString::from(k.to_string()));
        match self {
            Place::Sled(dir) => crmbot::store::Store::open_with(dir.path(), key)
                .expect("open sled")
                .into(),
            Place::Postgres(url) => Store::postgres(url, key).expect("open PostgreSQL"),
        }
    }

    /// A second handle on the same data: another replica (PostgreSQL) or, for sled
    /// which allows one process, the same store again.
    fn replica(&self, first: &Store) -> Store {
        match self {
            Place::Sled(_) => first.clone(),
            Place::Postgres(_) => self.open(),
        }
    }

    /// Rewrites the summary of audit record `seq` as stored (the store must be closed).
    fn tamper(&self, seq: u64) {
        match self {
            Place::Sled(dir) => {
                let db = crmbot::store::open_db(dir.path()).expect("open sled");
                let tree = db.open_tree("audit").unwrap();
                let key = seq.to_be_bytes();
                let mut record: Value =
                    serde_json::from_slice(&tree.get(key).unwrap().unwrap()).unwrap();
                record["summary"] = json!("changed afterwards");
                tree.insert(key, serde_json::to_vec(&record).unwrap())
                    .unwrap();
                db.flush().unwrap();
            }
            Place::Postgres(url) => {
                let n = pg_support::execute(
                    url,
                    &format!(
                        "UPDATE audit SET record = replace(record, '\"summary\":\"', '\"summary\":\"changed afterwards ') WHERE seq = {seq}"
                    ),
                );
                assert_eq!(n, 1);
            }
        }
    }

    /// Opens the store as `crmbot audit verify` does (whatever its state).
    fn open_for_verify(&self) -> Store {
        match self {
            Place::Sled(dir) => crmbot::store::Store::open_for_repair(dir.path(), None)
                .expect("open sled")
                .into(),
            Place::Postgres(_) => self.open(),
        }
    }
}

fn sled_place() -> Option<Place> {
    Some(Place::Sled(tempfile::tempdir().unwrap()))
}

fn postgres_place(test: &str) -> Option<Place> {
    pg_support::fresh_database(test).map(Place::Postgres)
}

/// Instantiates each test for both backends.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(#[test] fn $name() { super::$name(super::sled_place().unwrap()) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(place) = super::postgres_place(stringify!($name)) {
                    super::$name(place)
                }
            })*
        }
    };
}

both!(
    a_stale_revision_is_refused,
    concurrent_updates_one_wins,
    insert_refuses_a_taken_id,
    the_state_index_lists_open_ones,
    retention_removes_old_closed_only,
    audit_chain_appends_and_verifies,
    a_changed_audit_record_is_detected,
    keyed_chain_needs_its_key,
    concurrent_appends_make_one_chain,
    prompts_are_stored_once_by_hash,
    an_event_is_handled_once,
    thread_plans_are_shared,
    leases_let_one_replica_run_a_job,
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    n: u32,
    open: bool,
    closed_at: i64,
}

fn items(store: &Store) -> crmbot::flow::storage::Records<Item> {
    store
        .indexed_records("items", |i: &Item| i.open, |i: &Item| i.closed_at)
        .unwrap()
}

fn item(n: u32) -> Item {
    Item {
        n,
        open: true,
        closed_at: 0,
    }
}

fn a_stale_revision_is_refused(place: Place) {
    let store = place.open();
    let other = place.replica(&store);
    let records = items(&store);
    records.insert_new("a", &item(0)).unwrap();
    let mut seen = Vec::new();
    // While this update decides on n = 0, another change lands: its write must be refused
    // and the decision made again on the newer record.
    let out = records
        .update("a", |cur| {
            seen.push(cur.n);
            if seen.len() == 1 {
                items(&other)
                    .update("a", |c| {
                        Ok::<_, ()>(Update::Set(
                            Item {
                                n: c.n + 10,
                                ..c.clone()
                            },
                            (),
                        ))
                    })
                    .unwrap()
                    .unwrap();
            }
            Ok::<_, ()>(Update::Set(
                Item {
                    n: cur.n + 1,
                    ..cur.clone()
                },
                cur.n,
            ))
        })
        .unwrap();
    assert_eq!(seen, vec![0, 10], "decided again on the newer value");
    assert_eq!(out, Ok(10));
    assert_eq!(
        records.get("a").unwrap().unwrap().n,
        11,
        "both changes kept"
    );
}

fn concurrent_updates_one_wins(place: Place) {
    let store = place.open();
    items(&store).insert_new("a", &item(0)).unwrap();
    let winners = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..20)
        .map(|i| {
            // Half on a second replica.
            let s = if i % 2 == 0 {
                store.clone()
            } else {
                place.replica(&store)
            };
            let winners = winners.clone();
            std::thread::spawn(move || {
                let r = items(&s)
                    .update("a", |cur| {
                        if cur.n == 0 {
                            Ok(Update::Set(
                                Item {
                                    n: i + 1,
                                    ..cur.clone()
                                },
                                (),
                            ))
                        } else {
                            Err(())
                        }
                    })
                    .unwrap();
                if r.is_ok() {
                    winners.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(winners.load(Ordering::SeqCst), 1);
    assert_ne!(items(&store).get("a").unwrap().unwrap().n, 0);
}

fn insert_refuses_a_taken_id(place: Place) {
    let store = place.open();
    let records = items(&store);
    records.insert_new("a", &item(1)).unwrap();
    assert!(matches!(
        records.insert_new("a", &item(2)),
        Err(StoreError::Exists(_))
    ));
    assert_eq!(records.get("a").unwrap(), Some(item(1)));
    assert!(matches!(
        records.update("zz", |_| Ok::<_, ()>(Update::Keep(()))),
        Err(StoreError::Missing(_))
    ));
}

fn the_state_index_lists_open_ones(place: Place) {
    let store = place.open();
    let records = items(&store);
    for id in ["a", "b", "c"] {
        records.insert_new(id, &item(1)).unwrap();
    }
    records
        .insert_new(
            "d",
            &Item {
                n: 1,
                open: false,
                closed_at: 5,
            },
        )
        .unwrap();
    records
        .update("b", |cur| {
            Ok::<_, ()>(Update::Set(
                Item {
                    open: false,
                    closed_at: 7,
                    ..cur.clone()
                },
                (),
            ))
        })
        .unwrap()
        .unwrap();
    let open: Vec<u32> = records.open().unwrap().iter().map(|i| i.n).collect();
    assert_eq!(open.len(), 2, "a and c");
    assert_eq!(records.all().unwrap().len(), 4);
    // Reopened later (a restart, or another replica): the same answer.
    drop(records);
    let again = items(&place.replica(&store));
    assert_eq!(again.open().unwrap().len(), 2);
}

fn retention_removes_old_closed_only(place: Place) {
    let store = place.open();
    let records = items(&store);
    records.insert_new("open", &item(1)).unwrap();
    records
        .insert_new(
            "old",
            &Item {
                n: 2,
                open: false,
                closed_at: 100,
            },
        )
        .unwrap();
    records
        .insert_new(
            "new",
            &Item {
                n: 3,
                open: false,
                closed_at: 300,
            },
        )
        .unwrap();
    assert_eq!(records.remove_closed_before(200).unwrap(), 1);
    assert_eq!(records.get("old").unwrap(), None);
    assert!(records.get("open").unwrap().is_some());
    assert!(records.get("new").unwrap().is_some());
    // Unindexed records go by a predicate.
    let plain = store.records::<Value>("plain").unwrap();
    plain.insert_new("x", &json!({"at": 1})).unwrap();
    plain.insert_new("y", &json!({"at": 9})).unwrap();
    assert_eq!(
        plain
            .remove_where(|v| v["at"].as_i64().unwrap_or(0) < 5)
            .unwrap(),
        1
    );
    assert_eq!(plain.all().unwrap(), vec![json!({"at": 9})]);
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry::new(format!("a{i}"), AuditKind::Drafted, format!("Drafted {i}"))
        .by("U1")
        .with_detail(json!({"i": i, "z": [1, 2], "a": {"b": 1}}))
}

fn audit_chain_appends_and_verifies(place: Place) {
    let store = place.open();
    for i in 1..=3 {
        let r = store.audit.append(entry(i)).unwrap();
        assert_eq!(r.seq, i as u64);
    }
    assert_eq!(
        store.audit.verify().unwrap(),
        VerifyReport::Intact { records: 3 }
    );
    assert_eq!(store.audit.len(), 3);
    assert_eq!(store.audit.last_seq().unwrap(), 3);
    assert_eq!(
        store.audit.get(2).unwrap().unwrap().entry.summary,
        "Drafted 2"
    );
    assert_eq!(store.audit.for_action("a3").unwrap().len(), 1);
    let mut out = Vec::new();
    assert_eq!(store.audit.export_jsonl(&mut out).unwrap(), 3);
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
    // A failing store appends nothing.
    store.audit.set_failing(true);
    assert!(store.audit.append(entry(4)).is_err());
    store.audit.set_failing(false);
    assert_eq!(store.audit.len(), 3);
}

fn a_changed_audit_record_is_detected(place: Place) {
    let store = place.open();
    for i in 1..=3 {
        store.audit.append(entry(i)).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    place.tamper(2);
    let store = place.open_for_verify();
    match store.audit.verify().unwrap() {
        VerifyReport::Broken { seq, reason } => {
            assert_eq!(seq, 2);
            assert!(reason.contains("hash mismatch"), "{reason}");
        }
        other => panic!("tampering not detected: {other:?}"),
    }
}

fn keyed_chain_needs_its_key(place: Place) {
    let store = place.open_keyed(Some("chain-key"));
    store.audit.append(entry(1)).unwrap();
    let r = store.audit.append(entry(2)).unwrap();
    assert!(r.keyed);
    assert_eq!(
        store.audit.verify().unwrap(),
        VerifyReport::Intact { records: 2 }
    );
    store.flush().unwrap();
    drop(store);
    let unkeyed = place.open_for_verify();
    assert!(matches!(
        unkeyed.audit.verify().unwrap(),
        VerifyReport::NeedsKey { keyed: 2, .. }
    ));
}

fn concurrent_appends_make_one_chain(place: Place) {
    let store = place.open();
    let replicas = [store.clone(), place.replica(&store)];
    let threads: Vec<_> = (0..10)
        .map(|i| {
            let s = replicas[i % 2].clone();
            std::thread::spawn(move || {
                for j in 0..5 {
                    s.audit.append(entry(i * 10 + j)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        store.audit.verify().unwrap(),
        VerifyReport::Intact { records: 50 }
    );
}

fn prompts_are_stored_once_by_hash(place: Place) {
    let store = place.open();
    let other = place.replica(&store);
    let sha = store.audit.store_prompt("You draft CRM records.").unwrap();
    assert_eq!(
        other.audit.store_prompt("You draft CRM records.").unwrap(),
        sha
    );
    assert_eq!(store.audit.len(), 1, "one prompt record");
    assert_eq!(
        other.audit.prompt_text(&sha).unwrap().as_deref(),
        Some("You draft CRM records.")
    );
    assert_eq!(store.audit.prompt_text("0000").unwrap(), None);
}

fn an_event_is_handled_once(place: Place) {
    let store = place.open();
    let other = place.replica(&store);
    assert!(store.first_sight("Ev1", 100).unwrap());
    assert!(!store.first_sight("Ev1", 101).unwrap(), "a retry");
    assert!(
        !other.first_sight("Ev1", 102).unwrap(),
        "delivered to the other replica"
    );
    assert!(other.first_sight("Ev2", 200).unwrap());
    assert_eq!(store.forget_events_before(150).unwrap(), 1);
    assert!(
        other.first_sight("Ev1", 300).unwrap(),
        "forgotten, so new again"
    );
}

fn thread_plans_are_shared(place: Place) {
    let store = place.open();
    let other = place.replica(&store);
    let plan = json!({"object": "Opportunity", "filters": []});
    store.thread_plans().unwrap().remember("C1:1.2", &plan);
    let theirs = other.thread_plans().unwrap();
    assert_eq!(theirs.get("C1:1.2"), Some(plan.clone()));
    assert!(crmbot::slack::ask::answered_in(&other, "C1", "1.2"));
    assert!(!crmbot::slack::ask::answered_in(&other, "C1", "9.9"));
    let newer = json!({"object": "Lead"});
    theirs.remember("C1:1.2", &newer);
    assert_eq!(store.thread_plans().unwrap().get("C1:1.2"), Some(newer));
    let later = chrono::Utc::now().timestamp() + 60;
    assert_eq!(theirs.forget_before(later).unwrap(), 1);
    assert!(!crmbot::slack::ask::answered_in(&store, "C1", "1.2"));
}

fn leases_let_one_replica_run_a_job(place: Place) {
    let store = place.open();
    let other = place.replica(&store);
    let ttl = Duration::from_secs(60);
    assert!(store.lease("expiry", ttl));
    assert!(store.lease("expiry", ttl), "renewed by its holder");
    match place {
        Place::Sled(_) => assert!(other.lease("expiry", ttl), "one process: always"),
        Place::Postgres(_) => {
            assert!(!other.lease("expiry", ttl), "held by the first replica");
            store.release(&["expiry"]);
            assert!(other.lease("expiry", ttl), "released");
        }
    }
}
