//! What the upstream sync worker keeps in the office database, beside the
//! outbox the writes fill:
//!
//! - `_sync_links`: which remote record each local record is, and the hash
//!   of the values both sides last agreed on (so nothing the remote already
//!   has is sent again) and the remote's version token (so a stale write is
//!   refused upstream, never applied over someone else's change);
//! - `_sync_cursors`: where each doctype's pull stopped, moved only in the
//!   transaction that applies the page ([`Write::Pull`]);
//! - `_sync_conflicts`: every conflict, with both versions and how it ended;
//! - `_sync_state` and `_sync_bytes`: the worker's link state and the bytes
//!   it sent and received per day, read by `outpost sync status` from
//!   another process.
//!
//! The store knows nothing of the remote: the worker hands it values already
//! in Outpost's field names, with their hash.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::doctype::{Doctype, Schema};
use crate::error::{Result, StoreError};
use crate::record::{self, WriteCtx};
use crate::store::Store;
use crate::values::now_utc;

/// What to do when the office and the head office both changed a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The head office's version wins; the office's change is dropped (and
    /// kept in the conflict list).
    KeepRemote,
    /// The office's version is written over the head office's.
    KeepLocal,
    /// Nothing moves until a person chooses (`outpost sync resolve`).
    #[default]
    Ask,
}

impl Policy {
    /// The side the policy keeps without asking; `None` for `Ask`.
    pub fn keep(self) -> Option<Keep> {
        match self {
            Policy::KeepRemote => Some(Keep::Remote),
            Policy::KeepLocal => Some(Keep::Local),
            Policy::Ask => None,
        }
    }
}

/// Which side a person chose for a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    Local,
    Remote,
}

impl Keep {
    /// The state of a conflict settled this way.
    pub fn state(self) -> &'static str {
        match self {
            Keep::Local => "kept_local",
            Keep::Remote => "kept_remote",
        }
    }

    /// The side as a conflict records it (`local`, `remote`).
    pub fn word(self) -> &'static str {
        match self {
            Keep::Local => "local",
            Keep::Remote => "remote",
        }
    }
}

/// One outbox entry: a committed local change waiting to go upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub doctype: String,
    pub name: String,
    pub rev: i64,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// The record as stored by that change.
    pub payload: Value,
    /// `pending`, or `sending` when a push of it started and its answer
    /// never arrived (the worker looks the record up before sending again).
    pub state: String,
}

/// A local record's remote twin.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The remote's id (Tryton's integer, Frappe's name), as text.
    pub remote_id: String,
    pub hash: String,
    pub version: Option<String>,
    /// The remote record is deactivated and the office keeps its own
    /// version: the next write must activate it again first.
    pub inactive: bool,
}

/// A push that reached the remote: the outbox entries of `name` up to
/// `upto` are done, and the link is now `link` (`None`: the record no
/// longer exists upstream).
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    pub doctype: String,
    pub name: String,
    pub upto: i64,
    pub link: Option<Link>,
}

/// A remote record as pulled, in Outpost's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PulledRecord {
    pub remote_id: String,
    pub version: Option<String>,
    pub active: bool,
    /// The record no longer exists upstream (found by reconciliation).
    pub gone: bool,
    pub values: Map<String, Value>,
    /// Hash of `values` and `active` as the worker computes it for pushes.
    pub hash: String,
}

/// A page of remote changes for one doctype, applied in one transaction
/// together with the cursor that follows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PulledPage {
    pub doctype: String,
    /// The field identifying a record on both sides (`code`).
    pub key_field: String,
    /// The doctype has a field of its own mapped to the remote `active`, so
    /// a remote deactivation is a field change, not a deletion.
    pub active_field: bool,
    pub policy: Policy,
    pub records: Vec<PulledRecord>,
    /// The new cursor `(stamp, id)`; kept only if it is past the stored one.
    pub cursor: Option<(String, String)>,
}

