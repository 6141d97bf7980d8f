//! The writer thread: the one connection that writes the office database,
//! and its group commit (every write waiting shares one transaction, each in
//! its own savepoint, one fsync for all).

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::feed::Feed;
use crate::store::WriteOutcome;
use crate::values::now_utc;
use crate::write::{apply, Write, WriteCtx};

/// Most writes one group commit takes; bounds how long a batch holds the lock.
const MAX_BATCH: usize = 256;
/// Stored answers to write request ids are kept this long, far beyond any
/// slave's retry window.
const REQUEST_MEMORY_DAYS: i64 = 7;
/// How often a long-running writer prunes those stored answers.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(crate) type Reply = Box<dyn FnOnce(Result<WriteOutcome>) + Send>;

pub(crate) struct Job {
    pub(crate) ctx: WriteCtx,
    pub(crate) write: Write,
    pub(crate) reply: Reply,
}
/// Forgets stored answers older than `REQUEST_MEMORY_DAYS`.
pub(crate) fn prune_requests(conn: &Connection) {
    if let Err(e) = conn.execute(
        "DELETE FROM _requests WHERE at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
        [format!("-{REQUEST_MEMORY_DAYS} days")],
    ) {
        tracing::warn!(error = %e, "cannot prune old request ids");
    }
}

/// A stored answer to an earlier request with the same (device, id). The
/// request itself must be the same too (`call` is the op and a digest of
/// its arguments): an id reused for another write is refused, never
/// answered with the other write's result.
fn replay(conn: &Connection, ctx: &WriteCtx, call: &str) -> Result<Option<Value>> {
    let Some(id) = &ctx.request_id else {
        return Ok(None);
    };
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT op, response FROM _requests WHERE device = ? AND req_id = ?")?
        .query_row(params![ctx.device, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((stored, _)) if stored != call => Err(StoreError::RequestIdReused(id.clone())),
        Some((_, response)) => Ok(Some(serde_json::from_str(&response).unwrap_or(Value::Null))),
    }
}

/// The group-commit loop: take every job waiting, apply each inside its own
/// savepoint of one transaction, commit once (one fsync), then answer all.
pub(crate) fn writer_loop(
    mut conn: Connection,
    schema: Arc<Schema>,
    rx: Receiver<Job>,
    feed: Arc<Feed>,
) {
    let mut pruned = std::time::Instant::now();
    while let Ok(first) = rx.recv() {
        if pruned.elapsed() > PRUNE_EVERY {
            prune_requests(&conn);
            pruned = std::time::Instant::now();
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = now_utc();
        let results = commit_batch(&mut conn, &schema, &batch, &now);
        let wrote = results.iter().any(|r| matches!(r, Ok(o) if !o.replayed));
        for (job, result) in batch.into_iter().zip(results) {
            (job.reply)(result);
        }
        if wrote {
            feed.poke();
        }
    }
    tracing::debug!("writer stopped");
}

fn commit_batch(
    conn: &mut Connection,
    schema: &Schema,
    batch: &[Job],
    now: &str,
) -> Vec<Result<WriteOutcome>> {
    let mut tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            return batch
                .iter()
                .map(|_| Err(StoreError::Busy(msg.clone())))
                .collect();
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let _span = tracing::debug_span!(
            "write",
            device = %job.ctx.device,
            req = job.ctx.request_id.as_deref().unwrap_or("-"),
            op = job.write.op_name(),
            doctype = job.write.doctype()
        )
        .entered();
        let r = run_job(&mut tx, schema, job, now);
        if let Err(e) = &r {
            tracing::debug!(error = %e, "write refused");
            // Some errors (disk full, I/O) make SQLite roll back the whole
            // transaction by itself. Nothing of this batch is stored then,
            // and going on would run the rest outside any transaction: fail
            // them all, as retryable.
            if tx.is_autocommit() {
                let msg = e.to_string();
                tracing::error!(error = %msg, "the batch's transaction was rolled back");
                return batch
                    .iter()
                    .map(|_| Err(StoreError::Busy(format!("nothing was saved: {msg}"))))
                    .collect();
            }
        }
        results.push(r);
    }
    if let Err(e) = tx.commit() {
        tracing::error!(error = %e, "commit failed; the batch is not stored");
        let msg = e.to_string();
        return batch
            .iter()
            .map(|_| Err(StoreError::CommitFailed(msg.clone())))
            .collect();
    }
    results
}

/// One job inside the batch's transaction, in its own savepoint so that a
/// refused write leaves the others of the batch untouched.
fn run_job(
    tx: &mut rusqlite::Transaction<'_>,
    schema: &Schema,
    job: &Job,
    now: &str,
) -> Result<WriteOutcome> {
    let op = job.write.call_digest();
    let op = op.as_str();
    if let Some(v) = replay(tx, &job.ctx, op)? {
        return Ok(WriteOutcome {
            value: v,
            replayed: true,
        });
    }
    let sp = tx.savepoint()?;
    match apply(&sp, schema, &job.ctx, now, &job.write) {
        Ok(v) => {
            if let Some(id) = &job.ctx.request_id {
                sp.prepare_cached(
                    "INSERT INTO _requests (device, req_id, op, response, at) VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![job.ctx.device, id, op, v.to_string(), now])?;
            }
            sp.commit()?;
            Ok(WriteOutcome {
                value: v,
                replayed: false,
            })
        }
        Err(e) => {
            drop(sp); // rolls back to the savepoint
            Err(e)
        }
    }
}
