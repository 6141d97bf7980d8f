//! Each record's history (issue 14's audit trail): every write adds who
//! made it (the signed-in user, when there is one, and the device), when,
//! and each field's value before and after, in the same transaction as the
//! write. Unlike the change log, which compaction trims once no slave or
//! standby needs it, the history is kept.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::doctype::Doctype;
use crate::error::{Result, StoreError};
use crate::record::WriteCtx;
use crate::store::Store;

/// Keys the store sets itself: not "fields" a person changed.
const OWN_KEYS: &[&str] = &[
    "name",
    "doctype",
    "rev",
    "created",
    "modified",
    "modified_by",
    "deleted",
];

/// One field's value before and after a write (`null`: none).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldChange {
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub before: Value,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub after: Value,
}

/// One write to a record, as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryEntry {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rev: i64,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// Who was signed in (`None`: nobody, e.g. an office without users,
    /// or a change from head office).
    pub user: Option<String>,
    /// The device's id (fingerprint) or a local label (`cli`, `upstream`).
    pub device: String,
    /// The device's name as it paired, when it is a paired device.
    pub device_name: Option<String>,
    pub at: String,
    /// The fields the write changed.
    pub fields: BTreeMap<String, FieldChange>,
}

/// The fields that differ between `before` and `after`.
fn diff(before: Option<&Value>, after: &Value) -> BTreeMap<String, FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = BTreeMap::new();
    for key in b.keys().chain(a.keys()) {
        if OWN_KEYS.contains(&key.as_str()) || out.contains_key(key) {
            continue;
        }
        let (was, now) = (
            b.get(key).cloned().unwrap_or(Value::Null),
            a.get(key).cloned().unwrap_or(Value::Null),
        );
        if was != now {
            out.insert(
                key.clone(),
                FieldChange {
                    before: was,
                    after: now,
                },
            );
        }
    }
    out
}

/// Adds a write to its record's history (in the write's transaction).
#[allow(clippy::too_many_arguments)]
pub(crate) fn note(
    conn: &Connection,
    ctx: &WriteCtx,
    now: &str,
    dt: &Doctype,
    name: &str,
    rev: i64,
    op: &str,
    before: Option<&Value>,
    after: &Value,
) -> Result<()> {
    let fields = if op == "delete" {
        BTreeMap::new()
    } else {
        diff(before, after)
    };
    conn.prepare_cached(
        "INSERT INTO _history (doctype, name, rev, op, user, device, at, fields)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        dt.name,
        name,
        rev,
        op,
        ctx.user,
        ctx.device,
        now,
        serde_json::to_string(&fields).unwrap_or_default()
    ])?;
    Ok(())
}

impl Store {
    /// Who made a record: the person signed in when it was inserted
    /// (`None`: nobody, or made before histories were kept).
    pub fn record_owner(&self, doctype: &str, name: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT user FROM _history WHERE doctype = ? AND name = ? AND op = 'insert'
                 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![doctype, name], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
        })
    }

    /// A record's history, oldest first. A record with none (unknown, or
    /// written before histories were kept and never since) is `NotFound`
    /// unless it exists.
    pub fn history(&self, doctype: &str, name: &str) -> Result<Vec<HistoryEntry>> {
        let dt = self
            .schema()
            .doctypes
            .get(doctype)
            .cloned()
            .ok_or_else(|| StoreError::UnknownDoctype(doctype.to_string()))?;
        let list = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.rev, h.op, h.user, h.device, d.name, h.at, h.fields
                 FROM _history h LEFT JOIN _devices d ON d.fingerprint = h.device
                 WHERE h.doctype = ? AND h.name = ? ORDER BY h.seq",
            )?;
            let rows = stmt.query_map(params![doctype, name], |r| {
                let fields: String = r.get(6)?;
                Ok(HistoryEntry {
                    rev: r.get(0)?,
                    op: r.get(1)?,
                    user: r.get(2)?,
                    device: r.get(3)?,
                    device_name: r.get(4)?,
                    at: r.get(5)?,
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if list.is_empty() {
            self.get(&dt.name, name)?;
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_diff_holds_only_changed_fields_not_the_store_s_own() {
        let before = json!({"name": "p1", "rev": 1, "modified": "a", "party_name": "A", "city": "X", "gone": 1});
        let after = json!({"name": "p1", "rev": 2, "modified": "b", "party_name": "B", "city": "X", "new": [1]});
        let d = diff(Some(&before), &after);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["gone", "new", "party_name"]);
        assert_eq!(d["party_name"].before, json!("A"));
        assert_eq!(d["party_name"].after, json!("B"));
        assert_eq!(d["gone"].after, Value::Null);
        assert_eq!(diff(None, &after).len(), 3);
    }
}
