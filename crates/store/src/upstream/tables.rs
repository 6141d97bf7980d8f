//! The sync bookkeeping tables as the worker and `outpost sync` use them:
//! the outbox, links, cursors, the worker's state, bytes and conflicts.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::*;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::values::now_utc;

fn today() -> String {
    now_utc()[..10].to_string()
}

impl Store {
    /// Entries of `doctypes` to push, oldest first: pending ones, and those
    /// whose push started but never finished. Records with an open conflict
    /// wait.
    pub fn outbox_batch(&self, doctypes: &[String], limit: u32) -> Result<Vec<OutboxEntry>> {
        if doctypes.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; doctypes.len()].join(", ");
        let sql = format!(
            "SELECT seq, doctype, name, rev, op, payload, state FROM _outbox o
             WHERE state IN ('pending', 'sending') AND doctype IN ({marks})
               AND NOT EXISTS (SELECT 1 FROM _sync_conflicts k WHERE k.state = 'open'
                               AND k.doctype = o.doctype AND k.name = o.name)
             ORDER BY seq LIMIT {limit}"
        );
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(doctypes), |r| {
                let payload: String = r.get(5)?;
                Ok(OutboxEntry {
                    seq: r.get(0)?,
                    doctype: r.get(1)?,
                    name: r.get(2)?,
                    rev: r.get(3)?,
                    op: r.get(4)?,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    state: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Marks entries as being sent, durably, before the request leaves: if
    /// the process dies before the answer is stored, the next run knows to
    /// look the records up instead of creating them again.
    pub fn outbox_mark_sending(&self, seqs: &[i64]) -> Result<()> {
        let seqs = seqs.to_vec();
        self.with_admin(move |c| {
            for s in &seqs {
                c.prepare_cached("UPDATE _outbox SET state = 'sending' WHERE seq = ?")?
                    .execute([s])?;
            }
            Ok(())
        })
    }

    /// Records what reached the remote: links set, entries done, in one
    /// transaction.
    pub fn sync_done(&self, done: &[Synced]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let done = done.to_vec();
        self.with_admin(move |c| {
            for d in &done {
                set_link(c, &d.doctype, &d.name, d.link.as_ref())?;
                c.prepare_cached(
                    "DELETE FROM _outbox WHERE doctype = ? AND name = ? AND seq <= ?
                       AND state IN ('pending', 'sending', 'parked')",
                )?
                .execute(params![d.doctype, d.name, d.upto])?;
            }
            Ok(())
        })
    }

    /// Parks entries the remote refused, with its message; they no longer
    /// block the others, and a later change of the record is tried afresh.
    pub fn outbox_park(&self, seqs: &[i64], message: &str) -> Result<()> {
        let (seqs, message) = (seqs.to_vec(), message.to_string());
        self.with_admin(move |c| {
            for s in &seqs {
                c.prepare_cached("UPDATE _outbox SET state = 'parked', message = ? WHERE seq = ?")?
                    .execute(params![message, s])?;
            }
            Ok(())
        })
    }

    /// Parked entries, oldest first.
    pub fn outbox_parked(&self) -> Result<Vec<Parked>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, doctype, name, op, coalesce(message, ''), at FROM _outbox
                 WHERE state = 'parked' ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Parked {
                    seq: r.get(0)?,
                    doctype: r.get(1)?,
                    name: r.get(2)?,
                    op: r.get(3)?,
                    message: r.get(4)?,
                    at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn sync_link(&self, doctype: &str, name: &str) -> Result<Option<Link>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT remote_id, hash, version, inactive, children FROM _sync_links
                 WHERE doctype = ? AND name = ?",
            )?
            .query_row([doctype, name], |r| {
                Ok(Link {
                    remote_id: r.get(0)?,
                    hash: r.get(1)?,
                    version: r.get(2)?,
                    inactive: r.get::<_, i64>(3)? != 0,
                    children: children_from(r.get(4)?),
                })
            })
            .optional()?)
        })
    }

    /// The local record linked to a remote one (how a pulled link field,
    /// the party of a sale, is found here).
    pub fn sync_local_name(&self, doctype: &str, remote_id: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT name FROM _sync_links WHERE doctype = ? AND remote_id = ?",
            )?
            .query_row([doctype, remote_id], |r| r.get(0))
            .optional()?)
        })
    }

    /// Why the head office refused the record's latest change, if it is
    /// parked (a sale linking to it must not go up).
    pub fn outbox_parked_reason(&self, doctype: &str, name: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT coalesce(message, '') FROM _outbox WHERE doctype = ? AND name = ?
                   AND state = 'parked' ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([doctype, name], |r| r.get(0))
            .optional()?)
        })
    }

    /// Changes of `doctypes` not yet sent (pending or sending entries).
    pub fn outbox_pending_in(&self, doctypes: &[String]) -> Result<u64> {
        self.with_reader(|c| {
            let mut n = 0;
            for d in doctypes {
                n += c
                    .prepare_cached(
                        "SELECT count(*) FROM _outbox WHERE doctype = ? AND state IN ('pending', 'sending')",
                    )?
                    .query_row([d], |r| r.get::<_, i64>(0))? as u64;
            }
            Ok(n)
        })
    }

    /// Whether the record has an open conflict.
    pub fn sync_open_conflict(&self, doctype: &str, name: &str) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM _sync_conflicts WHERE state = 'open' AND doctype = ? AND name = ? LIMIT 1",
            )?
            .exists([doctype, name])?)
        })
    }

    /// Each named record's standing with the head office (`sync.records`).
    pub fn sync_records(
        &self,
        doctype: &str,
        names: &[String],
    ) -> Result<Vec<crate::status::RecordSync>> {
        crate::status::records(self, doctype, names)
    }

    /// Counts of one synced doctype: records waiting, parked, at the head
    /// office.
    pub fn sync_doctype_counts(&self, doctype: &str) -> Result<crate::status::DoctypeSync> {
        self.with_reader(|c| {
            let n = |sql: &str| -> Result<u64> {
                Ok(c.prepare_cached(sql)?
                    .query_row([doctype], |r| r.get::<_, i64>(0))? as u64)
            };
            Ok(crate::status::DoctypeSync {
                doctype: doctype.to_string(),
                pending: n("SELECT count(DISTINCT name) FROM _outbox
                            WHERE doctype = ? AND state IN ('pending', 'sending')")?,
                parked: n(
                    "SELECT count(DISTINCT o.name) FROM _outbox o WHERE o.doctype = ?1
                             AND o.state = 'parked' AND NOT EXISTS (SELECT 1 FROM _outbox p
                               WHERE p.doctype = o.doctype AND p.name = o.name
                                 AND p.state IN ('pending', 'sending'))",
                )?,
                sent: n("SELECT count(*) FROM _sync_links WHERE doctype = ?")?,
            })
        })
    }

    /// Whether the record has changes not yet sent (pending or sending).
    pub fn outbox_waiting(&self, doctype: &str, name: &str) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM _outbox WHERE doctype = ? AND name = ?
                   AND state IN ('pending', 'sending') LIMIT 1",
            )?
            .exists([doctype, name])?)
        })
    }

    /// Remote ids of every linked record of `doctype` (for reconciliation).
    pub fn sync_remote_ids(&self, doctype: &str) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT remote_id FROM _sync_links WHERE doctype = ? ORDER BY remote_id",
            )?;
            let rows = stmt.query_map([doctype], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Where `doctype`'s pull stopped `(stamp, id)`, and when (here) it
    /// last moved.
    pub fn sync_cursor(&self, doctype: &str) -> Result<Option<(String, String, String)>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT stamp, id, coalesce(moved_at, '') FROM _sync_cursors WHERE doctype = ?",
            )?
            .query_row([doctype], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
        })
    }

    /// The lock file held by the one worker syncing this data folder.
    pub fn sync_lock_path(&self) -> std::path::PathBuf {
        self.path()
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("sync.lock")
    }

    /// Takes the sync lock; `None` when another process (or another worker
    /// of this one) holds it. Held until the file is dropped.
    pub fn try_sync_lock(&self) -> Result<Option<std::fs::File>> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.sync_lock_path())?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Whether a worker is syncing this data folder now.
    pub fn sync_running(&self) -> bool {
        matches!(self.try_sync_lock(), Ok(None))
    }

    /// What `outpost sync status` and the `sync.status` op show.
    pub fn sync_status(&self) -> Result<crate::status::SyncStatus> {
        crate::status::read(self)
    }

    /// Conflicts, newest first; only the open ones unless `all`.
    pub fn sync_conflicts(&self, all: bool) -> Result<Vec<Conflict>> {
        self.with_reader(|c| {
            let sql = format!(
                "SELECT {CONFLICT_COLS} FROM _sync_conflicts {} ORDER BY id DESC",
                if all { "" } else { "WHERE state = 'open'" }
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], conflict_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn sync_conflict(&self, id: i64) -> Result<Conflict> {
        self.with_reader(|c| {
            c.prepare_cached(&format!(
                "SELECT {CONFLICT_COLS} FROM _sync_conflicts WHERE id = ?"
            ))?
            .query_row([id], conflict_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                doctype: "conflict".into(),
                name: id.to_string(),
            })
        })
    }

    /// A worker setting shared with `outpost sync status` (link state, last
    /// success ...).
    pub fn sync_state(&self, key: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM _sync_state WHERE key = ?")?
                    .query_row([key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    pub fn set_sync_state(&self, pairs: &[(&str, &str)]) -> Result<()> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.with_admin(move |c| {
            for (k, v) in &pairs {
                c.prepare_cached(
                    "INSERT INTO _sync_state (key, value) VALUES (?, ?)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![k, v])?;
            }
            Ok(())
        })
    }

    /// Adds bytes sent and received on the uplink to today's count.
    pub fn sync_add_bytes(&self, sent: u64, received: u64) -> Result<()> {
        if sent == 0 && received == 0 {
            return Ok(());
        }
        self.with_admin(move |c| {
            c.execute(
                "INSERT INTO _sync_bytes (day, sent, received) VALUES (?, ?, ?)
                 ON CONFLICT(day) DO UPDATE SET sent = sent + excluded.sent,
                   received = received + excluded.received",
                params![today(), sent as i64, received as i64],
            )?;
            Ok(())
        })
    }

    pub fn sync_counts(&self) -> Result<SyncCounts> {
        self.with_reader(|c| {
            let one = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
            let (sent_today, received_today): (i64, i64) = c
                .query_row(
                    "SELECT sent, received FROM _sync_bytes WHERE day = ?",
                    [today()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0, 0));
            Ok(SyncCounts {
                pending: one("SELECT count(*) FROM _outbox WHERE state IN ('pending', 'sending')")?
                    as u64,
                parked: one("SELECT count(*) FROM _outbox WHERE state = 'parked'")? as u64,
                conflicts: one("SELECT count(*) FROM _sync_conflicts WHERE state = 'open'")? as u64,
                sent_today: sent_today as u64,
                received_today: received_today as u64,
                sent_total: one("SELECT coalesce(sum(sent), 0) FROM _sync_bytes")? as u64,
                received_total: one("SELECT coalesce(sum(received), 0) FROM _sync_bytes")? as u64,
            })
        })
    }
}

pub(super) fn set_link(
    c: &Connection,
    doctype: &str,
    name: &str,
    link: Option<&Link>,
) -> Result<()> {
    match link {
        Some(l) => {
            // A remote id belongs to one local record: a stale link of
            // another record to it goes.
            c.prepare_cached(
                "DELETE FROM _sync_links WHERE doctype = ? AND remote_id = ? AND name != ?",
            )?
            .execute(params![doctype, l.remote_id, name])?;
            c.prepare_cached(
                "INSERT INTO _sync_links (doctype, name, remote_id, hash, version, inactive, children)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(doctype, name) DO UPDATE SET remote_id = excluded.remote_id,
                   hash = excluded.hash, version = excluded.version, inactive = excluded.inactive,
                   children = excluded.children",
            )?
            .execute(params![
                doctype,
                name,
                l.remote_id,
                l.hash,
                l.version,
                l.inactive,
                children_text(&l.children)
            ])?;
        }
        None => {
            c.prepare_cached("DELETE FROM _sync_links WHERE doctype = ? AND name = ?")?
                .execute([doctype, name])?;
        }
    }
    Ok(())
}

/// A link's child map as stored (JSON, NULL when empty).
pub(super) fn children_text(children: &BTreeMap<String, String>) -> Option<String> {
    (!children.is_empty()).then(|| serde_json::to_string(children).unwrap_or_default())
}

pub(super) fn children_from(text: Option<String>) -> BTreeMap<String, String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}
