//! Sales with lines through the worker against a real `trytond` with
//! `trytond-sale`: a sale made here reaches Tryton with its party, products,
//! quantities and prices in one sync; line edits follow as one write; the
//! office's confirmation runs Tryton's workflow and the head office's number
//! and state come back read-only; a sale linking a party the head office
//! refused is parked with a message naming it, and the rest go on.

use std::time::{Duration, Instant};

use outpost_e2e::tls::{TestCa, TlsFront};
use outpost_e2e::trytond::Trytond;
use outpost_store::{Keep, RecordSyncState, Store};
use outpost_sync::{Sync, UpstreamConfig};

mod common;
use common::{insert, update};
use serde_json::{json, Value};

struct Office {
    _dir: tempfile::TempDir,
    store: Store,
    sync: Sync,
}

/// Party maps `notes` to Tryton's `lang` (a many2one): a party whose notes
/// are text is refused by the head office, which is how a refusal is made
/// here.
fn office(t: &Trytond) -> Office {
    office_at(t, None, None)
}

/// The office syncing with `url` (default: the server itself), trusting
/// `ca_pem` as its `ca_file` when given.
fn office_at(t: &Trytond, url: Option<&str>, ca_pem: Option<&str>) -> Office {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ca = match ca_pem {
        Some(pem) => {
            std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
            "ca_file = \"ca.pem\"\n"
        }
        None => "",
    };
    let text = t.upstream_toml(
        url,
        &format!(
            "{ca}interval_seconds = 3600\nreconcile_minutes = 0\n\
             [doctypes.Party]\nmodel = \"party.party\"\nkey = \"code\"\n\
             fields = {{ party_name = \"name\", code = \"code\", notes = \"lang\" }}\n\
             [doctypes.Product]\nmodel = \"product.product\"\n\
             [doctypes.Sale]\nmodel = \"sale.sale\"\n\
             defaults = {{ invoice_method = \"manual\", shipment_method = \"manual\" }}\n"
        ),
    );
    let cfg = UpstreamConfig::parse(&text, &dir.path().join("upstream.toml")).unwrap();
    let sync = Sync::start(store.clone(), cfg).unwrap();
    Office {
        _dir: dir,
        store,
        sync,
    }
}

