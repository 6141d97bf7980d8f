//! Master and slaves as real processes on loopback: `outpost master`, and
//! `outpost db --connect` as the slave, over real WebRTC.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_e2e::{
    db, failed, free_port, ok_lines, ok_one, outpost, outpost_bin, remote, MasterProc, SlaveWriter,
};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_slave_works_through_the_master_by_url_and_by_name_with_the_same_output() {
    let (m, s) = (dir(), dir());
    let master = MasterProc::start(m.path(), "Kashgar depot", 0, &[]);
    let rec = ok_one(&remote(
        s.path(),
        &master.url,
        &[
            "insert",
            "Party",
            r#"{"party_name":"Acme","city":"Kashgar"}"#,
        ],
    ));
    let name = rec["name"].as_str().unwrap().to_string();
    // Paired now: the URL without a code, and the name, both work.
    let by_url = remote(
        s.path(),
        &master.url_without_code(),
        &["get", "Party", &name],
    );
    let by_name = remote(s.path(), "Kashgar depot", &["get", "Party", &name]);
    let local = db(m.path(), &["get", "Party", &name]);
    assert_eq!(
        ok_one(&by_url),
        ok_one(&local),
        "same output as the local call"
    );
    assert_eq!(ok_one(&by_name), ok_one(&local));
    // Lists, counts and errors are the same too.
    assert_eq!(
        ok_lines(&remote(
            s.path(),
            "Kashgar depot",
            &[
                "query",
                "Party",
                "city:Kashgar",
                "--fields",
                "name,party_name"
            ]
        )),
        ok_lines(&db(
            m.path(),
            &[
                "query",
                "Party",
                "city:Kashgar",
                "--fields",
                "name,party_name"
            ]
        ))
    );
    let (code_r, err_r) = failed(&remote(
        s.path(),
        "Kashgar depot",
        &["update", "Party", &name, r#"{"rev":9,"city":"x"}"#],
    ));
    let (code_l, err_l) = failed(&db(
        m.path(),
        &["update", "Party", &name, r#"{"rev":9,"city":"x"}"#],
    ));
    assert_eq!((code_r, err_r), (code_l, err_l));
    let (code, err) = failed(&remote(
        s.path(),
        "Kashgar depot",
        &["query", "Party", "city:("],
    ));
    assert_eq!(code, 3);
    assert!(err.contains('^'), "{err}");
    // A slave never makes a database: identity and config only.
    let mut files: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["identity.pem", "slave.json"]);
    // The master lists the device with its id.
    let slave_id =
        String::from_utf8(outpost(&["id", "--data", s.path().to_str().unwrap()]).stdout).unwrap();
    let devices = ok_lines(&outpost(&["devices", "--data", m.path().to_str().unwrap()]));
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["fingerprint"], slave_id.trim());
    assert_eq!(devices[0]["state"], "approved");
}

