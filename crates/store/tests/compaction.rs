//! Compaction: old change-log rows, tombstones the head office has, settled
//! conflicts and request ids go; recent rows, and rows something still
//! needs (an unsent delete, a reader's floor), stay.

mod common;

use std::path::Path;

use common::*;
use outpost_store::{Compacted, Store, StoreError, Synced};
use serde_json::json;

/// Far older than any retention period.
const LONG_AGO: &str = "2020-01-01T00:00:00.000Z";

fn backdate(store: &Store, sql: &str) {
    let n = raw(store)
        .execute(sql, [LONG_AGO])
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert!(n > 0, "nothing backdated by {sql}");
}

fn seqs(store: &Store) -> Vec<i64> {
    store
        .changes_since(0, 10_000)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect()
}

/// A data folder with a doctype that does not sync upstream.
fn open_with_notes() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    write_note_doctype(dir.path());
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn write_note_doctype(dir: &Path) {
    let d = dir.join(outpost_store::DOCTYPES_DIR);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("note.json"),
        r#"{"name": "Note", "fields": [{"name": "text", "type": "data"}]}"#,
    )
    .unwrap();
}

fn delete(store: &Store, doctype: &str, name: &str) {
    store
        .write(ctx("test"), del(doctype, name, None))
        .unwrap_or_else(|e| panic!("delete {doctype} {name}: {e}"));
}