async fn sync_now(o: &Office) {
    let token = o.sync.sync_now().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !outpost_sync::request_served(&o.store, &token) {
        assert!(Instant::now() < deadline, "no sync cycle ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = o.store.sync_status().unwrap();
    assert!(status.last_error.is_none(), "the cycle failed: {status:#?}");
}

/// The head office's sale whose reference is the office's name, with its
/// lines in sequence order.
fn hq_sale(t: &Trytond, name: &str) -> (Value, Vec<Value>) {
    let found = t.rpc(
        "model.sale.sale.search_read",
        json!([
            [["reference", "=", name]],
            0,
            null,
            null,
            ["party", "state", "number", "total_amount", "lines"],
            {}
        ]),
    );
    let sales = found.as_array().unwrap();
    assert_eq!(sales.len(), 1, "one sale at the head office: {found}");
    let sale = sales[0].clone();
    let mut lines = t
        .rpc(
            "model.sale.line.search_read",
            json!([
                [["sale", "=", sale["id"]]],
                0,
                null,
                [["sequence", "ASC"]],
                [
                    "product",
                    "quantity",
                    "unit_price",
                    "sequence",
                    "description"
                ],
                {}
            ]),
        )
        .as_array()
        .unwrap()
        .clone();
    lines.sort_by_key(|l| l["sequence"].as_i64());
    (sale, lines)
}

fn decimal(v: &Value) -> f64 {
    v["decimal"].as_str().unwrap().parse().unwrap()
}

fn remote_id(store: &Store, doctype: &str, name: &str) -> i64 {
    store
        .sync_link(doctype, name)
        .unwrap()
        .unwrap_or_else(|| panic!("{doctype} {name} has no link"))
        .remote_id
        .parse()
        .unwrap()
}

fn variant_of(t: &Trytond, template: i64) -> i64 {
    t.rpc(
        "model.product.product.search",
        json!([[["template", "=", template]], 0, null, null, {}]),
    )[0]
    .as_i64()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_with_lines_reaches_tryton_over_https_follows_edits_and_confirmation_and_brings_back_its_number(
) {
    let t = Trytond::start();
    // Over HTTPS: trytond behind a TLS front with a test CA's certificate,
    // the CA given in the upstream file's `ca_file`.
    let ca = TestCa::new();
    let front = TlsFront::start(([127, 0, 0, 1], t.port).into(), ca.issue(&["127.0.0.1"]))
        .await
        .unwrap();
    assert!(front.url().starts_with("https://"));
    let o = office_at(&t, Some(&front.url()), Some(&ca.pem()));
    // Party, products and the sale made in the same minute: one sync.
    let party = insert(
        &o.store,
        "Party",
        json!({"party_name": "Kashgar Bazaar", "code": "KB-1"}),
    );
    let tea = insert(
        &o.store,
        "Product",
        json!({"product_name": "Tea", "code": "TEA", "list_price": 4.5}),
    );
    let rice = insert(
        &o.store,
        "Product",
        json!({"product_name": "Rice", "code": "RICE", "list_price": 2.0}),
    );
    let sale = insert(
        &o.store,
        "Sale",
        json!({"party": party, "sale_date": "2026-12-02", "reference": "PO-77", "lines": [
            {"product": tea, "quantity": 3, "unit_price": 4.5},
            {"product": rice, "quantity": 10, "unit_price": 2},
            {"product": tea, "quantity": 1, "unit_price": 5}
        ]}),
    );
    sync_now(&o).await;
    let (hq, lines) = hq_sale(&t, &sale);
    assert_eq!(hq["party"], json!(remote_id(&o.store, "Party", &party)));
    assert_eq!(hq["state"], "draft");
    let tea_v = variant_of(&t, remote_id(&o.store, "Product", &tea));
    let rice_v = variant_of(&t, remote_id(&o.store, "Product", &rice));
    let got: Vec<(i64, f64, f64)> = lines
        .iter()
        .map(|l| {
            (
                l["product"].as_i64().unwrap(),
                l["quantity"].as_f64().unwrap(),
                decimal(&l["unit_price"]),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(tea_v, 3.0, 4.5), (rice_v, 10.0, 2.0), (tea_v, 1.0, 5.0)]
    );
    assert_eq!(decimal(&hq["total_amount"]), 38.5);
    assert!(o.store.outbox_parked().unwrap().is_empty());

    // Line edits: change the first, drop the second, add one; one write.
    let current = o.store.get("Sale", &sale).unwrap();
    let rows = current["lines"].as_array().unwrap();
    let mut first = rows[0].clone();
    first["quantity"] = json!(4);
    let third = rows[2].clone();
    update(
        &o.store,
        "Sale",
        &sale,
        json!({"lines": [first, third, {"product": rice, "quantity": 2, "unit_price": 2.5}]}),
    );
    sync_now(&o).await;
    let (_, lines2) = hq_sale(&t, &sale);
    let got: Vec<(i64, f64, f64)> = lines2
        .iter()
        .map(|l| {
            (
                l["product"].as_i64().unwrap(),
                l["quantity"].as_f64().unwrap(),
                decimal(&l["unit_price"]),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(tea_v, 4.0, 4.5), (tea_v, 1.0, 5.0), (rice_v, 2.0, 2.5)]
    );
    // The kept lines are the same lines at the head office.
    assert_eq!(lines2[0]["id"], lines[0]["id"]);
    assert_eq!(lines2[1]["id"], lines[2]["id"]);

    // The office confirms: Tryton's quote and confirm run (manual invoice
    // and shipment: it goes on to processing), and its number and state
    // come back to the office record, read-only.
    update(&o.store, "Sale", &sale, json!({"state": "Confirmed"}));
    sync_now(&o).await;
    let (hq, _) = hq_sale(&t, &sale);
    assert_eq!(hq["state"], "processing", "{hq}");
    // The pull of the cycle may have run before the workflow answered.
    sync_now(&o).await;
    let here = o.store.get("Sale", &sale).unwrap();
    assert_eq!(here["hq_state"], "Processing", "{here:#}");
    assert_eq!(here["number"], hq["number"]);
    assert_eq!(here["state"], "Confirmed");
    assert_eq!(here["lines"].as_array().unwrap().len(), 3);
    assert!(o.store.outbox_parked().unwrap().is_empty());
    o.sync.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_linking_a_refused_party_is_parked_naming_it_and_the_others_go_on() {
    let t = Trytond::start();
    let o = office(&t);
    let good = insert(
        &o.store,
        "Party",
        json!({"party_name": "Good", "code": "G-1"}),
    );
    let bad = insert(
        &o.store,
        "Party",
        json!({"party_name": "Refused Trading", "code": "R-1", "notes": "not a language"}),
    );
    let tea = insert(
        &o.store,
        "Product",
        json!({"product_name": "Tea", "code": "TEA2", "list_price": 4.5}),
    );
    let line = json!([{"product": tea, "quantity": 1, "unit_price": 4.5}]);
    let ok_sale = insert(&o.store, "Sale", json!({"party": good, "lines": line}));
    let parked_sale = insert(&o.store, "Sale", json!({"party": bad, "lines": line}));
    sync_now(&o).await;
    hq_sale(&t, &ok_sale);
    let none = t.rpc(
        "model.sale.sale.search_count",
        json!([[["reference", "=", parked_sale]], {}]),
    );
    assert_eq!(none, json!(0), "never a dangling link upstream");
    let parked = o.store.outbox_parked().unwrap();
    let sale_entry = parked
        .iter()
        .find(|p| p.name == parked_sale)
        .unwrap_or_else(|| panic!("the sale is parked: {parked:?}"));
    assert!(
        sale_entry.message.contains("Refused Trading") && sale_entry.message.contains("refused"),
        "{}",
        sale_entry.message
    );
    assert!(parked.iter().any(|p| p.name == bad));
    // What lists and forms show for each sale, and the counts per doctype.
    let states = o
        .store
        .sync_records("Sale", &[ok_sale.clone(), parked_sale.clone()])
        .unwrap();
    assert_eq!(states[0].state, RecordSyncState::Sent);
    assert!(states[0].remote_id.is_some());
    assert_eq!(states[1].state, RecordSyncState::Parked);
    assert_eq!(
        states[1].message.as_deref(),
        Some(sale_entry.message.as_str())
    );
    let status = o.store.sync_status().unwrap();
    let sales = status
        .doctypes
        .iter()
        .find(|d| d.doctype == "Sale")
        .unwrap();
    assert_eq!((sales.sent, sales.pending, sales.parked), (1, 0, 1));
    assert_eq!(
        status
            .doctypes
            .iter()
            .map(|d| d.doctype.as_str())
            .collect::<Vec<_>>(),
        vec!["Party", "Product", "Sale"]
    );
    o.sync.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_changed_on_both_sides_is_a_conflict_with_both_versions_lines_included() {
    let t = Trytond::start();
    let o = office(&t);
    let party = insert(
        &o.store,
        "Party",
        json!({"party_name": "Both Sides", "code": "BS-1"}),
    );
    let tea = insert(
        &o.store,
        "Product",
        json!({"product_name": "Tea", "code": "TEA3", "list_price": 4.0}),
    );
    let sale = insert(
        &o.store,
        "Sale",
        json!({"party": party, "lines": [
            {"product": tea, "quantity": 1, "unit_price": 4},
            {"product": tea, "quantity": 2, "unit_price": 4}
        ]}),
    );
    sync_now(&o).await;
    let (hq, lines) = hq_sale(&t, &sale);
    // The head office changes the first line through the sale (its
    // `_timestamp` moves) ...
    t.rpc(
        "model.sale.sale.write",
        json!([[hq["id"]], {"lines": [["write", [lines[0]["id"]], {"quantity": 7}]]}, {}]),
    );
    // ... and the office changes the second.
    let current = o.store.get("Sale", &sale).unwrap();
    let mut rows = current["lines"].as_array().unwrap().clone();
    rows[1]["quantity"] = json!(9);
    update(&o.store, "Sale", &sale, json!({"lines": rows}));
    sync_now(&o).await;
    let open = o.store.sync_conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:#?}");
    let c = &open[0];
    assert_eq!(c.kind, "modify/modify");
    let qty = |rows: &Value| -> Vec<f64> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["quantity"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(qty(&c.local["lines"]), vec![1.0, 9.0]);
    assert_eq!(qty(&c.remote["values"]["lines"]), vec![7.0, 2.0]);
    // Nothing was overwritten at the head office.
    let (_, now) = hq_sale(&t, &sale);
    assert_eq!(
        now.iter()
            .map(|l| l["quantity"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        vec![7.0, 2.0]
    );
    // The office keeps its version: it goes over the head office's, the
    // same two lines there.
    o.store.sync_resolve(c.id, Keep::Local).unwrap();
    sync_now(&o).await;
    let (_, after) = hq_sale(&t, &sale);
    assert_eq!(
        after
            .iter()
            .map(|l| l["quantity"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        vec![1.0, 9.0]
    );
    assert_eq!(after[0]["id"], lines[0]["id"]);
    assert!(o.store.sync_conflicts(false).unwrap().is_empty());
    o.sync.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_the_head_office_refuses_is_parked_with_its_words_and_the_office_state_stays(
) {
    let t = Trytond::start();
    // A customer made at the head office, without an address.
    t.rpc(
        "model.party.party.create",
        json!([[{"name": "No Address Ltd", "code": "NA-1"}], {}]),
    );
    let o = office(&t);
    let tea = insert(
        &o.store,
        "Product",
        json!({"product_name": "Tea", "code": "TEA4", "list_price": 4.0}),
    );
    sync_now(&o).await; // the customer comes down, the product goes up
    let party = o
        .store
        .sync_local_name("Party", &remote_party(&t, "NA-1"))
        .unwrap()
        .expect("the head office's customer is here");
    let sale = insert(
        &o.store,
        "Sale",
        json!({"party": party, "state": "Confirmed", "lines": [
            {"product": tea, "quantity": 1, "unit_price": 4}
        ]}),
    );
    sync_now(&o).await;
    // Made at the head office as a draft; the quote was refused there.
    let (hq, _) = hq_sale(&t, &sale);
    assert_eq!(hq["state"], "draft");
    let parked = o.store.outbox_parked().unwrap();
    let entry = parked.iter().find(|p| p.name == sale).expect("parked");
    assert!(
        entry.message.contains("invoice address"),
        "{}",
        entry.message
    );
    let here = o.store.get("Sale", &sale).unwrap();
    assert_eq!(
        here["state"], "Confirmed",
        "the office's state is not changed"
    );
    let state = &o
        .store
        .sync_records("Sale", std::slice::from_ref(&sale))
        .unwrap()[0];
    assert_eq!(state.state, RecordSyncState::Parked);
    o.sync.stop().await;
}

fn remote_party(t: &Trytond, code: &str) -> String {
    t.rpc(
        "model.party.party.search",
        json!([[["code", "=", code]], 0, null, null, {}]),
    )[0]
    .as_i64()
    .unwrap()
    .to_string()
}
