//! Sales as a user makes them: on a slave over real WebRTC, through
//! `outpost master --upstream FILE` to a real `trytond` with `trytond-sale`
//! behind the satellite link (the test proxy); and `kill -9` of the master
//! at the worst moments of a sale's push.

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_e2e::proxy::{LinkConfig, LinkProxy};
use outpost_e2e::trytond::Trytond;
use outpost_e2e::{db, ok_one, outpost, remote, MasterProc};
use serde_json::{json, Value};

const SATELLITE: LinkConfig = LinkConfig {
    delay: Duration::from_millis(150),
    rate: Some(50_000),
    cut_after: None,
    blackhole: false,
    hold_answers: false,
    hold_answers_after: None,
};

/// Party, Product and Sale go up; new sales are processed at once at the
/// head office when confirmed (manual invoice and shipment).
fn write_upstream(dir: &Path, t: &Trytond, url: &str) -> String {
    let path = dir.join("upstream.toml");
    std::fs::write(
        &path,
        t.upstream_toml(
            Some(url),
            "interval_seconds = 3600\n\
             [doctypes.Party]\nmodel = \"party.party\"\n\
             [doctypes.Product]\nmodel = \"product.product\"\n\
             [doctypes.Sale]\nmodel = \"sale.sale\"\n\
             defaults = { invoice_method = \"manual\", shipment_method = \"manual\" }\n",
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn sync_now(data: &Path) {
    let out = outpost(&[
        "sync",
        "now",
        "--data",
        data.to_str().unwrap(),
        "--timeout",
        "120",
    ]);
    assert!(
        out.status.success(),
        "sync now: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sync_status(data: &Path) -> Value {
    ok_one(&outpost(&[
        "sync",
        "status",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]))
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Head-office sales whose reference is `name`, each with its lines as
/// (quantity, unit price) in sequence order.
fn hq_sales(t: &Trytond, name: &str) -> Vec<(Value, Vec<(f64, f64)>)> {
    let sales = t.rpc(
        "model.sale.sale.search_read",
        json!([
            [["reference", "=", name]],
            0,
            null,
            null,
            ["state", "number", "party"],
            {}
        ]),
    );
    sales
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let lines = t.rpc(
                "model.sale.line.search_read",
                json!([
                    [["sale", "=", s["id"]]],
                    0,
                    null,
                    [["sequence", "ASC"]],
                    ["quantity", "unit_price"],
                    {}
                ]),
            );
            let lines = lines
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l["quantity"].as_f64().unwrap(),
                        l["unit_price"]["decimal"]
                            .as_str()
                            .unwrap()
                            .parse()
                            .unwrap(),
                    )
                })
                .collect();
            (s.clone(), lines)
        })
        .collect()
}

fn name(v: &Value) -> String {
    v["name"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_made_on_a_slave_reaches_tryton_and_the_head_offices_answer_comes_back_to_the_slave()
{
    let t = Trytond::start();
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), SATELLITE)
        .await
        .unwrap();
    let (m, s) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let up = write_upstream(m.path(), &t, &format!("http://{}/", proxy.addr()));
    let master = MasterProc::start(m.path(), "Hotan depot", 0, &["--upstream", &up]);
    let first = |args: &[&str]| ok_one(&remote(s.path(), &master.url, args));
    let party = name(&first(&[
        "insert",
        "Party",
        r#"{"party_name":"Hotan Silk","code":"HS-1"}"#,
    ]));
    let url = master.url_without_code();
    let on_slave = |args: &[&str]| ok_one(&remote(s.path(), &url, args));
    let silk = name(&on_slave(&[
        "insert",
        "Product",
        r#"{"product_name":"Silk","code":"SILK","list_price":30}"#,
    ]));
    let lines = json!([
        {"product": silk, "quantity": 2, "unit_price": 30},
        {"product": silk, "quantity": 1, "unit_price": 28},
        {"product": silk, "quantity": 5, "unit_price": 25}
    ]);
    let sale = on_slave(&[
        "insert",
        "Sale",
        &json!({"party": party, "sale_date": "2026-12-02", "lines": lines}).to_string(),
    ]);
    let sale_name = name(&sale);
    sync_now(m.path());
    let found = hq_sales(&t, &sale_name);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, vec![(2.0, 30.0), (1.0, 28.0), (5.0, 25.0)]);
    assert_eq!(found[0].0["state"], "draft");

    // The slave confirms; Tryton's workflow runs; its number and state
    // come back to what the slave reads.
    let current = on_slave(&["get", "Sale", &sale_name]);
    on_slave(&[
        "update",
        "Sale",
        &sale_name,
        &json!({"rev": current["rev"], "state": "Confirmed"}).to_string(),
    ]);
    sync_now(m.path());
    let found = hq_sales(&t, &sale_name);
    assert_eq!(found[0].0["state"], "processing", "{found:?}");
    sync_now(m.path());
    let seen = on_slave(&["get", "Sale", &sale_name]);
    assert_eq!(seen["hq_state"], "Processing", "{seen:#}");
    assert_eq!(seen["number"], found[0].0["number"]);
    assert_eq!(seen["modified_by"], "upstream");
    // The slave asks where its sale stands.
    let state = on_slave(&["sync-records", "Sale", &sale_name]);
    assert_eq!(state["state"], "sent", "{state}");
    let st = sync_status(m.path());
    assert_eq!(st["outbox_pending"], 0, "{st}");
    assert_eq!(st["parked"], 0, "{st}");
    drop(master);
}

