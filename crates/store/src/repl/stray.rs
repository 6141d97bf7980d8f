//! Stray writes: changes a database holds that a newer copy of the office
//! database does not. A former master that took writes its standby never
//! got (it was fenced, or died before sending them) rejoins as a standby
//! by fetching a fresh copy; what only it had is listed, never dropped
//! silently and never merged blindly.

use std::path::Path;

use rusqlite::params;

use crate::backup::open_read_only;
use crate::error::Result;
use crate::feed::{change_row, Change};

/// The change-log entries of `old` that `new` does not hold (same doctype,
/// record, revision and op), oldest first. Entries older than the oldest
/// `new` still keeps (compacted away there) are not compared.
pub fn stray_changes(old: &Path, new: &Path) -> Result<Vec<Change>> {
    let old = open_read_only(old)?;
    let new = open_read_only(new)?;
    let floor: i64 = new.query_row("SELECT coalesce(min(seq), 0) FROM _changes", [], |r| {
        r.get(0)
    })?;
    let mut stmt = old.prepare(
        "SELECT seq, doctype, name, rev, op, device FROM _changes WHERE seq >= ? ORDER BY seq",
    )?;
    let rows = stmt.query_map([floor], change_row)?;
    let mut has = new.prepare(
        "SELECT 1 FROM _changes WHERE doctype = ? AND name = ? AND rev = ? AND op = ? LIMIT 1",
    )?;
    let mut out = Vec::new();
    for c in rows {
        let c = c?;
        if !has.exists(params![c.doctype, c.name, c.rev, c.op])? {
            out.push(c);
        }
    }
    Ok(out)
}
