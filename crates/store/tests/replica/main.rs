//! Replication to a standby on real SQLite files: a snapshot taken while
//! the primary writes, the changesets after it applied in order, and every
//! table of the copy equal to the primary's at the end; gaps, conflicts and
//! damaged changesets refused without a trace; writes by another process
//! and schema changes at open sending the standby back to a snapshot; the
//! copy opening as an ordinary office database.

#[path = "../common/mod.rs"]
mod common;
mod day;
mod dump;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use day::{afternoon, morning};
use dump::{assert_same, catch_up, dump, rows};
use outpost_store::{ReplEvent, Replica, Schema, Store, StoreError, DB_FILE};
use rusqlite::Connection;
use serde_json::json;

#[test]
fn a_standby_made_from_a_snapshot_mid_stream_ends_equal_to_the_primary_in_every_table() {
    let (dir, store) = open();
    let (parties, products) = morning(&store);
    let copy = dir.path().join("standby.sqlite");
    let snap = store.snapshot_to(&copy).unwrap();
    assert_eq!(snap.seq, store.repl_seq());
    assert_eq!(snap.bytes, std::fs::metadata(&copy).unwrap().len());
    // Nothing of the copy's making is left beside it, and a second copy
    // to the same place is refused rather than overwriting it.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(
        store.snapshot_to(&copy),
        Err(StoreError::BadRequest(_))
    ));
    // Writes go on while the standby starts from the copy.
    afternoon(&store, &parties, &products);
    let mut replica = Replica::open(&copy).unwrap();
    assert_eq!(replica.seq(), snap.seq);
    // remote_write: a commit on the copy is written to the OS, not waited
    // for on the disk (a synchronous master waits for this commit).
    assert!(!replica.flushes_each_commit().unwrap());
    let applied = catch_up(&store, &mut replica);
    assert!(applied >= 20, "only {applied} changesets");
    assert_eq!(replica.seq(), store.repl_seq());

    let primary = dump(store.path());
    let standby = dump(&copy);
    assert_same(&primary, &standby);
    // The comparison is not vacuous: every kind of row is there.
    for table in [
        "_meta",
        "_changes",
        "_outbox",
        "_requests",
        "_devices",
        "_sync_links",
        "_sync_cursors",
        "_sync_state",
        "_sync_bytes",
        "_doctypes",
        "sqlite_sequence",
    ] {
        assert!(rows(&primary, table) > 0, "no rows in {table}");
    }
    let sale_lines = primary.keys().find(|t| t.contains("Sale Line")).unwrap();
    assert_eq!(rows(&primary, sale_lines), 4);
    // A record written after the snapshot, as the standby has it.
    let renamed = name_of(&parties[1]);
    let conn = Connection::open(&copy).unwrap();
    let party_table = primary.keys().find(|t| t.ends_with("Party")).unwrap();
    let (title, rev): (String, i64) = conn
        .query_row(
            &format!("SELECT party_name, rev FROM \"{party_table}\" WHERE name = ?"),
            [&renamed],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((title.as_str(), rev), ("Renamed", 2));
}

#[test]
fn each_changeset_carries_its_number_and_listeners_hear_each_commit_in_order() {
    let (_dir, store) = open();
    let (tx, rx) = mpsc::channel();
    store.on_changeset(move |ev| {
        let _ = tx.send(ev);
    });
    let start = store.repl_seq();
    party(&store, "A", "A");
    party(&store, "B", "B");
    let heard: Vec<ReplEvent> = rx.try_iter().collect();
    assert_eq!(
        heard,
        vec![
            ReplEvent::Committed { seq: start + 1 },
            ReplEvent::Committed { seq: start + 2 }
        ]
    );
    assert_eq!(
        store.meta("repl_seq").unwrap(),
        Some((start + 2).to_string())
    );
    let got = store.changesets_after(start, 10).unwrap();
    assert_eq!(
        got.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![start + 1, start + 2]
    );
    assert!(store.wait_for_changeset(start, Duration::ZERO));
    assert!(!store.wait_for_changeset(start + 2, Duration::from_millis(20)));
    // A refused write and a replayed one commit nothing new.
    let dup = store.write(
        ctx("t"),
        ins("Party", json!({"party_name": "A2", "code": "A"})),
    );
    assert!(dup.is_err());
    assert_eq!(store.repl_seq(), start + 2);
}

