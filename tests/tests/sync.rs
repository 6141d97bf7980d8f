//! The upstream sync as a user runs it: `outpost master --upstream FILE`
//! with a real `trytond` behind a hostile link (the test proxy), slaves
//! over real WebRTC, `outpost sync now|status`, and `kill -9` of the master
//! at the worst moments.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_e2e::proxy::{LinkConfig, LinkProxy};
use outpost_e2e::trytond::Trytond;
use outpost_e2e::{db, failed, ok_lines, ok_one, outpost, outpost_bin, remote, MasterProc};
use serde_json::{json, Value};

fn write_upstream(dir: &Path, t: &Trytond, url: &str, policy: &str) -> String {
    let path = dir.join("upstream.toml");
    std::fs::write(
        &path,
        t.upstream_toml(
            Some(url),
            &format!(
                "interval_seconds = 3600\n\
                 [doctypes.Party]\nmodel = \"party.party\"\nconflict = \"{policy}\"\n\
                 [doctypes.Product]\nmodel = \"product.product\"\nconflict = \"{policy}\"\n"
            ),
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn sync_now(data: &Path, timeout: u64) -> std::process::Output {
    outpost(&[
        "sync",
        "now",
        "--data",
        data.to_str().unwrap(),
        "--timeout",
        &timeout.to_string(),
    ])
}

fn sync_status(data: &Path) -> Value {
    ok_one(&outpost(&[
        "sync",
        "status",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]))
}

fn remote_parties(t: &Trytond, prefix: &str) -> Vec<Value> {
    t.all("party.party", &["name", "code", "active"])
        .into_iter()
        .filter(|p| p["code"].as_str().unwrap_or("").starts_with(prefix))
        .collect()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const SATELLITE: LinkConfig = LinkConfig {
    delay: Duration::from_millis(150),
    rate: Some(50_000),
    cut_after: None,
    blackhole: false,
    hold_answers: false,
    hold_answers_after: None,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slaves_records_reach_tryton_and_head_office_changes_reach_slaves_live_over_a_hostile_link()
{
    let t = Trytond::start();
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), SATELLITE)
        .await
        .unwrap();
    let (m, s) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let up = write_upstream(
        m.path(),
        &t,
        &format!("http://{}/", proxy.addr()),
        "keep_remote",
    );
    let master = MasterProc::start(m.path(), "Yarkant depot", 0, &["--upstream", &up]);

    // A slave makes parties and a product.
    let acme = ok_one(&remote(
        s.path(),
        &master.url,
        &[
            "insert",
            "Party",
            r#"{"party_name":"Acme","code":"S-1","city":"Yarkant"}"#,
        ],
    ));
    let acme = acme["name"].as_str().unwrap().to_string();
    let url = master.url_without_code();
    ok_one(&remote(
        s.path(),
        &url,
        &[
            "insert",
            "Party",
            r#"{"party_name":"Bazaar Co","code":"S-2"}"#,
        ],
    ));
    ok_one(&remote(
        s.path(),
        &url,
        &[
            "insert",
            "Product",
            r#"{"product_name":"Green tea","code":"S-T1","list_price":4.25}"#,
        ],
    ));
    let out = sync_now(m.path(), 120);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("link:            up"), "{text}");
    assert!(text.contains("pending:         0"), "{text}");
    let names: Vec<Value> = remote_parties(&t, "S-")
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("Acme"), json!("Bazaar Co")]);
    let tpl: Vec<Value> = t
        .all("product.template", &["name", "code", "list_price"])
        .into_iter()
        .filter(|p| p["code"] == "S-T1")
        .collect();
    assert_eq!(tpl.len(), 1);
    assert_eq!(tpl[0]["name"], "Green tea");
    assert_eq!(tpl[0]["list_price"]["decimal"], "4.25");

    // A slave watching the list sees the head office's change live.
    let mut watch = Command::new(outpost_bin())
        .args(["db", "--data"])
        .arg(s.path())
        .args(["--connect", &url, "subscribe", "Party"])
        .env_remove("RUST_LOG")
        .envs(outpost_e2e::SIGN_IN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (etx, erx) = std::sync::mpsc::channel::<String>();
    let stderr = watch.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let said = erx
        .recv_timeout(Duration::from_secs(30))
        .expect("subscribed");
    assert!(said.contains("listening for changes"), "{said}");
    let id = remote_parties(&t, "S-1")[0]["id"].clone();
    t.rpc(
        "model.party.party.write",
        json!([[id], {"name": "Acme Trading"}, {}]),
    );
    t.rpc(
        "model.party.party.create",
        json!([[{"name": "Head office customer", "code": "HQ-9"}], {}]),
    );
    assert!(sync_now(m.path(), 120).status.success());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|e: &Value| e["name"] == acme.as_str()) {
        assert!(Instant::now() < deadline, "no live event: {seen:?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            seen.push(serde_json::from_str(&line).unwrap());
        }
    }
    let ev = seen.iter().find(|e| e["name"] == acme.as_str()).unwrap();
    assert_eq!(ev["device"], "upstream", "{ev}");
    let _ = watch.kill();
    let _ = watch.wait();
    let got = ok_one(&remote(s.path(), &url, &["get", "Party", &acme]));
    assert_eq!(got["party_name"], "Acme Trading");
    assert_eq!(
        got["city"], "Yarkant",
        "fields the head office does not keep stay"
    );
    let hq9 = ok_lines(&remote(s.path(), &url, &["query", "Party", "code:HQ-9"]));
    assert_eq!(hq9[0]["party_name"], "Head office customer");

    // The link is cut mid-answer: the sync fails clearly, nothing is lost.
    proxy.set(LinkConfig {
        cut_after: Some(300),
        ..SATELLITE
    });
    for i in 0..20 {
        ok_one(&db(
            m.path(),
            &[
                "insert",
                "Party",
                &format!(r#"{{"party_name":"Batch {i}","code":"B-{i:02}"}}"#),
            ],
        ));
    }
    let out = sync_now(m.path(), 120);
    let (code, err) = failed(&out);
    assert_eq!(code, 7, "{err}");
    let st = sync_status(m.path());
    assert_eq!(st["link"], "down", "{st}");
    assert!(
        st["last_error"].as_str().unwrap().contains("Tryton"),
        "{st}"
    );
    assert!(st["next_attempt"].is_string(), "{st}");
    assert_eq!(st["outbox_pending"], 20, "{st}");

    // Then it goes silent (a blackhole): the request waits, nothing is
    // answered; when the link comes back the sync completes.
    proxy.set(LinkConfig {
        blackhole: true,
        ..SATELLITE
    });
    let (code, err) = failed(&sync_now(m.path(), 3));
    assert!(err.contains("did not finish"), "{code} {err}");
    proxy.set(SATELLITE);
    let out = sync_now(m.path(), 200);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Both sides match: every office party is upstream once, and back.
    let local: Vec<Value> = ok_lines(&db(m.path(), &["export", "Party"]));
    let remote_all = t.all("party.party", &["name", "code", "active"]);
    let mut here: Vec<(String, String)> = local
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap_or("").to_string(),
                p["party_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut there: Vec<(String, String)> = remote_all
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    here.sort();
    there.sort();
    assert_eq!(here, there);
    assert_eq!(remote_parties(&t, "B-").len(), 20);
    let st = sync_status(m.path());
    assert_eq!(
        (st["link"].as_str(), st["outbox_pending"].as_u64()),
        (Some("up"), Some(0)),
        "{st}"
    );
    assert!(st["bytes"]["sent_today"].as_u64().unwrap() > 1000, "{st}");
    assert!(
        st["bytes"]["received_today"].as_u64().unwrap() > 1000,
        "{st}"
    );
    // A slave's window asks the same through the master.
    let from_slave = ok_one(&remote(s.path(), &url, &["sync-status"]));
    assert_eq!(from_slave["link"], "up", "{from_slave}");
    assert_eq!(from_slave["outbox_pending"], 0, "{from_slave}");
    // The words a person reads.
    let text = String::from_utf8_lossy(
        &outpost(&["sync", "status", "--data", m.path().to_str().unwrap()]).stdout,
    )
    .to_string();
    for want in [
        "link:            up",
        "last success:",
        "parked:          0",
        "conflicts:       0",
        "bytes today:",
        "bytes in total:",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }

    // A second master (and its worker) on the same data folder is refused:
    // the folder's instance lock is met first (the sync lock still guards
    // `outpost sync now` and the like).
    let other = outpost(&[
        "master",
        "--data",
        m.path().to_str().unwrap(),
        "--name",
        "Second",
        "--no-mdns",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        "--upstream",
        &up,
    ]);
    let (_, err) = failed(&other);
    assert!(
        err.contains("a master is already running on the data folder"),
        "{err}"
    );

    // `upstream: true` asks the head office; when the uplink is down it
    // says so.
    let rows = ok_lines(&remote(
        s.path(),
        &url,
        &["query", "Party", "code:HQ-9", "--upstream"],
    ));
    assert_eq!(rows[0]["party_name"], "Head office customer");
    t_stop_and_check_unavailable(&proxy, s.path(), &url).await;
    drop(master);
}

async fn t_stop_and_check_unavailable(proxy: &LinkProxy, slave: &Path, url: &str) {
    proxy.set(LinkConfig {
        cut_after: Some(0),
        ..SATELLITE
    });
    let (code, err) = failed(&remote(
        slave,
        url,
        &["query", "Party", "code:HQ-9", "--upstream"],
    ));
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("head office cannot be reached"), "{err}");
}

/// The master is killed with SIGKILL at the three worst moments of a push;
/// after a restart Tryton holds exactly one copy of each record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_mid_push_leaves_exactly_one_copy_upstream() {
    let t = Trytond::start();
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), LinkConfig::default())
        .await
        .unwrap();
    let m = tempfile::tempdir().unwrap();
    let up = write_upstream(m.path(), &t, &format!("http://{}/", proxy.addr()), "ask");
    for (round, point) in ["before_send", "after_send", "after_answer"]
        .iter()
        .enumerate()
    {
        let prefix = format!("K{round}-");
        let env: Vec<(&str, &str)> = match *point {
            "after_send" => vec![],
            p => vec![("OUTPOST_SYNC_PAUSE", p)],
        };
        let mut master =
            MasterProc::start_env(m.path(), "Kill depot", 0, &["--upstream", &up], &env);
        let deadline = Instant::now() + Duration::from_secs(60);
        while sync_status(m.path())["link"] == "starting" {
            assert!(Instant::now() < deadline, "no first sync: {}", master.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        if *point == "after_send" {
            // Requests reach Tryton; its answers never come back.
            proxy.set(LinkConfig {
                hold_answers: true,
                ..Default::default()
            });
        }
        for i in 0..5 {
            ok_one(&db(
                m.path(),
                &[
                    "insert",
                    "Party",
                    &format!(r#"{{"party_name":"Kill {round}.{i}","code":"{prefix}{i}"}}"#),
                ],
            ));
        }
        // The local changes start a push by themselves.
        match *point {
            "after_send" => wait_for("the create to reach Tryton", 60, || {
                remote_parties(&t, &prefix).len() == 5
            }),
            p => wait_for(&format!("the pause at {p}"), 60, || {
                master.log().contains(&format!("paused at {p}"))
            }),
        }
        master.kill9();
        let before = remote_parties(&t, &prefix).len();
        assert_eq!(
            before,
            if *point == "before_send" { 0 } else { 5 },
            "{point}"
        );
        proxy.set(LinkConfig::default());

        let _again = MasterProc::start(m.path(), "Kill depot", 0, &["--upstream", &up]);
        let out = sync_now(m.path(), 120);
        assert!(
            out.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = remote_parties(&t, &prefix);
        assert_eq!(after.len(), 5, "{point}: {after:?}");
        let st = sync_status(m.path());
        assert_eq!(st["outbox_pending"], 0, "{point}: {st}");
        assert_eq!(st["conflicts"], 0, "{point}: {st}");
    }
}

/// Fail over in the middle of a push: a synchronous master with a standby
/// pushes five new Parties, Tryton creates them and answers, and the master
/// dies before it records the answer. The standby, promoted, syncs on with
/// the same upstream file: head office ends with exactly one copy of each
/// (the entries' `sending` mark is on the standby, so it looks them up
/// instead of creating them again). The master's wait for the standby after
/// marking (`Sync::set_barrier`) closes a narrower window than this hook can
/// hit: this test also passes without it (checked by hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_over_in_the_middle_of_a_push_leaves_exactly_one_copy_upstream() {
    let t = Trytond::start();
    let m = tempfile::tempdir().unwrap();
    let sb = tempfile::tempdir().unwrap();
    let up = write_upstream(m.path(), &t, &t.url(), "ask");
    let mut master = MasterProc::start_env(
        m.path(),
        "Failover depot",
        0,
        &["--upstream", &up, "--durability", "sync"],
        &[("OUTPOST_SYNC_PAUSE", "after_answer")],
    );
    // A paired PC made the standby, following.
    ok_one(&remote(sb.path(), &master.url, &["count", "Party"]));
    let id =
        String::from_utf8(outpost(&["id", "--data", sb.path().to_str().unwrap()]).stdout).unwrap();
    let made = outpost(&[
        "devices",
        "--data",
        m.path().to_str().unwrap(),
        "standby",
        id.trim(),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut standby = outpost_e2e::StandbyProc::start(sb.path(), &master.url_without_code());
    standby.wait_line("Following");
    // The office's writes come from a slave (through the master), in one
    // call (one transaction), so that the first push carries them all
    // (five calls let the worker wake between them and push only some).
    let slave = tempfile::tempdir().unwrap();
    let lines: String = (0..5)
        .map(|i| format!("{{\"party_name\":\"Failover {i}\",\"code\":\"FO-{i}\"}}\n"))
        .collect();
    let file = slave.path().join("parties.jsonl");
    std::fs::write(&file, lines).unwrap();
    let imported = remote(
        slave.path(),
        &master.url,
        &["import", "Party", file.to_str().unwrap()],
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    wait_for("the pause after Tryton answered", 120, || {
        master.log().contains("paused at after_answer")
    });
    assert_eq!(remote_parties(&t, "FO-").len(), 5, "Tryton has them");
    master.kill9();

    let promoted = MasterProc::spawn(
        sb.path(),
        0,
        &["promote".to_string(), "--upstream".to_string(), up.clone()],
        &[],
    );
    let out = sync_now(sb.path(), 120);
    assert!(
        out.status.success(),
        "{}: {}",
        String::from_utf8_lossy(&out.stderr),
        promoted.log()
    );
    let after = remote_parties(&t, "FO-");
    assert_eq!(
        after.len(),
        5,
        "exactly one copy of each at head office: {after:?}"
    );
    let st = sync_status(sb.path());
    assert_eq!(st["outbox_pending"], 0, "{st}");
    assert_eq!(st["conflicts"], 0, "{st}");
}
