//! Helpers: an in-process master on loopback and slaves with their own
//! identities, talking real WebRTC.

#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use outpost_api::protocol::{GetArgs, InsertArgs, QueryArgs, SubscribeArgs, UpdateArgs};
use outpost_api::{ApiError, Db, Op};
use outpost_node::{Master, MasterConfig, RemoteDb, SlaveConfig, Target, WithoutUsers};
use serde_json::{json, Map, Value};

pub async fn master(dir: &std::path::Path) -> Master {
    master_on(dir, 0).await
}

pub async fn master_on(dir: &std::path::Path, port: u16) -> Master {
    let mut config = MasterConfig::new(dir.to_path_buf(), "Test depot");
    config.listen = IpAddr::from([127, 0, 0, 1]).into();
    config.port = port;
    config.announce = false;
    config.without_users = WithoutUsers::OpenForTests;
    Master::start(config).await.expect("master starts")
}

pub fn slave(dir: &std::path::Path, url: &outpost_link::PairingUrl) -> RemoteDb {
    slave_with_timeout(dir, url, Duration::from_secs(30))
}

pub fn slave_with_timeout(
    dir: &std::path::Path,
    url: &outpost_link::PairingUrl,
    timeout: Duration,
) -> RemoteDb {
    RemoteDb::start(SlaveConfig {
        data: dir.to_path_buf(),
        target: Target::Url(url.clone()),
        code: None,
        device_name: "test slave".into(),
        call_timeout: timeout,
        rtc: Default::default(),
    })
    .expect("slave starts")
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

pub async fn insert(db: &dyn Db, doctype: &str, v: Value) -> Result<Value, ApiError> {
    db.run(Op::Insert(InsertArgs {
        doctype: doctype.into(),
        record: obj(v),
    }))
    .await
}

pub async fn get(db: &dyn Db, doctype: &str, name: &str) -> Result<Value, ApiError> {
    db.run(Op::Get(GetArgs {
        doctype: doctype.into(),
        name: name.into(),
    }))
    .await
}

pub async fn update(db: &dyn Db, doctype: &str, name: &str, v: Value) -> Result<Value, ApiError> {
    db.run(Op::Update(UpdateArgs {
        doctype: doctype.into(),
        name: name.into(),
        rev: None,
        record: obj(v),
    }))
    .await
}

pub async fn query(
    db: &dyn Db,
    doctype: &str,
    q: &str,
    limit: u32,
) -> Result<Vec<Value>, ApiError> {
    let out = db
        .run(Op::Query(QueryArgs {
            doctype: doctype.into(),
            query: Some(q.into()),
            limit: Some(limit),
            ..Default::default()
        }))
        .await?;
    Ok(out["rows"].as_array().cloned().unwrap_or_default())
}

pub async fn subscribe(db: &dyn Db, doctypes: Option<Vec<&str>>) {
    db.run(Op::Subscribe(SubscribeArgs {
        doctypes: doctypes.map(|d| d.into_iter().map(String::from).collect()),
    }))
    .await
    .expect("subscribe");
}

pub fn party(n: &str) -> Value {
    json!({"party_name": n, "city": "Kashgar"})
}
