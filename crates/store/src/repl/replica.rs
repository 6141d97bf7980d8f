//! The standby's copy: a file made from a snapshot, kept up to date by
//! applying the master's changesets in order, one transaction each.
//!
//! A standby never diverges: a changeset out of order is refused
//! ([`StoreError::ReplicaGap`]); one that does not apply cleanly (any
//! conflict: a row missing, different, or already there) is rolled back
//! whole and the replica takes no more ([`StoreError::ReplicaDiverged`])
//! until it is made again from a snapshot. Its number is `_meta.repl_seq`,
//! which each changeset itself raises, so the number and the rows it
//! stands for are committed together.
//!
//! A commit here is written to the operating system but not flushed to the
//! disk at once (WAL with `synchronous=NORMAL`: always consistent, and a
//! power cut loses at most the last moment's changes, which the master
//! still holds): PostgreSQL's `synchronous_commit = remote_write`, which a
//! synchronous master waits for. The disk is flushed at most every
//! [`FLUSH_EVERY`] (a checkpoint), and when the replica is dropped.
//!
//! The standby takes an answer from the master in two steps:
//! [`Replica::receive`] writes it to the pending file beside the copy (see
//! [`super::pending`]), which is what it acknowledges, and
//! [`Replica::apply_received`] applies it a moment later. [`Replica::open`]
//! (and so every [`crate::Store::open`]) applies what an earlier run left
//! in the pending file.
//!
//! The file is an ordinary office database: promoting the standby is
//! closing the [`Replica`] and opening the file with
//! [`crate::Store::open`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::session::{ChangesetIter, ConflictAction, ConflictType};
use rusqlite::Connection;
use rusqlite::OptionalExtension;

use super::pending::Pending;
use super::read_seq;
use crate::error::{Result, StoreError};

/// A standby's copy of the office database.
pub struct Replica {
    conn: Connection,
    path: PathBuf,
    seq: u64,
    /// The number of the last changeset received (written to the pending
    /// file, maybe not applied yet): at least `seq`.
    received: u64,
    /// Received and not applied yet, in order (also in `pending`).
    waiting: Vec<(u64, Vec<u8>)>,
    pending: Pending,
    /// When the disk was last flushed.
    flushed: std::time::Instant,
    /// Why it takes no more changesets, once one failed to apply.
    diverged: Option<String>,
    /// Column count and primary-key columns of each table checked so far.
    shapes: HashMap<String, (i32, Vec<u8>)>,
}

