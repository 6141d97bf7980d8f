//! The desktop app's core, kept free of Tauri so it builds and tests
//! without WebKit. The Tauri shell (`src-tauri/`) is a thin layer of
//! commands over [`App`]; the window's UI sees the same calls through the
//! contract in `docs/desktop-api.md`.
//!
//! - [`settings`]: what the app remembers between runs (`settings.json` in
//!   the data folder): whether this PC is the master, the office name, the
//!   head office and the backup schedule.
//! - [`app`]: [`App`], the running app: it starts and stops the master at
//!   runtime, connects to and forgets a master as a slave, routes DB calls
//!   to the right `Db` (the master's `LocalDb` or a slave's `RemoteDb`), and
//!   publishes [`AppEvent`]s (changes, status) for the window.
//! - [`status`]: the serde types the window reads (status, pairing,
//!   devices, masters found on the LAN, the head-office sync).
//! - [`head_office`]: Settings → Head office as a form, checked field by
//!   field and written as the upstream file (owner-only) the sync starts
//!   from.
//! - [`backups`]: Settings → Backups as a form (a folder, every N minutes,
//!   keep K, dailies D), checked before the master's schedule changes, and
//!   the Master screen's view of the last backup and whether it is healthy.
//! - [`people`]: the office's first manager, made from "Make this PC the
//!   master" when its database has no users yet.
//! - [`downloads`]: the files the window saves into the Downloads folder:
//!   Save as PDF and Print of the master's PDFs (then the system's PDF
//!   viewer), and spreadsheet exports.
//! - [`qr`]: the pairing QR code as SVG, and reading one back from a photo
//!   or screenshot (`rqrr`).
//! - `typescript` (tests only): the UI's TypeScript types in
//!   `ui/src/lib/generated/`, made from the Rust types and checked by a test.
//! - [`error`]: [`AppError`], always turned into the protocol's error shape
//!   (`{code, message, details}`) so the UI handles one kind of error.

pub mod app;
pub mod backups;
pub mod downloads;
pub mod error;
pub mod head_office;
pub mod people;
pub mod qr;
pub mod settings;
pub mod standby;
pub mod status;
#[cfg(test)]
mod typescript;
pub mod update;

pub use app::{App, AppEvent, AppOptions};
pub use backups::{BackupSettings, BackupView};
pub use error::AppError;
pub use head_office::{DoctypeChoice, UpstreamForm, UpstreamFormView};
pub use outpost_store::{Conflict, Keep, Parked};
pub use outpost_sync::{Kind, ModelProbe, Probe};
pub use people::FirstManager;
pub use settings::{Role, Settings};
pub use standby::{StandbyDeviceView, StandbyHere, StandbyView};
pub use status::{DeviceView, FoundMasterView, LinkView, PairedView, Pairing, Status, SyncView};