/// One conflict, open or settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub id: i64,
    pub doctype: String,
    pub name: Option<String>,
    pub remote_id: Option<String>,
    /// `local/remote` operations, e.g. `modify/modify`, `create/create`,
    /// `delete/modify`; `-/refused` when the remote version could not be
    /// stored here.
    pub kind: String,
    /// The office's version (null when deleted here).
    pub local: Value,
    /// The head office's version: `{values, active, gone}`.
    pub remote: Value,
    pub reason: Option<String>,
    /// `open`, `kept_local` or `kept_remote`.
    pub state: String,
    /// A choice made by a person and not yet carried out (`local`/`remote`).
    pub requested: Option<String>,
    pub at: String,
    pub resolved_at: Option<String>,
}

/// Counts for `sync.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncCounts {
    pub pending: u64,
    pub parked: u64,
    pub conflicts: u64,
    pub sent_today: u64,
    pub received_today: u64,
    pub sent_total: u64,
    pub received_total: u64,
}

/// An entry a remote refused, waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Parked {
    pub seq: i64,
    pub doctype: String,
    pub name: String,
    pub op: String,
    pub message: String,
    pub at: String,
}

const CONFLICT_COLS: &str =
    "id, doctype, name, remote_id, kind, local, remote, reason, state, requested, at, resolved_at";

