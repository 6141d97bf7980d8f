//! A month-by-month report over 1,000,000 Sale Lines (issue 15): the
//! `report` op through `LocalDb` (spec checked against the schema,
//! compiled, run on the read pool, rows turned into JSON) against the
//! same SQL written by hand and run raw on a rusqlite connection, in the
//! same run, on the same file.
//!
//! The office is filled straight into its tables (100,000 Sales of 10
//! lines over three years): the write path is not what this measures.
//!
//! `cargo run --release -p outpost-bench --bin outpost-bench-reports [-- --lines N]`

use std::time::{Duration, Instant};

use outpost_api::{Db, LocalDb, Op};
use outpost_bench::pct;
use outpost_store::report::{builtin_reports, ReportResult};
use outpost_store::Store;
use rusqlite::{params, Connection};

const LINES_PER_SALE: usize = 10;
const RUNS: usize = 15;

/// The SQL a person would write for the same question.
const RAW: &str = "SELECT substr(s.sale_date, 1, 7) AS month, count(*), round(total(l.amount), 2)
     FROM \"tab Sale Line\" l JOIN \"tab Sale\" s ON s.name = l.parent
     WHERE l.deleted = 0 AND l.parenttype = 'Sale' AND s.deleted = 0
     GROUP BY 1 ORDER BY 1";

