//! The sync bookkeeping on a real SQLite file, without a worker or a
//! remote: the outbox's states, links with their rows' remote ids, a pulled
//! page applied with its cursor (known-only pages, values only the head
//! office sets, conflicts by policy), and a person's choice.

mod common;

use std::collections::BTreeMap;

use common::*;
use outpost_store::{
    ChangeOp, ConflictState, Keep, Link, OutboxState, Policy, PulledPage, PulledRecord, Synced,
    Write, WriteCtx,
};
use serde_json::{json, Map, Value};

fn upstream() -> WriteCtx {
    WriteCtx {
        device: "upstream".into(),
        request_id: None,
        user: None,
        from_upstream: true,
    }
}

fn pulled(remote_id: &str, values: Value) -> PulledRecord {
    PulledRecord {
        remote_id: remote_id.into(),
        version: Some("v1".into()),
        active: true,
        gone: false,
        values: obj(values),
        remote_only: Map::new(),
        children: BTreeMap::new(),
        hash: format!("h-{remote_id}"),
    }
}

fn page(doctype: &str, key: &str, policy: Policy, records: Vec<PulledRecord>) -> Write {
    Write::Pull(Box::new(PulledPage {
        doctype: doctype.into(),
        key_field: key.into(),
        active_field: false,
        policy,
        known_only: key == "name",
        records,
        cursor: Some(("2026-12-02 10:00:00.000000".into(), "9".into())),
    }))
}

#[test]
fn an_outbox_entry_goes_pending_sending_parked_and_is_done_with_its_link() {
    let (_dir, store) = open();
    let p = party(&store, "Acme", "AC");
    let name = name_of(&p);
    let batch = store.outbox_batch(&["Party".into()], 10).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        (batch[0].op, batch[0].state),
        (ChangeOp::Insert, OutboxState::Pending)
    );
    store.outbox_mark_sending(&[batch[0].seq]).unwrap();
    let again = store.outbox_batch(&["Party".into()], 10).unwrap();
    assert_eq!(again[0].state, OutboxState::Sending);
    // Parked: out of the batch, counted, with the remote's words.
    store.outbox_park(&[batch[0].seq], "Tryton: no").unwrap();
    assert!(store
        .outbox_batch(&["Party".into()], 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .outbox_parked_reason("Party", &name)
            .unwrap()
            .as_deref(),
        Some("Tryton: no")
    );
    let parked = store.outbox_parked().unwrap();
    assert_eq!(
        (parked[0].op, parked[0].message.as_str()),
        (ChangeOp::Insert, "Tryton: no")
    );
    // Done with a link that knows its rows' remote ids.
    let children: BTreeMap<String, String> = [("row-1".to_string(), "71".to_string())].into();
    store
        .sync_done(&[Synced {
            doctype: "Party".into(),
            name: name.clone(),
            upto: batch[0].seq,
            link: Some(Link {
                remote_id: "7".into(),
                hash: "h".into(),
                version: Some("v".into()),
                inactive: false,
                children: children.clone(),
            }),
        }])
        .unwrap();
    assert_eq!(store.outbox_parked().unwrap().len(), 0);
    let link = store.sync_link("Party", &name).unwrap().unwrap();
    assert_eq!(link.children, children);
    assert_eq!(store.sync_local_name("Party", "7").unwrap(), Some(name));
}

#[test]
fn a_state_word_the_store_does_not_know_is_an_error_when_read_not_a_default() {
    let (_dir, store) = open();
    party(&store, "Acme", "AC");
    raw(&store)
        .execute("UPDATE _outbox SET state = 'sent-ish'", [])
        .unwrap();
    // Not in a batch (the SQL filters by state) ...
    assert!(store
        .outbox_batch(&["Party".into()], 10)
        .unwrap()
        .is_empty());
    // ... and a parked row with a broken op word is refused when read.
    raw(&store)
        .execute("UPDATE _outbox SET state = 'parked', op = 'upsert'", [])
        .unwrap();
    let err = store.outbox_parked().unwrap_err().to_string();
    assert!(err.contains("upsert"), "{err}");
}

