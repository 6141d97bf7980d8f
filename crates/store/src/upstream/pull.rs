//! A pulled page applied inside the writer's transaction: each remote
//! record matched to its local twin (by link, else by key), applied, or
//! listed as a conflict and settled by the doctype's policy; then the
//! cursor, in the same transaction.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::tables::{children_text, set_link};
use super::*;
use crate::doctype::{Doctype, Schema};
use crate::error::{Result, StoreError};
use crate::record;
use crate::record::WriteCtx;

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
                    ConflictState::Open,
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
    if linked.is_some()
        || r.gone
        || (dt.field(&page.key_field).is_none() && page.key_field != "name")
    {
        return Ok(linked);
    }
    let Some(key) = r.values.get(&page.key_field).and_then(Value::as_str) else {
        return Ok(None);
    };
    if page.key_field == "name" {
        // The office's own name travelled as the key (a sale's reference).
        return Ok(conn
            .prepare_cached(&format!(
                "SELECT name FROM {} t WHERE name = ? AND deleted = 0
                   AND NOT EXISTS (SELECT 1 FROM _sync_links l WHERE l.doctype = ? AND l.name = t.name)",
                dt.table_name()
            ))?
            .query_row(params![key, dt.name], |x| x.get(0))
            .optional()?);
    }
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
pub(super) fn local_change(
    conn: &Connection,
    doctype: &str,
    name: &str,
) -> Result<Option<ChangeOp>> {
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
           "remote_id": r.remote_id, "version": r.version, "hash": r.hash,
           "remote_only": r.remote_only, "children": r.children})
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
    state: ConflictState,
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
        if state == ConflictState::Open {
            None
        } else {
            Some(now)
        },
    ])?;
    Ok(())
}

fn op_word(local_op: ChangeOp) -> &'static str {
    match local_op {
        ChangeOp::Insert => "create",
        ChangeOp::Delete => "delete",
        ChangeOp::Update => "modify",
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
            // What the office already has (often its own push coming back),
            // but for what only the head office sets.
            conn.prepare_cached(
                "UPDATE _sync_links SET version = ? WHERE doctype = ? AND name = ?",
            )?
            .execute(params![r.version, dt.name, name])?;
            if !r.children.is_empty() {
                conn.prepare_cached(
                    "UPDATE _sync_links SET children = ? WHERE doctype = ? AND name = ?",
                )?
                .execute(params![children_text(&r.children), dt.name, name])?;
            }
            return Ok(if apply_remote_only(conn, schema, ctx, now, dt, name, r)? {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            });
        }
    }
    let local = by_key(conn, dt, page, r, link.as_ref().map(|l| l.0.clone()))?;
    if page.known_only && local.is_none() {
        // Made at the head office (or by another office): not kept here.
        return Ok(Outcome::Unchanged);
    }
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
    // The remote version a person already chose to go over ("keep the
    // office's", `keep_local`: the link took its version, not its hash),
    // seen again by a pull before the push went out: not a new conflict.
    // The office's change goes out over it at the next push.
    if let (Some(name), Some(_), Some(version)) = (&local, change, &r.version) {
        let kept: Option<Option<String>> = conn
            .prepare_cached("SELECT version FROM _sync_links WHERE doctype = ? AND name = ?")?
            .query_row([&dt.name, name], |x| x.get(0))
            .optional()?;
        if kept.flatten().as_ref() == Some(version) && link.is_some() && !r.gone {
            return Ok(Outcome::Unchanged);
        }
    }
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
    if local_op == ChangeOp::Delete && remote_op == "delete" {
        // Deleted on both sides: they agree.
        drop_outbox(conn, &dt.name, name)?;
        if r.gone {
            set_link(conn, &dt.name, name, None)?;
        }
        return Ok(Outcome::Applied);
    }
    let kind = format!("{}/{remote_op}", op_word(local_op));
    let keep = page.policy.keep();
    let state = keep.map_or(ConflictState::Open, Keep::state);
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
pub(super) fn keep_local(
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
        children: r.children.clone(),
    });
    set_link(conn, &dt.name, name, link.as_ref())?;
    // The local record must go out again even if its change was parked.
    conn.prepare_cached(
        "UPDATE _outbox SET state = 'pending' WHERE doctype = ? AND name = ? AND state = 'parked'",
    )?
    .execute([&dt.name, name])?;
    Ok(())
}

pub(super) fn drop_outbox(conn: &Connection, doctype: &str, name: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM _outbox WHERE doctype = ? AND name = ? AND state IN ('pending', 'sending', 'parked')",
    )?
    .execute([doctype, name])?;
    Ok(())
}

/// Makes the local record what the remote has, logged for slaves but not
/// put in the outbox.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_remote(
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
    let mut all = r.values.clone();
    all.extend(r.remote_only.clone());
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
            record::update(conn, schema, ctx, now, &dt.name, n, rev, &all)?;
            n.to_string()
        }
        _ => {
            let v = record::insert(conn, schema, ctx, now, &dt.name, &all)?;
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
            children: r.children.clone(),
        }),
    )
}

/// Brings what only the head office sets (read-only here) in line;
/// whether anything changed.
fn apply_remote_only(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    dt: &Doctype,
    name: &str,
    r: &PulledRecord,
) -> Result<bool> {
    if r.remote_only.is_empty() {
        return Ok(false);
    }
    let Some((current, false)) = record::read_record(conn, schema, dt, name)? else {
        return Ok(false);
    };
    let changed: serde_json::Map<String, Value> = r
        .remote_only
        .iter()
        .filter(|(k, v)| current.get(k.as_str()).unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changed.is_empty() {
        return Ok(false);
    }
    let rev = current["rev"].as_i64().unwrap_or_default();
    record::update(conn, schema, ctx, now, &dt.name, name, rev, &changed)?;
    Ok(true)
}
