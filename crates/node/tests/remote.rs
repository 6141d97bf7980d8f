//! `RemoteDb` against a real master over real WebRTC (loopback): the same
//! answers as `LocalDb`, events, many slaves, reconnection, bad input.

mod common;

use std::time::Duration;

use common::*;
use outpost_api::{Db, ErrorCode, Event, Op};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_pairs_with_the_url_and_works_like_local() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let s = slave(sdir.path(), m.pairing_url());
    let rec = insert(&s, "Party", party("Acme")).await.unwrap();
    let name = rec["name"].as_str().unwrap().to_string();
    assert_eq!(
        rec["modified_by"],
        s.fingerprint(),
        "writes carry the device id"
    );
    // The same record as the master's own LocalDb sees it.
    assert_eq!(
        get(&s, "Party", &name).await.unwrap(),
        get(m.db(), "Party", &name).await.unwrap()
    );
    // Errors come back with the same codes and words.
    let e = update(&s, "Party", &name, json!({"rev": 7, "city": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert_eq!(e.details.unwrap()["current"]["rev"], 1);
    let e = get(&s, "Party", "nope").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = query(&s, "Party", "city:(", 10).await.unwrap_err();
    assert_eq!(e.details.unwrap()["reason"], "syntax");
    // The slave's folder holds its identity and which master it paired with: no database.
    let mut files: Vec<String> = std::fs::read_dir(sdir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["identity.pem", "slave.json"]);
    // The master recorded the device.
    let devices = m.store().devices().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].fingerprint, s.fingerprint());
    s.close().await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_64_kib_travel_both_ways() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let s = slave(sdir.path(), m.pairing_url());
    // A 300 KiB note up, and 500 rows down in one answer.
    let note = "x".repeat(300 * 1024);
    let rec = insert(&s, "Party", json!({"party_name": "Big", "notes": note}))
        .await
        .unwrap();
    assert_eq!(rec["notes"].as_str().unwrap().len(), 300 * 1024);
    for i in 0..500 {
        insert(
            m.db(),
            "Party",
            json!({"party_name": format!("P{i:03}"), "notes": "y".repeat(500)}),
        )
        .await
        .unwrap();
    }
    let rows = query(&s, "Party", "party_name:P%", 1000).await.unwrap();
    assert_eq!(rows.len(), 500);
    s.close().await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_slaves_read_and_write_and_all_see_every_change() {
    const N: usize = 32;
    let mdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let dirs: Vec<_> = (0..N).map(|_| tempfile::tempdir().unwrap()).collect();
    let slaves: Vec<_> = dirs
        .iter()
        .map(|d| slave(d.path(), m.pairing_url()))
        .collect();
    let mut streams = Vec::new();
    for s in &slaves {
        let stream = s.events();
        subscribe(s, Some(vec!["Party"])).await;
        streams.push(stream);
    }
    assert_eq!(m.connected().len(), N);
    // Every slave writes two records and reads, concurrently.
    let mut tasks = Vec::new();
    for (i, s) in slaves.iter().enumerate() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..2 {
                insert(&s, "Party", party(&format!("S{i:02}-{k}")))
                    .await
                    .unwrap();
            }
            query(&s, "Party", "city:Kashgar", 5).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every write is visible to every slave.
    for s in &slaves {
        let n = s
            .run(Op::Count(outpost_api::protocol::QueryArgs {
                doctype: "Party".into(),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(n, (2 * N) as u64);
    }
    // Every subscriber got an event for every write (events may arrive in
    // any order relative to the answers, so collect until all are in).
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut seen = std::collections::HashSet::new();
        while seen.len() < 2 * N {
            let ev = tokio::time::timeout(Duration::from_secs(20), stream.recv())
                .await
                .unwrap_or_else(|_| panic!("slave {i} saw only {} events", seen.len()))
                .expect("stream open");
            if let Event::Changed { name, .. } = ev {
                seen.insert(name);
            }
        }
    }
    for s in &slaves {
        s.close().await;
    }
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slave_reconnects_after_a_master_restart_and_calls_wait_for_it() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let port = m.local_addr().port();
    let url = m.pairing_url().clone();
    let s = slave(sdir.path(), &url);
    insert(&s, "Party", party("Before")).await.unwrap();
    m.shutdown().await;
    // A call made while the master is down waits, and is answered once it is back.
    let s2 = s.clone();
    let pending = tokio::spawn(async move { insert(&s2, "Party", party("During")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = master_on(mdir.path(), port).await;
    let rec = pending
        .await
        .unwrap()
        .expect("the call made while away succeeds");
    assert_eq!(rec["party_name"], "During");
    assert_eq!(
        query(m.db(), "Party", "party_name:During", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    s.close().await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_with_unavailable_when_the_master_stays_away() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let url = m.pairing_url().clone();
    let s = slave_with_timeout(sdir.path(), &url, Duration::from_millis(1500));
    insert(&s, "Party", party("Before")).await.unwrap();
    m.shutdown().await;
    let e = insert(&s, "Party", party("Lost")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unavailable);
    assert!(e.message.contains("cannot be reached"), "{}", e.message);
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_slave_is_cut_off_and_cannot_come_back() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let s = slave(sdir.path(), m.pairing_url());
    insert(&s, "Party", party("Before")).await.unwrap();
    let mut state = s.state();
    m.store().revoke_device(s.fingerprint()).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let outpost_node::slave::LinkState::Refused { code, message } =
                state.borrow_and_update().clone()
            {
                return (code, message);
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("the slave learns it was revoked");
    assert_eq!(refused.0, "forbidden");
    assert!(refused.1.contains("revoked"), "{}", refused.1);
    let e = insert(&s, "Party", party("After")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(m.connected().is_empty());
    s.close().await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_still_in_flight_cannot_be_used_again() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let s = slave_with_timeout(sdir.path(), m.pairing_url(), Duration::from_secs(5));
    insert(&s, "Party", party("Before")).await.unwrap();
    m.shutdown().await;
    let op = || {
        Op::Insert(outpost_api::protocol::InsertArgs {
            doctype: "Party".into(),
            record: obj(party("Twice")),
        })
    };
    let same = outpost_api::RequestId::Text("same-id".into());
    let s2 = s.clone();
    let first_req = outpost_api::Request {
        v: 1,
        id: same.clone(),
        op: op(),
    };
    // The first waits for the master, which is away.
    let first = tokio::spawn(async move { s2.call(first_req).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = s
        .call(outpost_api::Request {
            v: 1,
            id: same,
            op: op(),
        })
        .await;
    let e = second.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("still waiting"), "{}", e.message);
    assert_eq!(
        first.await.unwrap().result.unwrap_err().code,
        ErrorCode::Unavailable
    );
    s.close().await;
}
