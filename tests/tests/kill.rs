//! Durability: a write that returned success survives `kill -9` of the
//! writing process at any moment.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use outpost_store::query::parse_text;
use outpost_store::{QuerySpec, Store};

/// Starts a writer with 8 concurrent writers, kills it (SIGKILL) after
/// `after_acks` acknowledged writes, and returns every (name, code) it
/// acknowledged before dying.
fn run_and_kill(dir: &std::path::Path, prefix: &str, after_acks: usize) -> Vec<(String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost-kill-writer"))
        .arg(dir)
        .arg("8")
        .arg(prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start writer");
    let stdout = child.stdout.take().expect("stdout");
    let mut acks = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let mut parts = line.split_whitespace();
        if parts.next() == Some("ACK") {
            let name = parts.next().expect("name").to_string();
            let code = parts.next().expect("code").to_string();
            acks.push((name, code));
        }
        if !killed && acks.len() >= after_acks {
            child.kill().expect("kill -9 the writer");
            killed = true;
            // Keep reading: acknowledgements already written to the pipe
            // before the kill count too.
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        killed,
        "writer stopped on its own ({status}) before {after_acks} acks"
    );
    acks
}

#[test]
fn every_acknowledged_write_survives_kill_9_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut all_acked = Vec::new();
    // Several kills at different depths of the stream, on the same file:
    // each reopen also has to recover from the previous kill.
    for (round, after) in [(0, 37usize), (1, 400), (2, 2500)] {
        let acks = run_and_kill(dir.path(), &format!("r{round}"), after);
        assert!(acks.len() >= after);
        all_acked.extend(acks);

        let store = Store::open(dir.path()).expect("reopen after kill -9");
        for (name, code) in &all_acked {
            let rec = store
                .get("Party", name)
                .unwrap_or_else(|e| panic!("acknowledged write {name} ({code}) lost: {e}"));
            assert_eq!(
                rec["code"],
                code.as_str(),
                "record {name} holds another write"
            );
        }
        // Nothing half-written: every stored record is whole and unique.
        let rows = store
            .query(
                "Party",
                &QuerySpec {
                    filter: parse_text("").unwrap(),
                    fields: vec!["name".into(), "code".into(), "party_name".into()],
                    limit: Some(10_000),
                    ..Default::default()
                },
            )
            .unwrap();
        let codes: HashSet<&str> = rows.iter().filter_map(|r| r["code"].as_str()).collect();
        assert_eq!(codes.len(), rows.len(), "a code was stored twice");
        assert!(rows.iter().all(|r| r["party_name"].is_string()));
        assert!(rows.len() >= all_acked.len());
        // The change log holds exactly one insert per stored record.
        let logged = store.changes_since(0, 1_000_000).unwrap().len();
        assert_eq!(logged, rows.len(), "change log and records disagree");
        store.close();
    }
}
