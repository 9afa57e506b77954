//! The mirror outside sled and the keyed chain: a database that lost its tail is told from
//! an intact one, a failed mirror write leaves nothing behind, and a record rewritten
//! without the key does not verify.

use secrecy::SecretString;
use serde_json::json;

use super::super::*;

fn entry(i: u64) -> AuditEntry {
    AuditEntry::new(format!("a{i}"), AuditKind::Drafted, format!("event {i}"))
        .with_detail(json!({"i": i}))
}

fn mirrored(dir: &Path, key: Option<&str>) -> (sled::Db, AuditLog) {
    let db = sled::Config::new().path(dir.join("db")).open().unwrap();
    let log = AuditLog::open_with(
        &db,
        Some(&dir.join(MIRROR_FILE)),
        key.map(|k| SecretString::from(k.to_string())),
    )
    .unwrap();
    (db, log)
}

#[test]
fn every_append_lands_in_the_mirror_and_the_two_stay_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log) = mirrored(dir.path(), None);
    assert_eq!(
        log.check_mirror().unwrap(),
        MirrorState::InStep { records: 0 }
    );
    for i in 1..=3 {
        log.append(entry(i)).unwrap();
    }
    let copies = mirror::read_all(&dir.path().join(MIRROR_FILE)).unwrap();
    assert_eq!(copies.len(), 3);
    assert_eq!(copies[2], log.get(3).unwrap().unwrap());
    assert_eq!(
        log.check_mirror().unwrap(),
        MirrorState::InStep { records: 3 }
    );
    assert!(log.verify().unwrap().is_intact());
}

#[test]
fn a_database_behind_its_mirror_is_reported_and_restored_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = mirrored(dir.path(), None);
    for i in 1..=5 {
        log.append(entry(i)).unwrap();
    }
    // The database loses records 4 and 5 (and its head goes back with them).
    let records = db.open_tree(RECORDS_TREE).unwrap();
    records.remove(record_key(5)).unwrap();
    records.remove(record_key(4)).unwrap();
    let three = log.get(3).unwrap().unwrap();
    db.open_tree(HEAD_TREE)
        .unwrap()
        .insert(
            HEAD_KEY,
            serde_json::to_vec(&json!({"seq": 3, "hash": three.hash})).unwrap(),
        )
        .unwrap();
    assert_eq!(
        log.check_mirror().unwrap(),
        MirrorState::Behind { db: 3, mirror: 5 }
    );
    let problem = log.check_mirror().unwrap().problem(dir.path()).unwrap();
    assert!(problem.contains("crmbot audit recover"), "{problem}");
    match log.verify().unwrap() {
        VerifyReport::Broken { seq, reason } => {
            assert_eq!(seq, 4);
            assert!(reason.contains("records 4 to 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let copies = mirror::read_all(&dir.path().join(MIRROR_FILE)).unwrap();
    assert_eq!(log.restore(&copies).unwrap(), 2);
    assert_eq!(
        log.check_mirror().unwrap(),
        MirrorState::InStep { records: 5 }
    );
    assert!(log.verify().unwrap().is_intact());
}

#[test]
fn a_failed_mirror_write_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log) = mirrored(dir.path(), None);
    log.append(entry(1)).unwrap();
    log.set_failing(true);
    assert!(matches!(log.append(entry(2)), Err(AuditError::Injected)));
    log.set_failing(false);
    // A mirror that cannot be written (replaced by a folder) refuses too, and the database
    // does not keep the record.
    {
        let mut guard = log.guard();
        let path = dir.path().join("gone.jsonl");
        std::fs::create_dir(&path).unwrap();
        *guard = Some(Mirror {
            path: path.clone(),
            file: std::fs::File::open(&path).unwrap(),
        });
    }
    assert!(matches!(log.append(entry(2)), Err(AuditError::Mirror(_))));
    assert_eq!(log.len(), 1);
    assert_eq!(log.last_seq().unwrap(), 1);
}

#[test]
fn a_torn_last_line_is_cut_and_a_lagging_mirror_is_extended() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, log) = mirrored(dir.path(), None);
        for i in 1..=2 {
            log.append(entry(i)).unwrap();
        }
    }
    let path = dir.path().join(MIRROR_FILE);
    // A crash mid-line, and a database that got one record further than the mirror.
    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap();
    std::fs::write(&path, format!("{first}\n{{\"seq\":2,\"at")).unwrap();
    let (_db, log) = mirrored(dir.path(), None);
    assert_eq!(
        log.check_mirror().unwrap(),
        MirrorState::Extended { added: 1 }
    );
    assert_eq!(mirror::read_all(&path).unwrap().len(), 2);
}

#[test]
fn a_keyed_chain_detects_a_record_rewritten_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = mirrored(dir.path(), Some("k3y"));
    for i in 1..=3 {
        log.append(entry(i)).unwrap();
    }
    let original = log.get(3).unwrap().unwrap();
    let two = log.get(2).unwrap().unwrap();
    assert!(two.keyed);
    assert_ne!(
        two.hash,
        two.computed_hash().unwrap(),
        "HMAC, not plain SHA-256"
    );
    assert!(log.verify().unwrap().is_intact());
    // Someone without the key rewrites record 3 and recomputes a plain hash.
    let mut forged = log.get(3).unwrap().unwrap();
    forged.entry.summary = "nothing happened".into();
    forged.keyed = false;
    forged.hash = forged.computed_hash().unwrap();
    db.open_tree(RECORDS_TREE)
        .unwrap()
        .insert(record_key(3), serde_json::to_vec(&forged).unwrap())
        .unwrap();
    match log.verify().unwrap() {
        VerifyReport::Broken { seq: 3, reason } => {
            assert!(reason.contains("without the key"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Same forgery kept "keyed": the HMAC does not match.
    forged.keyed = true;
    db.open_tree(RECORDS_TREE)
        .unwrap()
        .insert(record_key(3), serde_json::to_vec(&forged).unwrap())
        .unwrap();
    assert!(matches!(
        log.verify().unwrap(),
        VerifyReport::Broken { seq: 3, .. }
    ));
    // Without the key, keyed records cannot be checked, and verify says so.
    drop(log);
    let unkeyed = AuditLog::open(&db).unwrap();
    db.open_tree(RECORDS_TREE)
        .unwrap()
        .insert(record_key(3), serde_json::to_vec(&original).unwrap())
        .unwrap();
    assert!(matches!(
        unkeyed.verify().unwrap(),
        VerifyReport::NeedsKey {
            records: 3,
            keyed: 3
        }
    ));
}
