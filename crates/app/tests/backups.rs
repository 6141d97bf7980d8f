//! The master's scheduled backups from the desktop app, without a window:
//! Settings → Backups saved on a master `App`, real backup files in real
//! folders, the Master screen's view of them, a backup that cannot be
//! written, and the schedule turned off.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_app::{App, AppOptions, BackupSettings, BackupView};
use outpost_store::backup::BackupHealth;
use serde_json::json;

/// Longest wait for a backup to show; the polls end as soon as it does.
const PATIENCE: Duration = Duration::from_secs(60);

async fn open(dir: &Path, port: u16) -> App {
    App::open(
        dir,
        AppOptions {
            announce: false,
            default_port: Some(port),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap()
}

/// The app opened again on a master's data folder: it is the master again.
async fn reopen(dir: &Path, port: u16) -> App {
    let app = open(dir, port).await;
    let status = app.status().await;
    assert!(
        app.backup_view().await.is_ok(),
        "the master starts again: {status:?}"
    );
    app
}

fn form(folder: &Path, keep: u32, dailies: u32) -> BackupSettings {
    BackupSettings {
        folder: folder.display().to_string(),
        every_minutes: 60,
        keep,
        dailies,
    }
}

/// Polls the Master screen's view until `done` holds.
async fn view_until(app: &App, what: &str, done: impl Fn(&BackupView) -> bool) -> BackupView {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let v = app.backup_view().await.unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}; the view is {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The backup files (`*.sqlite`) in `dir`, sorted.
fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn reason(e: &outpost_app::AppError) -> serde_json::Value {
    e.to_api().details.unwrap_or_default()["reason"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_saved_in_settings_backs_up_into_its_folder_and_the_master_screen_shows_it() {
    let (data, media) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = outpost_e2e::free_port();
    let app = open(data.path(), port).await;

    // Not a master yet: nothing to show, and the form offers the defaults.
    let e = app.backup_view().await.unwrap_err();
    assert_eq!(reason(&e), "not_master");
    let blank = app.backup_form();
    assert_eq!((blank.folder.as_str(), blank.every_minutes), ("", 60));

    // Saved before master mode: the missing folder is created, and the
    // master takes its first backup as soon as it starts.
    let usb = media.path().join("usb/outpost-backups");
    let saved = app.backup_settings_save(&form(&usb, 24, 7)).await.unwrap();
    assert_eq!(saved, form(&usb, 24, 7));
    assert!(usb.is_dir());
    assert!(backups_in(&usb).is_empty());
    common::make_master(&app, "Kashgar depot", None)
        .await
        .unwrap();
    let raw = app
        .db_call(&json!({"v": 1, "id": 1, "op": "insert", "args": {
            "doctype": "Party", "record": {"party_name": "Acme Trading"}}}))
        .await;
    assert!(raw.get().contains("\"ok\""), "{}", raw.get());

    let v = view_until(&app, "the first backup", |v| v.last_good.is_some()).await;
    assert_eq!(v.schedule, Some(form(&usb, 24, 7)));
    assert_eq!(v.health, BackupHealth::Good);
    let good = v.last_good.unwrap();
    let files = backups_in(&usb);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(good.path, files[0].display().to_string());
    assert!(files[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("kashgar-depot-"));
    assert_eq!(good.bytes, std::fs::metadata(&files[0]).unwrap().len());
    assert!(good.bytes > 0);
    assert_eq!(v.last.unwrap().error, None);

    // Another folder, keeping one: a backup there at once, and "Back up
    // now" leaves one file (rotation), the newest.
    let nas = media.path().join("nas");
    app.backup_settings_save(&form(&nas, 1, 0)).await.unwrap();
    let v = view_until(&app, "a backup in the new folder", |v| {
        v.last_good
            .as_ref()
            .is_some_and(|g| Path::new(&g.path).starts_with(&nas))
    })
    .await;
    assert_eq!(v.schedule.as_ref().map(|s| s.keep), Some(1));
    let first_at = v.last_good.unwrap().at;
    let now = app.backup_now().await.unwrap();
    let newest = now.last_good.unwrap();
    assert!(newest.at > first_at, "{} after {first_at}", newest.at);
    assert_eq!(backups_in(&nas), vec![PathBuf::from(&newest.path)]);
    assert_eq!(backups_in(&usb).len(), 1, "the old folder is left alone");

    // Restarted, the master keeps its schedule and backs up at start.
    app.shutdown().await;
    drop(app);
    let app = reopen(data.path(), port).await;
    assert_eq!(app.backup_form(), form(&nas, 1, 0));
    let v = view_until(&app, "the backup at start", |v| {
        v.last_good.as_ref().is_some_and(|g| g.at > newest.at)
    })
    .await;
    assert_eq!(v.schedule, Some(form(&nas, 1, 0)));
    assert_eq!(v.health, BackupHealth::Good);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_cannot_be_written_shows_failed_and_turning_the_schedule_off_stops_it() {
    let (data, media) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = outpost_e2e::free_port();
    let app = open(data.path(), port).await;
    common::make_master(&app, "Oasis depot", None)
        .await
        .unwrap();
    let v = app.backup_view().await.unwrap();
    assert_eq!((v.schedule, v.health), (None, BackupHealth::Never));
    let e = app.backup_now().await.unwrap_err();
    assert!(e.to_string().contains("Settings"), "{e}");

    let usb = media.path().join("usb");
    app.backup_settings_save(&form(&usb, 24, 7)).await.unwrap();
    view_until(&app, "the first backup", |v| v.health == BackupHealth::Good).await;

    // The stick is swapped for something that is not a folder: the next
    // backup fails, and the view says so with the reason.
    std::fs::remove_dir_all(&usb).unwrap();
    std::fs::write(&usb, b"not a folder").unwrap();
    let e = app.backup_now().await.unwrap_err();
    let v = app.backup_view().await.unwrap();
    assert_eq!(v.health, BackupHealth::Failed, "{v:?}");
    let last = v.last.unwrap();
    assert!(Path::new(&last.path).starts_with(&usb), "{}", last.path);
    let why = last.error.clone().unwrap();
    assert!(e.to_string().contains(&why), "{e} tells {why}");
    assert_eq!(v.last_good, None, "its file went with the folder");

    // Such a folder is refused by the form, naming the field; nothing
    // changes.
    let e = app
        .backup_settings_save(&form(&usb, 24, 7))
        .await
        .unwrap_err();
    let api = e.to_api();
    assert_eq!(reason(&e), "invalid_field");
    assert_eq!(api.details.unwrap()["field"], "folder");
    assert!(api.message.contains("not a folder"), "{}", api.message);
    let e = app
        .backup_settings_save(&BackupSettings {
            every_minutes: 0,
            ..form(media.path(), 24, 7)
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_api().details.unwrap()["field"], "every_minutes");
    assert_eq!(app.backup_form(), form(&usb, 24, 7));

    // Off: a blank folder. The master has no schedule, "Back up now" says
    // where to set one, and a restarted master takes none.
    let off = app
        .backup_settings_save(&BackupSettings {
            folder: " ".into(),
            ..form(&usb, 24, 7)
        })
        .await
        .unwrap();
    assert_eq!(off.folder, "");
    assert_eq!(app.settings().backup, None);
    assert_eq!(app.backup_view().await.unwrap().schedule, None);
    assert!(app.backup_now().await.is_err());
    std::fs::remove_file(&usb).unwrap();
    std::fs::create_dir(&usb).unwrap();
    app.shutdown().await;
    drop(app);
    let app = reopen(data.path(), port).await;
    let v = app.backup_view().await.unwrap();
    assert_eq!(v.schedule, None);
    assert_eq!(v.last.unwrap().at, last.at, "no backup was tried since");
    assert!(backups_in(&usb).is_empty());
    app.shutdown().await;
}
