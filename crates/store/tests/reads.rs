//! Reads under the read deadline: a read that runs past it is stopped with
//! an error that says what to do, and the reader serves the next read.

mod common;

use std::time::Duration;

use common::{open, raw};
use outpost_store::query::parse_text;
use outpost_store::{QuerySpec, Store, StoreError, DEFAULT_READ_DEADLINE, READERS};

/// Enough Parties that a filter no index serves takes many thousands of
/// SQLite steps.
const PARTIES: i64 = 200_000;
/// A filter with a leading wildcard: no index helps, every row is read.
const SLOW_FILTER: &str = "party_name:%7%3%";

/// Fills the Party table straight in SQL (the writer's validation would
/// make this test slow without making it truer: the reads are the point).
fn fill_parties(store: &Store, n: i64) {
    raw(store)
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO \"tab Party\" (name, rev, created, modified, modified_by, party_name, code, city)
             SELECT printf('p%06d', i), 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
                    'test', printf('Party %d', i), printf('C%06d', i),
                    CASE i % 7 WHEN 0 THEN 'Kashgar' ELSE 'Urumqi' END
             FROM n"
        ))
        .expect("fill parties");
}

fn slow_spec() -> QuerySpec {
    QuerySpec {
        filter: parse_text(SLOW_FILTER).unwrap(),
        fields: vec!["party_name".into()],
        ..Default::default()
    }
}

/// What the slow filter matches, counted by SQLite itself.
fn expected_matches(store: &Store) -> u64 {
    raw(store)
        .query_row(
            "SELECT count(*) FROM \"tab Party\" WHERE party_name LIKE '%7%3%' AND deleted = 0",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
}

#[test]
fn a_read_past_its_deadline_is_stopped_with_words_a_clerk_can_act_on() {
    let (_dir, store) = open();
    fill_parties(&store, PARTIES);
    store.set_read_deadline(Duration::ZERO);

    let err = store.query("Party", &slow_spec()).unwrap_err();
    match &err {
        StoreError::TooSlow { limit } => assert_eq!(*limit, Duration::ZERO),
        other => panic!("expected TooSlow, got {other:?}"),
    }
    let words = err.to_string();
    assert!(words.contains("took longer than 0 ms"), "{words}");
    assert!(words.contains("narrow the filter"), "{words}");

    let err = store
        .count("Party", &parse_text(SLOW_FILTER).unwrap())
        .unwrap_err();
    assert!(matches!(err, StoreError::TooSlow { .. }), "{err:?}");

    // At the default deadline, in seconds.
    let words = StoreError::TooSlow {
        limit: DEFAULT_READ_DEADLINE,
    }
    .to_string();
    assert!(words.contains("took longer than 10 s"), "{words}");
}

#[test]
fn the_reader_of_a_stopped_read_serves_the_next_reads() {
    let (_dir, store) = open();
    fill_parties(&store, PARTIES);
    let want = expected_matches(&store);
    assert!(want > 0);

    store.set_read_deadline(Duration::ZERO);
    for _ in 0..READERS {
        assert!(matches!(
            store.query("Party", &slow_spec()),
            Err(StoreError::TooSlow { .. })
        ));
    }
    store.set_read_deadline(DEFAULT_READ_DEADLINE);
    assert_eq!(store.read_deadline(), DEFAULT_READ_DEADLINE);
    // Every pooled reader was stopped once; each must answer in full now.
    for _ in 0..READERS + 1 {
        let rows = store.query("Party", &slow_spec()).unwrap();
        assert_eq!(
            rows.len() as u64,
            want.min(100),
            "one page of the default size"
        );
        let n = store
            .count("Party", &parse_text(SLOW_FILTER).unwrap())
            .unwrap();
        assert_eq!(n, want);
    }
    assert_eq!(
        store.get("Party", "p000073").unwrap()["party_name"],
        "Party 73"
    );
}

#[test]
fn a_read_within_its_deadline_is_not_stopped() {
    let (_dir, store) = open();
    fill_parties(&store, 2_000);
    // A small read finishes long before the default deadline.
    let rows = store.query("Party", &slow_spec()).unwrap();
    let want = expected_matches(&store);
    assert!(want > 0 && want < 100);
    assert_eq!(rows.len() as u64, want);
}

/// The api layer runs in place only a get that reads one row by its key: a
/// Party's, not a Sale's (its lines are a child table, as many rows as the
/// sale has lines). An unknown doctype reads nothing, and says so.
#[test]
fn only_a_get_without_child_tables_reads_one_row() {
    let (_dir, store) = open();
    assert!(store.get_reads_one_row("Party"));
    assert!(!store.get_reads_one_row("Sale"));
    assert!(store.get_reads_one_row("No Such Doctype"));
    assert!(matches!(
        store.get("No Such Doctype", "x"),
        Err(StoreError::UnknownDoctype(_))
    ));
}
