//! Trust on a LAN of network namespaces (see `outpost_e2e::lan`): a rogue
//! PC announcing the office's name cannot take a new slave's pairing, and a
//! flood of unfinished connections from one PC does not keep another from
//! pairing and reconnecting. Needs root (`ip netns`); where namespaces
//! cannot be made the tests say so and skip.
//!
//! The rogue is `outpost-rogue-master` (tests/src/bin): it announces the
//! name over mDNS exactly as a master does, with its own certificate, but
//! skips the start-up name check a real `outpost master` makes (a real
//! master refuses to start beside another of its name, and an attacker's
//! program would not ask), and admits every slave with a made-up proof of
//! the code, which it never saw.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Stdio};
use std::time::{Duration, Instant};

use outpost_e2e::lan::{text, Killed, Lan};

/// The first line of `out` starting with `prefix`; the rest is drained in
/// the background, as a terminal would.
fn line_starting(out: ChildStdout, prefix: &str) -> String {
    let mut lines = BufReader::new(out).lines();
    let mut found = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with(prefix) {
            found = line;
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert!(!found.is_empty(), "no line starting with {prefix}");
    found
}

/// `outpost master --name NAME` on PC `i`; the master and its pairing URL.
fn start_master(lan: &Lan, i: usize, name: &str, data: &Path) -> (Killed, String) {
    let mut child = lan
        .cmd(i)
        .args(["master", "--name", name, "--data"])
        .arg(data)
        .args(outpost_e2e::first_manager_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let master = Killed(child);
    (master, line_starting(out, "outpost://"))
}

fn param<'a>(url: &'a str, key: &str) -> &'a str {
    url.split(&format!("{key}="))
        .nth(1)
        .and_then(|v| v.split('&').next())
        .unwrap()
}

fn paired_fingerprint(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join("slave.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["fingerprint"].as_str().map(str::to_string)
}

#[test]
fn a_rogue_master_announcing_the_office_name_is_refused_and_the_slave_pairs_with_the_real_one() {
    let lan = match Lan::make(2, 3) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
            return;
        }
    };
    let (m, r, s) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let name = "Trust depot";
    let (_master, url) = start_master(&lan, 0, name, m.path());
    let (code, real_fp) = (
        param(&url, "code").to_string(),
        param(&url, "fp").to_string(),
    );

    // The real master is unplugged for a moment: only the rogue is seen.
    lan.plug(0, false);
    let mut rogue = lan
        .cmd_bin(1, "outpost-rogue-master")
        .args([name, r.path().to_str().unwrap(), "7355"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rogue_out = rogue.stdout.take().unwrap();
    let _rogue = Killed(rogue);
    line_starting(rogue_out, "LISTENING");

    let pair = |timeout: &str| {
        lan.cmd(2)
            .args([
                "db",
                "--connect",
                name,
                "--code",
                &code,
                "--timeout",
                timeout,
            ])
            .arg("--data")
            .arg(s.path())
            .args(["count", "Party"])
            .output()
            .unwrap()
    };
    let o = pair("15");
    let (_, err) = text(&o);
    assert!(!o.status.success(), "paired with the rogue? {err}");
    assert!(
        err.contains("its proof of the pairing code is wrong")
            && err.contains("not the office's master")
            && err.contains("nothing was saved"),
        "the slave says why it refused: {err}"
    );
    assert_eq!(paired_fingerprint(s.path()), None, "nothing saved");

    // The real master is back beside the rogue: the slave, trying every PC
    // announcing the name, pairs with the one that proves the code.
    lan.plug(0, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = pair("20");
        let (out, err) = text(&o);
        if o.status.success() {
            assert_eq!(out.trim(), "0", "{err}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never paired with the real master: {err}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(
        paired_fingerprint(s.path()).as_deref(),
        Some(real_fp.as_str())
    );
    // Paired: it reconnects to the real master by name, without the code.
    let o = lan
        .cmd(2)
        .args(["db", "--connect", name, "--timeout", "20", "--data"])
        .arg(s.path())
        .args(["count", "Party"])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(out.trim(), "0", "{err}");
}

#[test]
fn a_flood_of_unfinished_connections_from_one_pc_does_not_stop_another_from_pairing() {
    let lan = match Lan::make(3, 3) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
            return;
        }
    };
    let (m, s) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_master, url) = start_master(&lan, 0, "Flood depot", m.path());
    let without_code = url.split("&code=").next().unwrap().to_string();

    // PC 1 holds 200 connections open without finishing any, for a minute,
    // re-opening each one the master drops.
    let addr = format!("{}:7355", lan.ip(0));
    let mut flood = lan
        .cmd_bin(1, "outpost-flood")
        .args([&addr, "200", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let flood_out = flood.stdout.take().unwrap();
    let mut flood = Killed(flood);
    line_starting(flood_out, "FLOODING");

    // PC 2 pairs with the code, then reconnects without it, during the flood.
    let run = |target: &str, args: &[&str]| {
        let o = lan
            .cmd(2)
            .args(["db", "--connect", target, "--timeout", "20", "--data"])
            .arg(s.path())
            .args(args)
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{err}");
        out
    };
    let out = run(
        &url,
        &["insert", "Party", r#"{"party_name":"Past the flood"}"#],
    );
    assert!(out.contains("Past the flood"), "{out}");
    for _ in 0..3 {
        assert_eq!(run(&without_code, &["count", "Party"]).trim(), "1");
    }
    assert!(
        flood.0.try_wait().unwrap().is_none(),
        "the flood was over before the slave was done"
    );
}
