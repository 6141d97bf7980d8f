//! Spreadsheets in and out (issue 15) through a real slave: a CLI slave
//! over WebRTC exports 10,000 Parties (all pages) to CSV and to XLSX, each
//! file goes into a fresh office through another slave, and both offices
//! then hold the same Parties; an import with two bad rows names both and
//! stores nothing; Sale lines join their Sales by the Sale's key, and go
//! out one row per line with the Sale's key (the file a lines import takes).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use outpost_e2e::{db, failed, free_port, ok_lines, ok_one, remote, MasterProc};
use serde_json::{json, Value};

const PARTIES: usize = 10_000;
/// The fields a Party carries from office to office.
const KEPT: [&str; 9] = [
    "name",
    "party_name",
    "code",
    "kind",
    "email",
    "phone",
    "city",
    "country",
    "notes",
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every Party of the office in `data`, by name, with the kept fields.
fn parties(data: &Path) -> BTreeMap<String, Value> {
    ok_lines(&db(data, &["export", "Party"]))
        .into_iter()
        .map(|p| {
            let kept: serde_json::Map<String, Value> = KEPT
                .iter()
                .filter(|k| !p[**k].is_null())
                .map(|k| (k.to_string(), p[*k].clone()))
                .collect();
            (p["name"].as_str().unwrap().to_string(), Value::Object(kept))
        })
        .collect()
}

fn seed(data: &Path) {
    let file = data.join("seed.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..PARTIES {
        let kind = ["Customer", "Supplier", "Both"][i % 3];
        let city = ["Kashgar", "Yarkant", "Hotan", "Aksu"][i % 4];
        let mut p = json!({
            "party_name": format!("Party {i}"),
            "code": format!("{i:05}"),
            "kind": kind,
            "city": city,
            "phone": format!("+86 998 {i}"),
        });
        if i % 7 == 0 {
            p["notes"] = json!(format!("line one, \"quoted\"\nline two of {i}"));
        }
        if i % 5 == 0 {
            p["email"] = json!(format!("p{i}@example.com"));
        }
        writeln!(out, "{p}").unwrap();
    }
    drop(out);
    let n = ok_one(&db(data, &["import", "Party", s(&file)]));
    assert_eq!(n["imported"], PARTIES);
}

#[test]
fn ten_thousand_parties_go_out_as_csv_and_xlsx_and_into_fresh_offices_unchanged() {
    let (m, slave) = (dir(), dir());
    seed(m.path());
    let master = MasterProc::start(m.path(), "Export depot", free_port(), &[]);
    let files = dir();
    let (csv, xlsx) = (files.path().join("p.csv"), files.path().join("p.xlsx"));
    for f in [&csv, &xlsx] {
        let made = ok_one(&remote(
            slave.path(),
            &master.url,
            &["export", "Party", "--sort", "party_name", "--out", s(f)],
        ));
        assert_eq!(made["rows"], PARTIES, "{made}");
    }
    // The list's filter, all pages of it.
    let kashgar = files.path().join("kashgar.csv");
    ok_one(&remote(
        slave.path(),
        &master.url,
        &["export", "Party", "city:Kashgar", "--out", s(&kashgar)],
    ));
    let text = std::fs::read_to_string(&kashgar).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().get(1), Some("party_name"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), PARTIES / 4);
    assert!(rows.iter().all(|r| r.get(6) == Some("Kashgar")));
    drop(master);

    let want = parties(m.path());
    assert_eq!(want.len(), PARTIES);
    for f in [&csv, &xlsx] {
        let (fresh, slave) = (dir(), dir());
        let master = MasterProc::start(fresh.path(), "Fresh depot", free_port(), &[]);
        let report = ok_one(&remote(
            slave.path(),
            &master.url,
            &["import", "Party", s(f), "--all-or-nothing"],
        ));
        assert_eq!(report["imported"], PARTIES, "{report}");
        assert_eq!(report["error_count"], 0);
        drop(master);
        let got = parties(fresh.path());
        assert_eq!(got.len(), PARTIES, "{}", f.display());
        for (name, p) in &want {
            assert_eq!(got.get(name), Some(p), "{} from {}", name, f.display());
        }
    }
}

