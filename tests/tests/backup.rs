//! Backups as the person running the office uses them: `outpost backup`
//! while four slaves write, `outpost restore`, the master's own scheduled
//! backups with rotation, the instance lock, and a damaged database refused
//! with the name of the newest good backup. Real processes, real files.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use outpost_e2e::{db, failed, free_port, ok_one, outpost, remote, MasterProc, SlaveWriter};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Party names stored in the database of `data` (read with the CLI).
fn party_names(data: &Path) -> HashSet<String> {
    outpost_e2e::party_names(data).into_iter().collect()
}

/// `PRAGMA integrity_check` of a file, with the sqlite3 library.
fn integrity(file: &Path) -> String {
    let c = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Runs an `outpost` command that must stop with an error by itself (a
/// master that starts instead is killed and fails the test).
fn refused(args: &[&str]) -> std::process::Output {
    let child = std::process::Command::new(outpost_e2e::outpost_bin())
        .args(args)
        .env_remove("OUTPOST_DATA")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.unwrap();
            assert!(
                !out.status.success(),
                "`outpost {}` was not refused",
                args.join(" ")
            );
            out
        }
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(id.to_string())
                .status();
            panic!(
                "`outpost {}` did not stop: it was not refused",
                args.join(" ")
            );
        }
    }
}

