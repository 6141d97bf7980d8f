//! The change feed: tails the change log and hands each batch of committed
//! changes to the listeners, in commit order. The writer rings it after each
//! commit; it also polls, to pick up commits made by other processes.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection};

use crate::error::Result;

/// How often the change feed looks for commits made by other processes.
pub(crate) const FOREIGN_POLL: Duration = Duration::from_millis(200);

/// One committed change, as the change log holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub seq: i64,
    pub doctype: String,
    pub name: String,
    pub rev: i64,
    /// `insert`, `update` or `delete`.
    pub op: String,
    pub device: String,
}

pub(crate) type Listener = Box<dyn Fn(&[Change]) + Send + Sync>;

/// Shared state of the change feed: listeners, the last sequence delivered,
/// and a wake-up the writer rings after each commit.
pub(crate) struct Feed {
    pub(crate) listeners: Mutex<Vec<Listener>>,
    pub(crate) wake: Mutex<(bool, bool)>, // (poked, stopping)
    pub(crate) cv: Condvar,
}

impl Feed {
    pub(crate) fn new() -> Feed {
        Feed {
            listeners: Mutex::new(Vec::new()),
            wake: Mutex::new((false, false)),
            cv: Condvar::new(),
        }
    }

    pub(crate) fn listen(&self, f: Listener) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// Wakes the feed thread: something was committed.
    pub(crate) fn poke(&self) {
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        w.0 = true;
        self.cv.notify_all();
    }

    /// Asks the feed thread to deliver what is committed and stop.
    pub(crate) fn stop(&self) {
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        w.1 = true;
        self.cv.notify_all();
    }
}

pub(crate) fn read_changes(c: &Connection, seq: i64, limit: u32) -> Result<Vec<Change>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, doctype, name, rev, op, device FROM _changes WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let rows = stmt.query_map(params![seq, limit], change_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A change-log row selected as `seq, doctype, name, rev, op, device`.
pub(crate) fn change_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    Ok(Change {
        seq: r.get(0)?,
        doctype: r.get(1)?,
        name: r.get(2)?,
        rev: r.get(3)?,
        op: r.get(4)?,
        device: r.get(5)?,
    })
}

/// Tails the change log: woken by the writer after each commit, and every
/// `FOREIGN_POLL` to pick up commits made by other processes.
pub(crate) fn feed_loop(conn: Connection, feed: Arc<Feed>, mut last: i64) {
    loop {
        {
            let mut w = feed.wake.lock().unwrap_or_else(|e| e.into_inner());
            if !w.0 && !w.1 {
                w = feed
                    .cv
                    .wait_timeout(w, FOREIGN_POLL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if w.1 {
                // Deliver what is committed before stopping.
                drop(w);
                deliver(&conn, &feed, &mut last);
                return;
            }
            w.0 = false;
        }
        deliver(&conn, &feed, &mut last);
    }
}

fn deliver(conn: &Connection, feed: &Feed, last: &mut i64) {
    if feed
        .listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
    {
        // Nobody listens: skip ahead so a later listener starts from now.
        if let Ok(seq) = conn.query_row("SELECT coalesce(max(seq), 0) FROM _changes", [], |r| {
            r.get(0)
        }) {
            *last = seq;
        }
        return;
    }
    loop {
        let batch = match read_changes(conn, *last, 1000) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log");
                return;
            }
        };
        let Some(end) = batch.last().map(|c| c.seq) else {
            return;
        };
        *last = end;
        for l in feed
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            l(&batch);
        }
    }
}
