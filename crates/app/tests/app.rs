//! The desktop app's core end to end, without a window: two `App`s in
//! their own data folders, one made master at runtime, the other paired
//! with it by URL over real WebRTC on loopback.

mod common;

use std::time::Duration;

use common::{make_master, sign_in};
use outpost_api::Event;
use outpost_app::{App, AppEvent, AppOptions, Role};
use outpost_e2e::free_port;
use serde_json::{json, Value};

fn options() -> AppOptions {
    AppOptions {
        announce: false,
        ..AppOptions::default()
    }
}

async fn call(app: &App, op: &str, args: Value) -> Value {
    let raw = app
        .db_call(&json!({"v": 1, "id": 7, "op": op, "args": args}))
        .await;
    serde_json::from_str(raw.get()).unwrap()
}

/// The pairing URL with its host made 127.0.0.1 (the master advertises its
/// LAN address, which this sandbox may not route).
fn loopback(url: &str) -> String {
    outpost_e2e::url_at(url, "127.0.0.1")
}

async fn next_change(rx: &mut tokio::sync::broadcast::Receiver<AppEvent>) -> Event {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Ok(AppEvent::Db(ev))) => return ev,
            Ok(Ok(_)) => continue,
            other => panic!("no change event: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pc_made_master_at_runtime_serves_a_slave_paired_by_url() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = App::open(mdir.path(), options()).await.unwrap();
    assert_eq!(master.status().await.role, Role::None);
    // No database yet: calls say what to do.
    let r = call(&master, "doctypes", json!({})).await;
    assert_eq!(r["err"]["code"], "unavailable", "{r}");
    assert!(r["err"]["message"].as_str().unwrap().contains("Settings"));

    let empty_name = master.master_enable("  ", None, None).await.unwrap_err();
    assert!(empty_name.to_string().contains("name"), "{empty_name}");
    let port = free_port();
    // No users yet: no master without its first manager, asked by field.
    let no_manager = master
        .master_enable("Kashgar depot", Some(port), None)
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(no_manager.details.unwrap()["field"], "manager_password");
    assert!(
        no_manager.message.contains("first manager"),
        "{}",
        no_manager.message
    );
    assert_eq!(master.status().await.role, Role::None);
    let st = make_master(&master, "Kashgar depot", Some(port))
        .await
        .unwrap();
    assert_eq!(st.role, Role::Master);
    assert_eq!(st.office_name.as_deref(), Some("Kashgar depot"));
    let pairing = master.pairing_info().await.unwrap();
    assert!(
        pairing.url.contains(&format!(":{port}/")),
        "{}",
        pairing.url
    );
    assert!(pairing.qr_svg.contains("<svg"));
    assert_eq!(pairing.minutes_left, 10);
    assert_eq!(
        pairing.browser_url, None,
        "no web UI given: nothing to open"
    );

    // The slave: a wrong code is refused, and nothing is kept.
    let slave = App::open(sdir.path(), options()).await.unwrap();
    let url = loopback(&pairing.url);
    let no_code = url.split("&code=").next().unwrap().to_string();
    let err = slave
        .slave_connect(&no_code, Some("WRONG234"))
        .await
        .unwrap_err();
    assert_eq!(err.to_api().code.as_str(), "unauthorized", "{err}");
    assert_eq!(slave.status().await.role, Role::None);
    assert!(slave.status().await.master.is_none());

    // The right code (from the URL) pairs it.
    let st = slave.slave_connect(&url, None).await.unwrap();
    sign_in(&slave).await;
    assert_eq!(st.role, Role::Slave);
    assert_eq!(st.office_name.as_deref(), Some("Kashgar depot"));
    assert!(sdir.path().join("slave.json").exists());
    assert!(!sdir.path().join("outpost.sqlite").exists());

    // A record made on the slave reaches the master's window as an event,
    // and the master's own edit reaches the slave's.
    let mut mevents = master.subscribe();
    let mut sevents = slave.subscribe();
    let made = call(
        &slave,
        "insert",
        json!({"doctype": "Party", "record": {"party_name": "Acme"}}),
    )
    .await;
    let name = made["ok"]["name"].as_str().unwrap().to_string();
    match next_change(&mut mevents).await {
        Event::Changed {
            doctype, name: n, ..
        } => {
            assert_eq!((doctype.as_str(), n.as_str()), ("Party", name.as_str()))
        }
        other => panic!("{other:?}"),
    }
    let r = call(
        &master,
        "update",
        json!({"doctype": "Party", "name": name, "rev": 1, "record": {"city": "Kashgar"}}),
    )
    .await;
    assert_eq!(r["ok"]["rev"], 2, "{r}");
    loop {
        if let Event::Changed { rev: 2, .. } = next_change(&mut sevents).await {
            break;
        }
    }
    let got = call(&slave, "get", json!({"doctype": "Party", "name": name})).await;
    assert_eq!(got["ok"]["city"], "Kashgar");
    assert_eq!(got["ok"]["modified_by"], "master-window");

    // The master lists the slave as connected; turning master mode off
    // asks first.
    let devices = master.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].connected && devices[0].state == "approved");
    assert_eq!(master.status().await.devices_connected, 1);
    let err = master.master_disable(false).await.unwrap_err();
    assert_eq!(err.to_api().details.unwrap()["reason"], "devices_connected");

    // Revoking cuts the slave off; it is told why.
    master.device_revoke(&devices[0].fingerprint).await.unwrap();
    let mut waited = 0;
    loop {
        let st = slave.status().await;
        if let outpost_app::LinkView::Refused { code, .. } = &st.link {
            assert_eq!(code, "forbidden");
            break;
        }
        waited += 1;
        assert!(waited < 100, "slave not cut off: {st:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = call(&slave, "doctypes", json!({})).await;
    assert_eq!(r["err"]["code"], "forbidden", "{r}");
    // The code it paired with was retired with the revocation: pairing
    // again with the same URL is refused, and the slave stays unpaired.
    let again = slave.slave_connect(&url, None).await.unwrap_err();
    assert!(
        matches!(again.to_api().code.as_str(), "unauthorized" | "forbidden"),
        "{again}"
    );

    // Now master mode goes off without asking, and the data stays on disk.
    let st = master.master_disable(false).await.unwrap();
    assert_eq!(st.role, Role::None);
    assert!(mdir.path().join("outpost.sqlite").exists());
    slave.shutdown().await;
    master.shutdown().await;

    // Reopening the master's folder in master mode finds the record.
    let again = App::open(mdir.path(), options()).await.unwrap();
    make_master(&again, "Kashgar depot", Some(free_port()))
        .await
        .unwrap();
    let got = call(&again, "get", json!({"doctype": "Party", "name": name})).await;
    assert_eq!(got["ok"]["city"], "Kashgar");
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_resumes_its_role_after_a_restart_and_forgets_on_request() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = free_port();
    let master = App::open(mdir.path(), options()).await.unwrap();
    make_master(&master, "Site camp", Some(port)).await.unwrap();
    let url = loopback(&master.pairing_info().await.unwrap().url);
    let slave = App::open(sdir.path(), options()).await.unwrap();
    slave.slave_connect(&url, None).await.unwrap();
    slave.shutdown().await;
    drop(slave);
    master.shutdown().await;
    drop(master);

    // Both come back as what they were, on the same port, without a code.
    let master = App::open(mdir.path(), options()).await.unwrap();
    let st = master.status().await;
    assert_eq!(
        (st.role, st.listen.unwrap().ends_with(&format!(":{port}"))),
        (Role::Master, true)
    );
    let slave = App::open(sdir.path(), options()).await.unwrap();
    assert_eq!(slave.status().await.role, Role::Slave);
    sign_in(&slave).await;
    let r = call(&slave, "count", json!({"doctype": "Party"})).await;
    assert_eq!(r["ok"], 0, "{r}");
    assert!(matches!(
        slave.status().await.link,
        outpost_app::LinkView::Connected { .. }
    ));

    // A master cannot connect to another master; forgetting leaves nothing.
    let err = master.slave_connect(&url, None).await.unwrap_err();
    assert_eq!(err.to_api().details.unwrap()["reason"], "not_slave");
    let st = slave.slave_forget().await.unwrap();
    assert_eq!(st.role, Role::None);
    assert!(st.master.is_none());
    assert!(!sdir.path().join("slave.json").exists());
    slave.shutdown().await;
    master.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_master_and_a_bad_request_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).await.unwrap();
    let port = free_port();
    let fp = "ab".repeat(32);
    let err = app
        .slave_connect(
            &format!("outpost://127.0.0.1:{port}/?name=Gone&fp={fp}&code=ABCD2345"),
            None,
        )
        .await
        .unwrap_err();
    let api = err.to_api();
    assert_eq!(api.code.as_str(), "unavailable");
    assert!(api.message.contains("127.0.0.1"), "{}", api.message);
    assert_eq!(app.status().await.role, Role::None);

    // While a connection attempt waits on a master that never answers, the
    // status (and so the window's status bar) still answers, and says so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!(
        "outpost://{}/?name=Silent&fp={fp}&code=ABCD2345",
        silent.local_addr().unwrap()
    );
    let connecting = {
        let app = app.clone();
        tokio::spawn(async move { app.slave_connect(&silent_url, None).await })
    };
    let mut saw_connecting = false;
    for _ in 0..50 {
        let st = tokio::time::timeout(Duration::from_secs(1), app.status())
            .await
            .expect("status answers during a connection attempt");
        if st.link == outpost_app::LinkView::Connecting {
            saw_connecting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_connecting, "the attempt never showed as connecting");
    // A call made meanwhile waits for the attempt and then gets its error
    // (about 5 s here): never a hang. The guard is the slave's own call
    // timeout, not a speed expectation (5 s failed once under CI load).
    let r = tokio::time::timeout(
        outpost_node::slave::DEFAULT_CALL_TIMEOUT,
        app.db_call(&json!({"v": 1, "id": 9, "op": "doctypes", "args": {}})),
    )
    .await
    .expect("a DB call during a connection attempt is answered when it ends");
    let r: Value = serde_json::from_str(r.get()).unwrap();
    assert!(r.get("err").is_some(), "{r}");
    assert!(connecting.await.unwrap().is_err());
    drop(silent);
    assert_eq!(app.status().await.role, Role::None);

    // Looking for masters on the LAN ends, found or not.
    tokio::time::timeout(Duration::from_secs(10), app.discover())
        .await
        .expect("discovery returns")
        .unwrap();

    // A malformed request is answered, not dropped.
    let raw = app.db_call(&json!({"v": 1, "op": "get"})).await;
    let r: Value = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(r["err"]["code"], "bad_request", "{r}");

    // An opened URL is kept for the window, once; junk is ignored.
    app.open_args(
        ["outpost".to_string(), "outpost://nonsense".to_string()],
        false,
    );
    assert_eq!(app.take_open_url(), None);
    let good = format!("outpost://10.0.0.2:7355/?name=HQ&fp={fp}&code=ABCD2345");
    app.open_args(["outpost".to_string(), good.clone()], false);
    assert_eq!(app.take_open_url(), Some(good));
    assert_eq!(app.take_open_url(), None);
    app.shutdown().await;
}

