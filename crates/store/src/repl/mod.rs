//! Replication to a standby master (DESIGN 6b): what SQLite already knows
//! how to make, not a row-copier of our own.
//!
//! - The first copy is a snapshot: `VACUUM INTO` a file, consistent with
//!   the numbered change it ends at ([`crate::Store::snapshot_to`], [`snapshot`]).
//! - After it, each committed write group is a changeset from SQLite's
//!   session extension, numbered by `repl_seq` in `_meta` (`capture.rs`):
//!   the writer thread records every table in the same transaction as the
//!   write, raises `repl_seq` in it (so the changeset carries its own
//!   number), and after the commit is durable puts `(seq, bytes)` into an
//!   in-memory ring ([`log`]) that the node pulls from by number.
//! - The standby writes them to a pending file (what it acknowledges, see
//!   [`pending`]), then applies them in order, one transaction per answer,
//!   with a conflict handler that aborts ([`Replica`], in [`replica`]): a
//!   standby never diverges; a conflict or a gap means a fresh snapshot.
//!
//! Every table travels this way (records, change log, outbox, request-id
//! answers, devices, settings, sync links and cursors), because every write
//! of this process goes through the writer thread. Two kinds of change
//! cannot be captured, and both make the master say "snapshot needed"
//! instead of sending changesets that would silently miss something:
//! - schema changes made when the store opens (the session extension
//!   records rows, not DDL): the open raises `repl_seq` and the log starts
//!   there;
//! - commits by other processes on the same file (`outpost` admin
//!   commands, a `sqlite3` shell): the writer sees `PRAGMA data_version`
//!   move without having committed, raises `repl_seq` past them, counts a
//!   resync ([`crate::Store::repl_resyncs`]) and tells listeners
//!   ([`ReplEvent::Resync`]).
//!
//! The session extension records only tables with a PRIMARY KEY, and only
//! rows whose key holds no NULL: every table the store makes has one (the
//! doctype tables `name TEXT PRIMARY KEY NOT NULL`, the system tables in
//! [`crate::migrate`]); [`tables_without_primary_key`] lists any that do
//! not, and the open logs them as an error. `sqlite_sequence` (the
//! AUTOINCREMENT counters of `_changes`, `_outbox`, `_sync_conflicts`) is
//! SQLite's own and not recorded; the standby's follows from the rows it
//! receives. One case leaves it behind: a row inserted and deleted in the
//! same write group (an outbox entry made and done within one group commit)
//! never reaches the standby, so a promoted standby may hand out that
//! number again; nothing refers to a deleted outbox entry's number.
//!
//! What is not here: sending (the node carries snapshots in chunks and
//! changesets over the standby's data channel), synchronous mode, and the
//! promotion epoch (DESIGN 6b).

pub(crate) mod capture;
pub mod log;
pub mod pending;
pub mod replica;
pub mod snapshot;
pub mod stray;

use std::sync::Arc;

use rusqlite::Connection;

use crate::error::Result;

pub use log::ReplLog;
pub use replica::Replica;
pub use snapshot::SnapshotInfo;
pub use stray::stray_changes;

/// `_meta` key of the replication number: the number of the last
/// committed write group, raised by one in each write group's own
/// transaction.
pub const REPL_SEQ_KEY: &str = "repl_seq";

/// One committed write group as SQLite's session extension records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changeset {
    /// Its number: the `repl_seq` its transaction committed.
    pub seq: u64,
    /// The changeset, as `sqlite3session_changeset` writes it; applied on
    /// the standby by [`Replica::apply`].
    pub bytes: Arc<[u8]>,
}

/// What a replication listener hears, on the writer thread, right after a
/// commit is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplEvent {
    /// Changeset `seq` is in the log; pull it with
    /// [`crate::Store::changesets_after`].
    Committed { seq: u64 },
    /// The file changed in a way no changeset carries (another process
    /// wrote it): every standby needs a snapshot taken at `seq` or later.
    Resync { seq: u64 },
}

/// The replication number a database file holds (0 when never written).
pub fn read_seq(conn: &Connection) -> Result<u64> {
    let v: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM _meta WHERE key = ?",
            [REPL_SEQ_KEY],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    Ok(v.unwrap_or(0).max(0) as u64)
}

/// Tables the session extension would not record because they have no
/// PRIMARY KEY (SQLite's own `sqlite_*` tables aside). Empty for every
/// database the store makes; a table someone added by hand would show here.
pub fn tables_without_primary_key(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT m.name FROM sqlite_master m
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
           AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.pk > 0)
         ORDER BY m.name",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_of_a_new_office_database_has_a_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let conn = Connection::open(store.path()).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(tables > 10, "only {tables} tables");
        assert_eq!(
            tables_without_primary_key(&conn).unwrap(),
            Vec::<String>::new()
        );
        conn.execute_batch("CREATE TABLE scratch (a, b)").unwrap();
        assert_eq!(tables_without_primary_key(&conn).unwrap(), vec!["scratch"]);
    }
}
