//! Compaction: what the office database keeps only for a while.
//!
//! Four things grow with every write and are needed only for a time:
//!
//! - the change log (`_changes`): slaves get its rows live, as events;
//!   rows older than [`CHANGES_KEEP_DAYS`] go, unless they are at or above
//!   the floor a reader still needs ([`Store::retain_changes_from`]); the
//!   newest row always stays, so the log's head is never lost. No reader
//!   in Outpost resumes from the log today, so the node sets no floor: a
//!   standby follows the numbered changesets (`repl`, kept in memory, not
//!   here) and starts from a fresh copy when it was away too long, and a
//!   slave that reconnects reloads what it shows. A reader that would
//!   resume from a sequence sets the floor;
//! - tombstones (deleted records kept so the delete syncs): one goes, with
//!   its child rows, when it is older than [`TOMBSTONES_KEEP_DAYS`] and the
//!   head office has the delete: no outbox entry of the record is left
//!   (entries are removed once the head office has them; a doctype that
//!   does not sync has none) and no conflict over it is open;
//! - settled conflicts, after [`CONFLICTS_KEEP_DAYS`];
//! - stored answers to write request ids (`_requests`), after
//!   [`REQUESTS_KEEP_DAYS`].
//!
//! The writer thread compacts every [`COMPACT_EVERY`] (looked at when a
//! write wakes it: a store nobody writes to does not grow), one batch of
//! each kind at a time, inside a write group's transaction (so the standby
//! forgets the same rows), so a write never waits behind more than a round; a backlog (a first run on an old file)
//! is worked off a batch per kind every [`CATCH_UP_PAUSE`]. [`Store::compact`]
//! does it all at once, in the same batches, for a command or a test.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::doctype::{Doctype, Schema};
use crate::error::Result;
use crate::store::Store;
use crate::values::utc_days_ago;

/// Change log rows are kept this long (unless a reader's floor keeps them
/// longer): a slave or standby away longer than this starts again from a
/// copy of the database, not from the log.
pub const CHANGES_KEEP_DAYS: i64 = 30;
/// A tombstone is kept this long after the delete, and in any case until
/// the head office has it: long enough for a list or a slave that still
/// shows the record to learn that it was deleted, not that it never was.
pub const TOMBSTONES_KEEP_DAYS: i64 = 30;
/// Settled conflicts stay listed (`outpost sync conflicts --all`) this
/// long, for whoever asks later why a record is as it is.
pub const CONFLICTS_KEEP_DAYS: i64 = 90;
/// Stored answers to write request ids are kept this long, far beyond any
/// slave's retry window (a slave retries for minutes, not days).
pub const REQUESTS_KEEP_DAYS: i64 = 7;
/// Rows one transaction removes: a few milliseconds of the write lock.
const BATCH: i64 = 500;
/// How often a long-running writer compacts.
const COMPACT_EVERY: Duration = Duration::from_secs(3600);
/// The first compaction after open waits this long: a start is busy
/// enough, and a reader that resumes from the log has time to set its
/// floor.
const FIRST_AFTER: Duration = Duration::from_secs(60);
/// Between two rounds while working off a backlog: writes go first.
const CATCH_UP_PAUSE: Duration = Duration::from_secs(1);
/// The floor value meaning "no reader needs old changes".
const NO_FLOOR: i64 = i64::MAX;

/// What one compaction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    /// Change log rows.
    pub changes: u64,
    /// Tombstones (their child rows not counted).
    pub tombstones: u64,
    /// Settled conflicts.
    pub conflicts: u64,
    /// Stored answers to request ids.
    pub requests: u64,
}

impl Compacted {
    pub fn total(&self) -> u64 {
        self.changes + self.tombstones + self.conflicts + self.requests
    }

    fn add(&mut self, o: Compacted) {
        self.changes += o.changes;
        self.tombstones += o.tombstones;
        self.conflicts += o.conflicts;
        self.requests += o.requests;
    }
}

/// The change-log floor: the lowest sequence a reader still needs.
pub(crate) type Floor = Arc<AtomicI64>;

pub(crate) fn no_floor() -> Floor {
    Arc::new(AtomicI64::new(NO_FLOOR))
}

impl Store {
    /// Keeps the change log from `seq` on, however old (a standby or a
    /// reader that resumes from a sequence sets it to the lowest it still
    /// needs, and moves it up as it goes); `None`: age alone decides.
    pub fn retain_changes_from(&self, seq: Option<i64>) {
        self.inner
            .changes_floor
            .store(seq.unwrap_or(NO_FLOOR), Ordering::Relaxed);
    }

    /// The floor set by [`Store::retain_changes_from`].
    pub fn changes_floor(&self) -> Option<i64> {
        Some(self.inner.changes_floor.load(Ordering::Relaxed)).filter(|s| *s != NO_FLOOR)
    }

    /// Compacts now, to the end, in the writer's batches (each its own
    /// short transaction, so writes go on meanwhile).
    pub fn compact(&self) -> Result<Compacted> {
        let floor = self.inner.changes_floor.load(Ordering::Relaxed);
        let mut all = Compacted::default();
        loop {
            let schema = self.schema();
            let (done, more) = self.with_admin(move |c| round(c, &schema, floor))?;
            all.add(done);
            if !more {
                break;
            }
        }
        tracing::info!(?all, "office database compacted");
        Ok(all)
    }
}

/// When the writer compacts next.
pub(crate) struct Schedule {
    floor: Floor,
    next: Instant,
}

impl Schedule {
    pub(crate) fn new(floor: Floor) -> Schedule {
        Schedule {
            floor,
            next: Instant::now() + FIRST_AFTER,
        }
    }

