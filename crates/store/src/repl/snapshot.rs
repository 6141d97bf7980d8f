//! The primary's replication API on [`Store`]: snapshots, and the
//! changesets after them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{read_seq, Changeset, ReplEvent};
use crate::error::{Result, StoreError};
use crate::store::Store;

/// A snapshot written by [`Store::snapshot_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub path: PathBuf,
    /// The `repl_seq` the copy holds: it contains exactly the changesets up
    /// to this number, so a standby made from it applies `seq + 1` next.
    pub seq: u64,
    /// Size of the file.
    pub bytes: u64,
}

impl Store {
    /// Writes a consistent copy of the office database to `path` (which
    /// must not exist yet), for a standby's first copy or a backup.
    ///
    /// `VACUUM INTO` on a reader connection runs in one read transaction,
    /// so the copy is one commit's state, taken without stopping writers;
    /// its number is read from the copy itself, so it cannot disagree with
    /// the copy's content. The copy is written beside `path`, synced, then
    /// renamed into place: a crash never leaves a half copy under `path`.
    pub fn snapshot_to(&self, path: &Path) -> Result<SnapshotInfo> {
        let _span = tracing::debug_span!("snapshot", path = %path.display()).entered();
        if path.exists() {
            return Err(StoreError::BadRequest(format!(
                "{} already exists; choose a new file for the copy",
                path.display()
            )));
        }
        let partial = {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".partial");
            path.with_file_name(name)
        };
        let _ = std::fs::remove_file(&partial);
        let target = partial.to_str().ok_or_else(|| {
            StoreError::BadRequest(format!("{} is not a usable file name", partial.display()))
        })?;
        let written = self.with_reader(|c| {
            c.execute("VACUUM INTO ?", [target])?;
            Ok(())
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        let seq = {
            let copy = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            read_seq(&copy)?
        };
        let file = std::fs::File::open(&partial)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        drop(file);
        std::fs::rename(&partial, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable only once the folder is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        tracing::info!(seq, bytes, "snapshot written");
        Ok(SnapshotInfo {
            path: path.to_path_buf(),
            seq,
            bytes,
        })
    }

    /// The number of the last write group this store committed (or found at
    /// open).
    pub fn repl_seq(&self) -> u64 {
        self.repl_log().last_seq()
    }

    /// Up to `max` changesets after `after`, oldest first (empty when none
    /// is newer yet). [`StoreError::SnapshotNeeded`] when the store no
    /// longer holds them all: the standby starts again from
    /// [`Store::snapshot_to`].
    pub fn changesets_after(&self, after: u64, max: usize) -> Result<Vec<Changeset>> {
        self.repl_log().after(after, max)
    }

    /// Blocks until a changeset after `after` is committed (or a resync
    /// makes `after` useless), at most `timeout`; true if so. For threads;
    /// async code registers [`Store::on_changeset`] instead.
    pub fn wait_for_changeset(&self, after: u64, timeout: Duration) -> bool {
        self.repl_log().wait_after(after, timeout)
    }

    /// Calls `f` on the writer thread after each durable commit with its
    /// number, or with [`ReplEvent::Resync`] when another process wrote the
    /// file. `f` must return at once (wake a task, send on a channel): the
    /// writer waits for it, and so does every write behind it.
    pub fn on_changeset(&self, f: impl Fn(ReplEvent) + Send + Sync + 'static) {
        self.repl_log().listen(Box::new(f));
    }

    /// How many times the writer found the file changed by another process
    /// (each time, every standby needs a snapshot). A node watches this, or
    /// listens for [`ReplEvent::Resync`].
    pub fn repl_resyncs(&self) -> u64 {
        self.repl_log().resyncs()
    }
}
