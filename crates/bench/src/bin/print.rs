//! `outpost-bench-print`: what a print costs on the master (issue 15). One
//! office database in this process with a Sale of 100 lines (100
//! products, one party); the master's `LocalDb` with its document engine
//! answers `print` (invoice and receipt) as it would for a slave. The
//! baseline, measured in the same rounds, is `get` of the same sale (the
//! read a print starts with). Reprints of the same sale reuse typst's
//! memoised layout; an edit before each print shows the cost with new data.
//! Prints p50 and max of each, and the ratio.
//!
//! Run with `make bench` (release build).

use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, InsertArgs, InsertManyArgs, PrintArgs, UpdateArgs};
use outpost_api::{Db, LocalDb, Op};
use outpost_bench::pct;
use serde_json::json;

const LINES: usize = 100;
const ROUNDS: usize = 40;

fn record(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = outpost_store::Store::open(dir.path()).expect("store");
    store.set_meta("master_name", "Bench depot").expect("meta");
    let db = LocalDb::new(store.clone(), "bench");
    db.set_printer(outpost_node::print::PrintEngine::new(
        dir.path().to_path_buf(),
    ));

    let party = db
        .run(Op::Insert(InsertArgs {
            doctype: "Party".into(),
            record: record(json!({"party_name": "Acme Trading", "city": "Yarkant"})),
        }))
        .await
        .expect("party");
    let products = db
        .run(Op::InsertMany(InsertManyArgs {
            doctype: "Product".into(),
            records: (0..LINES)
                .map(|i| record(json!({"product_name": format!("Product {i:03}"), "list_price": 1.5 * i as f64})))
                .collect(),
        }))
        .await
        .expect("products");
    let names: Vec<String> = products["names"]
        .as_array()
        .expect("inserted names")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    let lines: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"product": p, "quantity": (i % 9 + 1) as f64, "unit_price": 1.5 * i as f64}))
        .collect();
    let sale = db
        .run(Op::Insert(InsertArgs {
            doctype: "Sale".into(),
            record: record(
                json!({"party": party["name"], "sale_date": "2026-12-03", "lines": lines}),
            ),
        }))
        .await
        .expect("sale");
    let sale = sale["name"].as_str().expect("sale name").to_string();

    let print = |format: &str| {
        Op::Print(PrintArgs {
            doctype: "Sale".into(),
            name: sale.clone(),
            format: format.into(),
        })
    };
    // The first print indexes the fonts and warms typst's caches.
    let first = Instant::now();
    let answer = db.run(print("invoice")).await.expect("print");
    let first = first.elapsed();
    let bytes = answer["bytes"].as_u64().unwrap_or(0);

    let (mut get, mut invoice, mut receipt) = (Vec::new(), Vec::new(), Vec::new());
    let mut edited = Vec::new();
    for round in 0..ROUNDS {
        let t = Instant::now();
        db.run(Op::Get(GetArgs {
            doctype: "Sale".into(),
            name: sale.clone(),
        }))
        .await
        .expect("get");
        get.push(t.elapsed());
        let t = Instant::now();
        db.run(print("invoice")).await.expect("invoice");
        invoice.push(t.elapsed());
        let t = Instant::now();
        db.run(print("receipt")).await.expect("receipt");
        receipt.push(t.elapsed());
        // An edited sale: new data, so typst's memoised layout of the
        // last print cannot be reused whole.
        let rev = db
            .run(Op::Get(GetArgs {
                doctype: "Sale".into(),
                name: sale.clone(),
            }))
            .await
            .expect("get")["rev"]
            .as_i64()
            .expect("rev");
        db.run(Op::Update(UpdateArgs {
            doctype: "Sale".into(),
            name: sale.clone(),
            rev: Some(rev),
            record: record(json!({"reference": format!("PO-{round}")})),
        }))
        .await
        .expect("update");
        let t = Instant::now();
        db.run(print("invoice")).await.expect("invoice");
        edited.push(t.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for v in [&mut get, &mut invoice, &mut receipt, &mut edited] {
        v.sort();
    }
    let (g, i, r) = (pct(&get, 0.5), pct(&invoice, 0.5), pct(&receipt, 0.5));
    println!("print: Sale of {LINES} lines, {ROUNDS} rounds (release build)");
    println!(
        "  first print (fonts indexed, caches cold): {:.1} ms",
        ms(first)
    );
    println!(
        "  get (baseline)   p50 {:>7.2} ms  max {:>7.2} ms",
        ms(g),
        ms(pct(&get, 1.0))
    );
    println!(
        "  print invoice    p50 {:>7.2} ms  max {:>7.2} ms  ({bytes} bytes)  {:.0}x get  (target < 200 ms)",
        ms(i),
        ms(pct(&invoice, 1.0)),
        ms(i) / ms(g)
    );
    let e = pct(&edited, 0.5);
    println!(
        "  invoice, edited  p50 {:>7.2} ms  max {:>7.2} ms  {:.0}x get  (after each edit: new data)",
        ms(e),
        ms(pct(&edited, 1.0)),
        ms(e) / ms(g)
    );
    println!(
        "  print receipt    p50 {:>7.2} ms  max {:>7.2} ms  {:.0}x get",
        ms(r),
        ms(pct(&receipt, 1.0)),
        ms(r) / ms(g)
    );
    store.close();
}
