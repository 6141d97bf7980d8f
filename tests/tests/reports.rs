//! Reports through a real master and a real CLI slave (issue 15): the
//! built-ins and a report made of flags, each checked against the same
//! aggregation done by hand over the records this test sent; CSV and a
//! table; a person whose role cannot read a doctype the report reads is
//! refused; a report on an unknown field says which.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use outpost_e2e::{outpost, MasterProc};
use serde_json::json;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: &Output, words: &str) {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(words), "{err}");
}

fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// CSV lines without their header, each split at commas (no field here
/// holds one).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn close(a: &str, b: f64) -> bool {
    (a.parse::<f64>().unwrap() - b).abs() < 0.005
}

#[test]
fn reports_through_a_slave_match_the_sums_by_hand_and_roles_are_enforced() {
    let (m, pw, a, b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // A till role: reads Sales and Parties, nothing else.
    std::fs::write(
        m.path().join("roles.json"),
        r#"{"roles": {"Till": {"doctypes": {"Sale": {"read": true}, "Party": {"read": true}}},
                     "Lines": {"doctypes": {"Sale": {"read": true}, "Sale Line": {"read": true}, "Party": {"read": true}}}}}"#,
    )
    .unwrap();
    let file = |user: &str| pw.path().join(user);
    std::fs::write(file("manager"), "the manager's secret\n").unwrap();
    std::fs::write(file("tina"), "tina's till secret\n").unwrap();
    std::fs::write(file("lin"), "lin's lines secret\n").unwrap();
    let manager_file = file("manager");
    let master = MasterProc::start(
        m.path(),
        "Report depot",
        outpost_e2e::free_port(),
        &["--admin-password-file", s(&manager_file)],
    );
    ok(&outpost(&[
        "users",
        "--data",
        s(m.path()),
        "add",
        "tina",
        "--role",
        "Till",
        "--password-file",
        s(&file("tina")),
    ]));
    ok(&outpost(&[
        "users",
        "--data",
        s(m.path()),
        "add",
        "lin",
        "--role",
        "Lines",
        "--password-file",
        s(&file("lin")),
    ]));
    let url = master.url_without_code();
    let call = |dir: &Path, user: &str, args: &[&str]| -> Output {
        let mut all = vec!["db", "--data", s(dir), "--connect"];
        all.push(if dir.join("slave.json").exists() {
            &url
        } else {
            &master.url
        });
        let f = file(user);
        all.extend(["--user", user, "--password-file", s(&f)]);
        all.extend(args);
        outpost(&all)
    };
    let id = |out: String| -> String {
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["name"].as_str().unwrap().to_string()
    };

    // Three parties, three products, 24 sales over 60 days.
    let parties: Vec<(String, &str)> = ["Acme", "Borax", "Cobalt"]
        .into_iter()
        .map(|n| {
            let rec = format!(r#"{{"party_name":"{n}"}}"#);
            (
                id(ok(&call(a.path(), "manager", &["insert", "Party", &rec]))),
                n,
            )
        })
        .collect();
    let products: Vec<(String, &str)> = ["Tea", "Salt", "Rope"]
        .into_iter()
        .map(|n| {
            let rec = format!(r#"{{"product_name":"{n}"}}"#);
            (
                id(ok(&call(a.path(), "manager", &["insert", "Product", &rec]))),
                n,
            )
        })
        .collect();
    let today = outpost_store::report::today_utc();
    // (sale date, party, product, quantity, unit price)
    let mut lines = vec![];
    let mut sales = String::new();
    for i in 0..24u32 {
        let date = ymd(today - time::Duration::days((i * 5 % 61) as i64));
        let party = &parties[(i % 3) as usize].0;
        let mut rows = vec![];
        for k in 0..(1 + i % 3) {
            let product = &products[((i + k) % 3) as usize].0;
            let (q, p) = ((1 + (i + k) % 4) as f64, 1.25 * (1 + k) as f64 + i as f64);
            rows.push(json!({"product": product, "quantity": q, "unit_price": p}));
            lines.push((date.clone(), party.clone(), product.clone(), q, q * p));
        }
        sales.push_str(&json!({"party": party, "sale_date": date, "lines": rows}).to_string());
        sales.push('\n');
    }
    let sales_file = pw.path().join("sales.jsonl");
    std::fs::write(&sales_file, sales).unwrap();
    ok(&call(
        a.path(),
        "manager",
        &["import", "Sale", s(&sales_file)],
    ));

    // Built-in: sale lines by month of their sale.
    let out = ok(&call(
        a.path(),
        "manager",
        &["report", "--builtin", "sales_by_month", "--csv"],
    ));
    assert!(
        out.starts_with("Sale Date (month),Count,Sum of Amount\r\n"),
        "{out}"
    );
    let mut want: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for (date, _, _, _, amount) in &lines {
        let e = want.entry(date[..7].to_string()).or_default();
        e.0 += 1;
        e.1 += amount;
    }
    let got = csv_rows(&out);
    assert_eq!(got.len(), want.len(), "{out}");
    for (row, (month, (count, sum))) in got.iter().zip(&want) {
        assert_eq!(&row[0], month);
        assert_eq!(row[1], count.to_string());
        assert!(close(&row[2], *sum), "{month}: {} vs {sum}", row[2]);
    }

    // Built-in: top products by amount, largest first, with their names.
    let out = ok(&call(
        a.path(),
        "manager",
        &["report", "--builtin", "top_products", "--csv"],
    ));
    let mut by_product: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, _, product, _, amount) in &lines {
        *by_product.entry(product).or_default() += amount;
    }
    let mut want: Vec<(&str, f64)> = by_product.into_iter().collect();
    want.sort_by(|x, y| y.1.total_cmp(&x.1));
    let got = csv_rows(&out);
    assert_eq!(got.len(), 3, "{out}");
    for (row, (product, amount)) in got.iter().zip(&want) {
        assert_eq!(&row[0], product);
        let name = products.iter().find(|p| &p.0 == product).unwrap().1;
        assert_eq!(row[1], name);
        assert!(close(&row[3], *amount));
    }

    // Built-in: sales by day, the last 30 days (today included).
    let out = ok(&call(
        a.path(),
        "manager",
        &["report", "--builtin", "sales_by_day", "--csv"],
    ));
    let first = ymd(today - time::Duration::days(29));
    let mut want: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (date, party, _, _, amount) in lines.iter().filter(|l| l.0 >= first) {
        let e = want.entry(date).or_default();
        // One sale per (date, party) here: count it once.
        if seen.insert((date, party)) {
            e.0 += 1;
        }
        e.1 += amount;
    }
    let got = csv_rows(&out);
    assert_eq!(got.len(), want.len(), "{out}");
    for (row, (day, (count, total))) in got.iter().zip(&want) {
        assert_eq!(&row[0], day);
        assert_eq!(row[1], count.to_string());
        assert!(close(&row[2], *total));
    }

    // Made of flags: sales per party, a table, largest total first.
    let out = ok(&call(
        a.path(),
        "manager",
        &[
            "report",
            "Sale",
            "--group",
            "party",
            "--measure",
            "count,sum:total",
            "--order",
            "sum(total)",
            "--desc",
        ],
    ));
    let mut by_party: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, party, _, _, amount) in &lines {
        *by_party.entry(party).or_default() += amount;
    }
    let top = by_party.iter().max_by(|x, y| x.1.total_cmp(y.1)).unwrap();
    let top_name = parties.iter().find(|p| p.0 == *top.0).unwrap().1;
    let table: Vec<&str> = out.lines().collect();
    assert!(
        table[0].starts_with("Party") && table[0].contains("Sum of Total"),
        "{out}"
    );
    assert!(
        table[1].contains(top_name)
            && table[1].contains(
                &format!("{:.2}", top.1)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            ),
        "{out}"
    );
    assert_eq!(table.len(), 4, "{out}");

    // A bad field is named.
    refused(
        &call(
            a.path(),
            "manager",
            &["report", "Sale", "--group", "colour"],
        ),
        "no field 'colour'",
    );

    // The till reads Sales: a report on them runs ...
    let out = ok(&call(
        b.path(),
        "tina",
        &[
            "report",
            "Sale",
            "--group",
            "sale_date",
            "--by",
            "month",
            "--csv",
        ],
    ));
    assert_eq!(
        csv_rows(&out)
            .iter()
            .map(|r| r[1].parse::<u64>().unwrap())
            .sum::<u64>(),
        24
    );
    // ... but not one that reads Sale Lines or shows Product names.
    refused(
        &call(b.path(), "tina", &["report", "--builtin", "top_products"]),
        "the role Till may not read Sale Line",
    );
    refused(
        &call(
            b.path(),
            "tina",
            &[
                "report",
                "Sale Line",
                "--parent",
                "Sale",
                "--group",
                "parent.party",
            ],
        ),
        "the role Till may not read Sale Line",
    );
    // A role may read the lines and yet not the products they name.
    let c = tempfile::tempdir().unwrap();
    refused(
        &call(c.path(), "lin", &["report", "--builtin", "top_products"]),
        "the role Lines may not read Product",
    );
    ok(&call(
        c.path(),
        "lin",
        &["report", "--builtin", "sales_by_month"],
    ));
}
