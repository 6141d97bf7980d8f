//! Reads through `LocalDb` run off the async runtime, at most `READERS` at
//! once, under the store's read deadline: a runtime whose workers also
//! drive every slave's peer keeps running while heavy reads do.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use outpost_api::protocol::QueryArgs;
use outpost_api::{Db, ErrorCode, LocalDb, Op};
use outpost_store::{Store, DEFAULT_READ_DEADLINE, READERS};
use serde_json::Value;
use tempfile::TempDir;

/// Only to stop a hung test; never a timing assertion.
const HANG: Duration = Duration::from_secs(120);
/// Enough Parties that a filter no index serves keeps a reader busy.
const PARTIES: i64 = 200_000;
/// A leading wildcard: no index helps, every row is read.
const SLOW_FILTER: &str = "party_name:%7%3%";

fn open_filled() -> (TempDir, LocalDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Straight in SQL: the reads are the point, not the writer.
    rusqlite::Connection::open(store.path())
        .unwrap()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PARTIES})
             INSERT INTO \"tab Party\" (name, rev, created, modified, modified_by, party_name, code)
             SELECT printf('p%06d', i), 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
                    'test', printf('Party %d', i), printf('C%06d', i)
             FROM n"
        ))
        .unwrap();
    (dir, LocalDb::new(store, "desk-1"))
}

fn slow(limit: Option<u32>) -> QueryArgs {
    QueryArgs {
        doctype: "Party".into(),
        query: Some(SLOW_FILTER.into()),
        limit,
        ..Default::default()
    }
}

/// A ticking task stands for the peers' keepalives. With reads run on the
/// runtime's one thread, the first read would finish before the ticker
/// could run at all; run elsewhere, the ticker ticks while they run.
#[tokio::test(flavor = "current_thread")]
async fn heavy_reads_leave_the_runtime_free_for_a_ticking_task() {
    let (_dir, db) = open_filled();
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while ticks.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }

    let at_start = ticks.load(Ordering::SeqCst);
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            let ticks = ticks.clone();
            tokio::spawn(async move {
                let n = db.run(Op::Count(slow(None))).await;
                (n, ticks.load(Ordering::SeqCst))
            })
        })
        .collect();
    let mut first_done_at = u64::MAX;
    let mut counts = Vec::new();
    for r in reads {
        let (n, at) = tokio::time::timeout(HANG, r).await.unwrap().unwrap();
        counts.push(n.unwrap());
        first_done_at = first_done_at.min(at);
    }
    ticker.abort();
    assert!(counts
        .iter()
        .all(|c| *c == counts[0] && c.as_u64() > Some(0)));
    assert!(
        first_done_at > at_start,
        "the ticker never ran while the 8 reads were in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beyond_the_reader_count_wait_their_turn_and_all_answer() {
    let (_dir, db) = open_filled();
    let reads: Vec<_> = (0..READERS * 3)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.run(Op::Query(slow(Some(5)))).await })
        })
        .collect();
    for r in reads {
        let rows = tokio::time::timeout(HANG, r)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(rows["rows"].as_array().map(Vec::len), Some(5));
    }
}

#[tokio::test]
async fn a_read_past_the_deadline_is_a_bad_request_that_says_to_narrow_the_filter() {
    let (_dir, db) = open_filled();
    db.store().set_read_deadline(Duration::ZERO);
    let err = db.run(Op::Query(slow(None))).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("narrow the filter"), "{}", err.message);
    let details = err.details.clone().unwrap_or(Value::Null);
    assert_eq!(details["reason"], "too_slow", "{details}");
    assert_eq!(details["limit_ms"], 0);
    let err = db.run(Op::Count(slow(None))).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);

    // The same handle, the same readers: the next read answers.
    db.store().set_read_deadline(DEFAULT_READ_DEADLINE);
    let rows = db.run(Op::Query(slow(Some(3)))).await.unwrap();
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(3));
}