#[test]
fn a_changeset_out_of_order_is_refused_and_changes_nothing() {
    let (dir, store) = open();
    party(&store, "A", "A");
    let copy = dir.path().join("standby.sqlite");
    let snap = store.snapshot_to(&copy).unwrap();
    party(&store, "B", "B");
    party(&store, "C", "C");
    let sets = store.changesets_after(snap.seq, 10).unwrap();
    assert_eq!(sets.len(), 2);
    let mut replica = Replica::open(&copy).unwrap();
    let before = dump(&copy);
    // The second before the first: a gap.
    let err = replica.apply(sets[1].seq, &sets[1].bytes).unwrap_err();
    assert!(
        matches!(err, StoreError::ReplicaGap { have, got } if have == snap.seq && got == snap.seq + 2),
        "{err:?}"
    );
    assert_same(&before, &dump(&copy));
    assert!(!replica.needs_snapshot());
    // In order they apply; the first again is refused as a repeat.
    replica.apply(sets[0].seq, &sets[0].bytes).unwrap();
    assert!(matches!(
        replica.apply(sets[0].seq, &sets[0].bytes),
        Err(StoreError::ReplicaGap { .. })
    ));
    replica.apply(sets[1].seq, &sets[1].bytes).unwrap();
    assert_same(&dump(store.path()), &dump(&copy));
    // A changeset numbered as the next one but carrying another number is
    // refused too (here: the last one, offered as seq + 1).
    party(&store, "D", "D");
    party(&store, "E", "E");
    let next = store.changesets_after(replica.seq(), 10).unwrap();
    let before = dump(&copy);
    let err = replica.apply(next[0].seq, &next[1].bytes).unwrap_err();
    assert!(matches!(err, StoreError::ReplicaDiverged { .. }), "{err:?}");
    assert_same(&before, &dump(&copy));
}

