//! `LocalDb` through the `Db` trait: every op, error codes and details,
//! idempotent request ids, subscriptions and events; and request decoding.

use std::time::Duration;

use outpost_api::protocol::{
    DeleteArgs, GetArgs, HelloArgs, InsertArgs, InsertManyArgs, QueryArgs, SortArg, SubscribeArgs,
    UpdateArgs,
};
use outpost_api::{
    decode_request, ApiError, Db, ErrorCode, Event, EventStream, LocalDb, Op, Request, RequestId,
    PROTOCOL_VERSION,
};
use outpost_store::Store;
use serde_json::{json, Map, Value};
use tempfile::TempDir;

/// Only to stop a hung test; never a timing assertion.
const HANG: Duration = Duration::from_secs(10);

fn open() -> (TempDir, LocalDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, LocalDb::new(store, "desk-1"))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn insert_op(doctype: &str, record: Value) -> Op {
    Op::Insert(InsertArgs {
        doctype: doctype.into(),
        record: obj(record),
    })
}

fn query_op(doctype: &str) -> QueryArgs {
    QueryArgs {
        doctype: doctype.into(),
        ..Default::default()
    }
}

async fn insert(db: &LocalDb, doctype: &str, record: Value) -> Value {
    db.run(insert_op(doctype, record.clone()))
        .await
        .unwrap_or_else(|e| panic!("insert {doctype} {record}: {e}"))
}

fn name_of(v: &Value) -> String {
    v["name"].as_str().unwrap().to_string()
}

async fn next_event(events: &mut EventStream) -> Event {
    tokio::time::timeout(HANG, events.recv())
        .await
        .expect("an event arrives")
        .expect("the event source is open")
}

