//! The standby master from the desktop app, without a window: a master
//! `App` and a slave `App` in real data folders, paired over WebRTC on
//! loopback; the slave made the office's standby from the Master screen,
//! seen in the device list and the standby view (away: no standby process
//! runs), then cleared.

mod common;

use outpost_app::{App, AppOptions};

fn options() -> AppOptions {
    AppOptions {
        announce: false,
        ..AppOptions::default()
    }
}

/// The pairing URL with its host made 127.0.0.1 (the master advertises its
/// LAN address, which this sandbox may not route).
fn loopback(url: &str) -> String {
    outpost_e2e::url_at(url, "127.0.0.1")
}

fn reason(e: &outpost_app::AppError) -> serde_json::Value {
    e.to_api().details.unwrap_or_default()["reason"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_device_made_the_standby_shows_on_the_master_screen_and_is_cleared() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = App::open(mdir.path(), options()).await.unwrap();

    // Not a master yet: nothing to show or change.
    let e = master.standby_view().await.unwrap_err();
    assert_eq!(reason(&e), "not_master");
    let e = master.device_make_standby("anything").await.unwrap_err();
    assert_eq!(reason(&e), "not_master");

    common::make_master(&master, "Kashgar depot", Some(outpost_e2e::free_port()))
        .await
        .unwrap();
    let view = master.standby_view().await.unwrap();
    assert_eq!((view.standby, view.fenced), (None, None));

    let url = loopback(&master.pairing_info().await.unwrap().url);
    let slave = App::open(sdir.path(), options()).await.unwrap();
    slave.slave_connect(&url, None).await.unwrap();
    let devices = master.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    let paired = devices[0].clone();
    assert!(!paired.standby);

    // An unknown device is refused, and nothing changes.
    let e = master
        .device_make_standby("ffffffffffff")
        .await
        .unwrap_err();
    assert_eq!(e.to_api().code.as_str(), "not_found", "{e}");
    assert_eq!(master.standby_view().await.unwrap().standby, None);

    // "Make standby": the view names it; it is away (no standby runs).
    let view = master
        .device_make_standby(&paired.fingerprint)
        .await
        .unwrap();
    let standby = view.standby.expect("a standby");
    assert_eq!(standby.fingerprint, paired.fingerprint);
    assert_eq!(standby.name, paired.name);
    assert_eq!(standby.short, paired.short);
    assert!(!standby.connected, "{standby:?}");
    assert_eq!(standby.acked_seq, 0);
    assert_eq!(view.fenced, None);
    let devices = master.devices().await.unwrap();
    assert!(devices[0].standby, "{devices:?}");
    let again = master.standby_view().await.unwrap().standby.unwrap();
    assert_eq!(
        (again.fingerprint, again.connected),
        (standby.fingerprint, false)
    );

    // The setting is in the office database: it survives a restart.
    slave.shutdown().await;
    drop(slave);
    master.shutdown().await;
    drop(master);
    let master = App::open(mdir.path(), options()).await.unwrap();
    common::sign_in(&master).await;
    let view = master.standby_view().await.unwrap();
    assert_eq!(
        view.standby.map(|s| s.fingerprint),
        Some(paired.fingerprint.clone())
    );

    // A revoked device cannot be the standby.
    master.device_revoke(&paired.fingerprint).await.unwrap();
    let e = master
        .device_make_standby(&paired.fingerprint)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");

    // "No standby": gone from the view and the list.
    let view = master.device_clear_standby().await.unwrap();
    assert_eq!((view.standby, view.fenced), (None, None));
    assert!(master.devices().await.unwrap().iter().all(|d| !d.standby));
    master.shutdown().await;
}