#[test]
fn a_conflicting_changeset_is_refused_whole_and_the_standby_asks_for_a_snapshot() {
    let (dir, store) = open();
    let a = party(&store, "A", "A");
    let copy = dir.path().join("standby.sqlite");
    let snap = store.snapshot_to(&copy).unwrap();
    // One write group: a new party and A renamed.
    store
        .write(
            ctx("t"),
            upd(
                "Party",
                &name_of(&a),
                rev_of(&a),
                json!({"party_name": "A2"}),
            ),
        )
        .unwrap();
    let sets = store.changesets_after(snap.seq, 10).unwrap();
    let mut replica = Replica::open(&copy).unwrap();
    // Someone edits the standby's copy behind its back.
    let conn = Connection::open(&copy).unwrap();
    let party_table: String = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%Party'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        &format!("UPDATE \"{party_table}\" SET party_name = 'Edited' WHERE name = ?"),
        [name_of(&a)],
    )
    .unwrap();
    let before = dump(&copy);
    let err = replica.apply(sets[0].seq, &sets[0].bytes).unwrap_err();
    match &err {
        StoreError::ReplicaDiverged { seq, reason } => {
            assert_eq!(*seq, snap.seq + 1);
            assert!(reason.contains("Party"), "{reason}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    // Nothing of it applied: not the change log row, not the number.
    assert_same(&before, &dump(&copy));
    assert_eq!(replica.seq(), snap.seq);
    assert!(replica.needs_snapshot());
    // It takes nothing more, even what would apply.
    party(&store, "B", "B");
    let next = store.changesets_after(snap.seq + 1, 10).unwrap();
    assert!(matches!(
        replica.apply(snap.seq + 1, &sets[0].bytes),
        Err(StoreError::ReplicaDiverged { .. })
    ));
    assert!(!next.is_empty());
    assert_same(&before, &dump(&copy));
}

#[test]
fn a_damaged_changeset_is_refused_and_changes_nothing() {
    let (dir, store) = open();
    party(&store, "A", "A");
    let copy = dir.path().join("standby.sqlite");
    let snap = store.snapshot_to(&copy).unwrap();
    party(&store, "B", "B");
    let cs = store.changesets_after(snap.seq, 1).unwrap().remove(0);
    let before = dump(&copy);
    // Cut short.
    let mut replica = Replica::open(&copy).unwrap();
    let cut = &cs.bytes[..cs.bytes.len() / 2];
    assert!(matches!(
        replica.apply(cs.seq, cut),
        Err(StoreError::ReplicaDiverged { .. })
    ));
    assert_same(&before, &dump(&copy));
    // Its table names garbled (a table the standby does not have).
    let mut replica = Replica::open(&copy).unwrap();
    let garbled: Vec<u8> = cs
        .bytes
        .iter()
        .map(|&b| if b == b'_' { b'~' } else { b })
        .collect();
    assert!(matches!(
        replica.apply(cs.seq, &garbled),
        Err(StoreError::ReplicaDiverged { .. })
    ));
    assert_same(&before, &dump(&copy));
    // The real one still applies on a fresh open.
    let mut replica = Replica::open(&copy).unwrap();
    replica.apply(cs.seq, &cs.bytes).unwrap();
    assert_same(&dump(store.path()), &dump(&copy));
}

#[test]
fn a_standby_copy_opens_as_an_office_database_with_the_records_and_takes_writes() {
    let (_dir, store) = open();
    let (parties, products) = morning(&store);
    let standby_dir = tempfile::tempdir().unwrap();
    let copy = standby_dir.path().join(DB_FILE);
    store.snapshot_to(&copy).unwrap();
    afternoon(&store, &parties, &products);
    let mut replica = Replica::open(&copy).unwrap();
    catch_up(&store, &mut replica);
    let seq = replica.seq();
    drop(replica);
    store.close();
    // Promotion: the standby's folder opened as the master's.
    let promoted = Store::open(standby_dir.path()).unwrap();
    assert_eq!(promoted.repl_seq(), seq, "opening changed nothing");
    let renamed = promoted.get("Party", &name_of(&parties[1])).unwrap();
    assert_eq!(renamed["party_name"], "Renamed");
    assert_eq!(promoted.site_id().unwrap(), store.site_id().unwrap());
    assert!(promoted
        .device(&"ab".repeat(32))
        .unwrap()
        .unwrap()
        .is_approved());
    assert_eq!(
        promoted.meta("office_name").unwrap().as_deref(),
        Some("Kashgar depot 2")
    );
    // A retried request is still answered from its stored answer.
    let again = promoted
        .write(
            ctx_id("ab".repeat(32).as_str(), "req-1"),
            ins("Party", json!({"party_name": "Once", "code": "ONCE"})),
        )
        .unwrap();
    assert!(again.replayed);
    party(&promoted, "After promotion", "NEW");
    assert_eq!(promoted.repl_seq(), seq + 1);
}

#[test]
fn changes_received_but_not_applied_go_in_at_the_next_open_and_at_a_promotion() {
    let (_dir, store) = open();
    let standby_dir = tempfile::tempdir().unwrap();
    let copy = standby_dir.path().join(DB_FILE);
    store.snapshot_to(&copy).unwrap();
    let mut replica = Replica::open(&copy).unwrap();
    let first = party(&store, "Received", "R1");
    let got: Vec<(u64, Vec<u8>)> = store
        .changesets_after(replica.received(), 100)
        .unwrap()
        .into_iter()
        .map(|c| (c.seq, c.bytes.to_vec()))
        .collect();
    let last = got.last().unwrap().0;
    // A gap is refused before anything is written.
    assert!(matches!(
        replica.receive(vec![(last + 5, vec![1])]),
        Err(StoreError::ReplicaGap { .. })
    ));
    replica.receive(got).unwrap();
    assert_eq!(replica.received(), last);
    assert!(replica.seq() < last, "received, not applied yet");
    let pending = outpost_store::repl::pending::pending_path(&copy);
    assert!(std::fs::metadata(&pending).unwrap().len() > 0);
    // The standby stops here (what it acknowledged is only in the file).
    drop(replica);
    let replica = Replica::open(&copy).unwrap();
    assert_eq!(replica.seq(), last, "applied at the open");
    assert_eq!(std::fs::metadata(&pending).unwrap().len(), 0);

    // Received again and not applied, then the folder is promoted: the
    // office database opened there has it.
    let mut replica = replica;
    let second = party(&store, "Received too", "R2");
    let got: Vec<(u64, Vec<u8>)> = store
        .changesets_after(replica.received(), 100)
        .unwrap()
        .into_iter()
        .map(|c| (c.seq, c.bytes.to_vec()))
        .collect();
    replica.receive(got).unwrap();
    drop(replica);
    store.close();
    let promoted = Store::open(standby_dir.path()).unwrap();
    assert_eq!(promoted.repl_seq(), store.repl_seq());
    assert_eq!(
        promoted.get("Party", &name_of(&first)).unwrap()["party_name"],
        "Received"
    );
    assert_eq!(
        promoted.get("Party", &name_of(&second)).unwrap()["party_name"],
        "Received too"
    );
    assert_eq!(std::fs::metadata(&pending).unwrap().len(), 0);
}

#[test]
fn a_write_by_another_process_sends_every_standby_back_to_a_snapshot() {
    let (dir, store) = open();
    party(&store, "A", "A");
    let (tx, rx) = mpsc::channel();
    store.on_changeset(move |ev| {
        let _ = tx.send(ev);
    });
    let copy = dir.path().join("standby.sqlite");
    let snap = store.snapshot_to(&copy).unwrap();
    let replica = Replica::open(&copy).unwrap();
    // Another store that only opens and reads (`outpost` status commands)
    // commits nothing: no resync.
    let reader = reopen(dir.path());
    assert_eq!(reader.repl_seq(), snap.seq);
    reader.site_id().unwrap();
    reader.close();
    drop(reader);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(store.repl_resyncs(), 0);
    assert!(rx.try_recv().is_err());
    // `outpost` admin commands, or a sqlite3 shell, on the same file.
    raw(&store)
        .execute(
            "UPDATE _meta SET value = 'renamed by hand' WHERE key = 'site_id'",
            [],
        )
        .unwrap();
    // The idle writer notices within its poll.
    let heard = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let ReplEvent::Resync { seq } = heard else {
        panic!("expected a resync, heard {heard:?}")
    };
    assert!(seq > snap.seq);
    assert_eq!(store.repl_resyncs(), 1);
    assert!(matches!(
        store.changesets_after(snap.seq, 10),
        Err(StoreError::SnapshotNeeded { .. })
    ));
    // A new snapshot has it, and changesets go on from there.
    let copy2 = dir.path().join("standby2.sqlite");
    let snap2 = store.snapshot_to(&copy2).unwrap();
    assert_eq!(snap2.seq, seq);
    party(&store, "B", "B");
    let mut replica2 = Replica::open(&copy2).unwrap();
    catch_up(&store, &mut replica2);
    assert_same(&dump(store.path()), &dump(&copy2));
    assert_eq!(replica.seq(), snap.seq);

    // A commit by another process between two writes of this one is seen
    // by the next write group itself, whatever the poll.
    let before = store.repl_seq();
    let conn = raw(&store);
    conn.execute("UPDATE _meta SET value = 'again' WHERE key = 'site_id'", [])
        .unwrap();
    party(&store, "C", "C");
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.repl_resyncs() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(store.repl_resyncs(), 2);
    assert!(matches!(
        store.changesets_after(before, 10),
        Err(StoreError::SnapshotNeeded { .. })
    ));
}

#[test]
fn reopening_keeps_the_number_but_a_schema_change_at_open_asks_for_a_snapshot() {
    let (dir, store) = open();
    party(&store, "A", "A");
    let seq = store.repl_seq();
    store.close();
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.repl_seq(), seq);
    assert!(store.changesets_after(seq, 10).unwrap().is_empty());
    party(&store, "B", "B");
    assert_eq!(store.changesets_after(seq, 10).unwrap().len(), 1);
    let seq = store.repl_seq();
    store.close();
    drop(store);
    // A site doctype added: DDL no changeset carries.
    let path = dir.path().join(DB_FILE);
    let mut schema = Schema::load(&dir.path().join("doctypes")).unwrap();
    let mut extra = schema.doctypes["Party"].clone();
    extra.name = "Supplier Note".into();
    extra.sync = false;
    schema.doctypes.insert(extra.name.clone(), extra);
    let store = Store::open_with(&path, schema).unwrap();
    assert!(store.repl_seq() > seq);
    assert!(matches!(
        store.changesets_after(seq, 10),
        Err(StoreError::SnapshotNeeded { .. })
    ));
}

#[test]
fn the_number_is_the_store_s_own_and_bookkeeping_from_inside_a_write_is_refused_not_hung() {
    let (_dir, store) = open();
    party(&store, "A", "A");
    let seq = store.repl_seq();
    assert!(matches!(
        store.set_meta("repl_seq", "1"),
        Err(StoreError::BadRequest(_))
    ));
    assert_eq!(store.meta("repl_seq").unwrap(), Some(seq.to_string()));
    // A write's answer runs on the writer thread: a bookkeeping write from
    // there would wait for itself forever.
    let (tx, rx) = mpsc::channel();
    let inner = store.clone();
    store.submit(
        ctx("t"),
        ins("Party", json!({"party_name": "B", "code": "B"})),
        Box::new(move |r| {
            assert!(r.is_ok());
            let _ = tx.send(inner.set_meta("office_name", "x"));
        }),
    );
    let nested = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(nested, Err(StoreError::BadRequest(_))),
        "{nested:?}"
    );
    assert_eq!(store.meta("office_name").unwrap(), None);
    // From any other thread it goes through the writer like any write.
    store.set_meta("office_name", "y").unwrap();
    assert_eq!(store.repl_seq(), seq + 2);
}