/// How long a commit here may stay written but not flushed to the disk.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Drop for Replica {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Replica {
    /// Flushes what is committed to the disk (a WAL checkpoint, which
    /// syncs the log first).
    pub fn flush(&mut self) {
        self.flushed = std::time::Instant::now();
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "cannot flush the standby's copy to the disk");
        }
    }

    /// Opens a copy made by [`crate::Store::snapshot_to`] (or a standby's
    /// file from an earlier run) to apply changesets to.
    pub fn open(path: &Path) -> Result<Replica> {
        if !path.is_file() {
            return Err(StoreError::BadRequest(format!(
                "{} does not exist; copy a snapshot of the master there first",
                path.display()
            )));
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = OFF;",
        )?;
        let is_office: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_meta'")?
            .exists([])?;
        if !is_office {
            return Err(StoreError::BadRequest(format!(
                "{} is not an office database; copy a snapshot of the master there",
                path.display()
            )));
        }
        let seq = read_seq(&conn)?;
        let (pending, left) = Pending::open(path)?;
        let mut replica = Replica {
            conn,
            path: path.to_path_buf(),
            seq,
            received: seq,
            waiting: Vec::new(),
            pending,
            flushed: std::time::Instant::now(),
            diverged: None,
            shapes: HashMap::new(),
        };
        replica.apply_left(left)?;
        tracing::info!(path = %path.display(), seq = replica.seq, "standby copy open");
        Ok(replica)
    }

    /// Applies what an earlier run received and did not apply (what it
    /// already applied is skipped), then empties the pending file.
    fn apply_left(&mut self, left: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let next: Vec<(u64, &[u8])> = left
            .iter()
            .filter(|(s, _)| *s > self.seq)
            .map(|(s, b)| (*s, b.as_slice()))
            .collect();
        if !next.is_empty() {
            self.apply_batch(&next)?;
            tracing::info!(
                count = next.len(),
                seq = self.seq,
                "applied the changes received before the last stop"
            );
        }
        self.pending.clear()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of the last changeset applied (or the snapshot's).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The number of the last changeset received: written to the OS here,
    /// applied by [`Replica::apply_received`] or at the next open. What
    /// the standby acknowledges.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Takes changesets numbered in order from [`Replica::received`] + 1:
    /// written to the pending file (to the OS, not flushed), to apply with
    /// [`Replica::apply_received`].
    pub fn receive(&mut self, batch: Vec<(u64, Vec<u8>)>) -> Result<()> {
        if let Some(reason) = &self.diverged {
            return Err(StoreError::ReplicaDiverged {
                seq: batch.first().map(|(s, _)| *s).unwrap_or(self.received),
                reason: format!("an earlier change failed: {reason}"),
            });
        }
        for (expect, (seq, _)) in (self.received + 1..).zip(batch.iter()) {
            if *seq != expect {
                return Err(StoreError::ReplicaGap {
                    have: expect - 1,
                    got: *seq,
                });
            }
        }
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        let last = *last;
        self.pending.append(&batch)?;
        self.received = last;
        self.waiting.extend(batch);
        Ok(())
    }

    /// Applies everything received and not applied yet, in one
    /// transaction, then empties the pending file.
    pub fn apply_received(&mut self) -> Result<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        let waiting = std::mem::take(&mut self.waiting);
        let refs: Vec<(u64, &[u8])> = waiting.iter().map(|(s, b)| (*s, b.as_slice())).collect();
        let applied = self.apply_batch(&refs);
        if applied.is_err() {
            // The copy takes nothing more; what is pending goes with it.
            self.received = self.seq;
        }
        self.pending.clear()?;
        applied
    }

    /// A setting of the copy (`_meta`), e.g. the office's `site_id` and
    /// `epoch`, to check it copies the master it follows.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM _meta WHERE key = ?", [key], |r| r.get(0))
            .optional()?)
    }

    /// Whether each commit here waits for the disk (`synchronous` FULL or
    /// more); false as opened: a commit is written to the OS and flushed
    /// within [`FLUSH_EVERY`].
    pub fn flushes_each_commit(&self) -> Result<bool> {
        let level: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        Ok(level >= 2)
    }

    /// Whether a changeset failed to apply: the copy must be made again
    /// from a snapshot before it takes more.
    pub fn needs_snapshot(&self) -> bool {
        self.diverged.is_some()
    }

    /// Applies changeset `seq` in one transaction, durably; `seq` must be
    /// [`Replica::seq`] + 1.
    pub fn apply(&mut self, seq: u64, changeset: &[u8]) -> Result<()> {
        self.apply_batch(&[(seq, changeset)])
    }

    /// Applies changesets numbered in order from [`Replica::seq`] + 1, all
    /// in one transaction (one sync to disk for the batch): all or none.
    pub fn apply_batch(&mut self, batch: &[(u64, &[u8])]) -> Result<()> {
        let Some((first, _)) = batch.first() else {
            return Ok(());
        };
        let last = batch.last().map(|(s, _)| *s).unwrap_or(*first);
        let _span = tracing::debug_span!("replica apply", first, last).entered();
        if let Some(reason) = &self.diverged {
            return Err(StoreError::ReplicaDiverged {
                seq: *first,
                reason: format!("an earlier change failed: {reason}"),
            });
        }
        for (expect, (seq, _)) in (self.seq + 1..).zip(batch.iter()) {
            if *seq != expect {
                return Err(StoreError::ReplicaGap {
                    have: expect - 1,
                    got: *seq,
                });
            }
        }
        match self.apply_in_transaction(batch) {
            Ok(()) => {
                self.seq = last;
                self.received = self.received.max(last);
                if self.flushed.elapsed() >= FLUSH_EVERY {
                    self.flush();
                }
                Ok(())
            }
            Err((seq, reason)) => {
                tracing::warn!(seq, %reason, "changeset refused: the standby needs a snapshot");
                self.diverged = Some(reason.clone());
                Err(StoreError::ReplicaDiverged { seq, reason })
            }
        }
    }

    /// The transaction of a batch; the failing changeset's number and the
    /// reason in words when it is refused (everything rolled back).
    fn apply_in_transaction(&mut self, batch: &[(u64, &[u8])]) -> Result<(), (u64, String)> {
        for (seq, changeset) in batch {
            self.check_tables(changeset).map_err(|r| (*seq, r))?;
        }
        let conn = &self.conn;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| (batch[0].0, format!("cannot start a transaction: {e}")))?;
        let mut result = Ok(());
        for (seq, changeset) in batch {
            if let Err(reason) = apply_one(conn, *seq, changeset) {
                result = Err((*seq, reason));
                break;
            }
        }
        match result {
            Ok(()) => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                (batch[0].0, format!("cannot commit: {e}"))
            }),
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// SQLite skips, with a log line only, the changes to a table that is
    /// missing or shaped differently: here that is a refusal, since the
    /// copy would silently miss them.
    fn check_tables(&mut self, changeset: &[u8]) -> Result<(), String> {
        let mut input: &[u8] = changeset;
        let reader: &mut dyn std::io::Read = &mut input;
        let mut iter = ChangesetIter::start_strm(&reader)
            .map_err(|e| format!("the change could not be read: {e}"))?;
        while let Some(item) = iter
            .next()
            .map_err(|e| format!("the change could not be read: {e}"))?
        {
            let op = item
                .op()
                .map_err(|e| format!("the change could not be read: {e}"))?;
            let table = op.table_name().to_string();
            let ncols = op.number_of_columns();
            let pk = item
                .pk()
                .map_err(|e| format!("the change could not be read: {e}"))?
                .to_vec();
            if let Some((n, p)) = self.shapes.get(&table) {
                if *n == ncols && *p == pk {
                    continue;
                }
                return Err(format!("table {table} is shaped differently here"));
            }
            let here = table_shape(&self.conn, &table)
                .map_err(|e| format!("cannot read table {table}: {e}"))?;
            match here {
                Some((n, p)) if n == ncols && p == pk => {
                    self.shapes.insert(table, (n, p));
                }
                Some(_) => return Err(format!("table {table} is shaped differently here")),
                None => return Err(format!("table {table} does not exist here")),
            }
        }
        Ok(())
    }
}

