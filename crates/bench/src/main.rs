//! `outpost-bench`: Outpost's store and `LocalDb` against raw rusqlite
//! prepared statements doing the same work, measured in the same run on the
//! same machine, printed as ratios. Run with `make bench` (release build).
//!
//! Not a test: nothing here asserts; the numbers go to BENCHMARKS.md.
//!
//! Usage: `outpost-bench [--big N] [--small N]` (defaults 1,000,000 and 100,000).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, InsertArgs, InsertManyArgs, QueryArgs, SortArg};
use outpost_api::{Db, LocalDb, Op};
use outpost_store::Store;
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};

const CITIES: usize = 100;
const KINDS: [&str; 3] = ["Customer", "Supplier", "Both"];
const GET_ROUNDS: usize = 20_000;
const QUERY_ROUNDS: usize = 300;
const SINGLE_INSERTS: usize = 2_000;
const WRITERS: usize = 8;
const INSERTS_PER_WRITER: usize = 1_500;

/// A small deterministic generator, so every run loads the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "ac", "me", "ba", "zar", "ka", "shi", "tan", "yar", "ho", "lu", "mi", "ra", "to", "ve", "xi",
    "qu", "dor", "an", "el", "ik",
];

fn party(rng: &mut Rng, i: usize) -> Map<String, Value> {
    let mut name = String::new();
    for _ in 0..3 {
        name.push_str(SYLLABLES[rng.below(SYLLABLES.len())]);
    }
    let mut chars = name.chars();
    let name: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    json!({
        "party_name": format!("{name} {i}"),
        "code": format!("P{i:08}"),
        "kind": KINDS[i % 3],
        "city": format!("City {:03}", rng.below(CITIES)),
        "country": "CN",
        "email": format!("p{i}@example.com"),
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} us")
    }
}

struct Report {
    rows: Vec<(String, String, String, String)>,
}

impl Report {
    fn add(&mut self, what: &str, outpost: String, baseline: String, ratio: f64) {
        println!("{what:<58} {outpost:>14} {baseline:>14} {ratio:>7.2}x");
        self.rows
            .push((what.into(), outpost, baseline, format!("{ratio:.2}x")));
    }
}

fn load(
    db: &LocalDb,
    rt: &tokio::runtime::Runtime,
    from: usize,
    to: usize,
    rng: &mut Rng,
) -> Duration {
    let start = Instant::now();
    let mut i = from;
    while i < to {
        let end = (i + 5_000).min(to);
        let records = (i..end).map(|k| party(rng, k)).collect();
        rt.block_on(db.run(Op::InsertMany(InsertManyArgs {
            doctype: "Party".into(),
            records,
        })))
        .expect("bulk load");
        i = end;
    }
    start.elapsed()
}

