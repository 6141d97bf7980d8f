//! The ERPNext connector against written HTTP exchanges
//! (`tests/erpnext/exchanges.json`), served by a small HTTP server in this
//! test. No Frappe server can run on the build machine (it needs MariaDB,
//! Redis and Node on top of Python), so this is a stand-in, and it checks
//! the connector's requests as much as its reading of the answers: an
//! unexpected request fails the test. `tests/erpnext/sales.json` holds, stage
//! by stage, the exchanges of a Sale going up as a Sales Order.

use std::path::Path;
use std::sync::{Arc, Mutex};

use outpost_sync::erpnext::Erpnext;
use outpost_sync::{Connector, Cursor, ErrorClass, RemoteWrite, UpstreamConfig};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Exchange {
    request: Value,
    response: Value,
    once: bool,
    used: bool,
}

struct Recorded {
    auth: String,
    exchanges: Vec<Exchange>,
    /// Requests that matched no exchange.
    misses: Vec<String>,
    /// Every request, `METHOD path`, in order.
    seen: Vec<String>,
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The request as the exchanges describe it.
fn describe(method: &str, target: &str, body: &[u8]) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut q = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = serde_json::from_str::<Value>(&v)
            .ok()
            .filter(|j| j.is_array() || j.is_object())
            .unwrap_or(Value::String(v.into_owned()));
        q.insert(k.into_owned(), v);
    }
    let mut d = json!({"method": method, "path": decode(path)});
    if !q.is_empty() {
        d["query"] = Value::Object(q);
    }
    if !body.is_empty() {
        d["body"] = serde_json::from_slice(body).unwrap_or(Value::String("(not JSON)".into()));
    }
    d
}

impl Recorded {
    fn answer(&mut self, auth: &str, request: Value) -> (u16, Value) {
        self.seen
            .push(format!("{} {}", request["method"], request["path"]));
        if auth != self.auth {
            return (
                401,
                json!({"exc_type": "AuthenticationError", "exception": "frappe.exceptions.AuthenticationError"}),
            );
        }
        for e in self.exchanges.iter_mut() {
            if !e.used && e.request == request {
                e.used = e.once;
                return (
                    e.response["status"].as_u64().unwrap_or(500) as u16,
                    e.response["body"].clone(),
                );
            }
        }
        self.misses.push(request.to_string());
        (
            599,
            json!({"exception": "no written exchange for this request"}),
        )
    }
}

async fn serve(rec: Arc<Mutex<Recorded>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let rec = rec.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
                let header = |name: &str| {
                    head.lines()
                        .skip(1)
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let len: usize = header("content-length").parse().unwrap_or(0);
                while buf.len() < head_end + 4 + len {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = &buf[head_end + 4..(head_end + 4 + len).min(buf.len())];
                let request = describe(first[0], first.get(1).copied().unwrap_or("/"), body);
                let (status, answer) = rec
                    .lock()
                    .unwrap()
                    .answer(&header("authorization"), request);
                let text = answer.to_string();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}/")
}

fn recorded() -> Arc<Mutex<Recorded>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/erpnext/exchanges.json"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    Arc::new(Mutex::new(Recorded {
        auth: v["auth"].as_str().unwrap().to_string(),
        exchanges: v["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Exchange {
                request: e["request"].clone(),
                response: e["response"].clone(),
                once: e["once"].as_bool().unwrap_or(false),
                used: false,
            })
            .collect(),
        misses: vec![],
        seen: vec![],
    }))
}

fn config(url: &str, secret: &str) -> UpstreamConfig {
    let text = format!(
        "kind = \"erpnext\"\nurl = \"{url}\"\nuser = \"k3y\"\npassword = \"{secret}\"\n\
         [doctypes.Party]\nmodel = \"Customer\"\n[doctypes.Product]\nmodel = \"Item\"\n"
    );
    UpstreamConfig::parse(&text, Path::new("upstream.toml")).unwrap()
}

