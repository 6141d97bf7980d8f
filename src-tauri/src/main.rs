//! The Outpost desktop app: a thin Tauri v2 shell. Each command hands its
//! arguments to `outpost-app` and returns its serde answer; the app's
//! events (record changes, status, pairing URLs opened) go to the window
//! with `emit`. No database logic lives here. The contract with the UI is
//! `docs/desktop-api.md`.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;

use outpost_app::downloads::{self, SavedFile};
use outpost_app::status::{DecodedQr, DeviceView, FoundMasterView, Pairing, Status, SyncView};
use outpost_app::update::UpdateStarted;
use outpost_app::{
    App, AppError, AppEvent, AppOptions, BackupSettings, BackupView, Conflict, FirstManager, Keep,
    Parked, Probe, StandbyView, UpstreamForm, UpstreamFormView,
};
use serde_json::value::RawValue;
use serde_json::Value;
use tauri::{Emitter, Manager, State};
use tauri_plugin_deep_link::DeepLinkExt;

#[tauri::command]
async fn db_call(app: State<'_, App>, request: Value) -> Result<Box<RawValue>, AppError> {
    Ok(app.db_call(&request).await)
}

#[tauri::command]
async fn pdf_save(
    file_name: String,
    pdf_base64: String,
    open: bool,
) -> Result<SavedFile, AppError> {
    downloads::save_pdf(&downloads::folder(), &file_name, &pdf_base64, open)
}

/// Downloads the master's newer Outpost into the Downloads folder, checks
/// its SHA-256, and starts the system's installer on it.
#[tauri::command]
async fn update_install(app: State<'_, App>) -> Result<UpdateStarted, AppError> {
    app.install_update(&downloads::folder()).await
}

#[tauri::command]
async fn sheet_save(file_name: String, data_base64: String) -> Result<SavedFile, AppError> {
    downloads::save_sheet(&downloads::folder(), &file_name, &data_base64)
}

#[tauri::command]
async fn app_status(app: State<'_, App>) -> Result<Status, AppError> {
    Ok(app.status().await)
}

#[tauri::command]
async fn master_enable(
    app: State<'_, App>,
    name: String,
    port: Option<u16>,
    manager: Option<FirstManager>,
) -> Result<Status, AppError> {
    app.master_enable(&name, port, manager.as_ref()).await
}

#[tauri::command]
async fn office_has_users(app: State<'_, App>) -> Result<bool, AppError> {
    app.office_has_users().await
}

#[tauri::command]
async fn office_address(app: State<'_, App>) -> Result<String, AppError> {
    app.office_address().await
}

#[tauri::command]
async fn office_address_set(app: State<'_, App>, address: String) -> Result<String, AppError> {
    app.office_address_set(&address).await
}

#[tauri::command]
async fn master_disable(app: State<'_, App>, force: bool) -> Result<Status, AppError> {
    app.master_disable(force).await
}

#[tauri::command]
async fn pairing_info(app: State<'_, App>) -> Result<Pairing, AppError> {
    app.pairing_info().await
}

#[tauri::command]
async fn pairing_renew(app: State<'_, App>) -> Result<Pairing, AppError> {
    app.pairing_renew().await
}

#[tauri::command]
async fn devices_list(app: State<'_, App>) -> Result<Vec<DeviceView>, AppError> {
    app.devices().await
}

#[tauri::command]
async fn device_revoke(app: State<'_, App>, fingerprint: String) -> Result<DeviceView, AppError> {
    app.device_revoke(&fingerprint).await
}

#[tauri::command]
async fn upstream_set(app: State<'_, App>, path: Option<String>) -> Result<SyncView, AppError> {
    app.upstream_set(path).await
}

#[tauri::command]
fn upstream_form(app: State<'_, App>) -> UpstreamFormView {
    app.upstream_form()
}

#[tauri::command]
async fn upstream_test(app: State<'_, App>, form: UpstreamForm) -> Result<Probe, AppError> {
    app.upstream_test(&form).await
}

#[tauri::command]
async fn upstream_save(app: State<'_, App>, form: UpstreamForm) -> Result<SyncView, AppError> {
    app.upstream_save(&form).await
}

