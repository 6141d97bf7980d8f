//! The desktop app as the office's standby, without a window: a real
//! `outpost master` process, a slave `App` paired with it over WebRTC on
//! loopback, made the standby with `outpost devices standby ID`; it copies
//! and follows while it stays a working slave. The master is killed, the
//! `App` is promoted and serves as the master, and a CLI slave paired with
//! the old master writes to it without pairing again.

mod common;

use std::path::Path;
use std::time::Duration;

use outpost_app::standby::StandbyHere;
use outpost_app::{App, AppOptions, Role};
use outpost_e2e::{ok_one, outpost, remote, MasterProc};
use serde_json::{json, Value};

/// Longest wait for a state to show; the polls end as soon as it does.
const PATIENCE: Duration = Duration::from_secs(60);

fn options() -> AppOptions {
    AppOptions {
        announce: false,
        ..AppOptions::default()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn reason(e: &outpost_app::AppError) -> Value {
    e.to_api().details.unwrap_or_default()["reason"].clone()
}

async fn call(app: &App, op: &str, args: Value) -> Value {
    let raw = app
        .db_call(&json!({"v": 1, "id": 7, "op": op, "args": args}))
        .await;
    serde_json::from_str(raw.get()).unwrap()
}

/// Polls the app's standby state until `done` holds.
async fn standby_until(
    app: &App,
    what: &str,
    done: impl Fn(&Option<StandbyHere>) -> bool,
) -> Option<StandbyHere> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let here = app.status().await.standby;
        if done(&here) {
            return here;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}; the standby is {here:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn following_up_to_date(here: &Option<StandbyHere>) -> bool {
    matches!(here, Some(StandbyHere::Following { behind: 0, seq, .. }) if *seq > 0)
}

fn devices_standby(master: &Path, args: &[&str]) {
    let mut all = vec!["devices", "--data", s(master), "standby"];
    all.extend(args);
    let out = outpost(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_slave_made_the_standby_follows_and_once_promoted_serves_the_office() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (m, sdir, cdir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut master = MasterProc::start(m.path(), "Depot", outpost_e2e::free_port(), &[]);
    let app = App::open(sdir.path(), options()).await.unwrap();
    app.slave_connect(&master.url, None).await.unwrap();
    common::sign_in(&app).await;
    let me = app.status().await.device_id;

    // Not the standby: nothing runs, and there is nothing to promote.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.status().await.standby, None);
    let e = app.standby_promote().await.unwrap_err();
    assert_eq!(reason(&e), "not_standby", "{e}");
    assert_eq!(app.status().await.role, Role::Slave);

    // A CLI slave pairs with the master and writes.
    let before = ok_one(&remote(
        cdir.path(),
        &master.url,
        &[
            "insert",
            "Party",
            r#"{"party_name":"Written before the kill"}"#,
        ],
    ));

    // Made the standby on the master: this PC copies, then follows, and
    // its slave connection keeps working meanwhile.
    devices_standby(m.path(), &[&me]);
    standby_until(&app, "the copy to follow", following_up_to_date).await;
    let r = call(
        &app,
        "get",
        json!({"doctype": "Party", "name": before["name"]}),
    )
    .await;
    assert_eq!(r["ok"]["party_name"], "Written before the kill", "{r}");
    assert!(sdir.path().join("outpost.sqlite").is_file());
    // A standby is not turned into a master by hand (only by promotion).
    let e = app.master_enable("Depot", None, None).await.unwrap_err();
    assert_eq!(reason(&e), "is_standby", "{e}");

    // Taken back on the master: the copy stops; made again: it follows.
    devices_standby(m.path(), &["--clear"]);
    standby_until(&app, "the copy to stop", Option::is_none).await;
    devices_standby(m.path(), &[&me]);
    let Some(StandbyHere::Following { seq: held, .. }) =
        standby_until(&app, "the copy to follow again", following_up_to_date).await
    else {
        unreachable!()
    };

    // The slave's own writes reach the copy; the CLI slave learns the
    // office's roster (this PC is in it) as it writes.
    let r = call(
        &app,
        "insert",
        json!({"doctype": "Party", "record": {"party_name": "Written by the standby PC"}}),
    )
    .await;
    assert!(r["ok"]["name"].is_string(), "{r}");
    ok_one(&remote(
        cdir.path(),
        &master.url_without_code(),
        &[
            "insert",
            "Party",
            r#"{"party_name":"Also before the kill"}"#,
        ],
    ));
    let paired: Value =
        serde_json::from_slice(&std::fs::read(cdir.path().join("slave.json")).unwrap()).unwrap();
    assert!(
        paired["roster"].as_array().unwrap().contains(&json!(me)),
        "{paired}"
    );
    standby_until(&app, "the copy to hold every change", |here| {
        matches!(here, Some(StandbyHere::Following { behind: 0, seq, .. }) if *seq >= held + 2)
    })
    .await;

    // The master dies; the standby says it is looking for it.
    let port = master.port;
    master.kill9();
    standby_until(&app, "the standby to look for its master", |here| {
        matches!(here, Some(StandbyHere::Connecting))
    })
    .await;

    // Promoted: the app is the office's master, on the port the office's
    // master had, under its name.
    let status = app.standby_promote().await.unwrap();
    assert_eq!(status.role, Role::Master);
    assert_eq!(status.office_name.as_deref(), Some("Depot"));
    assert_eq!(status.standby, None);
    assert!(
        status
            .listen
            .as_deref()
            .is_some_and(|l| l.ends_with(&format!(":{port}"))),
        "{status:?}"
    );
    assert_eq!(app.settings().role, Role::Master);
    assert!(!sdir.path().join("slave.json").exists());
    // The copy holds the office's users: its manager signs in on it.
    common::sign_in(&app).await;

    // The CLI slave writes to it by the old master's URL, without pairing
    // again, and everything written before the kill is there.
    let after = ok_one(&remote(
        cdir.path(),
        &master.url_without_code(),
        &[
            "insert",
            "Party",
            r#"{"party_name":"Written after the promotion"}"#,
        ],
    ));
    assert!(after["name"].is_string(), "{after}");
    let r = call(
        &app,
        "query",
        json!({"doctype": "Party", "fields": ["party_name"], "limit": 100}),
    )
    .await;
    let mut names: Vec<&str> = r["ok"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|p| p["party_name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Also before the kill",
            "Written after the promotion",
            "Written before the kill",
            "Written by the standby PC"
        ],
        "{r}"
    );
    app.shutdown().await;
}