fn names(store: &Store, n: usize) -> Vec<String> {
    store
        .with_reader(|c| {
            let mut s = c.prepare("SELECT name FROM \"tab Party\" ORDER BY random() LIMIT ?")?;
            let rows = s.query_map([n as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .expect("names")
}

const PARTY_COLS: &str = "name, rev, created, modified, modified_by, deleted, party_name, code, kind, email, phone, city, country, notes";

fn bench_get(report: &mut Report, store: &Store, db: &LocalDb, rt: &tokio::runtime::Runtime) {
    let keys = names(store, GET_ROUNDS);
    let raw = Connection::open(store.path()).expect("raw conn");
    let sql = format!("SELECT {PARTY_COLS} FROM \"tab Party\" WHERE name = ?");
    // Warm the page cache, then alternate the three paths chunk by chunk so
    // that neither gets a warmer cache or a quieter moment.
    for k in keys.iter().take(2000) {
        store.get("Party", k).expect("get");
    }
    let mut sink = 0usize;
    let (mut base, mut ours, mut store_only) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for chunk in keys.chunks(1000) {
        let t = Instant::now();
        for k in chunk {
            let mut stmt = raw.prepare_cached(&sql).expect("prepare");
            let row: Vec<rusqlite::types::Value> = stmt
                .query_row([k], |r| (0..14).map(|i| r.get(i)).collect())
                .expect("row");
            sink += row.len();
        }
        base += t.elapsed();
        let t = Instant::now();
        rt.block_on(async {
            for k in chunk {
                let v = db
                    .run(Op::Get(GetArgs {
                        doctype: "Party".into(),
                        name: k.clone(),
                    }))
                    .await
                    .expect("get");
                sink += v.as_object().map_or(0, |m| m.len());
            }
        });
        ours += t.elapsed();
        let t = Instant::now();
        for k in chunk {
            sink += store
                .get("Party", k)
                .expect("get")
                .as_object()
                .map_or(0, |m| m.len());
        }
        store_only += t.elapsed();
    }
    std::hint::black_box(sink);
    let per = |d: Duration| d / keys.len() as u32;
    report.add(
        "get by name: LocalDb (full DB call) vs raw statement",
        fmt_dur(per(ours)),
        fmt_dur(per(base)),
        ours.as_secs_f64() / base.as_secs_f64(),
    );
    report.add(
        "get by name: Store::get vs raw statement",
        fmt_dur(per(store_only)),
        fmt_dur(per(base)),
        store_only.as_secs_f64() / base.as_secs_f64(),
    );
}

/// A raw table shaped like Outpost's Party table, in its own file, with the
/// same pragmas: the baseline for durable inserts.
fn raw_insert_db(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("raw.sqlite");
    let c = Connection::open(&path).expect("raw db");
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE p (name TEXT PRIMARY KEY, rev INTEGER, created TEXT, modified TEXT, modified_by TEXT,
           deleted INTEGER, party_name TEXT COLLATE NOCASE, code TEXT COLLATE NOCASE, kind TEXT, email TEXT, city TEXT COLLATE NOCASE);
         CREATE INDEX p1 ON p(party_name, modified); CREATE INDEX p2 ON p(city, modified);
         CREATE UNIQUE INDEX p3 ON p(code) WHERE deleted = 0;
         CREATE TABLE ch (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, rev INTEGER);",
    )
    .expect("raw schema");
    path
}

fn raw_insert(c: &Connection, i: usize, tag: &str) {
    let name = format!("{tag}-{i}");
    let tx = c.unchecked_transaction().expect("tx");
    tx.prepare_cached(
        "INSERT INTO p VALUES (?, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'bench', 0, ?, ?, 'Customer', ?, 'City 001')",
    )
    .expect("prepare")
    .execute(params![name, format!("Party {i}"), name, format!("{name}@example.com")])
    .expect("insert");
    tx.prepare_cached("INSERT INTO ch (name, rev) VALUES (?, 1)")
        .expect("prepare")
        .execute([&name])
        .expect("log");
    tx.commit().expect("commit");
}

fn bench_inserts(report: &mut Report, dir: &Path, rt: &tokio::runtime::Runtime) {
    let raw_path = raw_insert_db(dir);
    let store = Store::open(&dir.join("ins")).expect("store");
    let db = LocalDb::new(store.clone(), "bench");

    // Single writer: one durable transaction per insert.
    let raw = Connection::open(&raw_path).expect("raw");
    raw.busy_timeout(Duration::from_secs(30)).expect("busy");
    raw.execute_batch("PRAGMA synchronous = FULL;")
        .expect("pragma");
    let t = Instant::now();
    for i in 0..SINGLE_INSERTS {
        raw_insert(&raw, i, "s");
    }
    let base = t.elapsed();
    let mut rng = Rng(7);
    let t = Instant::now();
    rt.block_on(async {
        for i in 0..SINGLE_INSERTS {
            db.run(Op::Insert(InsertArgs {
                doctype: "Party".into(),
                record: party(&mut rng, i),
            }))
            .await
            .expect("insert");
        }
    });
    let ours = t.elapsed();
    let rate = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
    report.add(
        "insert, 1 writer, durable (inserts/s; ratio = time)",
        format!("{:.0}/s", rate(ours, SINGLE_INSERTS)),
        format!("{:.0}/s", rate(base, SINGLE_INSERTS)),
        ours.as_secs_f64() / base.as_secs_f64(),
    );

    // 8 concurrent writers. Baseline: 8 threads, each its own connection,
    // each insert its own durable transaction (SQLite serialises them).
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let raw_path = raw_path.clone();
            s.spawn(move || {
                let c = Connection::open(&raw_path).expect("raw");
                c.busy_timeout(Duration::from_secs(60)).expect("busy");
                c.execute_batch("PRAGMA synchronous = FULL;")
                    .expect("pragma");
                for i in 0..INSERTS_PER_WRITER {
                    raw_insert(&c, i, &format!("w{w}"));
                }
            });
        }
    });
    let base = t.elapsed();
    let db = Arc::new(db);
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(100 + w as u64);
                for i in 0..INSERTS_PER_WRITER {
                    db.run(Op::Insert(InsertArgs {
                        doctype: "Party".into(),
                        record: party(&mut rng, 1_000_000 + w * INSERTS_PER_WRITER + i),
                    }))
                    .await
                    .expect("insert");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
    });
    let ours = t.elapsed();
    let n = WRITERS * INSERTS_PER_WRITER;
    report.add(
        "insert, 8 concurrent writers, durable, group commit",
        format!("{:.0}/s", rate(ours, n)),
        format!("{:.0}/s", rate(base, n)),
        ours.as_secs_f64() / base.as_secs_f64(),
    );
    store.close();
}

fn query_args(q: &str, sort: &str) -> QueryArgs {
    QueryArgs {
        doctype: "Party".into(),
        query: Some(q.into()),
        sort: Some(SortArg::Text(sort.into())),
        limit: Some(50),
        ..Default::default()
    }
}

