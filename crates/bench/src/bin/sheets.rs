//! `outpost-bench-sheets`: export of 100,000 Parties to XLSX through the
//! `export` op (made on the master, fetched in chunks as a slave does),
//! against two baselines in the same run on the same data: the raw read of
//! the same rows (one statement, nothing written) and the same export to
//! CSV. Also the import of the CSV file back into a fresh office. Prints
//! rows/s and ratios; asserts nothing.
//!
//! Run with `make bench` (release build).

use std::time::{Duration, Instant};

use base64::Engine as _;
use outpost_api::protocol::QueryArgs;
use outpost_api::protocol::{ExportArgs, ExportChunkArgs, ImportArgs, ImportMode, InsertManyArgs};
use outpost_api::sheets::SheetFormat;
use outpost_api::{Db, LocalDb, Op};
use outpost_store::Store;
use serde_json::json;

const PARTIES: usize = 100_000;
const BATCH: usize = 10_000;
/// Rows imported back: one import takes at most 50,000 rows and 5 MiB,
/// and 40,000 of these rows are about 4.3 MB of CSV.
const IMPORTED: usize = 40_000;

async fn export(db: &LocalDb, format: SheetFormat) -> (Duration, Vec<u8>, u64) {
    let t = Instant::now();
    let made = db
        .run(Op::Export(ExportArgs {
            doctype: "Party".into(),
            format,
            query: None,
            filters: None,
            sort: None,
            fields: None,
            table: None,
        }))
        .await
        .expect("export");
    let id = made["id"].as_str().expect("id").to_string();
    let mut bytes = Vec::new();
    loop {
        let part = db
            .run(Op::ExportChunk(ExportChunkArgs {
                id: id.clone(),
                offset: bytes.len() as u64,
                len: 1024 * 1024,
            }))
            .await
            .expect("chunk");
        let data = base64::engine::general_purpose::STANDARD
            .decode(part["data"].as_str().expect("data"))
            .expect("base64");
        bytes.extend_from_slice(&data);
        if part["done"] == true {
            break;
        }
    }
    (t.elapsed(), bytes, made["rows"].as_u64().unwrap_or(0))
}

fn rate(rows: u64, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let db = LocalDb::new(store.clone(), "bench");
    for b in 0..PARTIES / BATCH {
        let records = (0..BATCH)
            .map(|i| {
                let i = b * BATCH + i;
                let city = ["Kashgar", "Hotan"][i % 2];
                json!({"party_name": format!("Party {i}"), "code": format!("P{i:06}"),
                       "kind": "Customer", "city": city,
                       "email": format!("p{i}@example.com"), "phone": format!("+86 998 {i}")})
                .as_object()
                .cloned()
                .expect("object")
            })
            .collect();
        db.run(Op::InsertMany(InsertManyArgs {
            doctype: "Party".into(),
            records,
        }))
        .await
        .expect("insert");
    }

    // The export's own columns: name and every field.
    let spec = outpost_api::local::query_spec(&QueryArgs {
        doctype: "Party".into(),
        ..Default::default()
    })
    .expect("spec");
    let t = Instant::now();
    let mut n = 0u64;
    store
        .query_each("Party", &spec, Duration::from_secs(300), |row| {
            let _ = row;
            n += 1;
            Ok(())
        })
        .expect("read");
    let raw = t.elapsed();
    let (csv_t, csv, csv_rows) = export(&db, SheetFormat::Csv).await;
    let (xlsx_t, xlsx, xlsx_rows) = export(&db, SheetFormat::Xlsx).await;

    println!("export of {PARTIES} Parties (made on the master, fetched in 1 MiB chunks)");
    println!(
        "  raw read (baseline)   {:>9.0} rows/s  {:>7.2} s  ({n} rows)",
        rate(n, raw),
        raw.as_secs_f64()
    );
    println!(
        "  CSV                   {:>9.0} rows/s  {:>7.2} s  {:>6.1} MB  ({csv_rows} rows)",
        rate(csv_rows, csv_t),
        csv_t.as_secs_f64(),
        csv.len() as f64 / 1e6
    );
    println!(
        "  XLSX                  {:>9.0} rows/s  {:>7.2} s  {:>6.1} MB  ({xlsx_rows} rows)",
        rate(xlsx_rows, xlsx_t),
        xlsx_t.as_secs_f64(),
        xlsx.len() as f64 / 1e6
    );
    println!(
        "  XLSX / raw read time  {:.1}x",
        xlsx_t.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "  XLSX / CSV time       {:.1}x",
        xlsx_t.as_secs_f64() / csv_t.as_secs_f64()
    );

    // The first IMPORTED rows of the CSV back into a fresh office.
    let cut = csv
        .split(|b| *b == b'\n')
        .take(IMPORTED + 1)
        .collect::<Vec<_>>()
        .join(&b'\n');
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh = Store::open(fresh_dir.path()).expect("open");
    let fdb = LocalDb::new(fresh.clone(), "bench");
    let t = Instant::now();
    let report = fdb
        .run(Op::Import(ImportArgs {
            doctype: "Party".into(),
            table: None,
            format: SheetFormat::Csv,
            file: base64::engine::general_purpose::STANDARD.encode(&cut),
            columns: None,
            mode: ImportMode::AllOrNothing,
            dry_run: false,
        }))
        .await
        .expect("import");
    let imp = t.elapsed();
    let rows = report["imported"].as_u64().unwrap_or(0);
    println!("import of {rows} Parties from CSV (one transaction)");
    println!(
        "  import                {:>9.0} rows/s  {:>7.2} s",
        rate(rows, imp),
        imp.as_secs_f64()
    );
    println!(
        "  import / CSV export time per row  {:.1}x",
        (imp.as_secs_f64() / rows as f64) / (csv_t.as_secs_f64() / csv_rows as f64)
    );
    fresh.close();
    store.close();
}
