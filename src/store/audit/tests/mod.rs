use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;

fn temp_db() -> sled::Db {
    sled::Config::new().temporary(true).open().unwrap()
}

fn entry(i: u64) -> AuditEntry {
    AuditEntry::new(
        format!("act-{}", i % 3),
        AuditKind::ALL[(i % 10) as usize],
        format!("event {i}"),
    )
    .by(format!("U{}", i % 2))
    .with_detail(json!({"i": i, "notes": "Met Daniel Reed", "nested": {"z": 1, "a": [1.5, "x"]}}))
}

/// A log with records 1..=n.
fn filled(n: u64) -> (sled::Db, AuditLog) {
    let db = temp_db();
    let log = AuditLog::open(&db).unwrap();
    for i in 1..=n {
        log.append(entry(i)).unwrap();
    }
    (db, log)
}

fn raw(db: &sled::Db, seq: u64) -> Value {
    let tree = db.open_tree(RECORDS_TREE).unwrap();
    serde_json::from_slice(&tree.get(record_key(seq)).unwrap().unwrap()).unwrap()
}

fn put_raw(db: &sled::Db, seq: u64, value: &Value) {
    let tree = db.open_tree(RECORDS_TREE).unwrap();
    tree.insert(record_key(seq), serde_json::to_vec(value).unwrap())
        .unwrap();
}

fn remove(db: &sled::Db, seq: u64) {
    let tree = db.open_tree(RECORDS_TREE).unwrap();
    tree.remove(record_key(seq)).unwrap().unwrap();
}

fn broken_at(log: &AuditLog) -> (u64, String) {
    match log.verify().unwrap() {
        VerifyReport::Broken { seq, reason } => (seq, reason),
        intact => panic!("expected a broken chain, got {intact:?}"),
    }
}

#[test]
fn an_empty_log_verifies() {
    let (_db, log) = filled(0);
    assert_eq!(log.verify().unwrap(), VerifyReport::Intact { records: 0 });
    assert!(log.is_empty());
    assert_eq!(log.get(1).unwrap(), None);
}

#[test]
fn a_chain_of_many_appends_verifies() {
    let (_db, log) = filled(300);
    assert_eq!(log.verify().unwrap(), VerifyReport::Intact { records: 300 });
    assert_eq!(log.len(), 300);
    let all = log.list(&AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 300);
    assert_eq!(all[0].prev_hash, GENESIS_HASH);
    for (i, pair) in all.windows(2).enumerate() {
        assert_eq!(pair[0].seq, i as u64 + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[1].at >= pair[0].at);
    }
    for r in &all {
        assert_eq!(r.hash.len(), 64);
        assert!(
            r.hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(r.computed_hash().unwrap(), r.hash);
        assert_eq!(r.entry, entry(r.seq));
    }
}

#[test]
fn append_returns_what_get_reads_back() {
    let (_db, log) = filled(2);
    let appended = log.append(entry(3)).unwrap();
    assert_eq!(appended.seq, 3);
    assert_eq!(log.get(3).unwrap(), Some(appended));
}

#[test]
fn the_chain_continues_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let log = AuditLog::open(&db).unwrap();
        log.append(entry(1)).unwrap();
        log.append(entry(2)).unwrap();
    }
    let db = sled::open(dir.path()).unwrap();
    let log = AuditLog::open(&db).unwrap();
    let third = log.append(entry(3)).unwrap();
    assert_eq!(third.seq, 3);
    assert_eq!(third.prev_hash, log.get(2).unwrap().unwrap().hash);
    assert_eq!(log.verify().unwrap(), VerifyReport::Intact { records: 3 });
}

