//! The desktop app's head-office sync, without a window: a master `App`
//! with an upstream file chosen at runtime, syncing with a real `trytond`;
//! a conflict listed with both versions and settled from the app.

mod common;

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
    common::make_master(&app, "Sync depot", None).await.unwrap();
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

/// Settings → Head office as a form, against a real `trytond`: tested
/// without saving (what is there; a wrong password said as such), refused
/// naming the bad field, saved as an owner-only upstream file in the data
/// folder, and the sync goes up with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_office_form_is_tested_saved_for_the_user_only_and_syncs() {
    use outpost_app::{Kind, UpstreamForm};
    let t = Trytond::start();
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(
        dir.path(),
        AppOptions {
            announce: false,
            default_port: Some(outpost_e2e::free_port()),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    common::make_master(&app, "Form depot", None).await.unwrap();

    // Nothing saved: a blank form, Party and Product ticked, and the
    // models each ERP offers.
    let view = app.upstream_form();
    assert_eq!(view.file, None);
    assert!(!view.form.password_set);
    assert_eq!(view.form.doctypes, ["Party", "Product"]);
    assert!(view
        .choices
        .iter()
        .any(|c| c.kind == Kind::Tryton && c.doctype == "Sale" && c.model == "sale.sale"));

    let form = UpstreamForm {
        kind: Kind::Tryton,
        url: t.url(),
        database: "hq".into(),
        user: "admin".into(),
        password: Some("admin".into()),
        password_set: false,
        ca_file: None,
        doctypes: vec!["Party".into(), "Product".into(), "Sale".into()],
    };

    // Test connection: what the head office has, nothing saved.
    let found = app.upstream_test(&form).await.unwrap();
    assert_eq!(found.version.as_deref(), Some("8.2"), "{found:?}");
    assert_eq!(found.company.as_deref(), Some("Head Office"));
    let models: Vec<(&str, bool)> = found
        .models
        .iter()
        .map(|m| (m.model.as_str(), m.present))
        .collect();
    assert_eq!(
        models,
        [
            ("party.party", true),
            ("product.product", true),
            ("sale.sale", true)
        ]
    );
    assert!(found.ok);
    assert_eq!(app.settings().upstream, None);
    assert!(!dir.path().join("head-office.toml").exists());

    // A wrong password is said as such (and is not a form mistake).
    let wrong = UpstreamForm {
        password: Some("nope".into()),
        ..form.clone()
    };
    let e = app.upstream_test(&wrong).await.unwrap_err().to_api();
    assert_eq!(e.code.as_str(), "unauthorized", "{e:?}");
    assert!(
        e.message.contains("wrong user or password"),
        "{}",
        e.message
    );
    assert_eq!(e.details.as_ref().unwrap()["reason"], "head_office");

    // A bad value is refused naming its field; nothing is written.
    let bad = UpstreamForm {
        url: "erp.example.com".into(),
        ..form.clone()
    };
    let e = app.upstream_save(&bad).await.unwrap_err().to_api();
    assert_eq!(e.code.as_str(), "bad_request");
    assert_eq!(e.details.as_ref().unwrap()["field"], "url", "{e:?}");
    assert_eq!(app.settings().upstream, None);
    assert!(!dir.path().join("head-office.toml").exists());

    // Saved: an upstream file in the data folder for this user only, with
    // the password the master signs in with; the sync goes up.
    let st = app.upstream_save(&form).await.unwrap();
    let file = dir.path().join("head-office.toml");
    assert_eq!(st.upstream_file, Some(file.display().to_string()));
    assert_eq!(st.upstream_error, None);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("password = \"admin\""), "{text}");
    assert!(text.contains("model = \"sale.sale\""), "{text}");
    call(
        &app,
        "insert",
        json!({"doctype": "Party", "record": {"party_name": "Form party", "code": "F-1"}}),
    )
    .await;
    let st = app.sync_now().await.unwrap();
    assert_eq!(
        (st.status.link, st.status.outbox_pending),
        (LinkState::Up, 0),
        "{st:?}"
    );
    assert_eq!(remote_party(&t, "F-1")["name"], "Form party");

    // Read back as the form: never the password, only that one is saved.
    let view = app.upstream_form();
    assert!(!view.advanced);
    assert_eq!(view.form.password, None);
    assert!(view.form.password_set);
    assert_eq!(view.form.doctypes, ["Party", "Product", "Sale"]);
    assert_eq!(view.form.url, t.url());

    // Saved again with the password left blank: the saved one is kept.
    let again = UpstreamForm {
        password: None,
        doctypes: vec!["Party".into()],
        ..form.clone()
    };
    assert!(app.upstream_test(&again).await.unwrap().ok);
    app.upstream_save(&again).await.unwrap();
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("password = \"admin\""));
    let st = app.sync_now().await.unwrap();
    assert_eq!(st.status.link, LinkState::Up, "{st:?}");

    // Removing the head office removes the file with its password.
    app.upstream_set(None).await.unwrap();
    assert!(!file.exists());
    assert!(!app.upstream_form().form.password_set);
    app.shutdown().await;
}