#[test]
fn a_pulled_page_moves_its_cursor_forward_only_and_applies_what_the_office_does_not_have() {
    let (_dir, store) = open();
    store
        .write(
            upstream(),
            page(
                "Party",
                "code",
                Policy::Ask,
                vec![pulled(
                    "1",
                    json!({"party_name": "From HQ", "code": "HQ-1"}),
                )],
            ),
        )
        .unwrap();
    let (stamp, id, _) = store.sync_cursor("Party").unwrap().unwrap();
    assert_eq!(
        (stamp.as_str(), id.as_str()),
        ("2026-12-02 10:00:00.000000", "9")
    );
    let here = store.query_json("Party", "code:HQ-1");
    assert_eq!(here.len(), 1);
    // Nothing went into the outbox: it came from the head office.
    assert_eq!(store.outbox_pending().unwrap(), 0);
    // An older cursor does not move it back.
    let Write::Pull(mut older) = page("Party", "code", Policy::Ask, vec![]) else {
        unreachable!()
    };
    older.cursor = Some(("2026-12-01 00:00:00.000000".into(), "1".into()));
    store.write(upstream(), Write::Pull(older)).unwrap();
    assert_eq!(store.sync_cursor("Party").unwrap().unwrap().0, stamp);
}

#[test]
fn a_known_only_page_skips_records_made_elsewhere_and_sets_what_only_the_head_office_sets() {
    let (_dir, store) = open();
    let p = party(&store, "Acme", "AC");
    let prod = product(&store, "Tea", "TEA", 1.0);
    let line = json!([{"product": name_of(&prod), "quantity": 1, "unit_price": 1}]);
    let sale = insert(&store, "Sale", json!({"party": name_of(&p), "lines": line}));
    let name = name_of(&sale);
    let row = sale["lines"][0]["name"].as_str().unwrap().to_string();
    // The office's own sale (found by its name, the key) and a sale made
    // at the head office.
    let mut ours = pulled(
        "40",
        json!({"name": name, "party": name_of(&p), "lines": [
            {"name": row, "product": name_of(&prod), "quantity": 1.0, "unit_price": 1.0}
        ]}),
    );
    ours.remote_only = obj(json!({"number": "S-40", "hq_state": "Processing"}));
    ours.children = [(row.clone(), "400".to_string())].into();
    let theirs = pulled("41", json!({"name": "made-at-hq", "party": name_of(&p)}));
    // The office's sale has no unsent change: drop its outbox first.
    let seqs: Vec<i64> = store
        .outbox_batch(&["Sale".into()], 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    store
        .sync_done(&[Synced {
            doctype: "Sale".into(),
            name: name.clone(),
            upto: *seqs.last().unwrap(),
            link: None,
        }])
        .unwrap();
    store
        .write(
            upstream(),
            page("Sale", "name", Policy::Ask, vec![ours, theirs]),
        )
        .unwrap();
    let after = store.get("Sale", &name).unwrap();
    assert_eq!(
        (&after["number"], &after["hq_state"]),
        (&json!("S-40"), &json!("Processing"))
    );
    assert_eq!(
        store.count_json("Sale"),
        1,
        "the head office's own sale did not come down"
    );
    let link = store.sync_link("Sale", &name).unwrap().unwrap();
    assert_eq!(link.children.get(&row).map(String::as_str), Some("400"));
    // The same values again, with a new state only: applied, no conflict.
    let mut next = pulled(
        "40",
        json!({"name": name, "party": name_of(&p), "lines": [
            {"name": row, "product": name_of(&prod), "quantity": 1.0, "unit_price": 1.0}
        ]}),
    );
    next.remote_only = obj(json!({"number": "S-40", "hq_state": "Done"}));
    store
        .write(upstream(), page("Sale", "name", Policy::Ask, vec![next]))
        .unwrap();
    assert_eq!(store.get("Sale", &name).unwrap()["hq_state"], "Done");
    assert!(store.sync_conflicts(true).unwrap().is_empty());
}

/// A Party synced (linked to remote 5 at version v0), then changed here;
/// its name.
fn synced_then_changed_here(store: &outpost_store::Store) -> String {
    let p = party(store, "Acme", "AC");
    let name = name_of(&p);
    let seq = store.outbox_batch(&["Party".into()], 10).unwrap()[0].seq;
    store
        .sync_done(&[Synced {
            doctype: "Party".into(),
            name: name.clone(),
            upto: seq,
            link: Some(Link {
                remote_id: "5".into(),
                hash: "agreed".into(),
                version: Some("v0".into()),
                inactive: false,
                children: BTreeMap::new(),
            }),
        }])
        .unwrap();
    store
        .write(
            ctx("till"),
            upd("Party", &name, rev_of(&p), json!({"city": "Hotan"})),
        )
        .unwrap();
    name
}

#[test]
fn a_record_changed_on_both_sides_waits_for_a_person_who_keeps_one_side() {
    let (_dir, store) = open();
    // Changed here ...
    let name = synced_then_changed_here(&store);
    // ... and there.
    store
        .write(
            upstream(),
            page(
                "Party",
                "code",
                Policy::Ask,
                vec![pulled("5", json!({"party_name": "Acme HQ", "code": "AC"}))],
            ),
        )
        .unwrap();
    let open = store.sync_conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].kind.as_str(), open[0].state),
        ("modify/modify", ConflictState::Open)
    );
    // The record's change waits while the conflict is open.
    assert!(store
        .outbox_batch(&["Party".into()], 10)
        .unwrap()
        .is_empty());
    assert!(store.sync_open_conflict("Party", &name).unwrap());
    let settled = store.sync_resolve(open[0].id, Keep::Remote).unwrap();
    assert_eq!(
        (settled.state, settled.requested),
        (ConflictState::KeptRemote, Some(Keep::Remote))
    );
    assert_eq!(store.get("Party", &name).unwrap()["party_name"], "Acme HQ");
    let err = store
        .sync_resolve(open[0].id, Keep::Local)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already settled"), "{err}");
}

