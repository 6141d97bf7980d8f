//! People in the master PC's own window (issue 14): the first manager made
//! when master mode is turned on, the window's calls through the master's
//! gate (sign-in, roles, history under the person), its admin commands
//! checked, and change events only for what its person reads.

use std::time::Duration;

use outpost_api::protocol::Secret;
use outpost_app::{App, AppEvent, AppOptions, FirstManager};
use serde_json::{json, Value};

/// A master that does not announce itself (tests share the machine).
fn quiet() -> AppOptions {
    AppOptions {
        announce: false,
        ..AppOptions::default()
    }
}

async fn call(app: &App, op: &str, args: Value) -> Value {
    let raw = app
        .db_call(&json!({"v": 1, "id": rand_id(), "op": op, "args": args}))
        .await;
    serde_json::from_str(raw.get()).unwrap()
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        + N.fetch_add(1, Ordering::Relaxed)
}

fn manager(password: &str) -> FirstManager {
    FirstManager {
        name: "amina".into(),
        password: Secret(password.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_window_makes_its_first_manager_and_signs_in_through_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), quiet()).await.unwrap();
    assert!(!app.office_has_users().await.unwrap());

    // A short password is refused in words, naming the field; nothing starts.
    let e = app
        .master_enable(
            "People depot",
            Some(outpost_e2e::free_port()),
            Some(&manager("short")),
        )
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.details.as_ref().unwrap()["field"], "manager_password");
    assert!(e.message.contains("too short"), "{}", e.message);
    assert!(!app.office_has_users().await.unwrap());

    app.master_enable(
        "People depot",
        Some(outpost_e2e::free_port()),
        Some(&manager("correct horse")),
    )
    .await
    .unwrap();
    assert!(app.office_has_users().await.unwrap());

    // Nobody signed in on the window: the gate says so.
    let r = call(&app, "doctypes", json!({})).await;
    assert_eq!(r["err"]["code"], "unauthorized", "{r}");
    assert_eq!(r["err"]["details"]["reason"], "sign_in_needed", "{r}");
    let e = app.device_revoke("abcdef0123456789").await.unwrap_err();
    assert_eq!(e.to_api().code, outpost_api::ErrorCode::Unauthorized);

    let r = call(
        &app,
        "auth.sign_in",
        json!({"user": "amina", "password": "wrong one"}),
    )
    .await;
    assert_eq!(r["err"]["details"]["reason"], "wrong_password", "{r}");
    let r = call(
        &app,
        "auth.sign_in",
        json!({"user": "amina", "password": "correct horse"}),
    )
    .await;
    assert_eq!(r["ok"]["role"], "Manager", "{r}");
    assert_eq!(r["ok"]["idle_lock_minutes"], 0, "{r}");
    let r = call(
        &app,
        "users.add",
        json!({"name": "bilal", "role": "Clerk", "password": "clerk password"}),
    )
    .await;
    assert_eq!(r["ok"]["role"], "Clerk", "{r}");
    let r = call(&app, "site.idle_lock", json!({"minutes": 3})).await;
    assert_eq!(r["ok"]["idle_lock_minutes"], 3, "{r}");

    // The clerk on the window: may write a Party, may not delete it nor
    // revoke a device; the history names him and the window.
    call(&app, "auth.sign_out", json!({})).await;
    let r = call(
        &app,
        "auth.sign_in",
        json!({"user": "bilal", "password": "clerk password"}),
    )
    .await;
    assert_eq!(r["ok"]["idle_lock_minutes"], 3, "{r}");
    let mut events = app.subscribe();
    let made = call(
        &app,
        "insert",
        json!({"doctype": "Party", "record": {"party_name": "Acme"}}),
    )
    .await;
    let name = made["ok"]["name"].as_str().unwrap().to_string();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(AppEvent::Db(ev)) = events.recv().await {
                return ev;
            }
        }
    })
    .await
    .expect("the window is told of its own change");
    assert!(format!("{seen:?}").contains("Party"), "{seen:?}");
    let r = call(&app, "delete", json!({"doctype": "Party", "name": name})).await;
    assert_eq!(r["err"]["code"], "forbidden", "{r}");
    let e = app.device_revoke("abcdef0123456789").await.unwrap_err();
    assert_eq!(e.to_api().code, outpost_api::ErrorCode::Forbidden);
    let r = call(&app, "history", json!({"doctype": "Party", "name": name})).await;
    let first = &r["ok"][0];
    assert_eq!(first["user"], "bilal", "{r}");
    assert_eq!(first["device"], "master-window", "{r}");

    // A first manager for an office that has users is refused.
    let e = app
        .master_enable("People depot", None, Some(&manager("another password")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already has users"), "{e}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_master_without_a_first_manager_and_each_blank_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), quiet()).await.unwrap();
    let port = Some(outpost_e2e::free_port());
    let refused = |r: Result<outpost_app::Status, outpost_app::AppError>| {
        let e = r.unwrap_err().to_api();
        (e.details.unwrap()["field"].clone(), e.message)
    };
    // No manager at all, a blank password, a blank name: each refused,
    // naming its field; nothing starts and nobody is made.
    let (field, message) = refused(app.master_enable("Blank depot", port, None).await);
    assert_eq!(field, "manager_password");
    assert!(message.contains("first manager"), "{message}");
    let (field, _) = refused(
        app.master_enable("Blank depot", port, Some(&manager("")))
            .await,
    );
    assert_eq!(field, "manager_password");
    let nameless = FirstManager {
        name: " ".into(),
        password: Secret("correct horse".into()),
    };
    let (field, _) = refused(
        app.master_enable("Blank depot", port, Some(&nameless))
            .await,
    );
    assert_eq!(field, "manager_name");
    assert_eq!(app.status().await.role, outpost_app::Role::None);
    assert!(!app.office_has_users().await.unwrap());
    app.shutdown().await;
}

/// An office made before every office had a manager: master mode on in
/// Settings, a database without users. The app does not start its master
/// open; it waits for the first manager, then everyone signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_office_without_users_waits_for_its_first_manager_at_start() {
    let dir = tempfile::tempdir().unwrap();
    outpost_store::Store::open(dir.path()).unwrap().close();
    outpost_app::Settings {
        role: outpost_app::Role::Master,
        office_name: Some("Old depot".into()),
        port: Some(outpost_e2e::free_port()),
        ..Default::default()
    }
    .save(dir.path())
    .unwrap();
    let app = App::open(dir.path(), quiet()).await.unwrap();
    let st = app.status().await;
    assert_eq!(st.link, outpost_app::LinkView::NoManager, "{st:?}");
    assert_eq!(st.office_name.as_deref(), Some("Old depot"));
    let r = call(&app, "doctypes", json!({})).await;
    assert_eq!(r["err"]["code"], "unavailable", "{r}");
    assert!(
        r["err"]["message"]
            .as_str()
            .unwrap()
            .contains("first manager"),
        "{r}"
    );

    app.master_enable("Old depot", None, Some(&manager("correct horse")))
        .await
        .unwrap();
    assert!(matches!(
        app.status().await.link,
        outpost_app::LinkView::Connected { .. }
    ));
    let r = call(&app, "doctypes", json!({})).await;
    assert_eq!(r["err"]["details"]["reason"], "sign_in_needed", "{r}");
    let r = call(
        &app,
        "auth.sign_in",
        json!({"user": "amina", "password": "correct horse"}),
    )
    .await;
    assert_eq!(r["ok"]["role"], "Manager", "{r}");
    app.shutdown().await;
}