    /// Runs one round if it is time: one batch of each kind.
    pub(crate) fn when_due(&mut self, conn: &Connection, schema: &Schema) {
        if Instant::now() < self.next {
            return;
        }
        let _span = tracing::debug_span!("compact").entered();
        let pause = match round(conn, schema, self.floor.load(Ordering::Relaxed)) {
            Ok((done, more)) => {
                if done.total() > 0 {
                    tracing::info!(?done, more, "compacted");
                }
                if more {
                    CATCH_UP_PAUSE
                } else {
                    COMPACT_EVERY
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot compact the office database");
                COMPACT_EVERY
            }
        };
        self.next = Instant::now() + pause;
    }
}

/// One batch of each kind; whether any kind has more to remove.
fn round(conn: &Connection, schema: &Schema, floor: i64) -> Result<(Compacted, bool)> {
    let full = |n: u64| n >= BATCH as u64;
    let mut done = Compacted {
        requests: in_batch(conn, requests)?,
        changes: in_batch(conn, |tx| changes(tx, floor))?,
        conflicts: in_batch(conn, conflicts)?,
        tombstones: 0,
    };
    let mut more = full(done.requests) || full(done.changes) || full(done.conflicts);
    for dt in schema.doctypes.values().filter(|d| !d.child) {
        let n = in_batch(conn, |tx| tombstones(tx, schema, dt))?;
        done.tombstones += n;
        more |= full(n);
    }
    Ok((done, more))
}

/// Runs `f` in a savepoint of the writer's group transaction (so the batch
/// is recorded for the standby with the group), undone alone if it fails.
fn in_batch(conn: &Connection, f: impl FnOnce(&Connection) -> Result<u64>) -> Result<u64> {
    conn.execute_batch("SAVEPOINT compact")?;
    match f(conn) {
        Ok(n) => {
            conn.execute_batch("RELEASE compact")?;
            Ok(n)
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK TO compact; RELEASE compact");
            }
            Err(e)
        }
    }
}

fn requests(tx: &Connection) -> Result<u64> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM _requests WHERE (device, req_id) IN
               (SELECT device, req_id FROM _requests WHERE at < ?1 LIMIT ?2)",
        )?
        .execute(params![utc_days_ago(REQUESTS_KEEP_DAYS), BATCH])? as u64)
}

fn changes(tx: &Connection, floor: i64) -> Result<u64> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM _changes WHERE seq IN
               (SELECT seq FROM _changes WHERE at < ?1 AND seq < ?2
                  AND seq < (SELECT max(seq) FROM _changes)
                ORDER BY seq LIMIT ?3)",
        )?
        .execute(params![utc_days_ago(CHANGES_KEEP_DAYS), floor, BATCH])? as u64)
}

fn conflicts(tx: &Connection) -> Result<u64> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM _sync_conflicts WHERE id IN
               (SELECT id FROM _sync_conflicts WHERE state != 'open' AND resolved_at < ?1 LIMIT ?2)",
        )?
        .execute(params![utc_days_ago(CONFLICTS_KEEP_DAYS), BATCH])? as u64)
}

/// Old tombstones of `dt` whose delete the head office has, with their
/// child rows.
fn tombstones(tx: &Connection, schema: &Schema, dt: &Doctype) -> Result<u64> {
    let names: Vec<String> = tx
        .prepare_cached(&format!(
            "SELECT name FROM {} t WHERE deleted = 1 AND modified < ?1
               AND NOT EXISTS (SELECT 1 FROM _outbox o WHERE o.doctype = ?2 AND o.name = t.name)
               AND NOT EXISTS (SELECT 1 FROM _sync_conflicts k WHERE k.state = 'open'
                               AND k.doctype = ?2 AND k.name = t.name)
             LIMIT ?3",
            dt.table_name()
        ))?
        .query_map(
            params![utc_days_ago(TOMBSTONES_KEEP_DAYS), dt.name, BATCH],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for name in &names {
        for f in dt.table_fields() {
            let child = schema.get(f.table.as_deref().unwrap_or_default())?;
            tx.prepare_cached(&format!(
                "DELETE FROM {} WHERE parent = ? AND parentfield = ? AND parenttype = ?",
                child.table_name()
            ))?
            .execute(params![name, f.name, dt.name])?;
        }
        tx.prepare_cached(&format!(
            "DELETE FROM {} WHERE name = ? AND deleted = 1",
            dt.table_name()
        ))?
        .execute([name])?;
    }
    Ok(names.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's schedule: a backlog is worked off one batch a round,
    /// the next round soon; once done, the next round waits the hour.
    #[test]
    fn the_writer_works_off_a_backlog_a_batch_a_round() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = Connection::open(store.path()).unwrap();
        conn.execute(
            &format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})
                 INSERT INTO _requests (device, req_id, op, response, at)
                 SELECT 'desk', i, 'insert', 'null', '2020-01-01T00:00:00.000Z' FROM n",
                BATCH + 1
            ),
            [],
        )
        .unwrap();
        let left = || -> i64 {
            conn.query_row("SELECT count(*) FROM _requests", [], |r| r.get(0))
                .unwrap()
        };
        let schema = store.schema();
        let mut schedule = Schedule::new(no_floor());
        schedule.when_due(&conn, &schema);
        assert_eq!(left(), BATCH + 1, "not due yet right after open");

        schedule.next = Instant::now();
        schedule.when_due(&conn, &schema);
        assert_eq!(left(), 1, "one batch a round");
        assert!(schedule.next <= Instant::now() + CATCH_UP_PAUSE);

        schedule.next = Instant::now();
        schedule.when_due(&conn, &schema);
        assert_eq!(left(), 0);
        assert!(schedule.next > Instant::now() + CATCH_UP_PAUSE);
    }
}