#[test]
fn old_changes_request_ids_and_settled_conflicts_go_and_recent_ones_stay() {
    let (_dir, store) = open();
    for i in 0..6 {
        store
            .write(
                ctx_id("desk-1", &format!("r{i}")),
                ins(
                    "Party",
                    json!({"party_name": format!("P{i}"), "code": format!("C{i}")}),
                ),
            )
            .unwrap();
    }
    let all = seqs(&store);
    assert_eq!(all.len(), 6);
    backdate(
        &store,
        &format!("UPDATE _changes SET at = ?1 WHERE seq <= {}", all[3]),
    );
    backdate(
        &store,
        "UPDATE _requests SET at = ?1 WHERE req_id IN ('r0', 'r1')",
    );
    let conflicts = raw(&store);
    for (state, resolved_at) in [
        ("kept_local", Some(LONG_AGO)),
        ("kept_remote", Some("2999-01-01T00:00:00.000Z")),
        ("open", None),
    ] {
        conflicts
            .execute(
                "INSERT INTO _sync_conflicts (doctype, name, kind, state, at, resolved_at)
                 VALUES ('Party', 'x', 'modify/modify', ?1, ?2, ?3)",
                rusqlite::params![state, LONG_AGO, resolved_at],
            )
            .unwrap();
    }

    let done = store.compact().unwrap();
    assert_eq!(
        done,
        Compacted {
            changes: 4,
            tombstones: 0,
            conflicts: 1,
            requests: 2,
        }
    );
    assert_eq!(seqs(&store), all[4..].to_vec());
    assert_eq!(count_rows(&store, "_requests"), 4);
    let states: Vec<String> = raw(&store)
        .prepare("SELECT state FROM _sync_conflicts ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(states, ["kept_remote", "open"]);
    // Nothing more to do: a second run removes nothing.
    assert_eq!(store.compact().unwrap().total(), 0);
    // A pruned request id is forgotten: the same id is a new write.
    let again = store
        .write(
            ctx_id("desk-1", "r0"),
            ins("Party", json!({"party_name": "Again", "code": "C-again"})),
        )
        .unwrap();
    assert!(!again.replayed);
}

#[test]
fn the_change_log_floor_keeps_what_a_reader_still_needs_and_the_head_always_stays() {
    let (_dir, store) = open();
    for i in 0..5 {
        party(&store, &format!("P{i}"), &format!("C{i}"));
    }
    let all = seqs(&store);
    backdate(&store, "UPDATE _changes SET at = ?1");

    store.retain_changes_from(Some(all[2]));
    assert_eq!(store.changes_floor(), Some(all[2]));
    assert_eq!(store.compact().unwrap().changes, 2);
    assert_eq!(seqs(&store), all[2..].to_vec());

    store.retain_changes_from(None);
    assert_eq!(store.compact().unwrap().changes, 2);
    // The newest row stays, old as it is: the log's head is never lost.
    assert_eq!(seqs(&store), vec![all[4]]);
    // Sequences are never reused.
    party(&store, "P5", "C5");
    assert!(seqs(&store)[1] > all[4]);
}

#[test]
fn an_old_tombstone_of_a_doctype_that_does_not_sync_goes_and_does_not_come_back() {
    let (dir, store) = open_with_notes();
    let old = insert(&store, "Note", json!({"text": "old"}));
    let recent = insert(&store, "Note", json!({"text": "recent"}));
    let live = insert(&store, "Note", json!({"text": "live"}));
    let (old, recent) = (name_of(&old), name_of(&recent));
    delete(&store, "Note", &old);
    delete(&store, "Note", &recent);
    assert_eq!(count_rows(&store, "_outbox"), 0, "Note does not sync");
    backdate(
        &store,
        &format!(
            "UPDATE \"tab Note\" SET modified = ?1 WHERE name IN ('{old}', '{}')",
            name_of(&live)
        ),
    );

    assert_eq!(store.compact().unwrap().tombstones, 1);
    assert!(matches!(
        store.get("Note", &old),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get("Note", &recent),
        Err(StoreError::Deleted { .. })
    ));
    // Old but live: never compacted.
    assert_eq!(store.get("Note", &name_of(&live)).unwrap()["text"], "live");
    // Gone for good: no write finds it, and a reopened store neither.
    let err = store
        .write(ctx("test"), upd("Note", &old, 2, json!({"text": "back?"})))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.close();
    drop(store);
    let store = reopen(dir.path());
    assert!(matches!(
        store.get("Note", &old),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_tombstone_waits_until_the_head_office_has_the_delete() {
    let (_dir, store) = open();
    let p = name_of(&party(&store, "Acme", "P1"));
    let a = name_of(&product(&store, "Tea", "T1", 2.0));
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [{"product": a, "quantity": 2}, {"product": a, "quantity": 1}]}),
    );
    let sale = name_of(&sale);
    delete(&store, "Sale", &sale);
    backdate(
        &store,
        &format!("UPDATE \"tab Sale\" SET modified = ?1 WHERE name = '{sale}'"),
    );
    let lines = |s: &Store| -> i64 {
        raw(s)
            .query_row(
                "SELECT count(*) FROM \"tab Sale Line\" WHERE parent = ?",
                [&sale],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(lines(&store), 2);

    // The delete still waits in the outbox: the tombstone stays.
    assert_eq!(store.compact().unwrap().tombstones, 0);
    assert!(matches!(
        store.get("Sale", &sale),
        Err(StoreError::Deleted { .. })
    ));

    // Parked (refused by the head office) is not sent either.
    let upto: i64 = raw(&store)
        .query_row(
            "SELECT max(seq) FROM _outbox WHERE doctype = 'Sale' AND name = ?",
            [&sale],
            |r| r.get(0),
        )
        .unwrap();
    store.outbox_park(&[upto], "refused").unwrap();
    assert_eq!(store.compact().unwrap().tombstones, 0);

    // The head office has it: the tombstone and its lines go.
    store
        .sync_done(&[Synced {
            doctype: "Sale".into(),
            name: sale.clone(),
            upto,
            link: None,
        }])
        .unwrap();
    assert_eq!(store.compact().unwrap().tombstones, 1);
    assert!(matches!(
        store.get("Sale", &sale),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(lines(&store), 0);
    // What the sale linked to is untouched.
    assert_eq!(store.get("Party", &p).unwrap()["party_name"], "Acme");
}

#[test]
fn an_open_conflict_keeps_its_tombstone() {
    let (_dir, store) = open_with_notes();
    let note = name_of(&insert(&store, "Note", json!({"text": "x"})));
    delete(&store, "Note", &note);
    backdate(
        &store,
        &format!("UPDATE \"tab Note\" SET modified = ?1 WHERE name = '{note}'"),
    );
    raw(&store)
        .execute(
            "INSERT INTO _sync_conflicts (doctype, name, kind, state, at)
             VALUES ('Note', ?1, 'delete/modify', 'open', ?2)",
            [&note, LONG_AGO],
        )
        .unwrap();
    assert_eq!(store.compact().unwrap().tombstones, 0);
    assert!(matches!(
        store.get("Note", &note),
        Err(StoreError::Deleted { .. })
    ));
}

fn indexes(store: &Store) -> Vec<String> {
    raw(store)
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

const COMPACTION_INDEXES: [&str; 6] = [
    "_changes_at",
    "_requests_at",
    "_outbox_record",
    "_sync_conflicts_settled",
    "tomb Party",
    "tomb Sale",
];

#[test]
fn a_file_made_before_compaction_gets_its_indexes_by_a_migration_step() {
    let (dir, store) = open();
    let user_version = |s: &Store| -> i64 {
        raw(s)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(user_version(&store), 2);
    let have = indexes(&store);
    for want in COMPACTION_INDEXES {
        assert!(have.iter().any(|i| i == want), "{want} missing in {have:?}");
    }
    // Tombstones of a child doctype are their parent's business.
    assert!(!have.iter().any(|i| i == "tomb Sale Line"));

    // As a file of the release before: no indexes, version 0.
    let c = raw(&store);
    for i in COMPACTION_INDEXES {
        c.execute_batch(&format!("DROP INDEX \"{i}\"")).unwrap();
    }
    c.execute_batch("PRAGMA user_version = 0").unwrap();
    drop(c);
    store.close();
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(user_version(&store), 2);
    let have = indexes(&store);
    for want in COMPACTION_INDEXES {
        assert!(have.iter().any(|i| i == want), "{want} missing in {have:?}");
    }
    // The next step (people and history) ran too.
    assert!(have.iter().any(|i| i == "_history_record"), "{have:?}");
}

#[test]
fn compaction_finds_old_rows_by_index_not_by_reading_every_row() {
    let (_dir, store) = open();
    let c = raw(&store);
    let plan = |sql: &str| -> String {
        c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ")
    };
    let tombs = plan("SELECT name FROM \"tab Party\" WHERE deleted = 1 AND modified < 'x'");
    assert!(tombs.contains("tomb Party"), "{tombs}");
    let settled =
        plan("SELECT id FROM _sync_conflicts WHERE state != 'open' AND resolved_at < 'x'");
    assert!(settled.contains("_sync_conflicts_settled"), "{settled}");
    let requests = plan("SELECT device FROM _requests WHERE at < 'x'");
    assert!(requests.contains("_requests_at"), "{requests}");
    let outbox = plan("SELECT 1 FROM _outbox WHERE doctype = 'a' AND name = 'b'");
    assert!(outbox.contains("_outbox_record"), "{outbox}");
}