/// What capture costs: the same concurrent group-commit workload with
/// capture on and off, in one run. Prints the ratio; asserts nothing on
/// time. `cargo test -p outpost-store --release --test replica --
/// --ignored --nocapture capture_overhead`
#[test]
#[ignore]
fn capture_overhead() {
    const WRITERS: usize = 8;
    const EACH: usize = 300;
    const ROUNDS: usize = 7;
    /// CPU time (clock ticks) of the writer thread(s) alive, where the
    /// capture's work is done; steadier than wall time on a busy machine.
    fn writer_ticks() -> u64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "outpost-writer")
            })
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .map(|stat| {
                // Fields after the command's closing parenthesis: utime and
                // stime are the 12th and 13th.
                let rest = &stat[stat.rfind(')').unwrap_or(0) + 1..];
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .map(|x| x.parse().unwrap_or(0))
                    .collect();
                f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
            })
            .sum()
    }
    fn run(capture: bool) -> (Duration, u64) {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::load(&dir.path().join("doctypes")).unwrap();
        let store = Store::open_with_capture(&dir.path().join(DB_FILE), schema, capture).unwrap();
        let ticks = writer_ticks();
        let start = Instant::now();
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let code = format!("W{t}-{i}");
                        store
                            .write(
                                ctx("bench"),
                                ins("Party", json!({"party_name": code, "code": code})),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (start.elapsed(), writer_ticks() - ticks)
    }
    run(true); // warm-up
               // Alternate, so that load from elsewhere on the machine falls on both;
               // the median round's ratio is the figure.
    let mut ratios = Vec::new();
    let (mut on, mut off) = (Duration::ZERO, Duration::ZERO);
    let (mut cpu_on, mut cpu_off) = (0, 0);
    for _ in 0..ROUNDS {
        let (a, ca) = run(false);
        let (b, cb) = run(true);
        off += a;
        on += b;
        cpu_off += ca;
        cpu_on += cb;
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let writes = (ROUNDS * WRITERS * EACH) as f64;
    println!(
        "group-commit writes/s: capture off {:.0}, capture on {:.0}; on/off time ratio: median round {:.3}, all rounds {:.3} (rounds {:?})",
        writes / off.as_secs_f64(),
        writes / on.as_secs_f64(),
        ratios[ROUNDS / 2],
        on.as_secs_f64() / off.as_secs_f64(),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>()
    );
    println!(
        "writer thread CPU: capture off {cpu_off} ticks, on {cpu_on} ticks; ratio {:.3}",
        cpu_on as f64 / cpu_off.max(1) as f64
    );
}
