//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::path::Path;

use outpost_store::{Result, Store, Write, WriteCtx};
use serde_json::{Map, Value};
use tempfile::TempDir;

/// A fresh store in its own temporary data folder.
pub fn open() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}

pub fn reopen(dir: &Path) -> Store {
    Store::open(dir).expect("reopen store")
}

pub fn ctx(device: &str) -> WriteCtx {
    WriteCtx {
        device: device.to_string(),
        request_id: None,
        user: None,
        from_upstream: false,
    }
}

pub fn ctx_id(device: &str, id: &str) -> WriteCtx {
    WriteCtx {
        device: device.to_string(),
        request_id: Some(id.to_string()),
        user: None,
        from_upstream: false,
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("expected a JSON object, got {other}"),
    }
}

pub fn ins(doctype: &str, record: Value) -> Write {
    Write::Insert {
        doctype: doctype.to_string(),
        record: obj(record),
    }
}

pub fn upd(doctype: &str, name: &str, rev: i64, record: Value) -> Write {
    Write::Update {
        doctype: doctype.to_string(),
        name: name.to_string(),
        rev,
        record: obj(record),
    }
}

pub fn del(doctype: &str, name: &str, rev: Option<i64>) -> Write {
    Write::Delete {
        doctype: doctype.to_string(),
        name: name.to_string(),
        rev,
    }
}

/// Inserts as device `test` and returns the stored record.
pub fn try_insert(store: &Store, doctype: &str, record: Value) -> Result<Value> {
    store
        .write(ctx("test"), ins(doctype, record))
        .map(|o| o.value)
}

pub fn insert(store: &Store, doctype: &str, record: Value) -> Value {
    try_insert(store, doctype, record.clone())
        .unwrap_or_else(|e| panic!("insert {doctype} {record} failed: {e}"))
}

pub fn name_of(record: &Value) -> String {
    record["name"]
        .as_str()
        .expect("record has a name")
        .to_string()
}

pub fn rev_of(record: &Value) -> i64 {
    record["rev"].as_i64().expect("record has a rev")
}

/// A direct SQLite connection on the store's file, as another process
/// would open it.
pub fn raw(store: &Store) -> rusqlite::Connection {
    rusqlite::Connection::open(store.path()).expect("open sqlite file")
}

pub fn count_rows(store: &Store, table: &str) -> i64 {
    raw(store)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count rows")
}

/// A Party with the given name and code.
pub fn party(store: &Store, name: &str, code: &str) -> Value {
    insert(
        store,
        "Party",
        serde_json::json!({"party_name": name, "code": code}),
    )
}

pub fn product(store: &Store, name: &str, code: &str, price: f64) -> Value {
    insert(
        store,
        "Product",
        serde_json::json!({"product_name": name, "code": code, "list_price": price}),
    )
}