fn rec(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn the_erpnext_connector_speaks_frappes_rest_api() {
    let r = recorded();
    let url = serve(r.clone()).await;
    let erp = Erpnext::new(config(&url, "s3cret")).unwrap();

    // New records go in one insert_many with the built-in defaults; the
    // names come back in no set order and are matched by key.
    let names = erp
        .create(
            "Party",
            &[
                rec(json!({"party_name": "Acme Trading"})),
                rec(json!({"party_name": "Khotan Traders"})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(names, ["Acme Trading", "Khotan Traders"]);
    let dup = erp
        .create("Party", &[rec(json!({"party_name": "Acme Trading"}))])
        .await
        .unwrap_err();
    assert_eq!(dup.class, ErrorClass::Rejected, "{dup}");
    assert!(dup.message.contains("Duplicate entry"), "{dup}");

    // Pulled in (modified, name) pages; the cursor's tie on `modified` is
    // broken by name through or_filters.
    let first = erp.pull("Party", &Cursor::default(), 2).await.unwrap();
    assert_eq!(first.records.len(), 2);
    assert_eq!(first.records[0].values["party_name"], "Acme Trading");
    assert!(first.records[0].active);
    assert_eq!(
        first.next,
        Cursor {
            stamp: Some("2026-11-21 10:00:00.000001".into()),
            id: "Khotan Traders".into()
        }
    );
    let done = erp.pull("Party", &first.next, 2).await.unwrap();
    assert!(done.records.is_empty());
    assert_eq!(done.next, first.next);

    // A change carries the `modified` it was read with; the same stale one
    // again is a conflict, in Frappe's words.
    let acme = &first.records[0];
    let w = RemoteWrite {
        id: acme.id.clone(),
        version: acme.version.clone(),
        values: rec(json!({"party_name": "Acme Trading Ltd"})),
        deactivate: false,
        reactivate: false,
    };
    erp.write("Party", std::slice::from_ref(&w)).await.unwrap();
    let stale = erp.write("Party", &[w]).await.unwrap_err();
    assert_eq!(stale.class, ErrorClass::Conflict, "{stale}");
    assert!(
        stale.message.contains("modified after you have opened it"),
        "{stale}"
    );

    // Lookup by key; deactivation as disabled = 1; versions; the id set.
    let found = erp
        .lookup("Party", &["Khotan Traders".into(), "Nobody".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    erp.write(
        "Party",
        &[RemoteWrite {
            id: found[0].id.clone(),
            version: found[0].version.clone(),
            values: Map::new(),
            deactivate: true,
            reactivate: false,
        }],
    )
    .await
    .unwrap();
    let versions = erp
        .versions("Party", &["Acme Trading".into(), "Khotan Traders".into()])
        .await
        .unwrap();
    assert_eq!(
        versions[1],
        (
            "Khotan Traders".to_string(),
            Some("2026-11-21 10:06:00.000003".to_string())
        )
    );
    assert_eq!(
        erp.ids("Party").await.unwrap(),
        ["Acme Trading", "Khotan Traders"]
    );

    // An upstream query in Outpost's field names.
    let rows = erp
        .query(
            "Party",
            &[("party_name".into(), "ilike".into(), json!("Acme%"))],
            20,
        )
        .await
        .unwrap();
    assert_eq!(rows[0].values["party_name"], "Acme Trading Ltd");
    let bad = erp
        .query("Party", &[("city".into(), "=".into(), json!("x"))], 20)
        .await
        .unwrap_err();
    assert!(bad.message.contains("not among the fields"), "{bad}");

    // Items: active is the inverse of disabled; a missing field upstream is
    // a refusal with Frappe's message, tags stripped.
    let item = erp
        .create(
            "Product",
            &[rec(json!({"product_name": "Green tea", "code": "T-1", "list_price": 4.25, "active": true}))],
        )
        .await
        .unwrap_err();
    assert_eq!(item.class, ErrorClass::Rejected);
    assert_eq!(
        item.message,
        "ERPNext: Error: Value missing for Item: Default Unit of Measure"
    );

    // A wrong secret is an auth failure.
    let wrong = Erpnext::new(config(&url, "nope")).unwrap();
    let e = wrong.ids("Party").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth, "{e}");

    let r = r.lock().unwrap();
    assert!(
        r.misses.is_empty(),
        "requests with no written exchange: {:#?}",
        r.misses
    );
    assert!(erp.traffic().sent > 0 && erp.traffic().received > 0);
    assert_eq!(r.seen.len(), 14, "{:#?}", r.seen);
}

fn exchange(request: Value, status: u16, body: Value, once: bool) -> Exchange {
    Exchange {
        request,
        response: json!({"status": status, "body": body}),
        once,
        used: false,
    }
}

const FIELDS: [&str; 4] = ["customer_name", "name", "modified", "disabled"];

fn pull_request(filters: Value, or_filters: Option<Value>) -> Value {
    let mut q = json!({"fields": FIELDS, "filters": filters,
        "order_by": "modified asc, name asc", "limit_page_length": "500"});
    if let Some(o) = or_filters {
        q["or_filters"] = o;
    }
    json!({"method": "GET", "path": "/api/resource/Customer", "query": q})
}

/// The worker with Frappe's text names for ids: an office Party goes up
/// once, comes back as the same record, and a head-office change comes
/// down (exchanges added as the head office "changes").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_syncs_with_erpnext_by_name() {
    let r = Arc::new(Mutex::new(Recorded {
        auth: "token k3y:s3cret".into(),
        exchanges: vec![],
        misses: vec![],
        seen: vec![],
    }));
    let url = serve(r.clone()).await;
    let acme = |name: &str, modified: &str| json!({"name": "Acme Trading", "customer_name": name, "modified": modified, "disabled": 0});
    let since = |t: &str| {
        pull_request(
            json!([["modified", ">=", t]]),
            Some(json!([["modified", ">", t], ["name", ">", ""]])),
        )
    };
    // Before the office's party exists upstream, pulls find nothing.
    r.lock().unwrap().exchanges.push(exchange(
        pull_request(json!([]), None),
        200,
        json!({"data": []}),
        false,
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = outpost_store::Store::open(dir.path()).unwrap();
    let mut cfg = config(&url, "s3cret");
    cfg.doctypes.remove("Product");
    cfg.interval_seconds = 3600;
    let sync = outpost_sync::Sync::start(store.clone(), cfg).unwrap();
    let cycle = |sync: &outpost_sync::Sync| {
        let token = sync.sync_now().unwrap();
        let store = store.clone();
        async move {
            while !outpost_sync::request_served(&store, &token) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            store.sync_status().unwrap()
        }
    };
    cycle(&sync).await;
    let made = store
        .write(
            outpost_store::WriteCtx::default(),
            outpost_store::Write::Insert {
                doctype: "Party".into(),
                record: rec(json!({"party_name": "Acme Trading", "city": "Kashgar"})),
            },
        )
        .unwrap();
    let name = made.value["name"].as_str().unwrap().to_string();
    {
        let mut r = r.lock().unwrap();
        // Now it does (as the office's own push makes it).
        r.exchanges.clear();
        r.exchanges.push(exchange(
            json!({"method": "POST", "path": "/api/method/frappe.client.insert_many",
                "body": {"docs": [{"doctype": "Customer", "customer_name": "Acme Trading",
                    "customer_type": "Company", "customer_group": "All Customer Groups",
                    "territory": "All Territories"}]}}),
            200,
            json!({"message": ["Acme Trading"]}),
            true,
        ));
        r.exchanges.push(exchange(
            json!({"method": "GET", "path": "/api/resource/Customer", "query": {
                "fields": ["name", "modified"], "filters": [["name", "in", ["Acme Trading"]]],
                "order_by": "name asc", "limit_page_length": "0"}}),
            200,
            json!({"data": [{"name": "Acme Trading", "modified": "2026-11-21 10:00:00.000001"}]}),
            false,
        ));
        r.exchanges.push(exchange(
            pull_request(json!([]), None),
            200,
            json!({"data": [acme("Acme Trading", "2026-11-21 10:00:00.000001")]}),
            false,
        ));
        // Pulls after the cursor moved re-read the overlap (60 s).
        r.exchanges.push(exchange(
            since("2026-11-21 09:59:00.000001"),
            200,
            json!({"data": [acme("Acme Trading", "2026-11-21 10:00:00.000001")]}),
            false,
        ));
    }
    let st = cycle(&sync).await;
    assert_eq!(
        (st.link, st.outbox_pending),
        (outpost_store::LinkState::Up, 0),
        "{st:?}"
    );
    let link = store.sync_link("Party", &name).unwrap().unwrap();
    assert_eq!(link.remote_id, "Acme Trading");
    assert_eq!(link.version.as_deref(), Some("2026-11-21 10:00:00.000001"));
    // Its own party coming back is the same record, not a second one.
    assert_eq!(
        store
            .count("Party", &outpost_store::query::Expr::And(vec![]))
            .unwrap(),
        1
    );

    // The head office renames it.
    r.lock().unwrap().exchanges.insert(
        0,
        exchange(
            since("2026-11-21 09:59:00.000001"),
            200,
            json!({"data": [acme("Acme Trading Ltd", "2026-11-21 10:05:00.000002")]}),
            false,
        ),
    );
    r.lock().unwrap().exchanges.push(exchange(
        since("2026-11-21 10:04:00.000002"),
        200,
        json!({"data": [acme("Acme Trading Ltd", "2026-11-21 10:05:00.000002")]}),
        false,
    ));
    let st = cycle(&sync).await;
    assert_eq!(st.link, outpost_store::LinkState::Up, "{st:?}");
    let got = store.get("Party", &name).unwrap();
    assert_eq!(got["party_name"], "Acme Trading Ltd");
    assert_eq!(got["city"], "Kashgar");
    assert_eq!(store.sync_status().unwrap().outbox_pending, 0);
    sync.stop().await;
    let r = r.lock().unwrap();
    assert!(
        r.misses.is_empty(),
        "requests with no written exchange: {:#?}",
        r.misses
    );
    let inserts = r.seen.iter().filter(|s| s.contains("insert_many")).count();
    assert_eq!(inserts, 1, "{:#?}", r.seen);
}

/// The stages of `tests/erpnext/sales.json`: what the head office answers
/// at each step, by stage name.
fn sales_stages() -> (Value, std::collections::HashMap<String, Vec<Exchange>>) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/erpnext/sales.json"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let stages = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let list = s["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| Exchange {
                    request: e["request"].clone(),
                    response: e["response"].clone(),
                    once: e["once"].as_bool().unwrap_or(false),
                    used: false,
                })
                .collect();
            (s["stage"].as_str().unwrap().to_string(), list)
        })
        .collect();
    (v, stages)
}

/// A Sale with its lines goes to ERPNext as a Sales Order through the
/// worker: made in one insert_many with its items, a line edit as one PUT
/// that keeps the kept row (and what the head office set on it), the
/// office's confirmation as a submit, and the Sales Order's name and status
/// back into the sale's number and head-office state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_goes_to_erpnext_as_a_sales_order_and_its_number_and_status_come_back() {
    let (file, mut stages) = sales_stages();
    let r = Arc::new(Mutex::new(Recorded {
        auth: file["auth"].as_str().unwrap().to_string(),
        exchanges: vec![],
        misses: vec![],
        seen: vec![],
    }));
    let stage = |name: &str, stages: &mut std::collections::HashMap<String, Vec<Exchange>>| {
        let mut r = r.lock().unwrap();
        assert!(r.misses.is_empty(), "before {name}: {:#?}", r.misses);
        r.exchanges = stages.remove(name).unwrap();
    };
    let url = serve(r.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = outpost_store::Store::open(dir.path()).unwrap();
    let cfg = UpstreamConfig::parse(
        &format!(
            "kind = \"erpnext\"\nurl = \"{url}\"\nuser = \"k3y\"\npassword = \"s3cret\"\n\
             interval_seconds = 3600\n\
             [doctypes.Party]\nmodel = \"Customer\"\n[doctypes.Product]\nmodel = \"Item\"\n\
             [doctypes.Sale]\nmodel = \"Sales Order\"\n"
        ),
        Path::new("upstream.toml"),
    )
    .unwrap();
    stage("empty", &mut stages);
    let sync = outpost_sync::Sync::start(store.clone(), cfg).unwrap();
    // A cycle asked for, and the one a local change asks for on its own
    // (after its debounce): the stage is quiet after both.
    let settle = |sync: &outpost_sync::Sync| {
        let tokens = (sync.sync_now().unwrap(), store.clone());
        async move {
            let (token, store) = tokens;
            while !outpost_sync::request_served(&store, &token) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            let again = outpost_sync::request_now(&store).unwrap();
            while !outpost_sync::request_served(&store, &again) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            store.sync_status().unwrap()
        }
    };
    settle(&sync).await;

    // Stage "push": a party, a product and a sale with two lines, together.
    stage("push", &mut stages);
    let ctx = outpost_store::WriteCtx::default();
    let insert = |doctype: &str, v: Value| {
        store
            .write(
                ctx.clone(),
                outpost_store::Write::Insert {
                    doctype: doctype.into(),
                    record: rec(v),
                },
            )
            .unwrap()
            .value["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let party = insert("Party", json!({"party_name": "Acme Trading"}));
    let tea = insert(
        "Product",
        json!({"product_name": "Green tea", "code": "T-1", "list_price": 4.25}),
    );
    let sale_name = file["sale"].as_str().unwrap();
    let sale = insert(
        "Sale",
        json!({"name": sale_name, "party": party, "sale_date": "2026-11-21", "state": "Draft",
        "lines": [
            {"product": tea, "quantity": 2, "unit_price": 4.25},
            {"product": tea, "quantity": 10, "unit_price": 4}
        ]}),
    );
    let st = settle(&sync).await;
    assert_eq!(
        (st.link, st.outbox_pending, st.parked),
        (outpost_store::LinkState::Up, 0, 0),
        "{st:?}"
    );
    let link = store.sync_link("Sale", &sale).unwrap().unwrap();
    assert_eq!(link.remote_id, "SAL-ORD-2026-00001");
    assert_eq!(link.children.len(), 2, "{link:?}");
    let here = store.get("Sale", &sale).unwrap();
    assert_eq!(here["number"], "SAL-ORD-2026-00001", "{here:#}");
    assert_eq!(here["hq_state"], "Draft");
    assert_eq!(here["lines"].as_array().unwrap().len(), 2);

    // Stage "edit": the first line changed, the second removed, one added.
    stage("edit", &mut stages);
    let rows = here["lines"].as_array().unwrap();
    let mut first = rows[0].clone();
    first["quantity"] = json!(3);
    let rev = here["rev"].as_i64().unwrap();
    store
        .write(
            ctx.clone(),
            outpost_store::Write::Update {
                doctype: "Sale".into(),
                name: sale.clone(),
                rev,
                record: rec(json!({"lines": [first,
                    {"product": tea, "quantity": 1, "unit_price": 5}]})),
            },
        )
        .unwrap();
    let st = settle(&sync).await;
    assert_eq!((st.outbox_pending, st.parked), (0, 0), "{st:?}");
    let link2 = store.sync_link("Sale", &sale).unwrap().unwrap();
    let first_name = first["name"].as_str().unwrap();
    // The kept line is the same row at the head office; the new one has
    // the name ERPNext gave it.
    assert_eq!(link2.children[first_name], link.children[first_name]);
    assert!(
        link2.children.values().any(|id| id == "c3d4e5f6a7"),
        "{link2:?}"
    );
    assert_eq!(link2.version.as_deref(), Some("2026-11-21 10:11:00.000001"));

    // Stage "confirm": the office confirms; the draft is submitted.
    stage("confirm", &mut stages);
    let rev = store.get("Sale", &sale).unwrap()["rev"].as_i64().unwrap();
    store
        .write(
            ctx.clone(),
            outpost_store::Write::Update {
                doctype: "Sale".into(),
                name: sale.clone(),
                rev,
                record: rec(json!({"state": "Confirmed"})),
            },
        )
        .unwrap();
    let st = settle(&sync).await;
    assert_eq!((st.outbox_pending, st.parked), (0, 0), "{st:?}");
    let here = store.get("Sale", &sale).unwrap();
    assert_eq!(here["state"], "Confirmed");
    assert_eq!(here["hq_state"], "Confirmed", "{here:#}");
    assert_eq!(here["number"], "SAL-ORD-2026-00001");

    // Stage "completed": the head office delivers and bills it.
    stage("completed", &mut stages);
    settle(&sync).await;
    let here = store.get("Sale", &sale).unwrap();
    assert_eq!(here["hq_state"], "Done", "{here:#}");
    let lines: Vec<(f64, f64)> = here["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["quantity"].as_f64().unwrap(),
                l["unit_price"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [(3.0, 4.25), (1.0, 5.0)]);
    sync.stop().await;

    let r = r.lock().unwrap();
    assert!(
        r.misses.is_empty(),
        "requests with no written exchange: {:#?}",
        r.misses
    );
    let count = |what: &str| r.seen.iter().filter(|s| s.as_str() == what).count();
    let so = "\"/api/resource/Sales Order/SAL-ORD-2026-00001\"";
    assert_eq!(
        count("\"POST\" \"/api/method/frappe.client.insert_many\""),
        3,
        "{:#?}",
        r.seen
    );
    // One PUT for the edit, one for the submit.
    assert_eq!(count(&format!("\"PUT\" {so}")), 2, "{:#?}", r.seen);
    assert_eq!(count(&format!("\"GET\" {so}")), 1, "{:#?}", r.seen);
}

/// Submit and cancel leave documents already there alone, and a refusal
/// is Frappe's words, as a refusal.
#[tokio::test]
async fn sales_orders_are_submitted_once_and_refusals_keep_frappes_words() {
    let r = Arc::new(Mutex::new(Recorded {
        auth: "token k3y:s3cret".into(),
        exchanges: vec![],
        misses: vec![],
        seen: vec![],
    }));
    let url = serve(r.clone()).await;
    let text = format!(
        "kind = \"erpnext\"\nurl = \"{url}\"\nuser = \"k3y\"\npassword = \"s3cret\"\n\
         [doctypes.Sale]\nmodel = \"Sales Order\"\n"
    );
    let erp =
        Erpnext::new(UpstreamConfig::parse(&text, Path::new("upstream.toml")).unwrap()).unwrap();
    let ids: Vec<String> = [
        "SAL-ORD-2026-00001",
        "SAL-ORD-2026-00002",
        "SAL-ORD-2026-00003",
    ]
    .map(String::from)
    .to_vec();
    {
        let mut r = r.lock().unwrap();
        r.exchanges.push(exchange(
            json!({"method": "GET", "path": "/api/resource/Sales Order", "query": {
                "fields": ["name", "docstatus"], "filters": [["name", "in", ids]],
                "order_by": "name asc", "limit_page_length": "0"}}),
            200,
            json!({"data": [
                {"name": "SAL-ORD-2026-00001", "docstatus": 1},
                {"name": "SAL-ORD-2026-00002", "docstatus": 0},
                {"name": "SAL-ORD-2026-00003", "docstatus": 2}
            ]}),
            false,
        ));
        for (name, docstatus) in [("SAL-ORD-2026-00001", 1), ("SAL-ORD-2026-00002", 0)] {
            r.exchanges.push(exchange(
                json!({"method": "GET", "path": "/api/resource/Sales Order", "query": {
                    "fields": ["name", "docstatus"], "filters": [["name", "in", [name]]],
                    "order_by": "name asc", "limit_page_length": "0"}}),
                200,
                json!({"data": [{"name": name, "docstatus": docstatus}]}),
                false,
            ));
        }
        // ERPNext's own check (SalesOrder.validate_warehouse): a stock
        // item needs a delivery warehouse.
        r.exchanges.push(exchange(
            json!({"method": "PUT", "path": "/api/resource/Sales Order/SAL-ORD-2026-00002",
                "body": {"docstatus": 1}}),
            417,
            json!({"exc_type": "ValidationError",
                "_server_messages": "[\"{\\\"message\\\": \\\"Delivery warehouse required for stock item <b>T-1</b>\\\", \\\"title\\\": \\\"Message\\\", \\\"indicator\\\": \\\"red\\\", \\\"raise_exception\\\": 1}\"]"}),
            false,
        ));
        r.exchanges.push(exchange(
            json!({"method": "PUT", "path": "/api/resource/Sales Order/SAL-ORD-2026-00001",
                "body": {"docstatus": 2}}),
            200,
            json!({"data": {"name": "SAL-ORD-2026-00001", "docstatus": 2, "status": "Cancelled"}}),
            true,
        ));
    }
    // Only the draft is submitted; ERPNext refuses it, in its words.
    let e = erp
        .transition("Sale", &ids, outpost_sync::config::Transition::Confirm)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Rejected, "{e}");
    assert_eq!(
        e.message,
        "ERPNext: Delivery warehouse required for stock item T-1"
    );
    // Only the submitted one is cancelled; a draft cannot be, and says so.
    erp.transition("Sale", &ids[..1], outpost_sync::config::Transition::Cancel)
        .await
        .unwrap();
    let draft = erp
        .transition("Sale", &ids[1..2], outpost_sync::config::Transition::Cancel)
        .await
        .unwrap_err();
    assert_eq!(draft.class, ErrorClass::Rejected);
    assert!(draft.message.contains("draft"), "{draft}");
    let r = r.lock().unwrap();
    assert!(r.misses.is_empty(), "{:#?}", r.misses);
    let puts = r.seen.iter().filter(|s| s.starts_with("\"PUT\"")).count();
    assert_eq!(puts, 2, "{:#?}", r.seen);
}

/// "Test connection" against the written exchanges: the user the key
/// belongs to, ERPNext's version, the default company, each DocType; a
/// wrong secret is said as such.
#[tokio::test]
async fn a_test_connection_to_erpnext_says_what_the_site_has_or_that_the_key_is_wrong() {
    let r = recorded();
    let url = serve(r.clone()).await;
    let mut cfg = config(&url, "s3cret");
    let extra = UpstreamConfig::parse(
        &format!(
            "kind = \"erpnext\"\nurl = \"{url}\"\nuser = \"k3y\"\npassword = \"s3cret\"\n\
             [doctypes.Trip]\nmodel = \"Delivery Trip\"\nfields = {{ code = \"name\" }}\n"
        ),
        Path::new("upstream.toml"),
    )
    .unwrap();
    cfg.doctypes.extend(extra.doctypes);
    let found = outpost_sync::probe(&cfg).await.unwrap();
    assert_eq!(found.server, "ERPNext");
    assert_eq!(found.version.as_deref(), Some("15.49.1"));
    assert_eq!(found.user, "sync@kashgar.example");
    assert_eq!(found.company.as_deref(), Some("Kashgar Trading"));
    let shown: Vec<(&str, bool)> = found
        .models
        .iter()
        .map(|m| (m.model.as_str(), m.present))
        .collect();
    assert_eq!(
        shown,
        [("Customer", true), ("Item", true), ("Delivery Trip", false)]
    );
    assert!(!found.ok);
    let trip = found.models[2].problem.as_deref().unwrap();
    assert!(trip.contains("Delivery Trip does not exist"), "{trip}");
    assert!(r.lock().unwrap().misses.is_empty());

    let err = outpost_sync::probe(&config(&url, "wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert!(err.message.contains("wrong key or secret"), "{err}");
}
