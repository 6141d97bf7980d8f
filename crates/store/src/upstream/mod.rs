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
//!
//! Modules: [`tables`] (the bookkeeping tables, read and written by the
//! worker and by `outpost sync`), [`pull`] (a pulled page applied in the
//! writer's transaction, conflicts settled by policy) and [`resolve`] (a
//! person's choice for an open conflict).

mod pull;
mod resolve;
mod tables;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use pull::apply_page;
pub(crate) use resolve::resolve;

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
    pub fn state(self) -> ConflictState {
        match self {
            Keep::Local => ConflictState::KeptLocal,
            Keep::Remote => ConflictState::KeptRemote,
        }
    }
}

/// Enums kept in the database as their word (the same word serde uses), so
/// `sqlite3` shows what a row means and a row with an unknown word is an
/// error when read, not a silent default.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let word = v.as_str()?;
                $name::parse(word).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("{word:?} is not a {}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

text_enum!(
    /// Where an outbox entry is on its way upstream.
    OutboxState {
        /// Waiting to be sent.
        Pending = "pending",
        /// A push of it started and its answer never arrived: the worker
        /// looks the record up before sending again.
        Sending = "sending",
        /// The head office refused it; it waits for a person (or a later
        /// change of the record).
        Parked = "parked",
    }
);

text_enum!(
    /// What a local change did to its record.
    ChangeOp {
        Insert = "insert",
        Update = "update",
        Delete = "delete",
    }
);

text_enum!(
    /// Where a conflict stands.
    ConflictState {
        /// Waiting for a person; the record's changes are held.
        Open = "open",
        KeptLocal = "kept_local",
        KeptRemote = "kept_remote",
    }
);

/// One outbox entry: a committed local change waiting to go upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub doctype: String,
    pub name: String,
    pub rev: i64,
    pub op: ChangeOp,
    /// The record as stored by that change.
    pub payload: Value,
    pub state: OutboxState,
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
    /// The record's child rows' remote twins: row name → remote id (the
    /// lines of a sale and the head office's line ids).
    pub children: BTreeMap<String, String>,
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
    /// Values only the head office sets (read-only fields here, e.g. a
    /// sale's number and state there): applied whenever they differ, never
    /// a conflict, not part of the hash.
    pub remote_only: Map<String, Value>,
    /// Its child rows' remote ids by their names here (new rows named by
    /// the worker before the page is applied).
    pub children: BTreeMap<String, String>,
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
    /// Only records this office already has are applied (a sale made at
    /// the head office does not come down); the others are skipped.
    pub known_only: bool,
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
    pub state: ConflictState,
    /// The side a person chose.
    pub requested: Option<Keep>,
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
    pub op: ChangeOp,
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
        requested: r
            .get::<_, Option<String>>(9)?
            .as_deref()
            .and_then(|w| serde_json::from_value(Value::String(w.to_string())).ok()),
        at: r.get(10)?,
        resolved_at: r.get(11)?,
    })
}
