//! Reading the log back: filters, export.

use super::*;

#[test]
fn filters_select_by_time_user_and_action() {
    let (db, log) = filled(9);
    // Spread the records over nine days by rewriting their times (and hashes, in order).
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    let mut prev = GENESIS_HASH.to_string();
    for seq in 1..=9 {
        let mut r: AuditRecord = serde_json::from_value(raw(&db, seq)).unwrap();
        r.at = base + Duration::days(seq as i64 - 1);
        r.prev_hash = prev;
        r.hash = r.computed_hash().unwrap();
        prev = r.hash.clone();
        put_raw(&db, seq, &serde_json::to_value(&r).unwrap());
    }
    db.open_tree(HEAD_TREE)
        .unwrap()
        .insert(
            HEAD_KEY,
            serde_json::to_vec(&json!({"seq": 9, "hash": prev})).unwrap(),
        )
        .unwrap();
    assert!(log.verify().unwrap().is_intact());

    let seqs =
        |f: AuditFilter| -> Vec<u64> { log.list(&f).unwrap().iter().map(|r| r.seq).collect() };
    assert_eq!(seqs(AuditFilter::default()), (1..=9).collect::<Vec<_>>());
    let since = Some(base + Duration::days(6));
    assert_eq!(
        seqs(AuditFilter {
            since,
            ..Default::default()
        }),
        vec![7, 8, 9]
    );
    let user = Some("U1".to_string());
    assert_eq!(
        seqs(AuditFilter {
            user: user.clone(),
            ..Default::default()
        }),
        vec![1, 3, 5, 7, 9]
    );
    let action_id = Some("act-0".to_string());
    assert_eq!(
        seqs(AuditFilter {
            action_id: action_id.clone(),
            ..Default::default()
        }),
        vec![3, 6, 9]
    );
    assert_eq!(
        seqs(AuditFilter {
            limit: Some(2),
            ..Default::default()
        }),
        vec![8, 9]
    );
    assert_eq!(
        seqs(AuditFilter {
            limit: Some(0),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(AuditFilter {
            limit: Some(50),
            ..Default::default()
        })
        .len(),
        9
    );
    assert_eq!(
        seqs(AuditFilter {
            since: Some(base + Duration::days(1)),
            user,
            limit: Some(2),
            action_id: None
        }),
        vec![7, 9]
    );
    assert_eq!(
        seqs(AuditFilter {
            user: Some("nobody".into()),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
    assert_eq!(
        log.for_action("act-1")
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![1, 4, 7]
    );
}

#[test]
fn export_writes_one_json_record_per_line_in_order() {
    let (_db, log) = filled(12);
    let mut out = Vec::new();
    assert_eq!(log.export_jsonl(&mut out).unwrap(), 12);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    for (i, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap();
        for key in [
            "seq",
            "at",
            "prev_hash",
            "hash",
            "action_id",
            "kind",
            "actor",
            "summary",
            "detail",
        ] {
            assert!(value.get(key).is_some(), "line {i} lacks {key}");
        }
        let record: AuditRecord = serde_json::from_value(value).unwrap();
        assert_eq!(record.seq, i as u64 + 1);
        assert_eq!(Some(&record), log.get(record.seq).unwrap().as_ref());
        assert_eq!(record.computed_hash().unwrap(), record.hash);
    }
}