#[test]
fn a_backup_taken_while_four_slaves_write_holds_every_acknowledged_write_and_restores() {
    let m = dir();
    let port = free_port();
    let mut master = MasterProc::start(m.path(), "Depot", port, &[]);
    let slave_dirs: Vec<_> = (0..4).map(|_| dir()).collect();
    for d in &slave_dirs {
        ok_one(&remote(d.path(), &master.url, &["count", "Party"]));
    }
    let url = master.url_without_code();
    let mut writers: Vec<SlaveWriter> = slave_dirs
        .iter()
        .enumerate()
        .map(|(i, d)| SlaveWriter::start(d.path(), &url, &format!("w{i}")))
        .collect();
    for w in &writers {
        w.wait_for(20);
    }
    // Everything acknowledged before the backup begins must be in it.
    let before: Vec<(String, String)> = writers.iter().flat_map(|w| w.acked()).collect();
    let out_dir = dir();
    let file = out_dir.path().join("depot.sqlite");
    let out = outpost(&["backup", "--data", s(m.path()), "--to", s(&file)]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("checked with integrity_check"), "{said}");
    assert!(said.contains(" KB") || said.contains(" MB"), "size: {said}");
    assert!(said.contains(" s;"), "time: {said}");
    // The writers carried on during the backup.
    let counts: Vec<usize> = writers.iter().map(SlaveWriter::count).collect();
    for (w, n) in writers.iter().zip(&counts) {
        w.wait_for(n + 5);
    }
    for w in &mut writers {
        w.kill();
        assert!(
            w.errors.lock().unwrap().is_empty(),
            "{:?}",
            w.errors.lock().unwrap()
        );
    }
    assert_eq!(integrity(&file), "ok");
    // Without --with-identity the file is not owner-only, and holds no identity.
    assert!(!said.contains("readable by its owner only"), "{said}");

    // A restore refuses the folder the master is running on.
    let (code, err) = failed(&outpost(&[
        "restore",
        "--data",
        s(m.path()),
        "--from",
        s(&file),
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("a master is already running"), "{err}");
    // A second master on the same folder is refused too (the instance lock).
    let second = refused(&[
        "master",
        "--data",
        s(m.path()),
        "--name",
        "Depot",
        "--no-mdns",
        "--listen",
        "127.0.0.1",
        "--port",
        &free_port().to_string(),
    ]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("a master is already running on the data folder"),
        "{err}"
    );
    assert!(master.stop());

    // Restore into a new folder: every write acknowledged before the backup
    // is there once, with the devices, and a master starts on it.
    let r = dir();
    let out = outpost(&["restore", "--data", s(r.path()), "--from", s(&file)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = party_names(r.path());
    for (name, pn) in &before {
        assert!(
            restored.contains(pn),
            "{pn} ({name}) acknowledged before the backup is missing"
        );
    }
    let devices = outpost(&["devices", "--data", s(r.path())]);
    let listed = String::from_utf8_lossy(&devices.stdout);
    assert_eq!(
        listed.matches("\"state\":\"approved\"").count(),
        4,
        "{listed}"
    );

    // Restoring over an existing database keeps the old one aside.
    let out = outpost(&["restore", "--data", s(m.path()), "--from", s(&file)]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("kept aside"), "{said}");
    let aside: Vec<_> = std::fs::read_dir(m.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("outpost.sqlite.replaced-")
        })
        .collect();
    assert!(!aside.is_empty());
    // The one kept aside still holds everything the master had.
    let everything: usize = writers.iter().map(SlaveWriter::count).sum();
    let c = rusqlite::Connection::open(aside[0].path()).unwrap();
    let kept: i64 = c
        .query_row(
            "SELECT count(*) FROM \"tab Party\" WHERE deleted = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept as usize >= everything, "{kept} < {everything}");
    let again = MasterProc::start(m.path(), "Depot", free_port(), &[]);
    drop(again);
}

#[test]
fn a_backup_with_identity_is_owner_only_and_restores_the_same_master() {
    let m = dir();
    let mut master = MasterProc::start(m.path(), "Depot", free_port(), &[]);
    let fp = master.fingerprint.clone();
    ok_one(&db(
        m.path(),
        &["insert", "Party", r#"{"party_name":"Acme"}"#],
    ));
    let file = m.path().join("with-id.sqlite");
    let out = outpost(&[
        "backup",
        "--data",
        s(m.path()),
        "--to",
        s(&file),
        "--with-identity",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup with the identity is owner-only");
    }
    assert!(master.stop());
    let r = dir();
    let out = outpost(&["restore", "--data", s(r.path()), "--from", s(&file)]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("file from the backup: identity.pem"),
        "{said}"
    );
    let restored = MasterProc::start(r.path(), "Depot", free_port(), &[]);
    assert_eq!(restored.fingerprint, fp, "the same master identity");
    assert!(party_names(r.path()).contains("Acme"));

    // Garbage is refused before anything is touched.
    let junk = m.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database at all, just bytes").unwrap();
    let other = dir();
    let (code, err) = failed(&outpost(&[
        "restore",
        "--data",
        s(other.path()),
        "--from",
        s(&junk),
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("is not a usable Outpost backup"), "{err}");
    assert!(!other.path().join("outpost.sqlite").exists());
}

#[test]
fn the_master_backs_up_by_itself_rotates_and_names_the_newest_backup_when_damaged() {
    let m = dir();
    let b = dir();
    let mut master = MasterProc::start(
        m.path(),
        "Kashgar depot",
        free_port(),
        &[
            "--backup-dir",
            s(b.path()),
            "--backup-every",
            "1s",
            "--backup-keep",
            "2",
            "--backup-dailies",
            "0",
        ],
    );
    ok_one(&db(
        m.path(),
        &["insert", "Party", r#"{"party_name":"Acme"}"#],
    ));
    // Wait until several backups were taken (the log lists each good one).
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = m.path().join("backups.json");
    loop {
        let taken = std::fs::read_to_string(&log)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| v["good"].as_array().map(Vec::len).unwrap_or(0))
            .unwrap_or(0);
        if taken >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the master took {taken} backups");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(master.stop());
    let files: Vec<String> = std::fs::read_dir(b.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    // Two kept: a master stops only after the backup in progress and its
    // rotation are done.
    let ours: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("kashgar-depot-") && f.ends_with(".sqlite"))
        .collect();
    assert_eq!(ours.len(), 2, "{files:?}");
    for f in &ours {
        assert_eq!(integrity(&b.path().join(f)), "ok");
    }

    // Damage the office database: the master refuses it and names the
    // newest good backup, which restores.
    let db_file = m.path().join("outpost.sqlite");
    // Fold the WAL into the file first, so the damage hits the records.
    rusqlite::Connection::open(&db_file)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let mut bytes = std::fs::read(&db_file).unwrap();
    // Every page after the first (the schema) is overwritten.
    for b in &mut bytes[4096..] {
        *b = 0x5a;
    }
    std::fs::write(&db_file, &bytes).unwrap();
    assert!(bytes.len() > 3 * 4096, "the records are in the file");
    let out = refused(&[
        "master",
        "--data",
        s(m.path()),
        "--name",
        "Kashgar depot",
        "--no-mdns",
        "--listen",
        "127.0.0.1",
        "--port",
        &free_port().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("is damaged"), "{err}");
    let newest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    let newest = newest["good"][0]["path"].as_str().unwrap().to_string();
    assert!(
        err.contains(&format!("the newest good backup is {newest}")),
        "{err}"
    );
    assert!(err.contains("outpost restore --from"), "{err}");
    let out = outpost(&["restore", "--data", s(m.path()), "--from", &newest]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(party_names(m.path()).contains("Acme"));
}
