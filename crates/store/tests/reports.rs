//! Reports over a real store, each checked against the same aggregation
//! done by hand in the test over the records it inserted.

mod common;

use std::collections::BTreeMap;

use common::{ctx, del, insert, open};
use outpost_store::report::{DateBucket, LastDays, Measure, ReportSpec};
use outpost_store::Store;
use serde_json::{json, Value};
use time::{Date, Month, Weekday};

/// One sale line as the test made it.
struct Line {
    sale_date: String,
    party: String,
    product: String,
    quantity: f64,
    amount: f64,
    live: bool,
}

struct Office {
    _dir: tempfile::TempDir,
    store: Store,
    lines: Vec<Line>,
    /// Party id -> its name.
    parties: BTreeMap<String, String>,
}

fn today() -> Date {
    Date::from_calendar_date(2026, Month::December, 3).unwrap()
}

fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// 60 sales over 90 days to 4 parties, 1 to 4 lines each of 5 products;
/// every seventh sale deleted afterwards.
fn office() -> Office {
    let (dir, store) = open();
    let mut parties = BTreeMap::new();
    let mut party_ids = vec![];
    for n in ["Acme", "Borax", "Cobalt", "Dune"] {
        let p = insert(&store, "Party", json!({"party_name": n}));
        let id = p["name"].as_str().unwrap().to_string();
        parties.insert(id.clone(), n.to_string());
        party_ids.push(id);
    }
    let products: Vec<String> = (0..5)
        .map(|i| {
            insert(&store, "Product", json!({"product_name": format!("P{i}")}))["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut seed: u64 = 7;
    let mut next = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mut lines = vec![];
    for s in 0..60 {
        let date = today() - time::Duration::days(next(90) as i64);
        let party = party_ids[next(4) as usize].clone();
        let mut rows = vec![];
        let mut made = vec![];
        for _ in 0..(1 + next(4)) {
            let product = products[next(5) as usize].clone();
            let quantity = (1 + next(9)) as f64;
            let unit_price = (next(2000) as f64) / 100.0;
            rows.push(json!({"product": product, "quantity": quantity, "unit_price": unit_price}));
            made.push((product, quantity, unit_price));
        }
        let sale = insert(
            &store,
            "Sale",
            json!({"party": party, "sale_date": ymd(date), "lines": rows}),
        );
        let live = s % 7 != 3;
        if !live {
            let name = sale["name"].as_str().unwrap();
            store
                .write(ctx("test"), del("Sale", name, sale["rev"].as_i64()))
                .unwrap();
        }
        let stored = sale["lines"].as_array().unwrap();
        for ((product, quantity, _), row) in made.into_iter().zip(stored) {
            lines.push(Line {
                sale_date: ymd(date),
                party: party.clone(),
                product,
                quantity,
                amount: row["amount"].as_f64().unwrap(),
                live,
            });
        }
    }
    Office {
        _dir: dir,
        store,
        lines,
        parties,
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

/// (count, sum) per key over the live lines that pass `keep`.
fn by_hand(
    lines: &[Line],
    key: impl Fn(&Line) -> String,
    value: impl Fn(&Line) -> f64,
) -> BTreeMap<String, (u64, f64)> {
    let mut out: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.live) {
        let e = out.entry(key(l)).or_default();
        e.0 += 1;
        e.1 += value(l);
    }
    out
}

fn lines_spec() -> ReportSpec {
    ReportSpec {
        parent: Some("Sale".into()),
        ..ReportSpec::count_of("Sale Line")
    }
}

#[test]
fn sale_lines_by_month_of_their_sale_match_the_sums_by_hand() {
    let o = office();
    let spec = ReportSpec {
        group_by: Some("parent.sale_date".into()),
        bucket: Some(DateBucket::Month),
        measures: vec![Measure::COUNT, Measure::parse("sum:amount").unwrap()],
        ..lines_spec()
    };
    let r = o.store.report(&spec, today()).unwrap();
    let want = by_hand(&o.lines, |l| l.sale_date[..7].to_string(), |l| l.amount);
    assert_eq!(r.rows.len(), want.len());
    assert!(!r.truncated);
    for (row, (month, (count, sum))) in r.rows.iter().zip(&want) {
        assert_eq!(row[0], json!(month));
        assert_eq!(row[1], json!(count), "{month}");
        assert!(close(num(&row[2]), *sum), "{month}: {} vs {sum}", row[2]);
    }
    assert_eq!(r.columns[0].label, "Sale Date (month)");
    assert_eq!(r.columns[2].label, "Sum of Amount");
}

#[test]
fn top_products_by_amount_come_largest_first_with_their_names() {
    let o = office();
    let spec = ReportSpec {
        group_by: Some("product".into()),
        measures: vec![
            Measure::parse("sum:quantity").unwrap(),
            Measure::parse("sum:amount").unwrap(),
        ],
        order_by: Some("sum(amount)".into()),
        desc: true,
        limit: Some(3),
        ..lines_spec()
    };
    let r = o.store.report(&spec, today()).unwrap();
    let amounts = by_hand(&o.lines, |l| l.product.clone(), |l| l.amount);
    let quantities = by_hand(&o.lines, |l| l.product.clone(), |l| l.quantity);
    let mut want: Vec<(&String, f64)> = amounts.iter().map(|(k, v)| (k, v.1)).collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(r.rows.len(), 3);
    assert!(r.truncated, "5 products, 3 asked for");
    let keys: Vec<&str> = r.columns.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["group", "title", "sum(quantity)", "sum(amount)"]);
    for (row, (product, amount)) in r.rows.iter().zip(want) {
        assert_eq!(row[0], json!(product));
        let name = o.store.get("Product", product).unwrap()["product_name"].clone();
        assert_eq!(row[1], name);
        assert!(close(num(&row[3]), amount));
        assert!(close(num(&row[2]), quantities[product].1));
    }
}

#[test]
fn sales_by_party_count_and_average_the_live_sales_only() {
    let o = office();
    let spec = ReportSpec {
        group_by: Some("party".into()),
        measures: vec![
            Measure::COUNT,
            Measure::parse("sum:total").unwrap(),
            Measure::parse("avg:total").unwrap(),
        ],
        ..ReportSpec::count_of("Sale")
    };
    let r = o.store.report(&spec, today()).unwrap();
    // Per party: its sales (a sale is its date + party + lines, so sum the
    // lines per sale first).
    let mut sales: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let lines_total = by_hand(&o.lines, |l| l.party.clone(), |l| l.amount);
    let live_sales = o
        .store
        .count("Sale", &outpost_store::query::Expr::And(vec![]))
        .unwrap();
    for row in &r.rows {
        sales
            .entry(row[0].as_str().unwrap().to_string())
            .or_default();
    }
    assert_eq!(sales.len(), lines_total.len());
    let counted: u64 = r.rows.iter().map(|row| row[2].as_u64().unwrap()).sum();
    assert_eq!(counted, live_sales);
    for row in &r.rows {
        let party = row[0].as_str().unwrap();
        assert_eq!(row[1], json!(o.parties[party]));
        assert!(close(num(&row[3]), lines_total[party].1), "{party}");
        let avg = num(&row[3]) / row[2].as_u64().unwrap() as f64;
        assert!(close(num(&row[4]), avg), "{party}");
    }
}

#[test]
fn the_last_30_days_by_day_and_by_week_match_by_hand() {
    let o = office();
    let first = ymd(today() - time::Duration::days(29));
    let recent: Vec<&Line> = o
        .lines
        .iter()
        .filter(|l| l.sale_date >= first && l.sale_date <= ymd(today()))
        .collect();
    let window = LastDays {
        field: "parent.sale_date".into(),
        days: 30,
        today: None,
    };
    let by_day = ReportSpec {
        group_by: Some("parent.sale_date".into()),
        bucket: Some(DateBucket::Day),
        measures: vec![Measure::parse("sum:amount").unwrap()],
        last_days: Some(window.clone()),
        ..lines_spec()
    };
    let r = o.store.report(&by_day, today()).unwrap();
    let owned: Vec<Line> = recent
        .iter()
        .map(|l| Line {
            sale_date: l.sale_date.clone(),
            party: l.party.clone(),
            product: l.product.clone(),
            quantity: l.quantity,
            amount: l.amount,
            live: l.live,
        })
        .collect();
    let want = by_hand(&owned, |l| l.sale_date.clone(), |l| l.amount);
    assert_eq!(r.rows.len(), want.len());
    for (row, (d, (_, sum))) in r.rows.iter().zip(&want) {
        assert_eq!(row[0], json!(d));
        assert!(close(num(&row[1]), *sum));
    }
    let monday = |s: &str| {
        let d = Date::parse(s, &time::format_description::well_known::Iso8601::DATE).unwrap();
        let back = d.weekday().number_days_from_monday() as i64;
        assert_eq!((d - time::Duration::days(back)).weekday(), Weekday::Monday);
        ymd(d - time::Duration::days(back))
    };
    let r = o
        .store
        .report(
            &ReportSpec {
                bucket: Some(DateBucket::Week),
                ..by_day
            },
            today(),
        )
        .unwrap();
    let want = by_hand(&owned, |l| monday(&l.sale_date), |l| l.amount);
    let got: Vec<String> = r
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want.keys().cloned().collect::<Vec<_>>());
    for (row, (_, (_, sum))) in r.rows.iter().zip(&want) {
        assert!(close(num(&row[1]), *sum));
    }
}

#[test]
fn filters_on_the_line_and_on_its_sale_both_apply() {
    let o = office();
    let (party, _) = o.parties.iter().find(|(_, n)| *n == "Borax").unwrap();
    let spec = ReportSpec {
        measures: vec![Measure::COUNT, Measure::parse("sum:amount").unwrap()],
        filter: Some("quantity:>=5".into()),
        parent_filter: Some(format!("party:\"{party}\"")),
        ..lines_spec()
    };
    let r = o.store.report(&spec, today()).unwrap();
    let (count, sum) = o
        .lines
        .iter()
        .filter(|l| l.live && l.quantity >= 5.0 && &l.party == party)
        .fold((0u64, 0.0), |(c, s), l| (c + 1, s + l.amount));
    assert_eq!(r.rows, vec![vec![json!(count), r.rows[0][1].clone()]]);
    assert!(close(num(&r.rows[0][1]), sum));
    // A bad filter says where.
    let e = o
        .store
        .report(
            &ReportSpec {
                filter: Some("quantity:>=".into()),
                ..lines_spec()
            },
            today(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("position"), "{e}");
}
