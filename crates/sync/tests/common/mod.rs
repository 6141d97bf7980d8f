//! What the worker tests share: writes made in the office as a device
//! would make them.

use outpost_store::{Store, Write, WriteCtx};
use serde_json::Value;

pub fn ctx() -> WriteCtx {
    WriteCtx {
        device: "front-desk".into(),
        request_id: None,
        user: None,
        from_upstream: false,
    }
}

pub fn insert(store: &Store, doctype: &str, v: Value) -> String {
    let out = store
        .write(
            ctx(),
            Write::Insert {
                doctype: doctype.into(),
                record: v.as_object().unwrap().clone(),
            },
        )
        .unwrap();
    out.value["name"].as_str().unwrap().to_string()
}

pub fn update(store: &Store, doctype: &str, name: &str, v: Value) {
    let rev = store.get(doctype, name).unwrap()["rev"].as_i64().unwrap();
    store
        .write(
            ctx(),
            Write::Update {
                doctype: doctype.into(),
                name: name.into(),
                rev,
                record: v.as_object().unwrap().clone(),
            },
        )
        .unwrap();
}