/// Column count and primary-key positions (as a changeset gives them: 0
/// for a column outside the key, else its place in the key) of `table`, or
/// None when it is missing.
fn table_shape(conn: &Connection, table: &str) -> rusqlite::Result<Option<(i32, Vec<u8>)>> {
    let mut stmt = conn.prepare("SELECT pk FROM pragma_table_info(?) ORDER BY cid")?;
    let pks: Vec<i64> = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if pks.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        pks.len() as i32,
        pks.iter().map(|&p| p.clamp(0, 255) as u8).collect(),
    )))
}

fn conflict_words(kind: &ConflictType) -> &'static str {
    match kind {
        ConflictType::SQLITE_CHANGESET_DATA => "a row differs from the master's old values",
        ConflictType::SQLITE_CHANGESET_NOTFOUND => "a row the master changed is missing",
        ConflictType::SQLITE_CHANGESET_CONFLICT => "a row the master inserted is already there",
        ConflictType::SQLITE_CHANGESET_CONSTRAINT => "a constraint refused a row",
        ConflictType::SQLITE_CHANGESET_FOREIGN_KEY => "a foreign key refused a row",
        _ => "an unknown conflict",
    }
}

/// One changeset inside the batch's transaction, with a conflict handler
/// that aborts; checks the number it wrote.
fn apply_one(conn: &Connection, seq: u64, changeset: &[u8]) -> Result<(), String> {
    let first_conflict: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = first_conflict.clone();
    let mut input: &[u8] = changeset;
    let applied = conn.apply_strm(&mut input, None::<fn(&str) -> bool>, move |kind, item| {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none() {
            let table = item
                .op()
                .map(|op| op.table_name().to_string())
                .unwrap_or_default();
            *seen = Some(format!("{} in table {table}", conflict_words(&kind)));
        }
        ConflictAction::SQLITE_CHANGESET_ABORT
    });
    match applied {
        Err(e) => Err(first_conflict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| format!("the change could not be read: {e}"))),
        Ok(()) => match read_seq(conn) {
            Ok(s) if s == seq => Ok(()),
            Ok(s) => Err(format!("the change set the number to {s}, not {seq}")),
            Err(e) => Err(format!("cannot read the number back: {e}")),
        },
    }
}