fn changed(ev: &Event) -> (&str, &str, i64, &str, &str) {
    match ev {
        Event::Changed {
            doctype,
            name,
            rev,
            op,
            device,
            ..
        } => (doctype, name, *rev, op, device),
        other => panic!("expected a change event, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Meta ops
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hello_names_the_protocol_ops_site_and_device() {
    let (_d, db) = open();
    let v = db.run(Op::Hello(HelloArgs::default())).await.unwrap();
    assert_eq!(v["protocol"], json!(PROTOCOL_VERSION));
    assert_eq!(v["device"], json!("desk-1"));
    assert_eq!(v["site_id"], json!(db.store().site_id().unwrap()));
    let ops: Vec<&str> = v["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    for op in [
        "hello",
        "get",
        "insert",
        "update",
        "delete",
        "query",
        "count",
        "subscribe",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    assert!(v["server"].as_str().unwrap().starts_with("outpost "));
}

#[tokio::test]
async fn doctypes_lists_the_starter_set_with_list_fields() {
    let (_d, db) = open();
    let v = db.run(Op::Doctypes).await.unwrap();
    let list = v.as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|d| d["name"].as_str().unwrap()).collect();
    for n in ["Party", "Product", "Sale", "Sale Line"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let party = list.iter().find(|d| d["name"] == "Party").unwrap();
    assert_eq!(
        party["list_fields"],
        json!(["party_name", "code", "kind", "city"])
    );
    assert_eq!(party["title_field"], json!("party_name"));
    assert!(party["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "email"));
}

#[tokio::test]
async fn sync_status_counts_the_outbox() {
    let (_d, db) = open();
    insert(&db, "Party", json!({"party_name": "Acme"})).await;
    let v = db.run(Op::SyncStatus).await.unwrap();
    assert_eq!(v["outbox_pending"], json!(1));
    assert_eq!(v["configured"], json!(false));
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

#[tokio::test]
async fn insert_get_update_delete_round_trip() {
    let (_d, db) = open();
    let rec = insert(&db, "Party", json!({"party_name": "Acme", "code": "AC"})).await;
    assert_eq!(rec["rev"], json!(1));
    assert_eq!(rec["modified_by"], json!("desk-1"));
    let name = name_of(&rec);

    let got = db
        .run(Op::Get(GetArgs {
            doctype: "Party".into(),
            name: name.clone(),
        }))
        .await
        .unwrap();
    assert_eq!(got, rec);

    let upd = db
        .run(Op::Update(UpdateArgs {
            doctype: "Party".into(),
            name: name.clone(),
            rev: Some(1),
            record: obj(json!({"city": "Kashgar"})),
        }))
        .await
        .unwrap();
    assert_eq!(upd["rev"], json!(2));
    assert_eq!(upd["city"], json!("Kashgar"));

    // The revision may also travel inside the record, as a form sends it back.
    let mut form = upd.clone();
    form["city"] = json!("Hotan");
    let upd = db
        .run(Op::Update(UpdateArgs {
            doctype: "Party".into(),
            name: name.clone(),
            rev: None,
            record: obj(form),
        }))
        .await
        .unwrap();
    assert_eq!(upd["rev"], json!(3));
    assert_eq!(upd["city"], json!("Hotan"));

    let del = db
        .run(Op::Delete(DeleteArgs {
            doctype: "Party".into(),
            name: name.clone(),
            rev: Some(3),
        }))
        .await
        .unwrap();
    assert_eq!(del["deleted"], json!(true));

    let e = db
        .run(Op::Get(GetArgs {
            doctype: "Party".into(),
            name: name.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn update_without_a_rev_is_a_bad_request() {
    let (_d, db) = open();
    let rec = insert(&db, "Party", json!({"party_name": "Acme"})).await;
    let e = db
        .run(Op::Update(UpdateArgs {
            doctype: "Party".into(),
            name: name_of(&rec),
            rev: None,
            record: obj(json!({"city": "x"})),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("rev"), "{}", e.message);
}

#[tokio::test]
async fn a_stale_rev_is_a_conflict_with_the_current_record() {
    let (_d, db) = open();
    let rec = insert(&db, "Party", json!({"party_name": "Acme"})).await;
    let name = name_of(&rec);
    let other = db.for_device("desk-2");
    let now = other
        .run(Op::Update(UpdateArgs {
            doctype: "Party".into(),
            name: name.clone(),
            rev: Some(1),
            record: obj(json!({"city": "Hotan"})),
        }))
        .await
        .unwrap();
    let e = db
        .run(Op::Update(UpdateArgs {
            doctype: "Party".into(),
            name: name.clone(),
            rev: Some(1),
            record: obj(json!({"city": "Aksu"})),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    let d = e.details.unwrap();
    assert_eq!(d["reason"], json!("stale_rev"));
    assert_eq!(d["yours"], json!(1));
    assert_eq!(d["current_rev"], json!(2));
    assert_eq!(d["current"], now);
    assert_eq!(d["current"]["modified_by"], json!("desk-2"));
    assert!(e.message.contains("desk-2"), "{}", e.message);
}

#[tokio::test]
async fn an_unknown_doctype_is_not_found() {
    let (_d, db) = open();
    let e = db
        .run(insert_op("Spaceship", json!({"x": 1})))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(
        e.details.as_ref().unwrap()["reason"],
        json!("unknown_doctype")
    );
    let e = db.run(Op::Query(query_op("Spaceship"))).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn field_errors_are_bad_requests_naming_field_and_reason() {
    let (_d, db) = open();
    let e = db
        .run(insert_op(
            "Party",
            json!({"party_name": "R2", "kind": "Robot"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    let d = e.details.unwrap();
    assert_eq!(d["reason"], json!("not_an_option"));
    assert_eq!(d["field"], json!("kind"));
    assert_eq!(d["doctype"], json!("Party"));
}

#[tokio::test]
async fn deleting_a_record_in_use_is_a_conflict_saying_by_whom() {
    let (_d, db) = open();
    let p = insert(&db, "Party", json!({"party_name": "Acme"})).await;
    let sale = insert(&db, "Sale", json!({"party": name_of(&p)})).await;
    let e = db
        .run(Op::Delete(DeleteArgs {
            doctype: "Party".into(),
            name: name_of(&p),
            rev: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    let d = e.details.unwrap();
    assert_eq!(d["reason"], json!("in_use"));
    assert_eq!(d["used_by_doctype"], json!("Sale"));
    assert_eq!(d["used_by_name"], json!(name_of(&sale)));
}

#[tokio::test]
async fn insert_many_inserts_all_or_none() {
    let (_d, db) = open();
    let e = db
        .run(Op::InsertMany(InsertManyArgs {
            doctype: "Party".into(),
            records: vec![
                obj(json!({"party_name": "A"})),
                obj(json!({"city": "no name"})),
            ],
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    let v = db
        .run(Op::InsertMany(InsertManyArgs {
            doctype: "Party".into(),
            records: vec![
                obj(json!({"party_name": "A"})),
                obj(json!({"party_name": "B"})),
            ],
        }))
        .await
        .unwrap();
    assert_eq!(v["inserted"], json!(2));
    let n = db.run(Op::Count(query_op("Party"))).await.unwrap();
    assert_eq!(n, json!(2));
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

async fn fixture(db: &LocalDb) {
    for (name, code, city, kind) in [
        ("Acme", "P1", "Kashgar", "Customer"),
        ("Acorn", "P2", "Kashgar", "Supplier"),
        ("Bazaar", "P3", "Hotan", "Customer"),
        ("Camel", "P4", "Kashgar", "Customer"),
        ("Desert", "P5", "Aksu", "Customer"),
    ] {
        insert(
            db,
            "Party",
            json!({"party_name": name, "code": code, "city": city, "kind": kind}),
        )
        .await;
    }
}

#[tokio::test]
async fn query_combines_text_filters_sort_fields_and_limit() {
    let (_d, db) = open();
    fixture(&db).await;
    let v = db
        .run(Op::Query(QueryArgs {
            query: Some("city:kashgar".into()),
            filters: Some(json!([["kind", "=", "Customer"]])),
            sort: Some(SortArg::Text("code:desc".into())),
            fields: Some(vec!["code".into(), "party_name".into()]),
            limit: Some(1),
            ..query_op("Party")
        }))
        .await
        .unwrap();
    assert_eq!(v, json!({"rows": [{"code": "P4", "party_name": "Camel"}]}));

    let v = db
        .run(Op::Query(QueryArgs {
            query: Some("city:kashgar kind:customer".into()),
            sort: Some(SortArg::List(vec!["code".into()])),
            fields: Some(vec!["code".into()]),
            offset: Some(1),
            ..query_op("Party")
        }))
        .await
        .unwrap();
    assert_eq!(v, json!({"rows": [{"code": "P4"}]}));
}

#[tokio::test]
async fn query_groups_and_sums() {
    let (_d, db) = open();
    fixture(&db).await;
    let v = db
        .run(Op::Query(QueryArgs {
            group_by: Some("city".into()),
            sort: Some(SortArg::Text("count:desc,city".into())),
            ..query_op("Party")
        }))
        .await
        .unwrap();
    assert_eq!(
        v["rows"],
        json!([
            {"city": "Kashgar", "count": 3},
            {"city": "Aksu", "count": 1},
            {"city": "Hotan", "count": 1},
        ])
    );
}

#[tokio::test]
async fn count_counts_matching_records() {
    let (_d, db) = open();
    fixture(&db).await;
    let n = db
        .run(Op::Count(QueryArgs {
            query: Some("city:Kashgar".into()),
            filters: Some(json!({"kind": "Customer"})),
            ..query_op("Party")
        }))
        .await
        .unwrap();
    assert_eq!(n, json!(2));
    let n = db.run(Op::Count(query_op("Party"))).await.unwrap();
    assert_eq!(n, json!(5));
}

#[tokio::test]
async fn a_query_syntax_error_is_a_bad_request_with_the_position() {
    let (_d, db) = open();
    let e = db
        .run(Op::Query(QueryArgs {
            query: Some("city:\"Kash".into()),
            ..query_op("Party")
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    let d = e.details.unwrap();
    assert_eq!(d["reason"], json!("syntax"));
    assert_eq!(d["position"], json!(11));
    let e = db
        .run(Op::Count(QueryArgs {
            filters: Some(json!([["city", "~", "x"]])),
            ..query_op("Party")
        }))
        .await
        .unwrap_err();
    assert_eq!(e.details.unwrap()["path"], json!("filters[0][1]"));
}

#[tokio::test]
async fn query_errors_carry_their_reason() {
    let (_d, db) = open();
    let e = db
        .run(Op::Query(QueryArgs {
            query: Some("colour:red".into()),
            ..query_op("Party")
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    let d = e.details.unwrap();
    assert_eq!(d["reason"], json!("unknown_field"));
    assert_eq!(d["field"], json!("colour"));
    let e = db
        .run(Op::Query(QueryArgs {
            query: Some("list_price:abc".into()),
            ..query_op("Product")
        }))
        .await
        .unwrap_err();
    assert_eq!(e.details.unwrap()["reason"], json!("bad_query"));
    let e = db
        .run(Op::Query(QueryArgs {
            sort: Some(SortArg::Text("city:sideways".into())),
            ..query_op("Party")
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
}

// ---------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_repeated_request_id_gets_the_same_answer_and_writes_once() {
    let (_d, db) = open();
    let req = Request {
        v: 1,
        id: RequestId::Text("same".into()),
        op: insert_op("Party", json!({"party_name": "Acme"})),
    };
    let first = db.call(req.clone()).await;
    let second = db.call(req).await;
    assert_eq!(first.id, Some(RequestId::Text("same".into())));
    let a = first.result.unwrap();
    let b = second.result.unwrap();
    assert_eq!(a, b);
    assert_eq!(
        db.run(Op::Count(query_op("Party"))).await.unwrap(),
        json!(1)
    );
}

#[tokio::test]
async fn the_same_request_id_from_another_device_is_a_new_write() {
    let (_d, db) = open();
    let other = db.for_device("desk-2");
    let req = Request {
        v: 1,
        id: RequestId::Num(7),
        op: insert_op("Party", json!({"party_name": "Acme"})),
    };
    let a = db.call(req.clone()).await.result.unwrap();
    let b = other.call(req).await.result.unwrap();
    assert_ne!(a["name"], b["name"]);
    assert_eq!(b["modified_by"], json!("desk-2"));
    assert_eq!(
        db.run(Op::Count(query_op("Party"))).await.unwrap(),
        json!(2)
    );
}

#[tokio::test]
async fn a_request_id_reused_for_another_op_is_a_bad_request() {
    let (_d, db) = open();
    let id = RequestId::Text("r1".into());
    let rec = db
        .call(Request {
            v: 1,
            id: id.clone(),
            op: insert_op("Party", json!({"party_name": "Acme"})),
        })
        .await
        .result
        .unwrap();
    let e = db
        .call(Request {
            v: 1,
            id,
            op: Op::Delete(DeleteArgs {
                doctype: "Party".into(),
                name: name_of(&rec),
                rev: None,
            }),
        })
        .await
        .result
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("r1"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// Subscriptions and events
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_by_another_handle_reaches_a_subscriber() {
    let (_d, db) = open();
    let mut events = db.events();
    let v = db
        .run(Op::Subscribe(SubscribeArgs { doctypes: None }))
        .await
        .unwrap();
    assert_eq!(v["subscribed"], json!("all"));
    let other = db.for_device("other");
    let rec = insert(&other, "Party", json!({"party_name": "Acme"})).await;
    let ev = next_event(&mut events).await;
    assert_eq!(
        changed(&ev),
        ("Party", name_of(&rec).as_str(), 1, "insert", "other")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctype_filter_passes_only_those_doctypes() {
    let (_d, db) = open();
    let mut events = db.events();
    db.run(Op::Subscribe(SubscribeArgs {
        doctypes: Some(vec!["Product".into()]),
    }))
    .await
    .unwrap();
    let other = db.for_device("other");
    insert(&other, "Party", json!({"party_name": "Acme"})).await;
    let prod = insert(&other, "Product", json!({"product_name": "Tea"})).await;
    let ev = next_event(&mut events).await;
    assert_eq!(
        changed(&ev),
        ("Product", name_of(&prod).as_str(), 1, "insert", "other")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_unsubscribe_no_events_pass() {
    let (_d, db) = open();
    let mut events = db.events();
    db.run(Op::Subscribe(SubscribeArgs { doctypes: None }))
        .await
        .unwrap();
    db.run(Op::Unsubscribe).await.unwrap();
    let other = db.for_device("other");
    insert(&other, "Party", json!({"party_name": "Unseen"})).await;
    // A second handle subscribed to everything sees the write, proving it
    // was delivered while the first handle was unsubscribed.
    let watcher = db.for_device("watcher");
    let mut watched = watcher.events();
    watcher
        .run(Op::Subscribe(SubscribeArgs { doctypes: None }))
        .await
        .unwrap();
    let marker = insert(&other, "Product", json!({"product_name": "Marker"})).await;
    loop {
        let ev = next_event(&mut watched).await;
        if changed(&ev).1 == name_of(&marker) {
            break;
        }
    }
    // Now re-subscribe the first handle to Product only: the Party insert
    // (made while unsubscribed) is skipped, the marker is the first event.
    db.run(Op::Subscribe(SubscribeArgs {
        doctypes: Some(vec!["Product".into()]),
    }))
    .await
    .unwrap();
    let ev = next_event(&mut events).await;
    assert_eq!(changed(&ev).1, name_of(&marker));
}

#[tokio::test]
async fn subscribing_to_an_unknown_doctype_is_not_found() {
    let (_d, db) = open();
    let e = db
        .run(Op::Subscribe(SubscribeArgs {
            doctypes: Some(vec!["Spaceship".into()]),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handle_has_its_own_subscription() {
    let (_d, db) = open();
    let a = db.for_device("a");
    let b = db.for_device("b");
    let mut a_events = a.events();
    let mut b_events = b.events();
    a.run(Op::Subscribe(SubscribeArgs {
        doctypes: Some(vec!["Party".into()]),
    }))
    .await
    .unwrap();
    b.run(Op::Subscribe(SubscribeArgs {
        doctypes: Some(vec!["Product".into()]),
    }))
    .await
    .unwrap();
    let p = insert(&db, "Party", json!({"party_name": "P"})).await;
    let t = insert(&db, "Product", json!({"product_name": "T"})).await;
    assert_eq!(changed(&next_event(&mut a_events).await).1, name_of(&p));
    assert_eq!(changed(&next_event(&mut b_events).await).1, name_of(&t));
}

// ---------------------------------------------------------------------------
// Request decoding
// ---------------------------------------------------------------------------

fn decode_err(bytes: &[u8]) -> (Option<RequestId>, ApiError) {
    let r = decode_request(bytes).expect_err("refused");
    (r.id, r.result.expect_err("an error response"))
}

#[test]
fn garbage_bytes_are_malformed_json() {
    let (id, e) = decode_err(&[0xff, 0xfe, 0x00, 0x13]);
    assert_eq!(id, None);
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert_eq!(e.details.unwrap()["reason"], json!("malformed_json"));
    let (_, e) = decode_err(b"");
    assert_eq!(e.details.unwrap()["reason"], json!("malformed_json"));
}

#[test]
fn a_json_array_is_not_a_request() {
    let (id, e) = decode_err(br#"[1, "insert", {}]"#);
    assert_eq!(id, None);
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert_eq!(e.details.unwrap()["reason"], json!("not_an_object"));
    let (_, e) = decode_err(b"42");
    assert_eq!(e.details.unwrap()["reason"], json!("not_an_object"));
}

#[test]
fn a_request_without_a_usable_id_is_refused() {
    let (id, e) = decode_err(br#"{"v":1,"op":"hello","args":{}}"#);
    assert_eq!(id, None);
    assert_eq!(e.details.unwrap()["reason"], json!("missing_id"));
    let (_, e) = decode_err(br#"{"v":1,"id":null,"op":"hello"}"#);
    assert_eq!(e.details.unwrap()["reason"], json!("missing_id"));
    let (_, e) = decode_err(br#"{"v":1,"id":{"x":1},"op":"hello"}"#);
    assert_eq!(e.details.unwrap()["reason"], json!("missing_id"));
}

#[test]
fn a_request_without_an_op_keeps_its_id() {
    let (id, e) = decode_err(br#"{"v":1,"id":"abc"}"#);
    assert_eq!(id, Some(RequestId::Text("abc".into())));
    assert_eq!(e.details.unwrap()["reason"], json!("missing_op"));
}

#[test]
fn unknown_argument_keys_are_refused() {
    let (id, e) = decode_err(
        br#"{"v":1,"id":3,"op":"get","args":{"doctype":"Party","name":"x","colour":1}}"#,
    );
    assert_eq!(id, Some(RequestId::Num(3)));
    assert_eq!(e.details.unwrap()["reason"], json!("bad_arguments"));
}

#[test]
fn well_formed_requests_decode_to_typed_ops() {
    let r = decode_request(
        br#"{"v":1,"id":"q1","op":"query","args":{"doctype":"Party","query":"city:Kashgar","sort":"code:desc,party_name","limit":5}}"#,
    )
    .unwrap();
    assert_eq!(r.id, RequestId::Text("q1".into()));
    match r.op {
        Op::Query(a) => {
            assert_eq!(a.doctype, "Party");
            assert_eq!(a.query.as_deref(), Some("city:Kashgar"));
            assert_eq!(a.sort, Some(SortArg::Text("code:desc,party_name".into())));
            assert_eq!(a.limit, Some(5));
        }
        other => panic!("{other:?}"),
    }
    let r = decode_request(br#"{"v":1,"id":2,"op":"doctypes"}"#).unwrap();
    assert_eq!(r.op, Op::Doctypes);
    let r = decode_request(br#"{"v":1,"id":2,"op":"unsubscribe","args":null}"#).unwrap();
    assert_eq!(r.op, Op::Unsubscribe);
}

#[tokio::test]
async fn a_decoded_request_runs_and_its_response_encodes() {
    let (_d, db) = open();
    let req = decode_request(
        br#"{"v":1,"id":11,"op":"insert","args":{"doctype":"Party","record":{"party_name":"Wire"}}}"#,
    )
    .unwrap();
    let resp = db.call(req).await;
    let wire: Value = serde_json::from_str(&resp.encode()).unwrap();
    assert_eq!(wire["id"], json!(11));
    assert_eq!(wire["ok"]["party_name"], json!("Wire"));

    let req = decode_request(
        br#"{"v":1,"id":12,"op":"insert","args":{"doctype":"Party","record":{"city":"x"}}}"#,
    )
    .unwrap();
    let wire: Value = serde_json::from_str(&db.call(req).await.encode()).unwrap();
    assert_eq!(wire["id"], json!(12));
    assert_eq!(wire["err"]["code"], json!("bad_request"));
    assert_eq!(wire["err"]["details"]["reason"], json!("missing"));
    assert_eq!(wire["err"]["details"]["field"], json!("party_name"));
}
