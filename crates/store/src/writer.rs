//! The writer thread: the one connection that writes the office database,
//! and its group commit (every write waiting shares one transaction, each in
//! its own savepoint, one fsync for all).
//!
//! Every write of this process comes here, records and bookkeeping alike
//! ([`Job::Run`]), so each committed write group is recorded whole for the
//! standby by [`crate::repl::capture`]. Transactions and savepoints are
//! plain SQL on a shared borrow of the connection, so the capture's
//! session can watch the same connection.

use std::cell::Cell;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::compact::Schedule;
use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::feed::{Feed, FOREIGN_POLL};
use crate::repl::capture::Capture;
use crate::store::{Store, WriteOutcome};
use crate::values::now_utc;
use crate::write::{apply, Write, WriteCtx};

/// Most writes one group commit takes; bounds how long a batch holds the lock.
const MAX_BATCH: usize = 256;
pub(crate) type Reply = Box<dyn FnOnce(Result<WriteOutcome>) + Send>;
/// A bookkeeping write run on the writer's connection, inside the group's
/// transaction.
pub(crate) type RunFn = Box<dyn FnOnce(&Connection) -> Result<()> + Send>;
/// Told the outcome of a [`RunFn`] once its transaction is durable (or not).
pub(crate) type Done = Box<dyn FnOnce(Result<()>) + Send>;

/// One job for the writer thread.
pub(crate) enum Job {
    /// A record write (the api's and the sync worker's).
    Write {
        ctx: WriteCtx,
        write: Write,
        reply: Reply,
    },
    /// Bookkeeping (devices, settings, the outbox's states, sync counters).
    Run { run: RunFn, done: Done },
}

impl Job {
    /// Answers a job that was not run (or whose transaction was lost).
    pub(crate) fn fail(self, e: StoreError) {
        match self {
            Job::Write { reply, .. } => reply(Err(e)),
            Job::Run { done, .. } => done(Err(e)),
        }
    }
}

/// A job run inside the transaction, waiting for the commit to answer.
enum Ran {
    Write(Reply, Result<WriteOutcome>),
    Run(Done, Result<()>),
}

impl Ran {
    /// Whether it changed the database (the change feed is rung then).
    fn wrote(&self) -> bool {
        match self {
            Ran::Write(_, r) => matches!(r, Ok(o) if !o.replayed),
            Ran::Run(_, r) => r.is_ok(),
        }
    }

    fn answer(self) {
        match self {
            Ran::Write(reply, r) => reply(r),
            Ran::Run(done, r) => done(r),
        }
    }

    fn fail(self, e: StoreError) {
        match self {
            Ran::Write(reply, _) => reply(Err(e)),
            Ran::Run(done, _) => done(Err(e)),
        }
    }
}

thread_local! {
    /// Set on writer threads: a job waiting there for another job would
    /// wait forever.
    static ON_WRITER: Cell<bool> = const { Cell::new(false) };
}

impl Store {
    /// Runs `f` on the writer's connection, inside a group commit's
    /// transaction (in its own savepoint), and returns its result once the
    /// transaction is durable. For the small bookkeeping writes (devices,
    /// settings, the outbox's states, sync counters): going through the
    /// writer, they reach the standby like every other write.
    pub(crate) fn with_admin<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if ON_WRITER.with(|w| w.get()) {
            // A write waiting on the writer thread for the writer thread.
            return Err(StoreError::BadRequest(
                "a bookkeeping write was asked for from inside a write; \
                 this is a bug in Outpost: report it"
                    .into(),
            ));
        }
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Run {
            run: Box::new(move |conn| {
                let v = f(conn)?;
                *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                Ok(())
            }),
            done: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        });
        rx.recv().unwrap_or(Err(StoreError::Closed))?;
        let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        value.ok_or(StoreError::Closed)
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
/// While idle, it looks every `FOREIGN_POLL` for commits by other
/// processes, and records one (an empty write group) when it sees it.
pub(crate) fn writer_loop(
    conn: Connection,
    schema: Arc<Schema>,
    rx: Receiver<Job>,
    feed: Arc<Feed>,
    mut capture: Capture,
    mut compaction: Schedule,
) {
    ON_WRITER.with(|w| w.set(true));
    loop {
        let mut batch = Vec::new();
        match rx.recv_timeout(FOREIGN_POLL) {
            Ok(job) => batch.push(job),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => match capture.foreign_commit_seen(&conn) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check for commits by other processes");
                    continue;
                }
            },
        }
        while !batch.is_empty() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = now_utc();
        if commit_batch(&conn, &schema, batch, &now, &mut compaction, &mut capture) {
            feed.poke();
        }
    }
    tracing::debug!("writer stopped");
}