/// Median latency of an Outpost query (full DB call) and of the raw
/// statement that returns the same rows.
fn bench_query(
    report: &mut Report,
    label: &str,
    store: &Store,
    db: &LocalDb,
    rt: &tokio::runtime::Runtime,
    make: &dyn Fn(usize) -> (String, String, Vec<String>),
) {
    let raw = Connection::open(store.path()).expect("raw");
    let mut ours = Vec::new();
    let mut base = Vec::new();
    let mut check = (0usize, 0usize);
    for round in 0..QUERY_ROUNDS {
        let (q, raw_sql, raw_params) = make(round);
        let t = Instant::now();
        let mut stmt = raw.prepare_cached(&raw_sql).expect("prepare");
        let n = stmt
            .query_map(rusqlite::params_from_iter(raw_params.iter()), |r| {
                (0..14)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .expect("query")
            .count();
        base.push(t.elapsed());
        let t = Instant::now();
        let out = rt
            .block_on(db.run(Op::Query(query_args(
                &q,
                if q.starts_with("party_name") {
                    "party_name"
                } else {
                    "modified:desc"
                },
            ))))
            .expect("query");
        ours.push(t.elapsed());
        check.0 += n;
        check.1 += out["rows"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(
        check.0, check.1,
        "{label}: outpost and raw returned different row counts"
    );
    let (o, b) = (median(ours), median(base));
    report.add(
        &format!("{label} (median; {} rows/query)", check.1 / QUERY_ROUNDS),
        fmt_dur(o),
        fmt_dur(b),
        o.as_secs_f64() / b.as_secs_f64(),
    );
}

fn bench_queries(
    report: &mut Report,
    store: &Store,
    db: &LocalDb,
    rt: &tokio::runtime::Runtime,
    n: usize,
) {
    let by_city = |round: usize| {
        let city = format!("City {:03}", round % CITIES);
        (
            format!("city:\"{city}\""),
            format!("SELECT {PARTY_COLS} FROM \"tab Party\" WHERE deleted = 0 AND city = ? ORDER BY modified DESC LIMIT 50"),
            vec![city],
        )
    };
    bench_query(
        report,
        &format!("indexed filter + sort + limit 50, {n} Parties"),
        store,
        db,
        rt,
        &by_city,
    );
    let prefix = |round: usize| {
        let a = SYLLABLES[round % SYLLABLES.len()];
        let b = SYLLABLES[(round / SYLLABLES.len()) % SYLLABLES.len()];
        let p = format!("{}{}{b}", a[..1].to_ascii_uppercase(), &a[1..]);
        let mut upper = p.to_ascii_lowercase();
        let last = upper.pop().expect("nonempty");
        upper.push((last as u8 + 1) as char);
        (
            format!("party_name:\"{p}%\""),
            format!("SELECT {PARTY_COLS} FROM \"tab Party\" WHERE deleted = 0 AND party_name >= ? AND party_name < ? ORDER BY party_name LIMIT 50"),
            vec![p, upper],
        )
    };
    bench_query(
        report,
        &format!("prefix query name:\"Ab%\" + limit 50, {n} Parties"),
        store,
        db,
        rt,
        &prefix,
    );
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut big = 1_000_000usize;
    let mut small = 100_000usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--big" => big = args.next().and_then(|v| v.parse().ok()).expect("--big N"),
            "--small" => small = args.next().and_then(|v| v.parse().ok()).expect("--small N"),
            other => panic!("unknown argument {other}; usage: outpost-bench [--big N] [--small N]"),
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = Report { rows: vec![] };
    println!(
        "{:<58} {:>14} {:>14} {:>8}",
        "benchmark", "outpost", "raw rusqlite", "ratio"
    );

    bench_inserts(&mut report, dir.path(), &rt);

    let store = Store::open(&dir.path().join("site")).expect("store");
    let db = LocalDb::new(store.clone(), "bench");
    let mut rng = Rng(42);
    let took = load(&db, &rt, 0, small, &mut rng);
    eprintln!(
        "loaded {small} Parties in {:.1} s ({:.0}/s, batches of 5000)",
        took.as_secs_f64(),
        small as f64 / took.as_secs_f64()
    );
    bench_get(&mut report, &store, &db, &rt);
    bench_queries(&mut report, &store, &db, &rt, small);

    let took = load(&db, &rt, small, big, &mut rng);
    eprintln!(
        "loaded {} more Parties in {:.1} s ({:.0}/s)",
        big - small,
        took.as_secs_f64(),
        (big - small) as f64 / took.as_secs_f64()
    );
    bench_queries(&mut report, &store, &db, &rt, big);
    store.close();
    println!(
        "peak RSS of the benchmark process: {:.0} MiB",
        peak_rss_mib()
    );
}