#[test]
fn wrong_and_expired_codes_are_refused_clearly_and_record_nothing() {
    let (m, s) = (dir(), dir());
    let master = MasterProc::start(m.path(), "Depot", 0, &[]);
    let no_code = master.url_without_code();
    let (code, err) = failed(&remote(s.path(), &no_code, &["count", "Party"]));
    assert_eq!(code, 6);
    assert!(
        err.contains("not paired") && err.contains("pairing code"),
        "{err}"
    );
    let (code, err) = failed(&remote(
        s.path(),
        &format!("{no_code}&code=AAAA-AAAA"),
        &["count", "Party"],
    ));
    assert_eq!(code, 6);
    assert!(err.contains("wrong pairing code"), "{err}");
    let (code, err) = failed(&remote(
        s.path(),
        &no_code,
        &["--code", "BBBB-BBBB", "count", "Party"],
    ));
    assert_eq!(code, 6, "{err}");
    assert!(ok_lines(&outpost(&["devices", "--data", m.path().to_str().unwrap()])).is_empty());
    drop(master);

    // A code that lived 0 minutes has expired.
    let m2 = dir();
    let master = MasterProc::start(m2.path(), "Depot", 0, &["--code-minutes", "0"]);
    let (code, err) = failed(&remote(s.path(), &master.url, &["count", "Party"]));
    assert_eq!(code, 6);
    assert!(err.contains("expired"), "{err}");
    // `outpost pair` makes a fresh code that works, without restarting.
    let out = outpost(&["pair", "--data", m2.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let new_url = text
        .lines()
        .find(|l| l.starts_with("outpost://"))
        .expect("new URL")
        .to_string();
    assert_ne!(new_url, master.url);
    assert!(text.contains("Pairing code:"));
    assert_eq!(ok_one(&remote(s.path(), &new_url, &["count", "Party"])), 0);
}

#[test]
fn the_slave_refuses_an_impostor_master() {
    let (a, b, s) = (dir(), dir(), dir());
    let real = MasterProc::start(a.path(), "Depot", 0, &[]);
    let impostor = MasterProc::start(b.path(), "Depot", 0, &[]);
    // The impostor plays a master that lets this PC in (it knows the PC
    // from an earlier pairing), at an address the slave reaches with the
    // real master's fingerprint: what a slave holds after pairing, or reads
    // from a scanned QR code.
    ok_one(&remote(s.path(), &impostor.url, &["count", "Party"]));
    let url = impostor
        .url_without_code()
        .replace(&impostor.fingerprint, &real.fingerprint);
    let (code, err) = failed(&remote(s.path(), &url, &["count", "Party"]));
    assert_eq!(code, 6);
    assert!(err.contains("is not the one expected"), "{err}");
    assert!(err.contains(&impostor.fingerprint), "{err}");
}

#[test]
fn a_code_proof_for_one_master_does_not_pair_with_another() {
    let (a, b, s) = (dir(), dir(), dir());
    let real = MasterProc::start(a.path(), "Depot", 0, &[]);
    let other = MasterProc::start(b.path(), "Depot", 0, &[]);
    // The other master's address and code, but the real master's
    // fingerprint: the proof is bound to the fingerprint the slave expects,
    // so the other master cannot use it, and records nothing.
    let url = other.url.replace(&other.fingerprint, &real.fingerprint);
    let (code, err) = failed(&remote(s.path(), &url, &["count", "Party"]));
    assert_eq!(code, 6);
    assert!(err.contains("wrong pairing code"), "{err}");
    assert!(ok_lines(&outpost(&["devices", "--data", b.path().to_str().unwrap()])).is_empty());
}

#[test]
fn the_master_refuses_an_impostor_claiming_a_paired_device() {
    let (m, s, x) = (dir(), dir(), dir());
    let master = MasterProc::start(m.path(), "Depot", 0, &[]);
    ok_one(&remote(s.path(), &master.url, &["count", "Party"]));
    let victim =
        String::from_utf8(outpost(&["id", "--data", s.path().to_str().unwrap()]).stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_outpost-impostor"))
        .arg(x.path())
        .arg(victim.trim())
        .arg(master.url_without_code())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(text.starts_with("REFUSED forbidden"), "{text}");
    assert!(text.contains("not the one expected"), "{text}");
    // The real slave still works.
    assert_eq!(
        ok_one(&remote(
            s.path(),
            &master.url_without_code(),
            &["count", "Party"]
        )),
        0
    );
}

#[test]
fn revoking_a_device_closes_its_open_channel_and_keeps_it_out() {
    let (m, s) = (dir(), dir());
    let master = MasterProc::start(m.path(), "Depot", 0, &[]);
    ok_one(&remote(s.path(), &master.url, &["count", "Party"]));
    // A long-running slave: listening for changes.
    let mut sub = Command::new(outpost_bin())
        .args(["db", "--data"])
        .arg(s.path())
        .args([
            "--connect",
            &master.url_without_code(),
            "subscribe",
            "Party",
        ])
        .envs(outpost_e2e::SIGN_IN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(sub.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    // It sees a change made on the master.
    ok_one(&db(
        m.path(),
        &["insert", "Party", r#"{"party_name":"Seen"}"#],
    ));
    let mut out = BufReader::new(sub.stdout.take().unwrap());
    let mut ev = String::new();
    out.read_line(&mut ev).unwrap();
    assert!(ev.contains("\"changed\""), "{ev}");

    let slave_id =
        String::from_utf8(outpost(&["id", "--data", s.path().to_str().unwrap()]).stdout).unwrap();
    let t = Instant::now();
    let rev = outpost(&[
        "devices",
        "--data",
        m.path().to_str().unwrap(),
        "revoke",
        &slave_id.trim()[..12],
    ]);
    assert!(
        rev.status.success(),
        "{}",
        String::from_utf8_lossy(&rev.stderr)
    );
    let status = sub.wait().unwrap();
    eprintln!(
        "revoked slave's channel closed {:?} after the revoke command",
        t.elapsed()
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(6), "{rest}");
    assert!(rest.contains("revoked"), "{rest}");
    let (code, err) = failed(&remote(
        s.path(),
        &master.url_without_code(),
        &["count", "Party"],
    ));
    assert_eq!(code, 6);
    assert!(err.contains("revoked"), "{err}");
}

#[test]
fn device_ids_are_made_once_and_kept() {
    let d = dir();
    let a = outpost(&["id", "--data", d.path().to_str().unwrap()]);
    let b = outpost(&["id", "--data", d.path().to_str().unwrap()]);
    assert!(a.status.success());
    let id = String::from_utf8(a.stdout).unwrap();
    assert_eq!(id.trim().len(), 64);
    assert!(id.trim().chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(id, String::from_utf8(b.stdout).unwrap());
}

#[test]
fn killing_the_master_while_four_slaves_write_loses_and_duplicates_nothing() {
    let m = dir();
    let port = free_port();
    let mut master = MasterProc::start(m.path(), "Depot", port, &[]);
    let slave_dirs: Vec<_> = (0..4).map(|_| dir()).collect();
    // Pair each slave first (with the code), then write with the plain URL.
    for s in &slave_dirs {
        ok_one(&remote(s.path(), &master.url, &["count", "Party"]));
    }
    let url = master.url_without_code();
    let writers: Vec<SlaveWriter> = slave_dirs
        .iter()
        .enumerate()
        .map(|(i, s)| SlaveWriter::start(s.path(), &url, &format!("w{i}")))
        .collect();
    for w in &writers {
        w.wait_for(30);
    }
    master.kill9();
    let at_kill: Vec<usize> = writers.iter().map(SlaveWriter::count).collect();
    std::thread::sleep(Duration::from_millis(500));
    let master2 = MasterProc::start(m.path(), "Depot", port, &[]);
    // Every writer carries on after the restart.
    for (w, n) in writers.iter().zip(&at_kill) {
        w.wait_for(n + 30);
    }
    let mut writers = writers;
    for w in &mut writers {
        let _ = w.child.kill();
        let _ = w.child.wait();
    }
    drop(master2);
    let mut acked: Vec<(String, String)> = Vec::new();
    for w in &writers {
        assert!(
            w.errors.lock().unwrap().is_empty(),
            "{:?}",
            w.errors.lock().unwrap()
        );
        acked.extend(w.acks.lock().unwrap().iter().cloned());
    }
    // Every acknowledged write is there, and no write is there twice.
    let rows = ok_lines(&db(
        m.path(),
        &[
            "query",
            "Party",
            "--fields",
            "name,party_name",
            "--limit",
            "10000",
        ],
    ));
    let mut per_name: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        *per_name
            .entry(r["party_name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (name, pn) in &acked {
        assert_eq!(
            per_name.get(pn),
            Some(&1),
            "{pn} ({name}) stored {:?} times",
            per_name.get(pn)
        );
    }
    assert!(
        per_name.values().all(|n| *n == 1),
        "a write was applied twice"
    );
    eprintln!(
        "{} acknowledged writes, {} stored, across a kill -9 of the master",
        acked.len(),
        rows.len()
    );
}
