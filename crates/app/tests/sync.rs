//! The desktop app's head-office sync, without a window: a master `App`
//! with an upstream file chosen at runtime, syncing with a real `trytond`;
//! a conflict listed with both versions and settled from the app.

use outpost_app::{App, AppOptions, Keep};
use outpost_e2e::trytond::Trytond;
use outpost_store::LinkState;
use serde_json::{json, Value};

async fn call(app: &App, op: &str, args: Value) -> Value {
    static ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let raw = app
        .db_call(&json!({"v": 1, "id": id, "op": op, "args": args}))
        .await;
    let r: Value = serde_json::from_str(raw.get()).unwrap();
    assert!(r.get("err").is_none(), "{op}: {r}");
    r["ok"].clone()
}

fn remote_party(t: &Trytond, code: &str) -> Value {
    t.rpc(
        "model.party.party.search_read",
        json!([[["code", "=", code]], 0, null, null, ["name"], {"active_test": false}]),
    )[0]
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_app_syncs_with_the_upstream_file_chosen_in_settings() {
    let t = Trytond::start();
    let dir = tempfile::tempdir().unwrap();
    let port = outpost_e2e::free_port();
    let app = App::open(
        dir.path(),
        AppOptions {
            announce: false,
            default_port: Some(port),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    // Not a master yet: no sync to ask about.
    assert!(app.sync_now().await.is_err());
    app.master_enable("Sync depot", None).await.unwrap();
    let st = app.sync_status().await.unwrap();
    assert!(!st.status.configured, "{st:?}");
    assert_eq!(st.status.link, LinkState::NotConfigured);

    // A broken file is refused with its problem, and nothing changes.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "kind = \"tryton\"\nurl = 5\n").unwrap();
    let e = app
        .upstream_set(Some(bad.display().to_string()))
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.as_str(), "bad_request");
    assert!(e.message.contains("line 2"), "{}", e.message);
    assert_eq!(app.settings().upstream, None);

    let file = dir.path().join("upstream.toml");
    std::fs::write(
        &file,
        t.upstream_toml(
            None,
            "interval_seconds = 3600\n[doctypes.Party]\nmodel = \"party.party\"\nconflict = \"ask\"\n",
        ),
    )
    .unwrap();
    let st = app
        .upstream_set(Some(file.display().to_string()))
        .await
        .unwrap();
    assert_eq!(
        (st.status.configured, st.status.running),
        (true, true),
        "{st:?}"
    );
    assert_eq!(st.upstream_file, Some(file.display().to_string()));

    let rec = call(
        &app,
        "insert",
        json!({"doctype": "Party", "record": {"party_name": "Window party", "code": "W-1"}}),
    )
    .await;
    let name = rec["name"].as_str().unwrap().to_string();
    let st = app.sync_now().await.unwrap();
    assert_eq!(
        (st.status.link, st.status.outbox_pending),
        (LinkState::Up, 0),
        "{st:?}"
    );
    assert_eq!(remote_party(&t, "W-1")["name"], "Window party");

    // Changed on both sides: listed with both versions, nothing moves.
    let rev = call(&app, "get", json!({"doctype": "Party", "name": name})).await["rev"].clone();
    call(
        &app,
        "update",
        json!({"doctype": "Party", "name": name, "rev": rev, "record": {"party_name": "Window party (office)"}}),
    )
    .await;
    let id = remote_party(&t, "W-1")["id"].clone();
    t.rpc(
        "model.party.party.write",
        json!([[id], {"name": "Window party (HQ)"}, {}]),
    );
    let st = app.sync_now().await.unwrap();
    assert_eq!(st.status.conflicts, 1, "{st:?}");
    assert_eq!(st.status.open_conflicts.len(), 1);
    let open = app.sync_conflicts(false).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "modify/modify");
    assert_eq!(open[0].local["party_name"], "Window party (office)");
    assert_eq!(open[0].remote["values"]["party_name"], "Window party (HQ)");
    assert_eq!(remote_party(&t, "W-1")["name"], "Window party (HQ)");

    // The office's version is kept: it goes up.
    let settled = app.sync_resolve(open[0].id, Keep::Local).await.unwrap();
    assert_eq!(settled.state, outpost_store::ConflictState::KeptLocal);
    let st = app.sync_now().await.unwrap();
    assert_eq!(st.status.conflicts, 0, "{st:?}");
    assert_eq!(remote_party(&t, "W-1")["name"], "Window party (office)");
    assert_eq!(app.sync_conflicts(true).await.unwrap().len(), 1);

    // Removing the upstream stops the worker.
    let st = app.upstream_set(None).await.unwrap();
    assert_eq!(
        (st.status.configured, st.status.running, st.status.link),
        (false, false, LinkState::NotConfigured),
        "{st:?}"
    );
    app.shutdown().await;
}
