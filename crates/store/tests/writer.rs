//! The group-commit writer under concurrency, and the change feed (own
//! writes and writes by another process on the same file).

mod common;

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use outpost_store::query::Expr;
use outpost_store::{Change, Store, StoreError};
use serde_json::json;

/// A generous bound for "this should have happened": only to stop a hung
/// test, never a timing assertion.
const HANG: Duration = Duration::from_secs(10);

fn all() -> Expr {
    Expr::And(vec![])
}

// ---------------------------------------------------------------------------
// 7. Group commit
// ---------------------------------------------------------------------------

#[test]
fn concurrent_writers_all_land() {
    let (_dir, store) = open();
    let threads = 8;
    let per_thread = 200;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut names = Vec::with_capacity(per_thread);
                for i in 0..per_thread {
                    let out = store
                        .write(
                            ctx(&format!("thread-{t}")),
                            ins(
                                "Party",
                                json!({"party_name": format!("P {t}-{i}"), "code": format!("C{t}-{i}")}),
                            ),
                        )
                        .expect("insert");
                    assert!(!out.replayed);
                    names.push(name_of(&out.value));
                }
                names
            })
        })
        .collect();
    let mut names = HashSet::new();
    for h in handles {
        for n in h.join().expect("writer thread") {
            assert!(names.insert(n), "names are unique");
        }
    }
    assert_eq!(names.len(), threads * per_thread);
    assert_eq!(
        store.count("Party", &all()).unwrap(),
        (threads * per_thread) as u64
    );
    assert_eq!(
        count_rows(&store, "_changes"),
        (threads * per_thread) as i64
    );
    assert_eq!(
        store.outbox_pending().unwrap(),
        (threads * per_thread) as u64
    );
    // Every returned name is there.
    for n in names.iter().take(50) {
        assert!(store.get("Party", n).is_ok());
    }
}

#[test]
fn a_failing_job_in_a_batch_does_not_affect_the_others() {
    let (_dir, store) = open();
    let threads = 6;
    let per_thread = 60;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut ok = 0usize;
                let mut refused = 0usize;
                for i in 0..per_thread {
                    // Every third write is invalid in some way.
                    let record = match i % 3 {
                        0 => json!({"party_name": format!("P {t}-{i}"), "kind": "Robot"}),
                        1 => json!({"party_name": format!("P {t}-{i}")}),
                        _ => {
                            json!({"party_name": format!("P {t}-{i}"), "code": format!("C{t}-{i}")})
                        }
                    };
                    match store.write(ctx("t"), ins("Party", record)) {
                        Ok(_) => ok += 1,
                        Err(StoreError::Field { .. }) => refused += 1,
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        let (o, r) = h.join().unwrap();
        ok += o;
        refused += r;
    }
    assert_eq!(refused, threads * per_thread / 3);
    assert_eq!(ok, threads * per_thread * 2 / 3);
    assert_eq!(store.count("Party", &all()).unwrap(), ok as u64);
    assert_eq!(count_rows(&store, "_changes"), ok as i64);
    assert_eq!(count_rows(&store, "\"tab Party\""), ok as i64);
}

#[test]
fn submitted_jobs_in_one_batch_each_get_their_own_answer() {
    let (_dir, store) = open();
    party(&store, "Taken", "TAKEN");
    // Queue several jobs without waiting so the writer takes them together.
    let (tx, rx) = mpsc::channel();
    let jobs = vec![
        json!({"party_name": "A", "code": "A"}),
        json!({"party_name": "dup", "code": "TAKEN"}),
        json!({"party_name": "B", "code": "B"}),
        json!({"code": "no name"}),
        json!({"party_name": "C", "code": "C"}),
        // Same unique code as an earlier job of the same batch.
        json!({"party_name": "A again", "code": "A"}),
    ];
    for (i, record) in jobs.into_iter().enumerate() {
        let tx = tx.clone();
        store.submit(
            ctx("t"),
            ins("Party", record),
            Box::new(move |r| {
                let _ = tx.send((i, r));
            }),
        );
    }
    let mut answers: Vec<_> = (0..6).map(|_| rx.recv_timeout(HANG).unwrap()).collect();
    answers.sort_by_key(|(i, _)| *i);
    let ok: Vec<bool> = answers.iter().map(|(_, r)| r.is_ok()).collect();
    assert_eq!(ok, vec![true, false, true, false, true, false]);
    assert!(matches!(
        &answers[5].1,
        Err(StoreError::Field { field, .. }) if field == "code"
    ));
    assert_eq!(store.count("Party", &all()).unwrap(), 4);
    // Every write knows the write group that holds it (what a synchronous
    // master waits for its standby to hold), and a group holds them all.
    let groups: HashSet<u64> = answers
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.seq))
        .collect();
    assert!(
        groups.iter().all(|g| *g > 0 && *g <= store.repl_seq()),
        "{groups:?}"
    );
    let next = store
        .write(ctx("t"), ins("Party", json!({"party_name": "D"})))
        .unwrap();
    assert_eq!(next.seq, store.repl_seq());
    assert!(groups.iter().all(|g| *g < next.seq));
}

