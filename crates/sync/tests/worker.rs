//! The sync worker against a real `trytond` (party and product modules, one
//! company) with a real office database: round trip, deletions both ways,
//! no echo, nothing sent twice, and the conflict matrix for each policy.

use std::time::{Duration, Instant};

use outpost_e2e::trytond::Trytond;
use outpost_store::{Keep, LinkState, Store, StoreError, SyncStatus, Write};
use outpost_sync::{Sync, UpstreamConfig};

mod common;
use common::{ctx, insert, update};
use serde_json::{json, Value};

struct Office {
    _dir: tempfile::TempDir,
    store: Store,
    sync: Sync,
}

fn office(t: &Trytond, policy: &str) -> Office {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text = t.upstream_toml(
        None,
        &format!(
            "interval_seconds = 3600\nreconcile_minutes = 0\n\
             [doctypes.Party]\nmodel = \"party.party\"\nconflict = \"{policy}\"\n\
             [doctypes.Product]\nmodel = \"product.product\"\nconflict = \"{policy}\"\n"
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

fn delete(store: &Store, doctype: &str, name: &str) {
    store
        .write(
            ctx(),
            Write::Delete {
                doctype: doctype.into(),
                name: name.into(),
                rev: None,
            },
        )
        .unwrap();
}

/// Asks for a sync and waits until a cycle that began after the request
/// has ended; returns the status.
async fn cycle(o: &Office) -> SyncStatus {
    let token = o.sync.sync_now().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if outpost_sync::request_served(&o.store, &token) {
            break;
        }
        assert!(Instant::now() < deadline, "no sync cycle ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    o.store.sync_status().unwrap()
}

async fn synced(o: &Office) -> SyncStatus {
    let s = cycle(o).await;
    assert_eq!(s.link, LinkState::Up, "{s:?}");
    s
}

/// Local record of `doctype` with this code (live or not).
fn local(store: &Store, doctype: &str, code: &str) -> Option<Value> {
    let spec = outpost_store::QuerySpec {
        filter: outpost_store::query::parse_text(&format!("code:\"{code}\"")).unwrap(),
        ..Default::default()
    };
    let rows = store.query(doctype, &spec).unwrap();
    rows.first()
        .map(|r| store.get(doctype, r["name"].as_str().unwrap()).unwrap())
}

fn remote_party(t: &Trytond, code: &str) -> Option<Value> {
    let r = t.rpc(
        "model.party.party.search_read",
        json!([[["code", "=", code]], 0, null, null, ["name", "code", "active"], {"active_test": false}]),
    );
    let rows = r.as_array().unwrap();
    assert!(rows.len() <= 1, "{code} twice upstream: {r}");
    rows.first().cloned()
}

fn remote_write(t: &Trytond, code: &str, values: Value) {
    let id = remote_party(t, code).unwrap()["id"].clone();
    t.rpc("model.party.party.write", json!([[id], values, {}]));
}

fn remote_delete(t: &Trytond, code: &str) {
    let id = remote_party(t, code).unwrap()["id"].clone();
    t.rpc("model.party.party.delete", json!([[id], {}]));
}

fn remote_create(t: &Trytond, name: &str, code: &str) {
    t.rpc(
        "model.party.party.create",
        json!([[{"name": name, "code": code}], {}]),
    );
}

/// The head office has `code` active again, with `name`.
fn assert_active_there(t: &Trytond, code: &str, name: &str) {
    let p = remote_party(t, code).unwrap();
    assert_eq!(
        (p["name"].as_str(), p["active"].as_i64()),
        (Some(name), Some(1)),
        "{code}: {p}"
    );
}

fn is_deleted(store: &Store, doctype: &str, name: &str) -> bool {
    matches!(store.get(doctype, name), Err(StoreError::Deleted { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_and_products_go_up_and_head_office_changes_come_down() {
    let t = Trytond::start();
    let o = office(&t, "ask");

    let acme = insert(
        &o.store,
        "Party",
        json!({"party_name": "Acme", "code": "P-1", "city": "Kashgar"}),
    );
    let nocode = insert(&o.store, "Party", json!({"party_name": "No Code"}));
    let tea = insert(
        &o.store,
        "Product",
        json!({"product_name": "Tea", "code": "T-1", "list_price": 12.5}),
    );
    let s = synced(&o).await;
    assert_eq!(s.outbox_pending, 0, "{s:?}");
    assert_eq!(remote_party(&t, "P-1").unwrap()["name"], "Acme");
    // A record without a code goes up with its Outpost name as its key.
    assert_eq!(remote_party(&t, &nocode).unwrap()["name"], "No Code");
    let templates = t.all(
        "product.template",
        &["name", "code", "list_price", "active"],
    );
    let tpl = templates.iter().find(|p| p["code"] == "T-1").unwrap();
    assert_eq!(tpl["name"], "Tea");
    assert_eq!(tpl["list_price"]["decimal"], "12.5");
    let variants = t.all("product.product", &["code", "template"]);
    assert_eq!(
        variants.iter().filter(|v| v["code"] == "T-1").count(),
        1,
        "{variants:?}"
    );
    assert!(s.bytes.sent_total > 0 && s.bytes.received_total > 0);

    // Nothing new: nothing created again, and the push sends nothing.
    let s2 = synced(&o).await;
    assert_eq!(t.all("party.party", &["code"]).len(), 3, "HQ, P-1, No Code");
    assert_eq!(s2.outbox_pending, 0);

    // Head-office changes come down, through the store (logged for
    // slaves as the upstream's), and do not echo back into the outbox.
    let seq = o
        .store
        .changes_since(0, 10_000)
        .unwrap()
        .last()
        .unwrap()
        .seq;
    remote_write(&t, "P-1", json!({"name": "Acme Ltd"}));
    remote_create(&t, "Remote One", "R-1");
    let id = tpl["id"].clone();
    t.rpc(
        "model.product.template.write",
        json!([[id], {"list_price": {"__class__": "Decimal", "decimal": "13.00"}}, {"company": 1}]),
    );
    let s = synced(&o).await;
    assert_eq!(s.outbox_pending, 0, "{s:?}");
    assert_eq!(
        o.store.get("Party", &acme).unwrap()["party_name"],
        "Acme Ltd"
    );
    assert_eq!(o.store.get("Party", &acme).unwrap()["city"], "Kashgar");
    assert_eq!(
        local(&o.store, "Party", "R-1").unwrap()["party_name"],
        "Remote One"
    );
    assert_eq!(o.store.get("Product", &tea).unwrap()["list_price"], 13.0);
    let changes = o.store.changes_since(seq, 100).unwrap();
    assert!(
        changes.len() >= 3 && changes.iter().all(|c| c.device == "upstream"),
        "{changes:?}"
    );
    // (The head office's own party came down with the first pull.)
    assert!(local(&o.store, "Party", "HQ").is_some());

    // Deactivated upstream: deleted here. Deleted upstream: noticed by
    // comparing id sets, deleted here.
    let r1 = local(&o.store, "Party", "R-1").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    remote_write(&t, "R-1", json!({"active": false}));
    remote_delete(&t, "P-1");
    synced(&o).await;
    assert!(is_deleted(&o.store, "Party", &r1));
    assert!(is_deleted(&o.store, "Party", &acme));

    // Office changes to linked records go up as writes; a deleted product
    // is deactivated upstream (the template keeps its history).
    update(
        &o.store,
        "Party",
        &nocode,
        json!({"party_name": "Has A Name"}),
    );
    delete(&o.store, "Product", &tea);
    synced(&o).await;
    assert_eq!(remote_party(&t, &nocode).unwrap()["name"], "Has A Name");
    let templates = t.all("product.template", &["code", "active"]);
    let tpl = templates.iter().find(|p| p["code"] == "T-1").unwrap();
    assert_eq!(tpl["active"], 0, "{tpl}");
    // Its own deactivation coming back does not bring the product back.
    let again = synced(&o).await;
    assert!(is_deleted(&o.store, "Product", &tea), "{again:?}");
    assert_eq!(again.outbox_pending, 0);
    assert_eq!(o.store.sync_status().unwrap().conflicts, 0);
    o.sync.stop().await;
}

/// The conflict matrix (after jIO's replicate storage tests): each record
/// below is changed on one side or both between two syncs, for each
/// policy.
///
/// - one side only (create, modify, delete here; create, modify, delete at
///   the head office): no conflict, the change reaches the other side;
/// - create/create (the same code made on both sides), modify/modify,
///   modify/delete, delete/modify: a conflict, settled by the policy;
/// - delete/delete: both agree, no conflict.
async fn matrix(policy: &str) {
    let t = Trytond::start();
    let o = office(&t, policy);
    let s = &o.store;
    let mut names = std::collections::HashMap::new();
    for code in ["MM", "MD", "MX", "DM", "DD", "LM", "LD", "RM", "RD"] {
        names.insert(
            code,
            insert(
                s,
                "Party",
                json!({"party_name": format!("{code} v1"), "code": code}),
            ),
        );
    }
    synced(&o).await;

    // Between two syncs:
    insert(s, "Party", json!({"party_name": "CC office", "code": "CC"}));
    insert(s, "Party", json!({"party_name": "LC office", "code": "LC"}));
    update(s, "Party", &names["MM"], json!({"party_name": "MM office"}));
    update(s, "Party", &names["MD"], json!({"party_name": "MD office"}));
    update(s, "Party", &names["MX"], json!({"party_name": "MX office"}));
    update(s, "Party", &names["LM"], json!({"party_name": "LM office"}));
    delete(s, "Party", &names["DM"]);
    delete(s, "Party", &names["DD"]);
    delete(s, "Party", &names["LD"]);
    remote_create(&t, "CC head office", "CC");
    remote_create(&t, "RC head office", "RC");
    remote_write(&t, "MM", json!({"name": "MM head office"}));
    remote_write(&t, "DM", json!({"name": "DM head office"}));
    remote_write(&t, "RM", json!({"name": "RM head office"}));
    remote_delete(&t, "MD");
    // Deactivated at the head office: a deletion for Party.
    remote_write(&t, "MX", json!({"active": false}));
    remote_delete(&t, "DD");
    remote_delete(&t, "RD");
    let status = synced(&o).await;
    // A second sync carries out what the first decided (keep local pushes).
    synced(&o).await;

    // One side only: no conflict whatever the policy.
    assert_eq!(remote_party(&t, "LC").unwrap()["name"], "LC office");
    assert_eq!(
        local(s, "Party", "RC").unwrap()["party_name"],
        "RC head office"
    );
    assert_eq!(remote_party(&t, "LM").unwrap()["name"], "LM office");
    assert_eq!(
        s.get("Party", &names["RM"]).unwrap()["party_name"],
        "RM head office"
    );
    assert_eq!(remote_party(&t, "LD").unwrap()["active"], 0);
    assert!(is_deleted(s, "Party", &names["RD"]));
    // Both deleted: they agree.
    assert!(is_deleted(s, "Party", &names["DD"]));
    assert!(remote_party(&t, "DD").is_none());

    let conflicts = s.sync_conflicts(true).unwrap();
    let kinds: std::collections::BTreeMap<String, (String, String)> = conflicts
        .iter()
        .map(|c| {
            let code = c.local["code"]
                .as_str()
                .or(c.remote["values"]["code"].as_str())
                .unwrap_or("?")
                .to_string();
            (code, (c.kind.clone(), c.state.as_str().to_string()))
        })
        .collect();
    let state = match policy {
        "keep_remote" => "kept_remote",
        "keep_local" => "kept_local",
        _ => "open",
    };
    let want: std::collections::BTreeMap<String, (String, String)> = [
        ("CC", "create/create"),
        ("MM", "modify/modify"),
        ("MD", "modify/delete"),
        ("MX", "modify/delete"),
        ("DM", "delete/modify"),
    ]
    .into_iter()
    .map(|(c, k)| (c.to_string(), (k.to_string(), state.to_string())))
    .collect();
    assert_eq!(kinds, want, "{conflicts:#?} (first sync: {status:?})");
    // Every conflict keeps both versions.
    for c in &conflicts {
        assert!(
            !c.remote["values"].is_null() || c.remote["gone"] == true,
            "{c:?}"
        );
    }

    // The office's and the head office's name of a record.
    let here = |code: &str| s.get("Party", &names[code]).unwrap()["party_name"].clone();
    let there = |code: &str| remote_party(&t, code).unwrap()["name"].clone();
    let cc = local(s, "Party", "CC").unwrap();
    match policy {
        "keep_remote" => {
            assert_eq!(cc["party_name"], "CC head office");
            assert_eq!(there("CC"), "CC head office");
            assert_eq!(here("MM"), "MM head office");
            assert_eq!(there("MM"), "MM head office");
            assert!(is_deleted(s, "Party", &names["MD"]));
            assert!(remote_party(&t, "MD").is_none());
            assert!(is_deleted(s, "Party", &names["MX"]));
            assert_eq!(remote_party(&t, "MX").unwrap()["active"], 0);
            assert_eq!(here("DM"), "DM head office");
            assert_eq!(remote_party(&t, "DM").unwrap()["active"], 1);
        }
        "keep_local" => {
            assert_eq!(cc["party_name"], "CC office");
            assert_eq!(there("CC"), "CC office");
            assert_eq!(here("MM"), "MM office");
            assert_eq!(there("MM"), "MM office");
            // Deleted upstream, kept here: made again upstream.
            assert_eq!(there("MD"), "MD office");
            // Deactivated upstream, kept here: active again, with the
            // office's version (and it stays here).
            assert_active_there(&t, "MX", "MX office");
            assert_eq!(here("MX"), "MX office");
            assert!(is_deleted(s, "Party", &names["DM"]));
            assert_eq!(remote_party(&t, "DM").unwrap()["active"], 0);
        }
        _ => {
            // Nothing moved on either side.
            assert_eq!(cc["party_name"], "CC office");
            assert_eq!(there("CC"), "CC head office");
            assert_eq!(here("MM"), "MM office");
            assert_eq!(there("MM"), "MM head office");
            assert_eq!(here("MD"), "MD office");
            assert!(remote_party(&t, "MD").is_none());
            assert_eq!(remote_party(&t, "MX").unwrap()["active"], 0);
            assert!(is_deleted(s, "Party", &names["DM"]));
            assert_eq!(remote_party(&t, "DM").unwrap()["active"], 1);
            assert_eq!(s.sync_status().unwrap().conflicts, 5);
            // A person decides: three for the office, two for the head office.
            let id = |code: &str| {
                conflicts
                    .iter()
                    .find(|c| c.local["code"] == code || c.remote["values"]["code"] == code)
                    .unwrap()
                    .id
            };
            s.sync_resolve(id("CC"), Keep::Local).unwrap();
            s.sync_resolve(id("MD"), Keep::Local).unwrap();
            s.sync_resolve(id("MX"), Keep::Local).unwrap();
            s.sync_resolve(id("MM"), Keep::Remote).unwrap();
            s.sync_resolve(id("DM"), Keep::Remote).unwrap();
            assert!(
                s.sync_resolve(id("DM"), Keep::Local).is_err(),
                "settled twice"
            );
            synced(&o).await;
            assert_eq!(there("CC"), "CC office");
            assert_eq!(there("MD"), "MD office");
            assert_active_there(&t, "MX", "MX office");
            assert_eq!(here("MM"), "MM head office");
            assert_eq!(there("MM"), "MM head office");
            assert_eq!(here("DM"), "DM head office");
            assert_eq!(s.sync_status().unwrap().conflicts, 0);
        }
    }
    // Whatever the policy: one copy of each code upstream, nothing left to
    // push, and a further sync changes nothing.
    let s1 = synced(&o).await;
    assert_eq!(s1.outbox_pending, 0, "{s1:?}");
    let codes: Vec<String> = t
        .all("party.party", &["code"])
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    let mut dedup = codes.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(codes.len(), dedup.len(), "{codes:?}");
    o.sync.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_matrix_keep_remote() {
    matrix("keep_remote").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_matrix_keep_local() {
    matrix("keep_local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_matrix_ask() {
    matrix("ask").await;
}

/// A record the head office refuses (here: a product type Tryton does not
/// have) is parked with Tryton's words; the others of its batch go up, and
/// a later fix of the record goes up too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_is_parked_and_does_not_hold_the_others_back() {
    let t = Trytond::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // The office's `unit` goes to the template's `type`, a selection
    // (goods, assets, service): anything else is refused.
    let text = t.upstream_toml(
        None,
        "interval_seconds = 3600\n[doctypes.Product]\nmodel = \"product.template\"\n\
         fields = { product_name = \"name\", code = \"code\", unit = \"type\" }\n",
    );
    let cfg = UpstreamConfig::parse(&text, &dir.path().join("upstream.toml")).unwrap();
    let sync = Sync::start(store.clone(), cfg).unwrap();
    let o = Office {
        _dir: dir,
        store,
        sync,
    };
    let product = |i: usize, unit: &str| json!({"product_name": format!("Product {i}"), "code": format!("PK-{i}"), "unit": unit});
    let mut bad = String::new();
    for i in 0..9 {
        let name = insert(
            &o.store,
            "Product",
            product(i, if i == 4 { "box" } else { "goods" }),
        );
        if i == 4 {
            bad = name;
        }
    }
    let s = synced(&o).await;
    assert_eq!((s.parked, s.outbox_pending), (1, 0), "{s:?}");
    let up = |code: &str| {
        t.all("product.template", &["code", "type"])
            .into_iter()
            .find(|p| p["code"] == code)
    };
    for i in (0..9).filter(|i| *i != 4) {
        assert_eq!(up(&format!("PK-{i}")).unwrap()["type"], "goods", "PK-{i}");
    }
    assert!(up("PK-4").is_none());
    let parked = o.store.outbox_parked().unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].name, bad);
    assert!(
        parked[0].message.contains("not one of the allowed options"),
        "{}",
        parked[0].message
    );

    // Fixed here: it goes up, and nothing stays parked.
    update(&o.store, "Product", &bad, json!({"unit": "service"}));
    let s = synced(&o).await;
    assert_eq!((s.parked, s.outbox_pending), (0, 0), "{s:?}");
    assert_eq!(up("PK-4").unwrap()["type"], "service");
    o.sync.stop().await;
}

/// One cycle that pushes 600 new Parties makes six calls (trytond closes
/// every connection, so the proxy's connections are the calls): login,
/// the user's company, two creates of 500 and 100, one pulled page (2000
/// to a page) that brings them back, and the comparison of id sets. No
/// version read-back: each link's version comes from that pull, and is
/// the head office's `_timestamp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cycle_makes_six_calls_and_its_versions_come_from_the_pull() {
    use outpost_e2e::proxy::{LinkConfig, LinkProxy};
    let t = Trytond::start();
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), LinkConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let records: Vec<serde_json::Map<String, Value>> = (0..600)
        .map(|i| {
            json!({"party_name": format!("Caravan {i}"), "code": format!("CV-{i:04}")})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    store
        .write(
            ctx(),
            Write::InsertMany {
                doctype: "Party".into(),
                records,
            },
        )
        .unwrap();
    let text = t.upstream_toml(
        Some(&format!("http://{}/", proxy.addr())),
        "interval_seconds = 3600\n[doctypes.Party]\nmodel = \"party.party\"\n",
    );
    let cfg = UpstreamConfig::parse(&text, &dir.path().join("upstream.toml")).unwrap();
    // Asked before the worker starts: its first cycle serves the ask.
    let token = outpost_sync::request_now(&store).unwrap();
    let sync = Sync::start(store.clone(), cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !outpost_sync::request_served(&store, &token) {
        assert!(Instant::now() < deadline, "no sync cycle ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = store.sync_status().unwrap();
    assert_eq!(status.link, LinkState::Up, "{status:?}");
    assert_eq!(status.outbox_pending, 0, "{status:?}");
    assert_eq!(proxy.connections(), 6, "calls in the cycle");

    let remote: std::collections::HashMap<String, String> = t
        .rpc(
            "model.party.party.search_read",
            json!([
                [["code", "like", "CV-%"]],
                0,
                null,
                null,
                ["code", "_timestamp"],
                {}
            ]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["_timestamp"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(remote.len(), 600);
    for i in [0, 299, 599] {
        let code = format!("CV-{i:04}");
        let name = local(&store, "Party", &code).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();
        let link = store.sync_link("Party", &name).unwrap().expect("linked");
        let version = link.version.expect("a version, from the pull");
        assert_eq!(version, remote[&code], "{code}");
    }
    sync.stop().await;
}