#[tauri::command]
async fn sync_status(app: State<'_, App>) -> Result<SyncView, AppError> {
    app.sync_status().await
}

#[tauri::command]
async fn sync_now(app: State<'_, App>) -> Result<SyncView, AppError> {
    app.sync_now().await
}

#[tauri::command]
async fn sync_conflicts(app: State<'_, App>, all: bool) -> Result<Vec<Conflict>, AppError> {
    app.sync_conflicts(all).await
}

#[tauri::command]
async fn sync_resolve(app: State<'_, App>, id: i64, keep: Keep) -> Result<Conflict, AppError> {
    app.sync_resolve(id, keep).await
}

#[tauri::command]
async fn sync_parked(app: State<'_, App>) -> Result<Vec<Parked>, AppError> {
    app.sync_parked().await
}

#[tauri::command]
fn backup_form(app: State<'_, App>) -> BackupSettings {
    app.backup_form()
}

#[tauri::command]
async fn backup_settings_save(
    app: State<'_, App>,
    form: BackupSettings,
) -> Result<BackupSettings, AppError> {
    app.backup_settings_save(&form).await
}

#[tauri::command]
async fn backup_view(app: State<'_, App>) -> Result<BackupView, AppError> {
    app.backup_view().await
}

#[tauri::command]
async fn backup_now(app: State<'_, App>) -> Result<BackupView, AppError> {
    app.backup_now().await
}

#[tauri::command]
async fn standby_view(app: State<'_, App>) -> Result<StandbyView, AppError> {
    app.standby_view().await
}

#[tauri::command]
async fn device_make_standby(
    app: State<'_, App>,
    fingerprint: String,
) -> Result<StandbyView, AppError> {
    app.device_make_standby(&fingerprint).await
}

#[tauri::command]
async fn device_clear_standby(app: State<'_, App>) -> Result<StandbyView, AppError> {
    app.device_clear_standby().await
}

#[tauri::command]
async fn write_policy_save(
    app: State<'_, App>,
    policy: outpost_node::standby::WritePolicy,
) -> Result<StandbyView, AppError> {
    app.write_policy_save(policy).await
}

#[tauri::command]
fn stray_writes(app: State<'_, App>) -> Vec<outpost_node::standby::StrayList> {
    app.stray_writes()
}

#[tauri::command]
async fn standby_promote(app: State<'_, App>) -> Result<Status, AppError> {
    app.standby_promote().await
}

#[tauri::command]
async fn masters_discover(app: State<'_, App>) -> Result<Vec<FoundMasterView>, AppError> {
    app.discover().await
}

#[tauri::command]
async fn slave_connect(
    app: State<'_, App>,
    target: String,
    code: Option<String>,
) -> Result<Status, AppError> {
    app.slave_connect(&target, code.as_deref()).await
}

#[tauri::command]
async fn slave_forget(app: State<'_, App>) -> Result<Status, AppError> {
    app.slave_forget().await
}

/// The image arrives as raw bytes (`invoke('qr_decode', uint8Array)`) or,
/// from older callers, as `{image: number[]}`.
#[tauri::command]
async fn qr_decode(
    app: State<'_, App>,
    request: tauri::ipc::Request<'_>,
) -> Result<DecodedQr, AppError> {
    let bytes: Vec<u8> = match request.body() {
        tauri::ipc::InvokeBody::Raw(bytes) => bytes.clone(),
        tauri::ipc::InvokeBody::Json(v) => {
            serde_json::from_value(v["image"].clone()).map_err(|_| {
                AppError::BadInput("send the image file's bytes to read its QR code".into())
            })?
        }
    };
    let app = app.inner().clone();
    let url = tokio::task::spawn_blocking(move || app.qr_decode(&bytes))
        .await
        .map_err(|e| AppError::BadInput(format!("reading the image failed: {e}")))??;
    Ok(DecodedQr { url })
}

#[tauri::command]
fn take_open_url(app: State<'_, App>) -> Option<String> {
    app.take_open_url()
}

/// `OUTPOST_DATA`, else the platform's data folder (the CLI's default too).
fn data_dir() -> PathBuf {
    std::env::var_os("OUTPOST_DATA")
        .map(PathBuf::from)
        .or_else(outpost_node::default_data_dir)
        .unwrap_or_else(|| PathBuf::from("outpost-data"))
}