#[test]
fn the_same_request_id_twice_in_one_batch_applies_once() {
    let (_dir, store) = open();
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let tx = tx.clone();
        store.submit(
            ctx_id("d", "twice"),
            ins("Party", json!({"party_name": "Once"})),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
    }
    let a = rx.recv_timeout(HANG).unwrap().unwrap();
    let b = rx.recv_timeout(HANG).unwrap().unwrap();
    assert_eq!(a.value["name"], b.value["name"]);
    assert_eq!([a.replayed, b.replayed].iter().filter(|r| **r).count(), 1);
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
}

// ---------------------------------------------------------------------------
// 8. Change feed
// ---------------------------------------------------------------------------

fn listen(store: &Store) -> mpsc::Receiver<Change> {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    store.on_change(move |changes| {
        let tx = tx.lock().unwrap();
        for c in changes {
            let _ = tx.send(c.clone());
        }
    });
    rx
}

#[test]
fn listeners_receive_committed_changes_in_order() {
    let (_dir, store) = open();
    let rx = listen(&store);
    let p = store
        .write(ctx("till-1"), ins("Party", json!({"party_name": "Acme"})))
        .unwrap()
        .value;
    let pn = name_of(&p);
    store
        .write(ctx("till-2"), upd("Party", &pn, 1, json!({"city": "x"})))
        .unwrap();
    let c1 = rx.recv_timeout(HANG).expect("insert change");
    let c2 = rx.recv_timeout(HANG).expect("update change");
    assert_eq!(
        (
            c1.doctype.as_str(),
            c1.name.as_str(),
            c1.rev,
            c1.op.as_str(),
            c1.device.as_str()
        ),
        ("Party", pn.as_str(), 1, "insert", "till-1")
    );
    assert_eq!(
        (c2.name.as_str(), c2.rev, c2.op.as_str(), c2.device.as_str()),
        (pn.as_str(), 2, "update", "till-2")
    );
    assert!(c1.seq < c2.seq);
}

#[test]
fn refused_and_replayed_writes_produce_no_change_event() {
    let (_dir, store) = open();
    let rx = listen(&store);
    store
        .write(ctx_id("d", "r1"), ins("Party", json!({"party_name": "A"})))
        .unwrap();
    let _ = store
        .write(ctx_id("d", "r1"), ins("Party", json!({"party_name": "A"})))
        .unwrap();
    let _ = store
        .write(ctx("d"), ins("Party", json!({"kind": "Robot"})))
        .unwrap_err();
    // A marker write: everything before it has been delivered by the time
    // the marker arrives.
    store
        .write(ctx("marker"), ins("Product", json!({"product_name": "M"})))
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let c = rx.recv_timeout(HANG).expect("change");
        let done = c.device == "marker";
        seen.push(c);
        if done {
            break;
        }
    }
    let ops: Vec<(&str, &str)> = seen
        .iter()
        .map(|c| (c.doctype.as_str(), c.op.as_str()))
        .collect();
    assert_eq!(ops, vec![("Party", "insert"), ("Product", "insert")]);
}

#[test]
fn changes_made_by_another_process_reach_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let first = reopen(dir.path());
    let rx = listen(&first);
    // A second store on the same file stands in for another process.
    let second = reopen(dir.path());
    let rec = second
        .write(
            ctx("other-process"),
            ins("Party", json!({"party_name": "Remote"})),
        )
        .unwrap()
        .value;
    let c = loop {
        let c = rx.recv_timeout(HANG).expect("the foreign change arrives");
        if c.device == "other-process" {
            break c;
        }
    };
    assert_eq!(c.name, name_of(&rec));
    assert_eq!(c.op, "insert");
    // And the first store reads the record.
    assert_eq!(
        first.get("Party", &name_of(&rec)).unwrap()["party_name"],
        json!("Remote")
    );

    // Writes by the first are still delivered once each afterwards.
    let mine = party(&first, "Local", "L");
    let c = rx.recv_timeout(HANG).expect("own change");
    assert_eq!(c.name, name_of(&mine));
    second.close();
}

#[test]
fn two_stores_on_one_file_interleave_writes_safely() {
    let dir = tempfile::tempdir().unwrap();
    let a = reopen(dir.path());
    let b = reopen(dir.path());
    let ha = {
        let a = a.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                a.write(
                    ctx("a"),
                    ins("Party", json!({"party_name": format!("A{i}")})),
                )
                .unwrap();
            }
        })
    };
    let hb = {
        let b = b.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                b.write(
                    ctx("b"),
                    ins("Party", json!({"party_name": format!("B{i}")})),
                )
                .unwrap();
            }
        })
    };
    ha.join().unwrap();
    hb.join().unwrap();
    assert_eq!(a.count("Party", &all()).unwrap(), 200);
    assert_eq!(b.count("Party", &all()).unwrap(), 200);
    let seqs: Vec<i64> = a
        .changes_since(0, 1000)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs.len(), 200);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}
