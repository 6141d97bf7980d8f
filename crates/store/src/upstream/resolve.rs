//! A person's choice for an open conflict, carried out in the writer.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::pull::{apply_remote, drop_outbox, keep_local, local_change};
use super::*;
use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::record;
use crate::record::WriteCtx;
use crate::store::Store;

impl Store {
    /// A person's choice for an open conflict, carried out at once (it
    /// needs no link: the local side is written here, and the remote side
    /// is pushed by the worker as an ordinary change).
    pub fn sync_resolve(&self, id: i64, keep: Keep) -> Result<Conflict> {
        self.write(
            WriteCtx {
                device: "sync".into(),
                request_id: None,
                user: None,
                from_upstream: true,
            },
            crate::Write::Resolve { conflict: id, keep },
        )?;
        self.sync_conflict(id)
    }
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
    if c.state != ConflictState::Open {
        return Err(StoreError::BadRequest(format!(
            "conflict {id} is already settled ({})",
            c.state.as_str().replace('_', " ")
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
        remote_only: c.remote["remote_only"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        children: serde_json::from_value(c.remote["children"].clone()).unwrap_or_default(),
        hash: c.remote["hash"].as_str().unwrap_or_default().to_string(),
    };
    let page = PulledPage {
        doctype: dt.name.clone(),
        key_field: "code".into(),
        active_field: dt.field("active").is_some(),
        policy: Policy::Ask,
        known_only: false,
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
    .execute(params![state, keep_word(keep), now, id])?;
    Ok(json!({"conflict": id, "state": state}))
}

/// The side as a conflict row records it (`local`, `remote`): serde's word.
fn keep_word(keep: Keep) -> &'static str {
    match keep {
        Keep::Local => "local",
        Keep::Remote => "remote",
    }
}