/// A running master moved to another port restarts there; a rename or move
/// that cannot start leaves the master as it was, still serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_moves_port_and_a_failed_change_keeps_it_running() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).await.unwrap();
    let (p1, p2) = (free_port(), free_port());
    make_master(&app, "Port depot", Some(p1)).await.unwrap();
    assert!(app
        .status()
        .await
        .listen
        .unwrap()
        .ends_with(&format!(":{p1}")));
    // The same name on another port: moved.
    make_master(&app, "Port depot", Some(p2)).await.unwrap();
    assert!(app
        .status()
        .await
        .listen
        .unwrap()
        .ends_with(&format!(":{p2}")));
    // A port someone else holds: refused, and the master stays where it was.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let p3 = taken.local_addr().unwrap().port();
    let err = app
        .master_enable("Renamed depot", Some(p3), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_api().code.as_str(), "unavailable", "{err}");
    let st = app.status().await;
    assert_eq!(st.office_name.as_deref(), Some("Port depot"));
    assert!(
        st.listen.unwrap().ends_with(&format!(":{p2}")),
        "still serving on {p2}"
    );
    // The master started again: its window signs in again.
    sign_in(&app).await;
    let r = call(&app, "count", json!({"doctype": "Party"})).await;
    assert_eq!(r["ok"], 0, "{r}");
    app.shutdown().await;
}

