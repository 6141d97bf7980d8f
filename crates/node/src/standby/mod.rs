//! The standby master (issue 13, DESIGN 6b): a paired PC the office made
//! its standby keeps a full copy of the office database: a snapshot fetched
//! in chunks over its data channel first, then every committed write group
//! as a numbered changeset, applied in order, one transaction each.
//!
//! - [`hub`]: the master's side: answers the standby's calls and keeps its
//!   lag (`standby.json`).
//! - [`follow`]: the standby's side: `outpost standby`.
//! - [`fence`]: a master that meets a higher epoch takes no more writes.
//! - [`promote`]: the standby's copy becomes the master's database, with
//!   a higher epoch.
//!
//! Which device is the standby is a setting in the office database
//! (`_meta.standby`), set with [`make_standby`].

pub mod fence;
pub mod follow;
pub(crate) mod hub;
pub mod promote;

use std::path::Path;

use outpost_store::devices::Device;
use outpost_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

pub use follow::{
    follow, follow_over, stray_lists, StandbyConfig, StandbyState, StrayList, STRAY_LIST_PREFIX,
};
pub use promote::{promote, Promoted};

/// When a write is answered to its slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// At the master's own commit; the standby follows a little behind
    /// (its lag is shown).
    #[default]
    Async,
    /// Only once the standby holds the write on disk too (as PostgreSQL's
    /// `synchronous_commit = remote_write`).
    Sync,
}

/// What a synchronous master does while its standby is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum WhenAway {
    /// Goes on answering at its own commit, and says so.
    #[default]
    GoAsync,
    /// Refuses writes until the standby is back.
    Refuse,
}

/// How a master answers writes, as the office chose (`outpost master
/// --durability --standby-away`, or the desktop's Master screen); a running
/// master takes a new one at once ([`crate::Master::set_write_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WritePolicy {
    pub durability: Durability,
    pub when_away: WhenAway,
}

/// How the master answers writes now: its policy meeting its standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Asynchronous: at the master's commit; the standby follows.
    AtCommit,
    /// Synchronous, the standby following: once both PCs hold the write.
    OnBoth,
    /// Synchronous, but the office has no standby: at the master's commit.
    AloneNoStandby,
    /// Synchronous, the standby away, going on: at the master's commit
    /// alone, until it is back.
    AloneStandbyAway,
    /// Synchronous, the standby away: writes are refused until it is back.
    RefusedStandbyAway,
}

impl WritePolicy {
    /// The mode, given whether the office's standby follows now (`None`:
    /// it has none).
    pub fn mode(&self, following: Option<bool>) -> WriteMode {
        match (self.durability, following, self.when_away) {
            (Durability::Async, _, _) => WriteMode::AtCommit,
            (Durability::Sync, None, _) => WriteMode::AloneNoStandby,
            (Durability::Sync, Some(true), _) => WriteMode::OnBoth,
            (Durability::Sync, Some(false), WhenAway::GoAsync) => WriteMode::AloneStandbyAway,
            (Durability::Sync, Some(false), WhenAway::Refuse) => WriteMode::RefusedStandbyAway,
        }
    }
}

impl WriteMode {
    /// What the master's log says when it starts answering writes so.
    pub fn words(self) -> &'static str {
        match self {
            WriteMode::AtCommit => "writes are answered at this master's commit; the standby follows",
            WriteMode::OnBoth => "writes are answered once the standby holds them too",
            WriteMode::AloneNoStandby => "writes are kept on two PCs, but the office has no standby: they are answered at this master's commit alone",
            WriteMode::AloneStandbyAway => "the standby is away: writes are answered at this master's commit alone until it is back",
            WriteMode::RefusedStandbyAway => "the standby is away: writes are refused until it is back (the office keeps every change on two PCs)",
        }
    }

    /// Whether the office is worse off than it chose to be.
    pub fn degraded(self) -> bool {
        matches!(
            self,
            WriteMode::AloneNoStandby | WriteMode::AloneStandbyAway | WriteMode::RefusedStandbyAway
        )
    }
}

/// `_meta` key naming the standby device.
pub const STANDBY_KEY: &str = "standby";
/// The master's record of its standby's lag, in its data folder.
pub const STATUS_FILE: &str = "standby.json";

/// Makes the approved device `id` (its id or its first 8+ characters) the
/// office's standby, in place of any other.
pub fn make_standby(store: &Store, id: &str) -> outpost_store::Result<Device> {
    let device = store.find_device(id)?;
    if !device.is_approved() {
        return Err(StoreError::BadRequest(format!(
            "{} ({}) is revoked; pair it again before making it the standby",
            device.name, device.fingerprint
        )));
    }
    store.set_meta(STANDBY_KEY, &device.fingerprint)?;
    Ok(device)
}

/// The office has no standby any more.
pub fn clear_standby(store: &Store) -> outpost_store::Result<()> {
    store.set_meta(STANDBY_KEY, "")
}

/// The standby device's fingerprint, if there is one.
pub fn standby_device(store: &Store) -> outpost_store::Result<Option<String>> {
    Ok(store.meta(STANDBY_KEY)?.filter(|d| !d.is_empty()))
}

/// Where the standby stands, as the master sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandbyStatus {
    pub device: String,
    /// It called within the last few seconds.
    pub connected: bool,
    /// Everything up to this change is on its disk.
    pub acked_seq: u64,
    /// The master's last change.
    pub master_seq: u64,
    /// Changes it does not hold yet.
    pub lag_changes: u64,
    /// Age of the oldest change it does not hold yet.
    pub lag_seconds: f64,
    /// When this was written (Unix seconds).
    pub at: u64,
    /// How the master answered writes then (files written before this
    /// existed read as at the commit).
    #[serde(default = "at_commit")]
    pub writes: WriteMode,
}

fn at_commit() -> WriteMode {
    WriteMode::AtCommit
}

impl StandbyStatus {
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }

    /// The last status the master wrote in `data` (for `outpost devices`,
    /// run beside it).
    pub fn load(data: &Path) -> Option<StandbyStatus> {
        std::fs::read(data.join(STATUS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }
}