fn fill(dir: &std::path::Path, lines: usize) {
    let store = Store::open(dir).expect("open store");
    store.close();
    let mut c = Connection::open(dir.join(outpost_store::DB_FILE)).unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut sale = tx
            .prepare("INSERT INTO \"tab Sale\" (name, modified, party, sale_date, state, total) VALUES (?, '2026-01-01T00:00:00.000Z', ?, ?, 'Done', ?)")
            .unwrap();
        let mut line = tx
            .prepare("INSERT INTO \"tab Sale Line\" (name, parent, parenttype, parentfield, idx, modified, product, quantity, unit_price, amount) VALUES (?, ?, 'Sale', 'lines', ?, '2026-01-01T00:00:00.000Z', ?, ?, ?, ?)")
            .unwrap();
        let sales = lines / LINES_PER_SALE;
        for s in 0..sales {
            let name = format!("s{s:08}");
            let day = s * 1095 / sales;
            let (y, rest) = (2024 + day / 365, day % 365);
            let date = format!("{y}-{:02}-{:02}", 1 + rest / 31 % 12, 1 + rest % 28);
            let mut total = 0.0;
            for i in 0..LINES_PER_SALE {
                let (q, p) = (
                    (1 + (s + i) % 7) as f64,
                    ((s * 7 + i * 13) % 5000) as f64 / 100.0,
                );
                total += q * p;
                line.execute(params![
                    format!("l{s:08}-{i}"),
                    name,
                    i as i64,
                    format!("product{}", (s + i) % 500),
                    q,
                    p,
                    q * p
                ])
                .unwrap();
            }
            sale.execute(params![name, format!("party{}", s % 300), date, total])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn main() {
    let mut lines = 1_000_000;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--lines") {
        lines = args[i + 1].parse().expect("--lines N");
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    fill(dir.path(), lines);
    println!(
        "filled {lines} Sale Lines in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let store = Store::open(dir.path()).expect("open store");
    let db = LocalDb::new(store.clone(), "bench");
    let spec = builtin_reports()
        .into_iter()
        .find(|b| b.name == "sales_by_month")
        .expect("the built-in sales_by_month")
        .spec;
    let raw = Connection::open(dir.path().join(outpost_store::DB_FILE)).unwrap();
    // The settings of the store's own readers (read.rs): without them the
    // raw side pays for a 2 MB page cache and temp B-trees on disk, and
    // the ratio would measure settings, not the op.
    raw.execute_batch("PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;")
        .unwrap();
    // Opened as the store opens its readers (read-only), same settings.
    let ro = Connection::open_with_flags(
        dir.path().join(outpost_store::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    ro.execute_batch("PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;")
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let run_op = || {
        let t = Instant::now();
        let v = rt
            .block_on(db.run(Op::Report(spec.clone())))
            .expect("report");
        let r: ReportResult = serde_json::from_value(v).unwrap();
        (t.elapsed(), r)
    };
    let run_raw = || {
        let t = Instant::now();
        let mut stmt = raw.prepare_cached(RAW).unwrap();
        let rows: Vec<(String, i64, f64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (t.elapsed(), rows)
    };
    let run_ro = || {
        let t = Instant::now();
        let mut stmt = ro.prepare_cached(RAW).unwrap();
        let n = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .count();
        (t.elapsed(), n)
    };
    // The op's own SQL, compiled as the op compiles it, run raw: what the
    // op adds beyond its SQL (the check, the read pool, JSON).
    let own = outpost_store::report::compile_report(
        &store.schema(),
        &spec,
        outpost_store::report::today_utc(),
    )
    .unwrap();
    let plan = |sql: &str, params: &[rusqlite::types::Value]| -> Vec<String> {
        let mut stmt = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    println!("the op's SQL: {}", own.sql);
    println!("  its plan: {:?}", plan(&own.sql, &own.params));
    println!("hand-written plan: {:?}", plan(RAW, &[]));
    let run_own = || {
        let t = Instant::now();
        let mut stmt = raw.prepare_cached(&own.sql).unwrap();
        let n = stmt
            .query_map(rusqlite::params_from_iter(own.params.iter()), |r| {
                r.get::<_, String>(0)
            })
            .unwrap()
            .count();
        (t.elapsed(), n)
    };
    // Warm both (page cache, statement caches), and check they agree.
    let (_, r) = run_op();
    let (_, rows) = run_raw();
    assert_eq!(r.rows.len(), rows.len());
    for (a, b) in r.rows.iter().zip(&rows) {
        assert_eq!(a[0].as_str(), Some(b.0.as_str()));
        assert_eq!(a[1].as_i64(), Some(b.1));
    }
    assert_eq!(run_own().1, rows.len());
    assert_eq!(run_ro().1, rows.len());
    let (mut op, mut sql, mut same, mut read_only): (
        Vec<Duration>,
        Vec<Duration>,
        Vec<Duration>,
        Vec<Duration>,
    ) = (vec![], vec![], vec![], vec![]);
    // Interleaved, so drift in the machine's load hits both alike.
    // `--only op|raw|own|ro[,...]`: those sides alone (for a profiler).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let runs = |side: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == side))
    };
    for _ in 0..RUNS {
        if runs("op") {
            op.push(run_op().0);
        }
        if runs("raw") {
            sql.push(run_raw().0);
        }
        if runs("own") {
            same.push(run_own().0);
        }
        if runs("ro") {
            read_only.push(run_ro().0);
        }
    }
    if only.is_some() {
        for (side, d) in [
            ("op", &mut op),
            ("raw", &mut sql),
            ("own", &mut same),
            ("ro", &mut read_only),
        ] {
            if !d.is_empty() {
                d.sort();
                println!("{side}: p50 {:.1} ms", pct(d, 0.5).as_secs_f64() * 1000.0);
            }
        }
        return;
    }
    op.sort();
    sql.sort();
    same.sort();
    read_only.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "report sales_by_month over {lines} lines ({} months), {RUNS} runs each, interleaved:",
        rows.len()
    );
    println!(
        "  report op (LocalDb)   p50 {:8.1} ms  min {:8.1} ms",
        ms(pct(&op, 0.5)),
        ms(op[0])
    );
    println!(
        "  raw SQL (rusqlite)    p50 {:8.1} ms  min {:8.1} ms",
        ms(pct(&sql, 0.5)),
        ms(sql[0])
    );
    println!(
        "  op's SQL, raw         p50 {:8.1} ms  min {:8.1} ms",
        ms(pct(&same, 0.5)),
        ms(same[0])
    );
    println!(
        "  raw SQL, read-only    p50 {:8.1} ms  min {:8.1} ms",
        ms(pct(&read_only, 0.5)),
        ms(read_only[0])
    );
    println!(
        "  ratio op / raw        p50 {:.2}x  min {:.2}x  (target <= 1.5x)",
        ms(pct(&op, 0.5)) / ms(pct(&sql, 0.5)),
        ms(op[0]) / ms(sql[0])
    );
    println!(
        "  ratio op / op's SQL   p50 {:.2}x  min {:.2}x",
        ms(pct(&op, 0.5)) / ms(pct(&same, 0.5)),
        ms(op[0]) / ms(same[0])
    );
    store.close();
}