/// A desktop master given the web UI's folder serves it to browsers on its
/// port, with the description the page pins, and shows the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_master_serves_the_web_ui_to_browsers() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    std::fs::write(ui.join("index.html"), "<title>Outpost web UI</title>").unwrap();
    let app = App::open(
        &dir.path().join("data"),
        AppOptions {
            web_ui: Some(outpost_link::web::WebRoot::Folder(ui)),
            ..options()
        },
    )
    .await
    .unwrap();
    let port = free_port();
    make_master(&app, "Aksu store", Some(port)).await.unwrap();
    let pairing = app.pairing_info().await.unwrap();
    let browser = pairing.browser_url.expect("a browser address");
    assert!(
        browser.starts_with("http://") && browser.ends_with(&format!(":{port}/")),
        "{browser}"
    );
    let get = |path: &str| {
        let path = path.to_string();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
        .join()
        .unwrap()
    };
    assert!(get("/").contains("<title>Outpost web UI</title>"));
    let info = get("/outpost.json");
    let body: Value = serde_json::from_str(info.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["office"], "Aksu store");
    assert_eq!(body["fingerprint"], app.status().await.device_id.as_str());
    app.master_disable(true).await.unwrap();
}

/// The window shows the code its master made; a code made by `outpost pair`
/// (another process: the database keeps only its key) is shown by that
/// command alone, and "New code" makes one the window can show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_shows_only_a_code_its_master_made() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).await.unwrap();
    make_master(&app, "Hotan depot", Some(free_port()))
        .await
        .unwrap();
    let first = app.pairing_info().await.unwrap();
    let code = first.code.clone().expect("the code made at start");
    assert!(
        first.url.ends_with(&format!("code={code}")),
        "{}",
        first.url
    );

    // `outpost pair` makes another, with the office database only.
    let store = outpost_store::Store::open(dir.path()).unwrap();
    let url = outpost_node::pairing_state::stored_url(&store)
        .unwrap()
        .unwrap();
    let elsewhere = outpost_node::pairing_state::renew(&store, &url.fingerprint, 10).unwrap();
    store.close();
    let shown = app.pairing_info().await.unwrap();
    assert_eq!(shown.code, None, "the window cannot know that code");
    assert!(!shown.url.contains("code="), "{}", shown.url);
    assert!(
        !shown
            .url
            .contains(&outpost_link::pairing::display_code(&elsewhere.code)),
        "{}",
        shown.url
    );

    // "New code": made here, shown here, and it is the URL's.
    let renewed = app.pairing_renew().await.unwrap();
    let code = renewed.code.clone().expect("a new code");
    assert_ne!(code.replace('-', ""), elsewhere.code);
    assert_eq!(app.pairing_info().await.unwrap().code, Some(code.clone()));
    assert!(renewed.url.ends_with(&format!("code={code}")));
    assert_eq!(renewed.minutes_left, 10);
    app.shutdown().await;
}

/// Settings → Documents: the office address is checked, kept in the
/// office database (trimmed, one kind of line end) and there after a
/// restart; it needs a master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_address_is_set_in_the_window_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).await.unwrap();
    let none = app.office_address().await.unwrap_err();
    assert_eq!(none.to_api().details.unwrap()["reason"], "not_master");
    make_master(&app, "Yarkant depot", Some(free_port()))
        .await
        .unwrap();
    assert_eq!(app.office_address().await.unwrap(), "");
    let long = app.office_address_set(&"x".repeat(501)).await.unwrap_err();
    assert!(long.to_string().contains("under 500"), "{long}");
    assert_eq!(app.office_address().await.unwrap(), "", "nothing kept");
    let kept = app
        .office_address_set("  7 Caravan Lane\r\nYarkant 844100\n")
        .await
        .unwrap();
    assert_eq!(kept, "7 Caravan Lane\nYarkant 844100");
    app.shutdown().await;
    drop(app);

    let app = App::open(dir.path(), options()).await.unwrap();
    assert_eq!(app.office_address().await.unwrap(), kept);
    app.shutdown().await;
}
