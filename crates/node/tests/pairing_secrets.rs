//! The live pairing code is kept hashed: the office database (and its WAL)
//! never holds a code this master made, only its key; and no log line of a
//! master making codes and pairing a slave carries a code or its key.
//! (One test in this file: it installs the process's log subscriber.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use outpost_link::pairing::{display_code, PairingKey};

/// Every log line of the test, at every level the outpost crates have.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The forms a code may be written in.
fn spellings(code: &str) -> Vec<String> {
    let shown = display_code(code);
    vec![
        code.to_string(),
        code.to_lowercase(),
        shown.clone(),
        shown.to_lowercase(),
    ]
}

/// Which of `secrets` occur in `bytes`.
fn found_in(bytes: &[u8], secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .cloned()
        .collect()
}

/// The bytes of every file of the office database (main file, WAL, shared
/// memory), as they are on disk now.
fn database_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_string_lossy().into_owned();
            name.starts_with(outpost_store::DB_FILE)
                .then(|| (name, std::fs::read(&p).unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_the_logs_hold_no_pairing_code() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            "outpost=trace,outpost_node=trace,outpost_link=trace,outpost_store=trace,outpost_api=trace,warn",
        )
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = common::master(mdir.path()).await;
    let url = master.pairing_url().clone();
    let first = url.code.clone().expect("a code made at start");
    // A slave pairs with it (both proofs are made and checked) and works.
    let slave = common::slave(sdir.path(), &url);
    common::insert(&slave, "Party", common::party("Yarkand Traders"))
        .await
        .expect("the slave paired with the code");
    // A second code, as the window's "New code" makes it.
    let second = master.new_code(10).await.unwrap().code;
    assert_ne!(first, second);

    let fp = master.fingerprint().to_string();
    let codes: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|c| spellings(c))
        .collect();
    let keys: Vec<String> = [&first, &second]
        .iter()
        .map(|c| PairingKey::derive(c, &fp).to_hex())
        .collect();

    // What `_meta` holds: the second code's key (with its expiry), no code.
    let db = rusqlite::Connection::open(mdir.path().join(outpost_store::DB_FILE)).unwrap();
    let meta: Vec<(String, String)> = db
        .prepare("SELECT key, value FROM _meta")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(db);
    let pairing: Vec<&(String, String)> = meta
        .iter()
        .filter(|(k, _)| k.starts_with("pairing"))
        .collect();
    assert!(
        pairing
            .iter()
            .any(|(k, v)| k == "pairing_key" && v.ends_with(&keys[1])),
        "{pairing:?}"
    );
    assert!(!meta.iter().any(|(k, _)| k == "pairing_code"), "{meta:?}");
    let all_meta = format!("{meta:?}");
    assert_eq!(
        found_in(all_meta.as_bytes(), &codes),
        Vec::<String>::new(),
        "{all_meta}"
    );

    // The files' bytes, while the master runs (WAL) and after it stops.
    let running = database_files(mdir.path());
    assert!(
        running.len() >= 2,
        "the database and its WAL: {running:?}",
        running = running.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, bytes) in &running {
        assert_eq!(
            found_in(bytes, &codes),
            Vec::<String>::new(),
            "{name} while running"
        );
    }
    slave.close().await;
    master.shutdown().await;
    for (name, bytes) in database_files(mdir.path()) {
        assert_eq!(
            found_in(&bytes, &codes),
            Vec::<String>::new(),
            "{name} after stopping"
        );
    }

    // No log line carries a code or a key.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("new device paired"),
        "the logs were captured:\n{text}"
    );
    let secrets: Vec<String> = codes.iter().chain(&keys).cloned().collect();
    assert_eq!(
        found_in(text.as_bytes(), &secrets),
        Vec::<String>::new(),
        "{text}"
    );
}
