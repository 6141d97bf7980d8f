//! The node layer: an Outpost PC as a master or as a slave.
//!
//! Parts:
//! - [`master`]: [`Master`]: the office database, the signaling socket,
//!   one data-channel session per slave, pairing and revocation, the mDNS
//!   announcement.
//! - [`slave`]: [`RemoteDb`], the slave's `Db` over a data channel, with
//!   reconnection, request retries under the same id, and change events;
//!   the slave's small config (which master it paired with).
//! - [`standby`]: the standby master: the master's side (its calls and
//!   lag) and `outpost standby`'s (a snapshot, then the changesets).
//! - [`pairing_state`]: the master's pairing code, shared through the
//!   database with `outpost pair`.
//! - [`backups`]: the master's scheduled backups (interval, folder,
//!   rotation) and their status.
//! - [`auth`]: people signing in, their sign-ins and roles, checked on
//!   every call when the office has users.
//! - [`print`]: the `print` op's document engine (typst, from
//!   `outpost-print`), given to the master's and the CLI's `LocalDb`.
//! - [`error`]: starting errors.

pub mod auth;
pub mod backups;
pub mod error;
pub mod master;
pub mod pairing_state;
pub mod print;
pub mod slave;
pub mod standby;
pub mod version;

pub use backups::{BackupSchedule, BackupStatus};
pub use error::{NodeError, Result};
pub use master::{is_lan_ip, Listen, LocalSession, Master, MasterConfig, WithoutUsers};

/// The platform's data folder for Outpost (XDG on Linux:
/// `$XDG_DATA_HOME/outpost`, `~/.local/share/outpost`), shared by the CLI
/// and the desktop app; `OUTPOST_DATA` or `--data` override it.
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    dirs::data_dir().map(|d| d.join("outpost"))
}
pub use slave::{RemoteDb, SlaveConfig, Target};
