//! Promotion: the standby's copy becomes the office's master database. A
//! person decides it (`outpost promote`); there is no quorum to ask. Each
//! promotion raises the office's epoch, kept in the database and told to
//! every slave in the master's `hello`.

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_store::backup::{InstanceLock, INSTANCE_LOCK};
use outpost_store::{Store, StoreError, DB_FILE};

use super::STANDBY_KEY;

/// `_meta` key of the office's epoch (0 until the first promotion).
pub const EPOCH_KEY: &str = "epoch";
/// How long to wait for a running standby to stop.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    /// The office's name, as the old master called it.
    pub office: String,
    /// The new epoch.
    pub epoch: u64,
    /// The last change the copy holds.
    pub seq: u64,
}

/// The office's epoch in `store`.
pub fn epoch(store: &Store) -> u64 {
    parse_epoch(store.meta(EPOCH_KEY).ok().flatten())
}

/// An epoch as a `_meta` value holds it (none, or not a number: 0).
pub(crate) fn parse_epoch(value: Option<String>) -> u64 {
    value.and_then(|e| e.parse().ok()).unwrap_or(0)
}

/// Makes the standby's copy in `data` the office's master database: stops
/// an `outpost standby` running on the folder, raises the epoch, and
/// forgets the standby setting (the new master has none yet).
pub fn promote(data: &Path) -> crate::Result<Promoted> {
    if !data.join(DB_FILE).is_file() {
        return Err(crate::NodeError::Config(format!(
            "there is no copy of an office database in {} (no {DB_FILE}): is it a standby's data folder?",
            data.display()
        )));
    }
    stop_standby(data)?;
    let store = Store::open(data)?;
    let office = store
        .meta("master_name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            crate::NodeError::Config(format!(
                "{} holds no office name: it is not a copy of a master's database",
                data.display()
            ))
        })?;
    let next = epoch(&store) + 1;
    store.set_meta(EPOCH_KEY, &next.to_string())?;
    store.set_meta(STANDBY_KEY, "")?;
    let seq = store.repl_seq();
    store.close();
    tracing::info!(%office, epoch = next, seq, "standby promoted");
    Ok(Promoted {
        office,
        epoch: next,
        seq,
    })
}

/// Stops the standby running on `data` (SIGTERM to the process holding its
/// lock) and waits for the folder to be free.
fn stop_standby(data: &Path) -> crate::Result<()> {
    if !InstanceLock::held(data) {
        return Ok(());
    }
    let holder = std::fs::read_to_string(data.join(INSTANCE_LOCK)).unwrap_or_default();
    let pid = holder
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u32>().ok())
        .ok_or_else(|| {
            crate::NodeError::Store(StoreError::FolderInUse {
                dir: data.to_path_buf(),
                holder: holder.trim().to_string(),
            })
        })?;
    tracing::info!(pid, "stopping the standby running on this folder");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = Instant::now() + STOP_WAIT;
    while InstanceLock::held(data) {
        if Instant::now() > deadline {
            return Err(crate::NodeError::Store(StoreError::FolderInUse {
                dir: data.to_path_buf(),
                holder: holder.trim().to_string(),
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