fn conflict_row(r: &rusqlite::Row) -> rusqlite::Result<Conflict> {
    let json = |s: Option<String>| {
        s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    };
    Ok(Conflict {
        id: r.get(0)?,
        doctype: r.get(1)?,
        name: r.get(2)?,
        remote_id: r.get(3)?,
        kind: r.get(4)?,
        local: json(r.get(5)?),
        remote: json(r.get(6)?),
        reason: r.get(7)?,
        state: r.get(8)?,
        requested: r.get(9)?,
        at: r.get(10)?,
        resolved_at: r.get(11)?,
    })
}

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
        self.with_admin(|c| {
            let tx = c.unchecked_transaction()?;
            for s in seqs {
                tx.prepare_cached("UPDATE _outbox SET state = 'sending' WHERE seq = ?")?
                    .execute([s])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Records what reached the remote: links set, entries done, in one
    /// transaction.
    pub fn sync_done(&self, done: &[Synced]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        self.with_admin(|c| {
            let tx = c.unchecked_transaction()?;
            for d in done {
                set_link(&tx, &d.doctype, &d.name, d.link.as_ref())?;
                tx.prepare_cached(
                    "DELETE FROM _outbox WHERE doctype = ? AND name = ? AND seq <= ?
                       AND state IN ('pending', 'sending', 'parked')",
                )?
                .execute(params![d.doctype, d.name, d.upto])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Parks entries the remote refused, with its message; they no longer
    /// block the others, and a later change of the record is tried afresh.
    pub fn outbox_park(&self, seqs: &[i64], message: &str) -> Result<()> {
        self.with_admin(|c| {
            let tx = c.unchecked_transaction()?;
            for s in seqs {
                tx.prepare_cached(
                    "UPDATE _outbox SET state = 'parked', message = ? WHERE seq = ?",
                )?
                .execute(params![message, s])?;
            }
            tx.commit()?;
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
                "SELECT remote_id, hash, version, inactive FROM _sync_links WHERE doctype = ? AND name = ?",
            )?
            .query_row([doctype, name], |r| {
                Ok(Link {
                    remote_id: r.get(0)?,
                    hash: r.get(1)?,
                    version: r.get(2)?,
                    inactive: r.get::<_, i64>(3)? != 0,
                })
            })
            .optional()?)
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
        self.with_admin(|c| {
            let tx = c.unchecked_transaction()?;
            for (k, v) in pairs {
                tx.prepare_cached(
                    "INSERT INTO _sync_state (key, value) VALUES (?, ?)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![k, v])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Adds bytes sent and received on the uplink to today's count.
    pub fn sync_add_bytes(&self, sent: u64, received: u64) -> Result<()> {
        if sent == 0 && received == 0 {
            return Ok(());
        }
        self.with_admin(|c| {
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

    /// A person's choice for an open conflict, carried out at once (it
    /// needs no link: the local side is written here, and the remote side
    /// is pushed by the worker as an ordinary change).
    pub fn sync_resolve(&self, id: i64, keep: Keep) -> Result<Conflict> {
        self.write(
            WriteCtx {
                device: "sync".into(),
                request_id: None,
                from_upstream: true,
            },
            crate::Write::Resolve { conflict: id, keep },
        )?;
        self.sync_conflict(id)
    }
}

fn set_link(c: &Connection, doctype: &str, name: &str, link: Option<&Link>) -> Result<()> {
    match link {
        Some(l) => {
            // A remote id belongs to one local record: a stale link of
            // another record to it goes.
            c.prepare_cached(
                "DELETE FROM _sync_links WHERE doctype = ? AND remote_id = ? AND name != ?",
            )?
            .execute(params![doctype, l.remote_id, name])?;
            c.prepare_cached(
                "INSERT INTO _sync_links (doctype, name, remote_id, hash, version, inactive)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT(doctype, name) DO UPDATE SET remote_id = excluded.remote_id,
                   hash = excluded.hash, version = excluded.version, inactive = excluded.inactive",
            )?
            .execute(params![
                doctype,
                name,
                l.remote_id,
                l.hash,
                l.version,
                l.inactive
            ])?;
        }
        None => {
            c.prepare_cached("DELETE FROM _sync_links WHERE doctype = ? AND name = ?")?
                .execute([doctype, name])?;
        }
    }
    Ok(())
}

/// What happened to one pulled record.
enum Outcome {
    Applied,
    Unchanged,
    Conflict,
}

/// Applies a pulled page: each record in its own savepoint (one that cannot
/// be stored here is listed as a conflict and does not stop the page), then
/// the cursor. Runs inside the writer's transaction.
pub(crate) fn apply_page(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    page: &PulledPage,
) -> Result<Value> {
    let dt = schema.get(&page.doctype)?.clone();
    let (mut applied, mut unchanged, mut conflicts, mut refused) = (0, 0, 0, 0);
    for r in &page.records {
        conn.execute_batch("SAVEPOINT pulled")?;
        match apply_one(conn, schema, ctx, now, &dt, page, r) {
            Ok(o) => {
                conn.execute_batch("RELEASE pulled")?;
                match o {
                    Outcome::Applied => applied += 1,
                    Outcome::Unchanged => unchanged += 1,
                    Outcome::Conflict => conflicts += 1,
                }
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO pulled; RELEASE pulled")?;
                if matches!(e, StoreError::Sqlite(_) | StoreError::Io(_)) {
                    return Err(e);
                }
                tracing::warn!(doctype = %dt.name, remote_id = r.remote_id, error = %e, "a pulled record cannot be stored here");
                let name = find_local(conn, &dt, page, r)?;
                add_conflict(
                    conn,
                    schema,
                    &dt,
                    name.as_deref(),
                    r,
                    "-/refused",
                    Some(&e.to_string()),
                    "open",
                    now,
                )?;
                refused += 1;
            }
        }
    }
    if let Some((stamp, id)) = &page.cursor {
        let old: Option<(String, String)> = conn
            .prepare_cached("SELECT stamp, id FROM _sync_cursors WHERE doctype = ?")?
            .query_row([&dt.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if old.is_none_or(|(s, i)| cursor_after((stamp, id), (&s, &i))) {
            conn.prepare_cached(
                "INSERT INTO _sync_cursors (doctype, stamp, id, moved_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT(doctype) DO UPDATE SET stamp = excluded.stamp, id = excluded.id,
                   moved_at = excluded.moved_at",
            )?
            .execute(params![dt.name, stamp, id, now])?;
        }
    }
    Ok(
        json!({"applied": applied, "unchanged": unchanged, "conflicts": conflicts, "refused": refused}),
    )
}

/// Whether cursor `a` is past `b`: stamps as text (they sort in time
/// order), ties by id, as numbers when both are.
fn cursor_after(a: (&String, &String), b: (&String, &String)) -> bool {
    match a.0.cmp(b.0) {
        std::cmp::Ordering::Equal => match (a.1.parse::<i64>(), b.1.parse::<i64>()) {
            (Ok(x), Ok(y)) => x > y,
            _ => a.1 > b.1,
        },
        o => o == std::cmp::Ordering::Greater,
    }
}

/// The local record a remote one is: by link, else (for a record new to
/// this office) a live unlinked record with the same key.
fn find_local(
    conn: &Connection,
    dt: &Doctype,
    page: &PulledPage,
    r: &PulledRecord,
) -> Result<Option<String>> {
    let linked = linked(conn, dt, r)?.map(|(name, _)| name);
    by_key(conn, dt, page, r, linked)
}

/// The local record linked to `r`, with the hash both sides agreed on.
fn linked(conn: &Connection, dt: &Doctype, r: &PulledRecord) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT name, hash FROM _sync_links WHERE doctype = ? AND remote_id = ?")?
        .query_row(params![dt.name, r.remote_id], |x| {
            Ok((x.get(0)?, x.get(1)?))
        })
        .optional()?)
}

/// `linked`, else for a record new to this office a live unlinked record
/// with the same key.
fn by_key(
    conn: &Connection,
    dt: &Doctype,
    page: &PulledPage,
    r: &PulledRecord,
    linked: Option<String>,
) -> Result<Option<String>> {
    if linked.is_some() || r.gone || dt.field(&page.key_field).is_none() {
        return Ok(linked);
    }
    let Some(key) = r.values.get(&page.key_field).and_then(Value::as_str) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT name FROM {} t WHERE \"{}\" = ? AND deleted = 0
               AND NOT EXISTS (SELECT 1 FROM _sync_links l WHERE l.doctype = ? AND l.name = t.name)",
            dt.table_name(),
            page.key_field
        ))?
        .query_row(params![key, dt.name], |x| x.get(0))
        .optional()?)
}

/// The local record's unsent change, if any: the op of its latest entry.
fn local_change(conn: &Connection, doctype: &str, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT op FROM _outbox WHERE doctype = ? AND name = ?
               AND state IN ('pending', 'sending', 'parked') ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([doctype, name], |r| r.get(0))
        .optional()?)
}

fn remote_json(r: &PulledRecord) -> Value {
    json!({"values": r.values, "active": r.active, "gone": r.gone,
           "remote_id": r.remote_id, "version": r.version, "hash": r.hash})
}

#[allow(clippy::too_many_arguments)]
fn add_conflict(
    conn: &Connection,
    schema: &Schema,
    dt: &Doctype,
    name: Option<&str>,
    r: &PulledRecord,
    kind: &str,
    reason: Option<&str>,
    state: &str,
    now: &str,
) -> Result<()> {
    let local = match name {
        Some(n) => record::read_record(conn, schema, dt, n)
            .ok()
            .flatten()
            .map(|(v, deleted)| if deleted { Value::Null } else { v })
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    conn.prepare_cached(
        "INSERT INTO _sync_conflicts (doctype, name, remote_id, kind, local, remote, remote_version,
           reason, state, at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        dt.name,
        name,
        r.remote_id,
        kind,
        local.to_string(),
        remote_json(r).to_string(),
        r.version,
        reason,
        state,
        now,
        if state == "open" { None } else { Some(now) },
    ])?;
    Ok(())
}

fn op_word(local_op: &str) -> &'static str {
    match local_op {
        "insert" => "create",
        "delete" => "delete",
        _ => "modify",
    }
}

fn apply_one(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    dt: &Doctype,
    page: &PulledPage,
    r: &PulledRecord,
) -> Result<Outcome> {
    let link = linked(conn, dt, r)?;
    if let Some((name, hash)) = &link {
        if !r.gone && *hash == r.hash {
            // What the office already has (often its own push coming back).
            conn.prepare_cached(
                "UPDATE _sync_links SET version = ? WHERE doctype = ? AND name = ?",
            )?
            .execute(params![r.version, dt.name, name])?;
            return Ok(Outcome::Unchanged);
        }
    }
    let local = by_key(conn, dt, page, r, link.as_ref().map(|l| l.0.clone()))?;
    // A conflict still waiting for a person takes the newer remote version.
    let open: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM _sync_conflicts WHERE state = 'open' AND doctype = ?
               AND (name = ? OR remote_id = ?) ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![dt.name, local, r.remote_id], |x| x.get(0))
        .optional()?;
    if let Some(id) = open {
        conn.prepare_cached(
            "UPDATE _sync_conflicts SET remote = ?, remote_version = ?, remote_id = ? WHERE id = ?",
        )?
        .execute(params![
            remote_json(r).to_string(),
            r.version,
            r.remote_id,
            id
        ])?;
        return Ok(Outcome::Conflict);
    }
    let change = match &local {
        Some(n) => local_change(conn, &dt.name, n)?,
        None => None,
    };
    let (Some(name), Some(local_op)) = (&local, change) else {
        apply_remote(conn, schema, ctx, now, dt, page, local.as_deref(), r)?;
        return Ok(Outcome::Applied);
    };
    // Both sides changed the record since they last agreed.
    let remote_op = if r.gone || (!r.active && !page.active_field) {
        "delete"
    } else if link.is_none() {
        "create"
    } else {
        "modify"
    };
    if local_op == "delete" && remote_op == "delete" {
        // Deleted on both sides: they agree.
        drop_outbox(conn, &dt.name, name)?;
        if r.gone {
            set_link(conn, &dt.name, name, None)?;
        }
        return Ok(Outcome::Applied);
    }
    let kind = format!("{}/{remote_op}", op_word(&local_op));
    let keep = page.policy.keep();
    let state = keep.map_or("open", Keep::state);
    add_conflict(conn, schema, dt, Some(name), r, &kind, None, state, now)?;
    match keep {
        Some(Keep::Remote) => {
            drop_outbox(conn, &dt.name, name)?;
            apply_remote(conn, schema, ctx, now, dt, page, Some(name), r)?;
        }
        Some(Keep::Local) => keep_local(conn, dt, page, name, r, link.map(|l| l.1))?,
        None => {}
    }
    Ok(Outcome::Conflict)
}

/// The office's version is to be pushed over the remote's: the link takes
/// the remote's version token (so the write is not refused as stale) but
/// keeps the old hash (so the push is not skipped as already there).
fn keep_local(
    conn: &Connection,
    dt: &Doctype,
    page: &PulledPage,
    name: &str,
    r: &PulledRecord,
    old_hash: Option<String>,
) -> Result<()> {
    let link = (!r.gone).then(|| Link {
        remote_id: r.remote_id.clone(),
        hash: old_hash.unwrap_or_default(),
        version: r.version.clone(),
        // Deactivated there (and not a field of the record): it must be
        // activated again, or the office's version would be deleted by the
        // next pull.
        inactive: !r.active && !page.active_field,
    });
    set_link(conn, &dt.name, name, link.as_ref())?;
    // The local record must go out again even if its change was parked.
    conn.prepare_cached(
        "UPDATE _outbox SET state = 'pending' WHERE doctype = ? AND name = ? AND state = 'parked'",
    )?
    .execute([&dt.name, name])?;
    Ok(())
}

fn drop_outbox(conn: &Connection, doctype: &str, name: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM _outbox WHERE doctype = ? AND name = ? AND state IN ('pending', 'sending', 'parked')",
    )?
    .execute([doctype, name])?;
    Ok(())
}

/// Makes the local record what the remote has, logged for slaves but not
/// put in the outbox.
#[allow(clippy::too_many_arguments)]
fn apply_remote(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    dt: &Doctype,
    page: &PulledPage,
    local: Option<&str>,
    r: &PulledRecord,
) -> Result<()> {
    let removed = r.gone || (!r.active && !page.active_field);
    let current = match local {
        Some(n) => record::read_record(conn, schema, dt, n)?,
        None => None,
    };
    if removed {
        if let (Some(n), Some((v, false))) = (local, &current) {
            record::delete(conn, schema, ctx, now, &dt.name, n, v["rev"].as_i64())?;
        }
        if let Some(n) = local {
            set_link(conn, &dt.name, n, None)?;
        }
        return Ok(());
    }
    let name = match (local, current) {
        (Some(n), Some((v, deleted))) => {
            if deleted {
                // Deleted here and since changed or restored at the head
                // office: the record comes back.
                conn.prepare_cached(&format!(
                    "UPDATE {} SET deleted = 0 WHERE name = ?",
                    dt.table_name()
                ))?
                .execute([n])?;
            }
            let rev = v["rev"].as_i64().unwrap_or_default();
            record::update(conn, schema, ctx, now, &dt.name, n, rev, &r.values)?;
            n.to_string()
        }
        _ => {
            let v = record::insert(conn, schema, ctx, now, &dt.name, &r.values)?;
            v["name"].as_str().unwrap_or_default().to_string()
        }
    };
    set_link(
        conn,
        &dt.name,
        &name,
        Some(&Link {
            remote_id: r.remote_id.clone(),
            hash: r.hash.clone(),
            version: r.version.clone(),
            inactive: false,
        }),
    )
}

/// Carries out a person's choice for an open conflict.
pub(crate) fn resolve(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    id: i64,
    keep: Keep,
) -> Result<Value> {
    let c = conn
        .prepare_cached(&format!(
            "SELECT {CONFLICT_COLS} FROM _sync_conflicts WHERE id = ?"
        ))?
        .query_row([id], conflict_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound {
            doctype: "conflict".into(),
            name: id.to_string(),
        })?;
    if c.state != "open" {
        return Err(StoreError::BadRequest(format!(
            "conflict {id} is already settled ({})",
            c.state.replace('_', " ")
        )));
    }
    let dt = schema.get(&c.doctype)?.clone();
    let remote: PulledRecord = PulledRecord {
        remote_id: c.remote["remote_id"]
            .as_str()
            .map(str::to_string)
            .or(c.remote_id.clone())
            .unwrap_or_default(),
        version: c.remote["version"].as_str().map(str::to_string),
        active: c.remote["active"].as_bool().unwrap_or(true),
        gone: c.remote["gone"].as_bool().unwrap_or(false),
        values: c.remote["values"].as_object().cloned().unwrap_or_default(),
        hash: c.remote["hash"].as_str().unwrap_or_default().to_string(),
    };
    let page = PulledPage {
        doctype: dt.name.clone(),
        key_field: "code".into(),
        active_field: dt.field("active").is_some(),
        policy: Policy::Ask,
        records: vec![],
        cursor: None,
    };
    match keep {
        Keep::Remote => {
            if let Some(n) = &c.name {
                drop_outbox(conn, &dt.name, n)?;
            }
            apply_remote(
                conn,
                schema,
                ctx,
                now,
                &dt,
                &page,
                c.name.as_deref(),
                &remote,
            )?;
        }
        Keep::Local => {
            let Some(n) = &c.name else {
                return Err(StoreError::BadRequest(format!(
                    "conflict {id} has no local record to keep; keep the remote version"
                )));
            };
            let old_hash: Option<String> = conn
                .prepare_cached("SELECT hash FROM _sync_links WHERE doctype = ? AND name = ?")?
                .query_row([&dt.name, n], |x| x.get(0))
                .optional()?;
            keep_local(conn, &dt, &page, n, &remote, old_hash)?;
            if local_change(conn, &dt.name, n)?.is_none() {
                // Nothing left to push (the refused pull of a record the
                // office never changed): send the office's version.
                if let Some((v, deleted)) = record::read_record(conn, schema, &dt, n)? {
                    conn.prepare_cached(
                        "INSERT INTO _outbox (doctype, name, rev, op, payload, at) VALUES (?, ?, ?, ?, ?, ?)",
                    )?
                    .execute(params![
                        dt.name,
                        n,
                        v["rev"].as_i64().unwrap_or_default(),
                        if deleted { "delete" } else { "update" },
                        v.to_string(),
                        now
                    ])?;
                }
            }
        }
    }
    let state = keep.state();
    conn.prepare_cached(
        "UPDATE _sync_conflicts SET state = ?, requested = ?, resolved_at = ? WHERE id = ?",
    )?
    .execute(params![state, keep.word(), now, id])?;
    Ok(json!({"conflict": id, "state": state}))
}
