//! An office's day of writes, in two halves around a snapshot: every kind
//! of write the store makes (records, child rows, bulk inserts, request-id
//! replays, devices, settings, the upstream bookkeeping), with concurrent
//! writers sharing group commits and refused writes among them.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use outpost_store::{Link, Policy, PulledPage, PulledRecord, Store, Synced, Write, WriteCtx};
use serde_json::{json, Map, Value};

use crate::common::*;

fn upstream_ctx() -> WriteCtx {
    WriteCtx {
        device: "upstream".into(),
        request_id: None,
        user: None,
        from_upstream: true,
    }
}

fn pulled_party(remote_id: &str, name: &str, code: &str) -> Write {
    Write::Pull(Box::new(PulledPage {
        doctype: "Party".into(),
        key_field: "code".into(),
        active_field: false,
        policy: Policy::Ask,
        known_only: false,
        records: vec![PulledRecord {
            remote_id: remote_id.into(),
            version: Some("v1".into()),
            active: true,
            gone: false,
            values: obj(json!({"party_name": name, "code": code})),
            remote_only: Map::new(),
            children: BTreeMap::new(),
            hash: format!("h-{remote_id}"),
        }],
        cursor: Some(("2026-12-02 10:00:00.000000".into(), remote_id.into())),
    }))
}

fn sale(store: &Store, party: &str, products: &[(&Value, f64)]) -> Value {
    let lines: Vec<Value> = products
        .iter()
        .map(|(p, q)| json!({"product": name_of(p), "quantity": q, "unit_price": 2.5}))
        .collect();
    insert(store, "Sale", json!({"party": party, "lines": lines}))
}

/// The first half of the office's day: records, a sale with lines,
/// devices, settings.
pub fn morning(store: &Store) -> (Vec<Value>, Vec<Value>) {
    let parties: Vec<Value> = (0..5)
        .map(|i| party(store, &format!("Party {i}"), &format!("P{i}")))
        .collect();
    let products: Vec<Value> = (0..3)
        .map(|i| {
            product(
                store,
                &format!("Product {i}"),
                &format!("T{i}"),
                1.0 + i as f64,
            )
        })
        .collect();
    sale(
        store,
        &name_of(&parties[0]),
        &[(&products[0], 1.0), (&products[1], 2.0)],
    );
    store
        .approve_device(&"ab".repeat(32), "Front desk")
        .unwrap();
    store.set_meta("office_name", "Kashgar depot").unwrap();
    (parties, products)
}

/// The rest of the day, after the snapshot: every kind of write there is.
pub fn afternoon(store: &Store, parties: &[Value], products: &[Value]) {
    // Updates, deletes, a sale whose lines change, inserts many.
    let p1 = &parties[1];
    store
        .write(
            ctx("desk"),
            upd(
                "Party",
                &name_of(p1),
                rev_of(p1),
                json!({"party_name": "Renamed"}),
            ),
        )
        .unwrap();
    let p4 = &parties[4];
    store
        .write(ctx("desk"), del("Party", &name_of(p4), Some(rev_of(p4))))
        .unwrap();
    let s = sale(store, &name_of(&parties[2]), &[(&products[2], 3.0)]);
    let line = s["lines"][0]["name"].as_str().unwrap().to_string();
    store
        .write(
            ctx("desk"),
            upd(
                "Sale",
                &name_of(&s),
                rev_of(&s),
                json!({"lines": [
                    {"name": line, "product": name_of(&products[2]), "quantity": 5, "unit_price": 2.5},
                    {"product": name_of(&products[0]), "quantity": 1, "unit_price": 1}
                ]}),
            ),
        )
        .unwrap();
    let many: Vec<Map<String, Value>> = (0..50)
        .map(|i| obj(json!({"product_name": format!("Bulk {i}"), "code": format!("B{i}")})))
        .collect();
    store
        .write(
            ctx("import"),
            Write::InsertMany {
                doctype: "Product".into(),
                records: many,
            },
        )
        .unwrap();
    // A request id answered, then replayed from its stored answer.
    let first = store
        .write(
            ctx_id("ab".repeat(32).as_str(), "req-1"),
            ins("Party", json!({"party_name": "Once", "code": "ONCE"})),
        )
        .unwrap();
    let again = store
        .write(
            ctx_id("ab".repeat(32).as_str(), "req-1"),
            ins("Party", json!({"party_name": "Once", "code": "ONCE"})),
        )
        .unwrap();
    assert!(!first.replayed && again.replayed);
    // Concurrent writers share group commits; refused writes (a stale rev,
    // a duplicate code) sit in the same batches as stored ones.
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            let stale = parties[1].clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..25 {
                    let code = format!("C{t}-{i}");
                    store
                        .write(
                            ctx("desk"),
                            ins("Party", json!({"party_name": code, "code": code})),
                        )
                        .unwrap();
                    if i % 10 == 0 {
                        let stale = store.write(
                            ctx("desk"),
                            upd(
                                "Party",
                                &name_of(&stale),
                                rev_of(&stale),
                                json!({"party_name": "x"}),
                            ),
                        );
                        assert!(stale.is_err());
                        let dup = store.write(
                            ctx("desk"),
                            ins("Party", json!({"party_name": "d", "code": "P0"})),
                        );
                        assert!(dup.is_err());
                        // Refused after it wrote its first record: its
                        // savepoint rolls back rows the session saw.
                        let half = store.write(
                            ctx("desk"),
                            Write::InsertMany {
                                doctype: "Party".into(),
                                records: vec![
                                    obj(json!({"party_name": "h", "code": format!("H{t}-{i}")})),
                                    obj(json!({"party_name": "h", "code": "P0"})),
                                ],
                            },
                        );
                        assert!(half.is_err());
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Devices and settings: approved, seen, revoked; a setting changed.
    store
        .approve_device(&"cd".repeat(32), "Store room")
        .unwrap();
    store.touch_device(&"ab".repeat(32)).unwrap();
    store.revoke_device(&"cd".repeat(8)).unwrap();
    store.set_meta("office_name", "Kashgar depot 2").unwrap();
    // The upstream bookkeeping: the outbox's states, a link, a pulled page
    // (with its cursor), the worker's state and byte counts.
    let batch = store.outbox_batch(&["Party".into()], 5).unwrap();
    assert_eq!(batch.len(), 5);
    store
        .outbox_mark_sending(&[batch[0].seq, batch[1].seq])
        .unwrap();
    store.outbox_park(&[batch[2].seq], "Tryton: no").unwrap();
    store
        .sync_done(&[Synced {
            doctype: batch[0].doctype.clone(),
            name: batch[0].name.clone(),
            upto: batch[0].seq,
            link: Some(Link {
                remote_id: "7".into(),
                hash: "h".into(),
                version: Some("v".into()),
                inactive: false,
                children: BTreeMap::new(),
            }),
        }])
        .unwrap();
    store
        .write(upstream_ctx(), pulled_party("90", "From HQ", "HQ-90"))
        .unwrap();
    store
        .set_sync_state(&[("link", "up"), ("last_success", "2026-12-02T10:00:00Z")])
        .unwrap();
    store.sync_add_bytes(1200, 3400).unwrap();
}