/// "Keep the office's" version, then a pull that sees the same remote
/// version again before the push went out (a cycle already under way when
/// the person chose): no new conflict, and the office's change still goes
/// out over that version.
#[test]
fn a_remote_version_already_decided_over_is_not_a_new_conflict_when_pulled_again() {
    let (_dir, store) = open();
    let name = synced_then_changed_here(&store);
    let there = || {
        page(
            "Party",
            "code",
            Policy::Ask,
            vec![pulled("5", json!({"party_name": "Acme HQ", "code": "AC"}))],
        )
    };
    store.write(upstream(), there()).unwrap();
    let open = store.sync_conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    store.sync_resolve(open[0].id, Keep::Local).unwrap();
    // The same remote version, pulled again before the push.
    store.write(upstream(), there()).unwrap();
    assert!(
        store.sync_conflicts(false).unwrap().is_empty(),
        "a new conflict over a version already decided"
    );
    let out = store.outbox_batch(&["Party".into()], 10).unwrap();
    assert_eq!(out.len(), 1, "the office's change goes out");
    assert_eq!(store.get("Party", &name).unwrap()["city"], "Hotan");
    assert_eq!(store.get("Party", &name).unwrap()["party_name"], "Acme");
    // A newer remote version after that is a conflict again.
    let mut newer = pulled("5", json!({"party_name": "Acme HQ 2", "code": "AC"}));
    newer.version = Some("v2".into());
    newer.hash = "h-5-2".into();
    store
        .write(upstream(), page("Party", "code", Policy::Ask, vec![newer]))
        .unwrap();
    assert_eq!(store.sync_conflicts(false).unwrap().len(), 1);
}

trait Json {
    fn query_json(&self, doctype: &str, q: &str) -> Vec<Value>;
    fn count_json(&self, doctype: &str) -> u64;
}

impl Json for outpost_store::Store {
    fn query_json(&self, doctype: &str, q: &str) -> Vec<Value> {
        let spec = outpost_store::QuerySpec {
            filter: outpost_store::query::parse_text(q).unwrap(),
            ..Default::default()
        };
        self.query(doctype, &spec).unwrap()
    }

    fn count_json(&self, doctype: &str) -> u64 {
        self.query(doctype, &outpost_store::QuerySpec::default())
            .unwrap()
            .len() as u64
    }
}
