//! The standby master as the office runs it: a paired PC made the standby
//! with `outpost devices standby ID` runs `outpost standby`, fetches a
//! snapshot, then follows every change while four slaves write; at the end
//! its copy equals the master's database table by table, and opens as an
//! office database. Real processes, real WebRTC, real files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use outpost_e2e::{
    db, ok_one, outpost, outpost_bin, party_names, remote, MasterProc, SlaveWriter, StandbyProc,
};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn repl_seq(path: &Path) -> u64 {
    read_only(path)
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM _meta WHERE key = 'repl_seq'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0) as u64
}

/// Every table's rows, sorted, as text: two databases with equal dumps
/// hold the same data.
fn dump(path: &Path) -> BTreeMap<String, Vec<String>> {
    let c = read_only(path);
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let vals: Vec<rusqlite::types::Value> =
                    (0..n).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                Ok(format!("{vals:?}"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(t, rows);
    }
    out
}

#[test]
fn a_standby_copies_then_follows_four_writing_slaves_to_an_equal_database() {
    let m = dir();
    let mut master = MasterProc::start(m.path(), "Depot", outpost_e2e::free_port(), &[]);
    ok_one(&db(
        m.path(),
        &["insert", "Party", r#"{"party_name":"Before the standby"}"#],
    ));
    let url = master.url_without_code();

    // A paired PC that is not the standby is refused, in words.
    let sb = dir();
    ok_one(&remote(sb.path(), &master.url, &["count", "Party"]));
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("is not the office's standby");
    drop(standby);

    // Made the standby on the master, it copies and follows.
    let id = String::from_utf8(outpost(&["id", "--data", s(sb.path())]).stdout).unwrap();
    let made = outpost(&["devices", "--data", s(m.path()), "standby", id.trim()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (_slave_dirs, mut writers) = four_writers(&master);
    for w in &writers {
        w.wait_for(10);
    }
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("Copying the office database");
    standby.wait_line("Following");
    let counts: Vec<usize> = writers.iter().map(SlaveWriter::count).collect();
    for (w, n) in writers.iter().zip(&counts) {
        w.wait_for(n + 30);
    }
    // The master shows the standby with its lag.
    let listed = String::from_utf8(outpost(&["devices", "--data", s(m.path())]).stdout).unwrap();
    let me = listed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|d| d["fingerprint"] == id.trim())
        .unwrap();
    assert_eq!(me["standby"], true, "{me}");
    assert!(me["standby_lag"]["changes"].is_u64(), "{me}");
    assert!(me["standby_lag"]["seconds"].is_number(), "{me}");

    let mut acked = Vec::new();
    for w in &mut writers {
        w.kill();
        assert!(
            w.errors.lock().unwrap().is_empty(),
            "{:?}",
            w.errors.lock().unwrap()
        );
        acked.extend(w.acked());
    }
    // The standby reaches the master's last change, and the master stays
    // there (no write in flight) before it is stopped.
    let master_db = m.path().join("outpost.sqlite");
    let copy = sb.path().join("outpost.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let target = repl_seq(&master_db);
        if repl_seq(&copy) == target {
            std::thread::sleep(Duration::from_millis(700));
            if repl_seq(&master_db) == target && repl_seq(&copy) == target {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the standby is at {} of {}",
            repl_seq(&copy),
            repl_seq(&master_db)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    master.kill9();
    drop(standby);
    assert_eq!(repl_seq(&copy), repl_seq(&master_db));
    let (a, b) = (dump(&master_db), dump(&copy));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (table, rows) in &a {
        assert_eq!(rows, &b[table], "table {table} differs");
    }

    // The copy is an office database: every acknowledged write is there once.
    let names: Vec<String> = party_names(sb.path());
    for (_, pn) in &acked {
        assert_eq!(names.iter().filter(|n| *n == pn).count(), 1, "{pn}");
    }
    assert!(names.iter().any(|n| n == "Before the standby"));
}

/// Four slaves paired with `master` (with its code), then writing through
/// it by its URL without the code.
fn four_writers(master: &MasterProc) -> (Vec<tempfile::TempDir>, Vec<SlaveWriter>) {
    let dirs: Vec<_> = (0..4).map(|_| dir()).collect();
    for d in &dirs {
        ok_one(&remote(d.path(), &master.url, &["count", "Party"]));
    }
    let url = master.url_without_code();
    let writers = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| SlaveWriter::start(d.path(), &url, &format!("w{i}")))
        .collect();
    (dirs, writers)
}

/// A master on `m` with `extra` flags, and a paired PC on `sb` made its
/// standby (not started).
fn master_with_standby(m: &Path, sb: &Path, extra: &[&str]) -> MasterProc {
    let master = MasterProc::start(m, "Depot", outpost_e2e::free_port(), extra);
    ok_one(&remote(sb, &master.url, &["count", "Party"]));
    let id = String::from_utf8(outpost(&["id", "--data", s(sb)]).stdout).unwrap();
    let made = outpost(&["devices", "--data", s(m), "standby", id.trim()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    master
}

/// Checked to fail with `--durability async` instead (the last writes
/// acknowledged before the kill are missing from the standby then).
#[test]
fn in_synchronous_mode_every_acknowledged_write_is_on_the_standby_when_the_master_dies() {
    let (m, sb) = (dir(), dir());
    let mut master = master_with_standby(m.path(), sb.path(), &["--durability", "sync"]);
    let url = master.url_without_code();
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("Following");
    let (_slave_dirs, mut writers) = four_writers(&master);
    for w in &writers {
        w.wait_for(40);
    }
    // Pull the plug on the master in the middle of the writes.
    master.kill9();
    let mut acked = Vec::new();
    for w in &mut writers {
        // What was printed before the kill is all that was acknowledged.
        std::thread::sleep(Duration::from_millis(200));
        w.kill();
        acked.extend(w.acked());
    }
    drop(standby);
    assert!(acked.len() >= 160);
    let names: Vec<String> = party_names(sb.path());
    for (name, pn) in &acked {
        assert_eq!(
            names.iter().filter(|n| *n == pn).count(),
            1,
            "{pn} ({name}) was acknowledged but is not on the standby once"
        );
    }
}

#[test]
fn a_synchronous_master_set_to_refuse_refuses_writes_while_its_standby_is_away() {
    let (m, sb) = (dir(), dir());
    let master = master_with_standby(
        m.path(),
        sb.path(),
        &["--durability", "sync", "--standby-away", "refuse"],
    );
    let slave = dir();
    let out = remote(
        slave.path(),
        &master.url,
        &["insert", "Party", r#"{"party_name":"Only on one PC"}"#],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the standby is away"), "{err}");
    // Nothing was saved; reads still work.
    let n = ok_one(&remote(
        slave.path(),
        &master.url_without_code(),
        &["count", "Party"],
    ));
    assert_eq!(n, 0, "{n}");
}

/// The default for a synchronous master whose standby is away: it goes on
/// alone, and says so (its log, `outpost devices`) until the standby is
/// back. Checked to fail with `--standby-away refuse` (the write is refused).
#[test]
fn a_synchronous_master_goes_on_alone_while_its_standby_is_away_and_says_so() {
    let (m, sb) = (dir(), dir());
    let master = master_with_standby(m.path(), sb.path(), &["--durability", "sync"]);
    let url = master.url_without_code();
    let standby_id = String::from_utf8(outpost(&["id", "--data", s(sb.path())]).stdout).unwrap();
    let writes = || shown_lag(m.path(), standby_id.trim())["writes"].clone();
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("Following");
    wait_until(|| writes() == "on_both", || format!("{}", writes()));

    // The standby goes away: the master answers alone, and says so.
    drop(standby);
    wait_until(
        || writes() == "alone_standby_away",
        || format!("{} / {}", writes(), master.log()),
    );
    assert!(
        master
            .log()
            .contains("the standby is away: writes are answered at this master's commit alone"),
        "{}",
        master.log()
    );
    let slave = dir();
    ok_one(&remote(
        slave.path(),
        &master.url,
        &[
            "insert",
            "Party",
            r#"{"party_name":"On one PC for a while"}"#,
        ],
    ));

    // Back, it catches up, and writes are on both PCs again.
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("Following");
    wait_until(|| writes() == "on_both", || format!("{}", writes()));
    assert!(
        master
            .log()
            .contains("writes are answered once the standby holds them too"),
        "{}",
        master.log()
    );
    ok_one(&remote(
        slave.path(),
        &url,
        &["insert", "Party", r#"{"party_name":"On both again"}"#],
    ));
    drop(standby);
    let names = party_names(sb.path());
    assert!(
        names.iter().any(|n| n == "On one PC for a while"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "On both again"), "{names:?}");
}

/// Waits (up to 30 s) for `done`; `what` says what was seen instead.
fn wait_until(done: impl Fn() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "not reached: {}", what());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Pull the plug on a synchronous master while four slaves write, promote
/// the standby: the slaves carry on by themselves (they learned the office's
/// roster), and every acknowledged write is there exactly once.
#[test]
fn promoting_the_standby_keeps_the_office_working_with_nothing_acknowledged_lost() {
    let (m, sb) = (dir(), dir());
    let mut master = master_with_standby(m.path(), sb.path(), &["--durability", "sync"]);
    let port = master.port;
    let url = master.url_without_code();
    let mut standby = StandbyProc::start(sb.path(), &url);
    standby.wait_line("Following");
    let (slave_dirs, mut writers) = four_writers(&master);
    for w in &writers {
        w.wait_for(30);
    }
    // Each slave learned the roster (master and standby) from the master.
    let sb_id = String::from_utf8(outpost(&["id", "--data", s(sb.path())]).stdout).unwrap();
    for d in &slave_dirs {
        let paired: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("slave.json")).unwrap())
                .unwrap();
        let roster: Vec<&str> = paired["roster"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(roster.contains(&sb_id.trim()), "{paired}");
    }

    master.kill9();
    let at_kill: Vec<usize> = writers.iter().map(SlaveWriter::count).collect();
    // The person promotes the standby: it stops following, raises the
    // epoch and serves on the same address (here, loopback and the port).
    let promoted = MasterProc::spawn(sb.path(), port, &["promote".to_string()], &[]);
    // `promote` stopped the standby process before it took the folder.
    let deadline = Instant::now() + Duration::from_secs(20);
    while standby.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the standby still runs beside the promoted master"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every writer carries on, by itself, without pairing again.
    for (w, n) in writers.iter().zip(&at_kill) {
        w.wait_for(n + 30);
    }
    let mut acked = Vec::new();
    for w in &mut writers {
        w.kill();
        assert!(
            w.errors.lock().unwrap().is_empty(),
            "{:?}",
            w.errors.lock().unwrap()
        );
        acked.extend(w.acked());
    }
    let names: Vec<String> = party_names(sb.path());
    for (name, pn) in &acked {
        assert_eq!(
            names.iter().filter(|n| *n == pn).count(),
            1,
            "{pn} ({name}) acknowledged, stored {} times on the promoted master",
            names.iter().filter(|n| *n == pn).count()
        );
    }
    let epoch = read_only(&sb.path().join("outpost.sqlite"))
        .query_row("SELECT value FROM _meta WHERE key = 'epoch'", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap();
    assert_eq!(epoch, "1");

    // The old master comes back, holding a write the standby never got.
    ok_one(&db(
        m.path(),
        &[
            "insert",
            "Party",
            r#"{"party_name":"Stray at the old master"}"#,
        ],
    ));
    let old = MasterProc::start(m.path(), "Depot", outpost_e2e::free_port(), &[]);
    // A slave that knows of the promotion reaches it: the slave does not
    // use it (out of date), and it stops taking writes.
    let out = Command::new(outpost_bin())
        .args([
            "db",
            "--data",
            s(slave_dirs[0].path()),
            "--connect",
            &old.url_without_code(),
        ])
        .args([
            "--timeout",
            "4",
            "insert",
            "Party",
            r#"{"party_name":"Split brain"}"#,
        ])
        .env_remove("OUTPOST_DATA")
        .envs(outpost_e2e::SIGN_IN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !old
        .log()
        .contains("a standby was promoted in this master's place")
    {
        assert!(
            Instant::now() < deadline,
            "the old master was not fenced: {}",
            old.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Even a PC that pairs with it now cannot write there.
    let newcomer = dir();
    let out = remote(
        newcomer.path(),
        &old.url,
        &["insert", "Party", r#"{"party_name":"Split brain"}"#],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no longer the office's master"), "{err}");
    drop(old);

    // It rejoins as the new master's standby: its stray write is listed and
    // its database kept aside, not merged; the office never sees it.
    ok_one(&remote(m.path(), &promoted.url, &["count", "Party"]));
    let old_id = String::from_utf8(outpost(&["id", "--data", s(m.path())]).stdout).unwrap();
    let made = outpost(&["devices", "--data", s(sb.path()), "standby", old_id.trim()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut rejoined = StandbyProc::start(m.path(), &promoted.url_without_code());
    rejoined.wait_line("Following");
    let files: Vec<String> = std::fs::read_dir(m.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let list = files
        .iter()
        .find(|f| f.starts_with("stray-writes-"))
        .unwrap_or_else(|| panic!("no list of stray writes in {files:?}"));
    assert!(
        files.iter().any(|f| f.starts_with("outpost.sqlite.stray-")),
        "{files:?}"
    );
    let strays = std::fs::read_to_string(m.path().join(list)).unwrap();
    assert!(strays.contains("\"doctype\":\"Party\""), "{strays}");
    drop(rejoined);
    let on_new: Vec<String> = party_names(sb.path());
    assert!(!on_new
        .iter()
        .any(|n| n == "Stray at the old master" || n == "Split brain"));
    // The rejoined standby's copy is the office's: the stray is not in it.
    let copy: Vec<String> = party_names(m.path());
    assert!(!copy.iter().any(|n| n == "Stray at the old master"));
    drop(promoted);
}

/// The standby's line in `outpost devices` on the master in `m`: its
/// `standby_lag` (`changes`, `at_change`, `master_change` ...).
fn shown_lag(m: &Path, standby: &str) -> serde_json::Value {
    let listed = String::from_utf8(outpost(&["devices", "--data", s(m)]).stdout).unwrap();
    listed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|d| d["fingerprint"] == standby)
        .map(|d| d["standby_lag"].clone())
        .unwrap_or_default()
}

/// Async mode, the loss made real: the standby's PC hangs (SIGSTOP) while
/// four slaves write, so a lag builds up; the master dies (kill -9) and the
/// standby is promoted. Every acknowledged write is on it exactly once or
/// lost; some are lost, each one is on the dead master's disk, and the
/// changes lost are no more than the lag `outpost devices` showed when the
/// master died (counted as it shows them, in changes).
#[test]
fn in_async_mode_a_dead_master_loses_no_more_than_the_lag_it_showed() {
    let (m, sb) = (dir(), dir());
    let mut master = master_with_standby(m.path(), sb.path(), &["--durability", "async"]);
    let sb_id = String::from_utf8(outpost(&["id", "--data", s(sb.path())]).stdout).unwrap();
    let sb_id = sb_id.trim();
    let mut standby = StandbyProc::start(sb.path(), &master.url_without_code());
    standby.wait_line("Following");
    let (_slave_dirs, writers) = four_writers(&master);
    for w in &writers {
        w.wait_for(20);
    }

    // The standby goes silent; the slaves go on writing, answered at the
    // master's commit.
    let gone = outpost_link::identity::short_fingerprint(sb_id);
    let standby_gone = |log: String| {
        log.lines()
            .filter(|l| l.contains(&gone) && l.contains("slave disconnected"))
            .count()
    };
    let gone_before = standby_gone(master.log());
    outpost_e2e::signal(standby.child.id(), "STOP");
    let counts: Vec<usize> = writers.iter().map(SlaveWriter::count).collect();
    for (w, n) in writers.iter().zip(&counts) {
        w.wait_for(n + 25);
    }
    // The race between the last lag shown and the kill, closed: the slaves
    // pause between two writes (none in flight, their channels open), and
    // the master has recorded the silent standby's channel as gone (its
    // last bookkeeping write). From here on its database does not move; the
    // lag shown is current once it names the database's last change.
    for w in &writers {
        w.pause();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while standby_gone(master.log()) == gone_before {
        assert!(
            Instant::now() < deadline,
            "the master never noticed the silent standby: {}",
            master.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let master_db = m.path().join("outpost.sqlite");
    let shown = loop {
        let lag = shown_lag(m.path(), sb_id);
        if lag["master_change"].as_u64() == Some(repl_seq(&master_db)) {
            break lag;
        }
        assert!(
            Instant::now() < deadline,
            "the master's shown lag {lag} never reached its change {}",
            repl_seq(&master_db)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    master.kill9();
    let at_death = repl_seq(&master_db);
    assert_eq!(
        shown["master_change"].as_u64(),
        Some(at_death),
        "the master changed its database after the lag shown: {shown}"
    );

    // The standby's PC wakes up; the person stops it and promotes it.
    outpost_e2e::signal(standby.child.id(), "CONT");
    outpost_e2e::signal(standby.child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    while standby.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the standby ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let copy = sb.path().join("outpost.sqlite");
    let held = repl_seq(&copy);
    let promoted = MasterProc::spawn(
        sb.path(),
        outpost_e2e::free_port(),
        &["promote".into()],
        &[],
    );

    // In changes, as the screen counts: what the standby misses is more
    // than nothing here, and no more than the lag shown at the death.
    let lag = shown["changes"].as_u64().unwrap();
    assert!(
        held >= shown["at_change"].as_u64().unwrap(),
        "the standby holds {held}, less than the master said: {shown}"
    );
    assert!(held < at_death, "the standby holds every change ({held})");
    assert!(
        at_death - held <= lag,
        "{} changes lost, {lag} shown",
        at_death - held
    );

    // Write by write: each acknowledged one is on the promoted standby
    // once, or lost; the lost ones are on the dead master's disk.
    let acked: Vec<(String, String)> = writers.iter().flat_map(SlaveWriter::acked).collect();
    let on_standby = party_names(sb.path());
    let on_old = party_names(m.path());
    let mut lost = Vec::new();
    for (name, pn) in &acked {
        let times = |names: &[String]| names.iter().filter(|n| *n == pn).count();
        match times(&on_standby) {
            0 => lost.push(pn),
            1 => {}
            n => panic!("{pn} ({name}) is on the promoted standby {n} times"),
        }
        assert_eq!(times(&on_old), 1, "{pn} ({name}) on the old master");
    }
    assert!(
        !lost.is_empty(),
        "nothing acknowledged was lost: the test saw no loss ({} changes behind)",
        at_death - held
    );
    eprintln!(
        "shown at the death: {shown}; lost {} changes ({held} of {at_death} held), {} of {} acknowledged writes",
        at_death - held,
        lost.len(),
        acked.len()
    );
    drop(promoted);
}