#[test]
fn concurrent_appends_make_a_gapless_valid_chain() {
    let (_db, log) = filled(0);
    let log = Arc::new(log);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| {
                        let e =
                            AuditEntry::new(format!("t{t}"), AuditKind::Drafted, format!("{i}"));
                        log.append(e).unwrap().seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in threads {
        for seq in t.join().unwrap() {
            assert!(seqs.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(seqs, (1..=320).collect::<BTreeSet<u64>>());
    assert_eq!(log.verify().unwrap(), VerifyReport::Intact { records: 320 });
    for t in 0..8 {
        let mine = log.for_action(&format!("t{t}")).unwrap();
        let summaries: Vec<String> = mine.into_iter().map(|r| r.entry.summary).collect();
        let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        assert_eq!(summaries, expected, "thread {t}'s records in its own order");
    }
}

#[test]
fn a_changed_field_is_detected_as_a_hash_mismatch() {
    for (field, value) in [
        ("summary", json!("Created Lead Someone Else")),
        ("actor", json!("U999")),
        ("actor", Value::Null),
        ("action_id", json!("act-other")),
        ("kind", json!("rejected")),
        ("at", json!("2020-01-01T00:00:00Z")),
    ] {
        let (db, log) = filled(6);
        let mut r = raw(&db, 4);
        r[field] = value;
        put_raw(&db, 4, &r);
        let (seq, reason) = broken_at(&log);
        assert_eq!(seq, 4, "changed {field}");
        assert!(
            reason.contains("hash mismatch"),
            "changed {field}: {reason}"
        );
    }
}

#[test]
fn a_changed_detail_deep_inside_is_detected() {
    let (db, log) = filled(5);
    let mut r = raw(&db, 2);
    r["detail"]["nested"]["a"][0] = json!(2.5);
    put_raw(&db, 2, &r);
    assert_eq!(broken_at(&log).0, 2);
}

#[test]
fn the_first_bad_record_is_reported() {
    let (db, log) = filled(8);
    for seq in [6, 3] {
        let mut r = raw(&db, seq);
        r["summary"] = json!("edited");
        put_raw(&db, seq, &r);
    }
    assert_eq!(broken_at(&log).0, 3);
}

#[test]
fn a_changed_record_with_a_recomputed_hash_breaks_the_next_link() {
    let (db, log) = filled(5);
    let mut record: AuditRecord = serde_json::from_value(raw(&db, 2)).unwrap();
    record.entry.summary = "forged".into();
    record.hash = record.computed_hash().unwrap();
    put_raw(&db, 2, &serde_json::to_value(&record).unwrap());
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 3);
    assert!(
        reason.contains("prev_hash") && reason.contains("record 2"),
        "{reason}"
    );
}

#[test]
fn a_removed_record_in_the_middle_is_detected() {
    let (db, log) = filled(5);
    remove(&db, 3);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 3);
    assert!(reason.contains("record 3 is missing"), "{reason}");

    let (db, log) = filled(6);
    remove(&db, 2);
    remove(&db, 3);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 2);
    assert!(reason.contains("records 2 to 3 are missing"), "{reason}");
}

#[test]
fn a_removed_first_record_is_detected() {
    let (db, log) = filled(3);
    remove(&db, 1);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 1);
    assert!(reason.contains("record 1 is missing"), "{reason}");
}

#[test]
fn a_removed_last_record_is_detected_through_the_head() {
    let (db, log) = filled(5);
    remove(&db, 5);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 5);
    assert!(reason.contains("record 5 is missing"), "{reason}");
    // And appending onto the shortened log is refused, not silently chained.
    assert!(matches!(
        log.append(entry(6)),
        Err(AuditError::Inconsistent(_))
    ));
}

#[test]
fn every_record_removed_is_detected() {
    let (db, log) = filled(2);
    remove(&db, 1);
    remove(&db, 2);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 1);
    assert!(reason.contains("records 1 to 2 are missing"), "{reason}");
}

#[test]
fn a_replaced_last_record_is_detected_through_the_head() {
    let (db, log) = filled(4);
    let mut record: AuditRecord = serde_json::from_value(raw(&db, 4)).unwrap();
    record.entry.summary = "forged".into();
    record.hash = record.computed_hash().unwrap();
    put_raw(&db, 4, &serde_json::to_value(&record).unwrap());
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 4);
    assert!(reason.contains("head"), "{reason}");
}

#[test]
fn a_record_added_behind_the_logs_back_is_detected() {
    let (db, log) = filled(3);
    let last: AuditRecord = serde_json::from_value(raw(&db, 3)).unwrap();
    let at = Utc::now();
    let e = entry(4);
    let hash = record_hash(4, &at, &last.hash, &e).unwrap();
    let extra = AuditRecord {
        seq: 4,
        at,
        prev_hash: last.hash,
        hash,
        keyed: false,
        entry: e,
    };
    put_raw(&db, 4, &serde_json::to_value(&extra).unwrap());
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 4);
    assert!(reason.contains("added outside crmbot"), "{reason}");
}