/// The master is killed with SIGKILL before a sale's push is sent, after it
/// reached Tryton but before the answer, and after the answer before it was
/// recorded; after a restart Tryton holds exactly one copy with its lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_mid_push_of_a_sale_leaves_exactly_one_sale_with_its_lines_upstream() {
    let t = Trytond::start();
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), LinkConfig::default())
        .await
        .unwrap();
    let m = tempfile::tempdir().unwrap();
    let up = write_upstream(m.path(), &t, &format!("http://{}/", proxy.addr()));
    // The party and product are at the head office first.
    let party = name(&ok_one(&db(
        m.path(),
        &[
            "insert",
            "Party",
            r#"{"party_name":"Aksu Melons","code":"AM-1"}"#,
        ],
    )));
    let melon = name(&ok_one(&db(
        m.path(),
        &[
            "insert",
            "Product",
            r#"{"product_name":"Melon","code":"MEL","list_price":3}"#,
        ],
    )));
    {
        let _m = MasterProc::start(m.path(), "Aksu depot", 0, &["--upstream", &up]);
        sync_now(m.path());
    }
    for point in ["before_send", "after_send", "after_answer"] {
        let env: Vec<(&str, &str)> = match point {
            "after_send" => vec![],
            p => vec![("OUTPOST_SYNC_PAUSE", p)],
        };
        let mut master =
            MasterProc::start_env(m.path(), "Aksu depot", 0, &["--upstream", &up], &env);
        wait_for("the first sync", 60, || {
            sync_status(m.path())["link"] != "starting"
        });
        if point == "after_send" {
            // The lookups before the create (variants, addresses) answer;
            // the create reaches Tryton and its answer never comes back.
            proxy.set(LinkConfig {
                hold_answers_after: Some("model.sale.sale.create"),
                ..Default::default()
            });
        }
        let sale = name(&ok_one(&db(
            m.path(),
            &[
                "insert",
                "Sale",
                &json!({"party": party, "lines": [
                    {"product": melon, "quantity": 10, "unit_price": 3},
                    {"product": melon, "quantity": 4, "unit_price": 2.5},
                    {"product": melon, "quantity": 1, "unit_price": 3.5}
                ]})
                .to_string(),
            ],
        )));
        match point {
            "after_send" => wait_for("the sale to reach Tryton", 60, || {
                hq_sales(&t, &sale).len() == 1
            }),
            p => wait_for(&format!("the pause at {p}"), 60, || {
                master.log().contains(&format!("paused at {p}"))
            }),
        }
        master.kill9();
        let before = hq_sales(&t, &sale).len();
        assert_eq!(before, usize::from(point != "before_send"), "{point}");
        proxy.set(LinkConfig::default());

        let _again = MasterProc::start(m.path(), "Aksu depot", 0, &["--upstream", &up]);
        sync_now(m.path());
        let after = hq_sales(&t, &sale);
        assert_eq!(after.len(), 1, "{point}: {after:?}");
        assert_eq!(
            after[0].1,
            vec![(10.0, 3.0), (4.0, 2.5), (1.0, 3.5)],
            "{point}"
        );
        let st = sync_status(m.path());
        assert_eq!(st["outbox_pending"], 0, "{point}: {st}");
        assert_eq!(st["conflicts"], 0, "{point}: {st}");
        assert_eq!(st["parked"], 0, "{point}: {st}");
        // The link knows the lines: an edit now is one write of a line.
        let link = outpost_store::Store::open(m.path())
            .unwrap()
            .sync_link("Sale", &sale)
            .unwrap()
            .unwrap();
        assert_eq!(link.children.len(), 3, "{point}: {link:?}");
    }
}
