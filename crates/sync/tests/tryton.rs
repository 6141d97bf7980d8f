//! The Tryton connector against a real `trytond` 8.x from PyPI on SQLite
//! (installed into `.venv` by `scripts/setup`, or `OUTPOST_TRYTON_VENV`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost_sync::tryton::Tryton;
use outpost_sync::{Connector, Cursor, ErrorClass, UpstreamConfig};
use serde_json::{json, Map, Value};

fn venv() -> PathBuf {
    let v = std::env::var_os("OUTPOST_TRYTON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        v.join("bin/trytond").exists(),
        "no trytond in {}: run scripts/setup (it installs trytond from PyPI into .venv)",
        v.display()
    );
    v
}

struct Trytond {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Trytond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh `hq` database with the party module, served on a free port.
fn start_trytond() -> Trytond {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("trytond.conf");
    std::fs::write(
        &conf,
        format!(
            "[database]\nuri = sqlite://\npath = {}\n[web]\nlisten = 127.0.0.1:{port}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("hq.sqlite"), b"").unwrap();
    std::fs::write(dir.path().join("pass"), b"admin\n").unwrap();
    run(
        Command::new(venv.join("bin/trytond-admin"))
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-d",
                "hq",
                "--all",
                "--email",
                "admin@example.com",
            ])
            .args(["-u", "party", "--activate-dependencies"])
            .env("TRYTONPASSFILE", dir.path().join("pass")),
        "trytond-admin",
    );
    let child = Command::new(venv.join("bin/trytond"))
        .args(["-c", conf.to_str().unwrap(), "-d", "hq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trytond");
    let t = Trytond {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "trytond did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    t
}

fn config(port: u16, password: &str) -> UpstreamConfig {
    config_at(&format!("http://127.0.0.1:{port}/"), password)
}

fn config_at(url: &str, password: &str) -> UpstreamConfig {
    config_with(url, password, "")
}

/// `party_lines` go in the `[doctypes.Party]` table (e.g. `fields = {...}`).
fn config_with(url: &str, password: &str, party_lines: &str) -> UpstreamConfig {
    let text = format!(
        "kind = \"tryton\"\nurl = \"{url}\"\ndatabase = \"hq\"\nuser = \"admin\"\npassword = \"{password}\"\n[doctypes.Party]\nmodel = \"party.party\"\n{party_lines}"
    );
    UpstreamConfig::parse(&text, Path::new("upstream.toml")).unwrap()
}

fn party(name: &str, code: &str) -> Map<String, Value> {
    json!({"party_name": name, "code": code})
        .as_object()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tryton_connector_pushes_pulls_finds_by_key_and_classifies_failures() {
    let server = start_trytond();
    let tryton = Tryton::new(config(server.port, "admin")).unwrap();

    // A batch is created in one call; ids come back in order.
    let ids = tryton
        .create(
            "Party",
            &[
                party("Acme Trading", "KSH-0001"),
                party("Khotan Traders", "KSH-0002"),
                party("Aksu Mills", "KSH-0003"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);

    // Pulled in pages of 2, oldest first, then nothing after the last.
    let first = tryton.pull("Party", &Cursor::default(), 2).await.unwrap();
    assert_eq!(first.records.len(), 2);
    let second = tryton.pull("Party", &first.next, 2).await.unwrap();
    let names: Vec<&str> = first
        .records
        .iter()
        .chain(&second.records)
        .map(|r| r.values["party_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Trading", "Khotan Traders", "Aksu Mills"]);
    let done = tryton.pull("Party", &second.next, 2).await.unwrap();
    assert!(done.records.is_empty(), "{:?}", done.records);
    assert_eq!(done.next, second.next);

    // A push whose answer was lost is found by its key.
    let found = tryton.lookup("Party", "KSH-0002").await.unwrap().unwrap();
    assert_eq!(found.id, ids[1]);
    assert_eq!(found.values["party_name"], "Khotan Traders");
    assert!(found.active && found.version.is_some());
    assert!(tryton.lookup("Party", "KSH-9999").await.unwrap().is_none());

    // A write with the version read succeeds and shows up in the next pull;
    // the same old version again is a conflict, never a silent overwrite.
    let changes = json!({"party_name": "Khotan Traders Ltd"})
        .as_object()
        .unwrap()
        .clone();
    tryton
        .write("Party", found.id, found.version.as_deref(), &changes)
        .await
        .unwrap();
    // (Tryton's stamps have microseconds; make the stale one differ.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = tryton.pull("Party", &done.next, 10).await.unwrap();
    assert_eq!(later.records.len(), 1);
    assert_eq!(later.records[0].values["party_name"], "Khotan Traders Ltd");
    let stale = tryton
        .write("Party", found.id, found.version.as_deref(), &changes)
        .await
        .unwrap_err();
    assert_eq!(stale.class, ErrorClass::Conflict, "{stale}");

    // A duplicate key is rejected with Tryton's words, and the batch it was
    // in is not half-made.
    let dup = tryton
        .create(
            "Party",
            &[party("New One", "KSH-0100"), party("Copy", "KSH-0001")],
        )
        .await
        .unwrap_err();
    assert_eq!(dup.class, ErrorClass::Rejected, "{dup}");
    assert!(dup.message.contains("unique"), "{dup}");
    assert!(tryton.lookup("Party", "KSH-0100").await.unwrap().is_none());

    // Deactivation is a change the pull sees.
    let deactivate = json!({"active": false}).as_object().unwrap().clone();
    let aksu = tryton.lookup("Party", "KSH-0003").await.unwrap().unwrap();
    let cfg_with_active = config_with(
        &format!("http://127.0.0.1:{}/", server.port),
        "admin",
        "fields = { party_name = \"name\", code = \"code\", active = \"active\" }\n",
    );
    let with_active = Tryton::new(cfg_with_active).unwrap();
    with_active
        .write("Party", aksu.id, aksu.version.as_deref(), &deactivate)
        .await
        .unwrap();
    let after = with_active.pull("Party", &later.next, 10).await.unwrap();
    assert_eq!(after.records.len(), 1);
    assert_eq!(after.records[0].id, aksu.id);
    assert!(!after.records[0].active);

    // A wrong password is an auth failure (not retried in a loop).
    let wrong = Tryton::new(config(server.port, "not-the-password")).unwrap();
    let err = wrong
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");

    // A server that is down is retryable.
    drop(server);
    let err = tryton
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");
}

/// The same calls through a satellite-like link (delay each way, a rate
/// limit) complete; a link that dies mid-answer or swallows everything is a
/// retryable failure, and the next call after it comes back works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_slow_and_failing_link_calls_complete_or_fail_as_retryable() {
    use outpost_e2e::proxy::{LinkConfig, LinkProxy};
    let server = start_trytond();
    let slow = LinkConfig {
        delay: Duration::from_millis(100),
        rate: Some(50_000),
        ..Default::default()
    };
    let proxy = LinkProxy::start(([127, 0, 0, 1], server.port).into(), slow.clone())
        .await
        .unwrap();
    let tryton = Tryton::new(config_at(&format!("http://{}/", proxy.addr()), "admin")).unwrap();
    let records: Vec<Map<String, Value>> = (0..50)
        .map(|i| party(&format!("Party {i}"), &format!("SAT-{i:04}")))
        .collect();
    let ids = tryton.create("Party", &records).await.unwrap();
    assert_eq!(ids.len(), 50);
    let page = tryton.pull("Party", &Cursor::default(), 100).await.unwrap();
    assert_eq!(page.records.len(), 50);
    assert!(proxy.bytes_up() > 0 && proxy.bytes_down() > 0);

    // The link is cut mid-call: retryable, nothing half-read is returned.
    proxy.set(LinkConfig {
        cut_after: Some(300),
        ..slow.clone()
    });
    let err = tryton
        .pull("Party", &Cursor::default(), 100)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");

    // The link comes back: the same call works.
    proxy.set(slow.clone());
    let again = tryton.pull("Party", &Cursor::default(), 100).await.unwrap();
    assert_eq!(again.records.len(), 50);
}