#[test]
fn a_record_that_does_not_deserialize_is_detected() {
    let (db, log) = filled(4);
    let tree = db.open_tree(RECORDS_TREE).unwrap();
    tree.insert(record_key(2), b"{not json".as_slice()).unwrap();
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 2);
    assert!(reason.contains("does not deserialize"), "{reason}");
    assert!(matches!(
        log.get(2),
        Err(AuditError::Corrupt { seq: 2, .. })
    ));

    let (db, log) = filled(4);
    let mut r = raw(&db, 3);
    r.as_object_mut().unwrap().remove("kind");
    put_raw(&db, 3, &r);
    assert_eq!(broken_at(&log).0, 3);
}

#[test]
fn a_moved_record_is_detected() {
    let (db, log) = filled(4);
    let mut r = raw(&db, 3);
    r["seq"] = json!(7);
    put_raw(&db, 3, &r);
    let (seq, reason) = broken_at(&log);
    assert_eq!(seq, 3);
    assert!(reason.contains("seq field says 7"), "{reason}");
}

#[test]
fn a_missing_or_garbled_head_is_detected() {
    let (db, log) = filled(3);
    let head = db.open_tree(HEAD_TREE).unwrap();
    head.remove(HEAD_KEY).unwrap();
    assert!(broken_at(&log).1.contains("head entry is missing"));
    assert!(matches!(
        log.append(entry(4)),
        Err(AuditError::Inconsistent(_))
    ));

    head.insert(HEAD_KEY, b"garbage".as_slice()).unwrap();
    assert!(
        broken_at(&log)
            .1
            .contains("head entry does not deserialize")
    );
}

#[test]
fn the_hash_is_sha256_of_the_documented_bytes() {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 12).unwrap();
    // Keys deliberately out of order: the canonical form sorts them.
    let e = AuditEntry::new("a1", AuditKind::Drafted, "Drafted")
        .by("U1")
        .with_detail(json!({"b": [2], "a": 1}));
    let expected = format!(
        "{{\"seq\":1,\"at\":\"2026-11-25T14:03:12.000000000Z\",\"prev_hash\":\"{GENESIS_HASH}\",\
         \"action_id\":\"a1\",\"kind\":\"drafted\",\"actor\":\"U1\",\"summary\":\"Drafted\",\
         \"detail\":{{\"a\":1,\"b\":[2]}}}}"
    );
    let bytes = canonical_bytes(1, &at, GENESIS_HASH, &e).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    let digest = hex::encode(Sha256::digest(expected.as_bytes()));
    assert_eq!(record_hash(1, &at, GENESIS_HASH, &e).unwrap(), digest);

    let system = AuditEntry::new("a1", AuditKind::Expired, "Expired");
    let bytes = String::from_utf8(canonical_bytes(2, &at, &digest, &system).unwrap()).unwrap();
    assert!(bytes.contains("\"actor\":null") && bytes.ends_with("\"detail\":null}"));
}

#[test]
fn the_hash_ignores_key_order_but_not_values() {
    let at = Utc::now();
    let a =
        AuditEntry::new("x", AuditKind::Written, "s").with_detail(json!({"p": {"y": 1, "x": 2}}));
    let b =
        AuditEntry::new("x", AuditKind::Written, "s").with_detail(json!({"p": {"x": 2, "y": 1}}));
    let c =
        AuditEntry::new("x", AuditKind::Written, "s").with_detail(json!({"p": {"x": 2, "y": 2}}));
    let h = |e: &AuditEntry| record_hash(1, &at, GENESIS_HASH, e).unwrap();
    assert_eq!(h(&a), h(&b));
    assert_ne!(h(&a), h(&c));
}

#[test]
fn awkward_numbers_and_text_survive_storage_and_verify() {
    let (_db, log) = filled(0);
    log.append(
        AuditEntry::new("n", AuditKind::WriteRequest, "numbers \u{1F600} \"quoted\"\n").with_detail(json!({
            // The first two do not survive serde_json's default float parsing: the crate
            // enables `float_roundtrip` so that stored details verify.
            "floats": [1.0715660391465826e-75, -1.81996730402717e-179, 0.1, 1e-7, 123456.789, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 5e-324],
            "ints": [u64::MAX, i64::MIN, 0],
            "text": "ünïcödé \u{0} \\ / \t",
        })),
    )
    .unwrap();
    assert_eq!(log.verify().unwrap(), VerifyReport::Intact { records: 1 });
}

#[test]
fn kind_names_match_their_serde_names() {
    for kind in AuditKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        assert_eq!(kind.to_string(), kind.as_str());
    }
}

mod mirror;
mod queries;