fn main() {
    // `outpost-desktop --cli ARGS` is the `outpost` command (the installed
    // /usr/bin/outpost runs it so): no window, no GTK.
    let mut args = std::env::args_os();
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("--cli")) {
        let _ = args.next();
        let _ = args.next();
        outpost_cli::main_with(std::iter::once("outpost".into()).chain(args));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| format!("info,{}", outpost_link::QUIET_LOG_FILTER).into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let data = data_dir();
    let options = AppOptions {
        announce: std::env::var_os("OUTPOST_NO_MDNS").is_none(),
        default_port: std::env::var("OUTPOST_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        web_ui: None,
    };

    let builder = tauri::Builder::default()
        // First: a second copy (e.g. opened with an outpost:// URL) hands
        // its arguments to this one and exits.
        // (The URL it was given reaches `on_open_url` below.)
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.show();
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .setup(move |app| {
            // Opened only now, after the single-instance check: a second
            // copy must not open the office database or dial the master.
            // The web UI for browsers on the LAN: OUTPOST_UI's folder, else
            // the one built into the app.
            let mut options = options.clone();
            options.web_ui = std::env::var_os("OUTPOST_UI")
                .map(PathBuf::from)
                .filter(|d| outpost_link::web::is_web_ui(d))
                .map(outpost_link::web::WebRoot::Folder)
                .or_else(outpost_webui::built);
            let core = tauri::async_runtime::block_on(App::open(&data, options)).map_err(|e| {
                format!(
                    "Outpost cannot open its data folder {}: {e}",
                    data.display()
                )
            })?;
            core.open_args(std::env::args(), false);
            app.manage(core.clone());
            // Unbundled runs register the outpost:// scheme for this user;
            // the .deb's desktop entry registers it system-wide.
            if let Err(e) = app.deep_link().register_all() {
                tracing::warn!("cannot register the outpost:// URL scheme: {e}");
            }
            let opened = core.clone();
            app.deep_link().on_open_url(move |event| {
                opened.open_args(event.urls().iter().map(|u| u.to_string()), true);
            });
            let handle = app.handle().clone();
            let mut rx = core.subscribe();
            tauri::async_runtime::spawn(async move {
                loop {
                    let sent = match rx.recv().await {
                        Ok(AppEvent::Db(ev)) => handle.emit("db-event", ev),
                        Ok(AppEvent::Status(st)) => handle.emit("status", st),
                        Ok(AppEvent::OpenUrl(url)) => handle.emit("open-url", url),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            // A status or URL may be among the missed: send
                            // the current status again (the window reloads
                            // its lists on "lagged"), and a URL still
                            // waiting to be taken.
                            let status = core.status().await;
                            if let Some(url) = core.take_open_url() {
                                let _ = handle.emit("open-url", url);
                            }
                            let _ = handle.emit("status", status);
                            handle.emit("db-event", outpost_app::app::lagged(missed))
                        }
                        Err(_) => return,
                    };
                    if let Err(e) = sent {
                        tracing::warn!("cannot send an event to the window: {e}");
                    }
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            db_call,
            app_status,
            master_enable,
            office_has_users,
            master_disable,
            pairing_info,
            pairing_renew,
            office_address,
            office_address_set,
            devices_list,
            device_revoke,
            masters_discover,
            slave_connect,
            slave_forget,
            qr_decode,
            take_open_url,
            upstream_set,
            upstream_form,
            upstream_test,
            upstream_save,
            sync_status,
            sync_now,
            sync_conflicts,
            sync_resolve,
            sync_parked,
            backup_form,
            backup_settings_save,
            backup_view,
            backup_now,
            standby_view,
            device_make_standby,
            device_clear_standby,
            write_policy_save,
            stray_writes,
            standby_promote,
            pdf_save,
            sheet_save,
            update_install,
        ]);
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Outpost cannot open its window: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(core) = handle.try_state::<App>() {
                let core = core.inner().clone();
                tauri::async_runtime::block_on(core.shutdown());
            }
        }
    });
}
