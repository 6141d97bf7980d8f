//! Capture on the primary: the writer thread's side of replication.
//!
//! Each write group's transaction, on the writer's connection:
//! 1. [`Capture::begin`] right after `BEGIN IMMEDIATE`: notes whether
//!    another connection committed since the writer's last transaction
//!    (`PRAGMA data_version` moved; the writer's own commits never move
//!    it) and attaches a session to every table;
//! 2. the jobs run, each in its savepoint;
//! 3. [`Capture::seal`] before `COMMIT`: if anything changed, raises
//!    `repl_seq` (recorded too, so the changeset carries its number) and
//!    takes the changeset;
//! 4. [`Capture::committed`] once the commit is durable: the changeset goes
//!    into the [`ReplLog`], or, after a foreign commit, the log restarts
//!    there and says "resync".
//!
//! A session lives for one transaction only: SQLite's sessions accumulate
//! until deleted, and a changeset is computed from each touched row's
//! first old values and its values at the end, so rows changed and put
//! back by a rolled-back savepoint cost a lookup and leave nothing behind.

use std::sync::Arc;

use rusqlite::session::Session;
use rusqlite::Connection;

use super::{read_seq, ReplLog, REPL_SEQ_KEY};
use crate::error::Result;

/// The writer's replication state.
pub(crate) struct Capture {
    log: Arc<ReplLog>,
    /// `PRAGMA data_version` as the writer last committed with it.
    data_version: i64,
    /// Record changesets (off: every write group still raises `repl_seq`,
    /// and the log only ever says "snapshot needed").
    record: bool,
}

/// One transaction being recorded.
pub(crate) struct Recording<'c> {
    session: Option<Session<'c>>,
    data_version: i64,
    foreign: bool,
    total_changes: u64,
}

/// A write group's number and changeset, made before its commit, published
/// after.
pub(crate) struct Sealed {
    seq: u64,
    changeset: Option<Vec<u8>>,
    data_version: i64,
    foreign: bool,
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// Raises `repl_seq` by one inside the caller's transaction; the new value.
fn bump(conn: &Connection) -> Result<u64> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO _meta (key, value) VALUES (?1, '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
             RETURNING CAST(value AS INTEGER)",
        )?
        .query_row([REPL_SEQ_KEY], |r| r.get(0))?;
    Ok(seq.max(0) as u64)
}

/// What the open did to the file before the writer took it over, to tell
/// whether it changed something no changeset carries.
pub(crate) struct OpenMark {
    schema_version: i64,
    total_changes: u64,
}

impl OpenMark {
    /// Taken on the writer's connection before the migration.
    pub(crate) fn take(conn: &Connection) -> Result<OpenMark> {
        Ok(OpenMark {
            schema_version: conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?,
            total_changes: conn.total_changes(),
        })
    }
}

impl Capture {
    /// Takes over after the open's migration: if the open changed the file
    /// (tables made or altered, the site id written), `repl_seq` is raised
    /// so that a standby copied before cannot go on with changesets.
    pub(crate) fn start(conn: &Connection, mark: OpenMark, record: bool) -> Result<Capture> {
        let schema_version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
        let changed =
            schema_version != mark.schema_version || conn.total_changes() != mark.total_changes;
        let seq = if changed {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let seq = bump(conn).and_then(|seq| {
                conn.execute_batch("COMMIT")?;
                Ok(seq)
            });
            if seq.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let seq = seq?;
            tracing::info!(
                seq,
                "the open changed the database: a standby needs a snapshot"
            );
            seq
        } else {
            read_seq(conn)?
        };
        let missing = super::tables_without_primary_key(conn)?;
        if !missing.is_empty() {
            tracing::error!(tables = ?missing, "tables without a primary key do not reach the standby");
        }
        Ok(Capture {
            log: Arc::new(ReplLog::new(seq)),
            data_version: data_version(conn)?,
            record,
        })
    }

    pub(crate) fn log(&self) -> Arc<ReplLog> {
        self.log.clone()
    }

    /// Whether another connection committed since the writer last did
    /// (checked while the writer is idle).
    pub(crate) fn foreign_commit_seen(&self, conn: &Connection) -> Result<bool> {
        Ok(data_version(conn)? != self.data_version)
    }

    /// Starts recording the transaction just begun on `conn`.
    pub(crate) fn begin<'c>(&self, conn: &'c Connection) -> Result<Recording<'c>> {
        let dv = data_version(conn)?;
        let session = if self.record {
            let mut s = Session::new(conn)?;
            s.attach::<&str>(None)?;
            Some(s)
        } else {
            None
        };
        Ok(Recording {
            session,
            data_version: dv,
            foreign: dv != self.data_version,
            total_changes: conn.total_changes(),
        })
    }

    /// Numbers the transaction and takes its changeset; call right before
    /// `COMMIT`. None when it changed nothing (and nobody else did).
    pub(crate) fn seal(&self, rec: Recording<'_>, conn: &Connection) -> Result<Option<Sealed>> {
        let Recording {
            mut session,
            data_version,
            foreign,
            total_changes,
        } = rec;
        let changed = match &session {
            Some(s) => !s.is_empty(),
            None => conn.total_changes() != total_changes,
        };
        if !changed && !foreign {
            return Ok(None);
        }
        let seq = bump(conn)?;
        let changeset = match session.as_mut() {
            Some(s) => {
                let mut out = Vec::new();
                s.changeset_strm(&mut out)?;
                Some(out)
            }
            None => None,
        };
        Ok(Some(Sealed {
            seq,
            changeset,
            data_version,
            foreign,
        }))
    }

    /// The sealed transaction is durable: publish it.
    /// The last write group committed.
    pub(crate) fn last_seq(&self) -> u64 {
        self.log.last_seq()
    }

    pub(crate) fn committed(&mut self, sealed: Sealed) {
        self.data_version = sealed.data_version;
        match sealed.changeset {
            Some(bytes) if !sealed.foreign => {
                tracing::trace!(seq = sealed.seq, bytes = bytes.len(), "changeset");
                self.log.push(sealed.seq, bytes);
            }
            _ => {
                if sealed.foreign {
                    tracing::warn!(
                        seq = sealed.seq,
                        "another process wrote the office database: a standby needs a snapshot"
                    );
                }
                self.log.restart_at(sealed.seq, sealed.foreign);
            }
        }
    }
}