/// One group commit; true if it stored a change.
fn commit_batch(
    conn: &Connection,
    schema: &Schema,
    batch: Vec<Job>,
    now: &str,
    compaction: &mut Schedule,
    capture: &mut Capture,
) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        for job in batch {
            job.fail(StoreError::Busy(msg.clone()));
        }
        return false;
    }
    let recording = match capture.begin(conn) {
        Ok(r) => r,
        Err(e) => {
            rollback(conn);
            let msg = e.to_string();
            for job in batch {
                job.fail(StoreError::Busy(msg.clone()));
            }
            return false;
        }
    };
    // Compaction's deletions go in the group too, so the standby's copy
    // forgets what the master forgot.
    compaction.when_due(conn, schema);
    let mut ran = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        let r = run_job(conn, schema, job, now);
        // Some errors (disk full, I/O) make SQLite roll back the whole
        // transaction by itself. Nothing of this batch is stored then, and
        // going on would run the rest outside any transaction: fail them
        // all, as retryable.
        if conn.is_autocommit() {
            let msg = match &r {
                Ran::Write(_, Err(e)) => e.to_string(),
                Ran::Run(_, Err(e)) => e.to_string(),
                _ => "the transaction ended early".to_string(),
            };
            tracing::error!(error = %msg, "the batch's transaction was rolled back");
            let fail = || StoreError::Busy(format!("nothing was saved: {msg}"));
            ran.into_iter().for_each(|r: Ran| r.fail(fail()));
            r.fail(fail());
            jobs.for_each(|j| j.fail(fail()));
            return false;
        }
        ran.push(r);
    }
    let sealed = capture.seal(recording, conn).and_then(|sealed| {
        conn.execute_batch("COMMIT")?;
        Ok(sealed)
    });
    match sealed {
        Ok(sealed) => {
            if let Some(sealed) = sealed {
                capture.committed(sealed);
            }
            let group = capture.last_seq();
            for r in ran.iter_mut() {
                if let Ran::Write(_, Ok(outcome)) = r {
                    outcome.seq = group;
                }
            }
            let wrote = ran.iter().any(Ran::wrote);
            ran.into_iter().for_each(Ran::answer);
            wrote
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch is not stored");
            rollback(conn);
            let msg = e.to_string();
            ran.into_iter()
                .for_each(|r| r.fail(StoreError::CommitFailed(msg.clone())));
            false
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "cannot roll back");
        }
    }
}

/// Runs `f` in a savepoint of the group's transaction, so that a refused
/// job leaves the others of the batch untouched.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT job")?;
    let r = f().and_then(|v| {
        conn.execute_batch("RELEASE job")?;
        Ok(v)
    });
    if r.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK TO job; RELEASE job") {
            tracing::error!(error = %e, "cannot roll back a refused write");
        }
    }
    r
}

/// One job inside the batch's transaction.
fn run_job(conn: &Connection, schema: &Schema, job: Job, now: &str) -> Ran {
    match job {
        Job::Write { ctx, write, reply } => {
            let _span = tracing::debug_span!(
                "write",
                device = %ctx.device,
                req = ctx.request_id.as_deref().unwrap_or("-"),
                op = write.op_name(),
                doctype = write.doctype()
            )
            .entered();
            let r = run_write(conn, schema, &ctx, &write, now);
            if let Err(e) = &r {
                tracing::debug!(error = %e, "write refused");
            }
            Ran::Write(reply, r)
        }
        Job::Run { run, done } => {
            let r = in_savepoint(conn, || run(conn));
            if let Err(e) = &r {
                tracing::debug!(error = %e, "bookkeeping write refused");
            }
            Ran::Run(done, r)
        }
    }
}

fn run_write(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    write: &Write,
    now: &str,
) -> Result<WriteOutcome> {
    let op = write.call_digest();
    let op = op.as_str();
    if let Some(v) = replay(conn, ctx, op)? {
        return Ok(WriteOutcome {
            value: v,
            replayed: true,
            seq: 0,
        });
    }
    let value = in_savepoint(conn, || {
        let v = apply(conn, schema, ctx, now, write)?;
        if let Some(id) = &ctx.request_id {
            conn.prepare_cached(
                "INSERT INTO _requests (device, req_id, op, response, at) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![ctx.device, id, op, v.to_string(), now])?;
        }
        Ok(v)
    })?;
    Ok(WriteOutcome {
        value,
        replayed: false,
        seq: 0,
    })
}
