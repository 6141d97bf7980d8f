//! What the app's tests share: every office has a first manager (a master
//! never runs without users), the same one the e2e helpers make
//! (`outpost_e2e::MANAGER`), and each window signs in as that person.

#![allow(dead_code)] // each test binary uses what it needs

use outpost_api::protocol::Secret;
use outpost_app::{App, AppError, FirstManager, Status};
use serde_json::json;

pub use outpost_e2e::{MANAGER, MANAGER_PASSWORD};

/// The tests' first manager, as "Make this PC the master" asks for it.
pub fn first_manager() -> FirstManager {
    FirstManager {
        name: MANAGER.into(),
        password: Secret(MANAGER_PASSWORD.into()),
    }
}

/// "Make this PC the master": with the first manager when the office has
/// no users yet; then the window signs in as that manager.
pub async fn make_master(app: &App, name: &str, port: Option<u16>) -> Result<Status, AppError> {
    let first = (!app.office_has_users().await?).then(first_manager);
    let status = app.master_enable(name, port, first.as_ref()).await?;
    sign_in(app).await;
    Ok(status)
}

/// Signs the window (a master's or a slave's) in as the tests' manager.
pub async fn sign_in(app: &App) {
    let raw = app
        .db_call(&json!({"v": 1, "id": 1, "op": "auth.sign_in",
            "args": {"user": MANAGER, "password": MANAGER_PASSWORD}}))
        .await;
    let answer: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(
        answer["ok"]["user"], MANAGER,
        "the window signs in: {answer}"
    );
}