#[test]
fn an_import_with_two_bad_rows_names_both_and_stores_nothing_unless_good_rows_is_chosen() {
    let (m, slave, files) = (dir(), dir(), dir());
    let master = MasterProc::start(m.path(), "Import depot", free_port(), &[]);
    let file = files.path().join("parties.csv");
    std::fs::write(
        &file,
        "Party Name,Kind,City\n\
         Acme,Customer,Kashgar\n\
         ,Supplier,Hotan\n\
         Bazaar,Both,Aksu\n\
         Camel Co,Customer,Yarkant\n\
         Dune,Alien,Kashgar\n",
    )
    .unwrap();
    let out = remote(slave.path(), &master.url, &["import", "Party", s(&file)]);
    let (_, err) = failed(&out);
    assert!(err.contains("2 of 5 rows are not valid"), "{err}");
    assert!(
        err.contains("row 3:") && err.contains("party_name"),
        "{err}"
    );
    assert!(err.contains("row 6:") && err.contains("Alien"), "{err}");
    assert_eq!(
        ok_one(&remote(slave.path(), &master.url, &["count", "Party"])),
        0
    );

    let report = ok_one(&remote(
        slave.path(),
        &master.url,
        &["import", "Party", s(&file), "--good-rows"],
    ));
    assert_eq!(report["imported"], 3, "{report}");
    let rows: Vec<&Value> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["row"])
        .collect();
    assert_eq!(rows, [&json!(3), &json!(6)]);
    assert_eq!(
        ok_one(&remote(slave.path(), &master.url, &["count", "Party"])),
        3
    );
}

#[test]
fn sale_lines_from_a_file_become_the_lines_of_the_sales_they_name() {
    let (m, slave, files) = (dir(), dir(), dir());
    let master = MasterProc::start(m.path(), "Lines depot", free_port(), &[]);
    let call = |args: &[&str]| ok_one(&remote(slave.path(), &master.url, args));
    let party = call(&["insert", "Party", r#"{"party_name":"Acme"}"#]);
    let nut = call(&["insert", "Product", r#"{"product_name":"Nut","code":"N1"}"#]);
    let bolt = call(&[
        "insert",
        "Product",
        r#"{"product_name":"Bolt","code":"B1"}"#,
    ]);
    let sale = |r: &str| {
        call(&[
            "insert",
            "Sale",
            &json!({"party": party["name"], "reference": r}).to_string(),
        ])["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (s1, s2) = (sale("S-1"), sale("S-2"));
    let (n, b) = (
        nut["name"].as_str().unwrap(),
        bolt["name"].as_str().unwrap(),
    );
    let file = files.path().join("lines.csv");
    std::fs::write(
        &file,
        format!(
            "Sale,Product,Quantity,Unit Price\n{s1},{n},2,1.5\n{s1},{b},1,4\n{s2},{b},10,0.5\n"
        ),
    )
    .unwrap();
    let report = call(&["import", "Sale", s(&file), "--table", "lines"]);
    assert_eq!(report["imported"], 3, "{report}");
    let got = call(&["get", "Sale", &s1]);
    assert_eq!(got["lines"].as_array().unwrap().len(), 2, "{got}");
    assert_eq!(got["total"], 7.0);
    assert_eq!(call(&["get", "Sale", &s2])["total"], 5.0);

    // A line naming a Sale that is not there stops the file (all or nothing).
    std::fs::write(
        &file,
        format!("parent,product,quantity\n{s2},{n},1\nS-404,{n},1\n"),
    )
    .unwrap();
    let (_, err) = failed(&remote(
        slave.path(),
        &master.url,
        &["import", "Sale", s(&file), "--table", "lines"],
    ));
    assert!(err.contains("row 3:") && err.contains("S-404"), "{err}");
    assert_eq!(
        call(&["get", "Sale", &s2])["lines"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The lines go out the same way: one row per line, its Sale first, in
    // the query's order; only the lines of the Sales the query matches.
    let out = files.path().join("out.csv");
    let made = call(&[
        "export",
        "Sale",
        "reference:S-1",
        "--table",
        "lines",
        "--out",
        s(&out),
    ]);
    assert_eq!(made["rows"], 2, "{made}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..4],
        ["parent", "product", "quantity", "unit_price"],
        "{text}"
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|r| r[0] == s1), "{text}");
    assert_eq!((rows[0][1], rows[0][2]), (n, "2.0"), "{text}");
    assert_eq!((rows[1][1], rows[1][2]), (b, "1.0"), "{text}");

    // Every line as XLSX, and that file is what a lines import takes: in
    // again, each Sale holds its lines twice.
    let out = files.path().join("out.xlsx");
    let made = call(&["export", "Sale", "--table", "lines", "--out", s(&out)]);
    assert_eq!(made["rows"], 3, "{made}");
    let report = call(&["import", "Sale", s(&out), "--table", "lines"]);
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(call(&["get", "Sale", &s1])["total"], 14.0);
    assert_eq!(call(&["get", "Sale", &s2])["total"], 10.0);

    // A table the doctype does not have is named.
    let (_, err) = failed(&remote(
        slave.path(),
        &master.url,
        &["export", "Sale", "--table", "payments", "--out", s(&out)],
    ));
    assert!(err.contains("no table field 'payments'"), "{err}");
}
