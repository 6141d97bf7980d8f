//! The `Store`: one SQLite file in WAL mode, a pool of reader connections,
//! one writer thread that commits concurrent writes together (group commit),
//! and a change feed that tails the change log.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};

use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::migrate;
use crate::query::compile::{compile_filter_in, compile_in};
use crate::query::{Expr, QuerySpec};
use crate::record::read_record;
use crate::values::{now_utc, to_json};
use crate::write::{apply, Write, WriteCtx};

/// File name of the office database inside the data folder.
pub const DB_FILE: &str = "outpost.sqlite";
/// Folder (inside the data folder) read for site doctype definitions.
pub const DOCTYPES_DIR: &str = "doctypes";
/// Most writes one group commit takes; bounds how long a batch holds the lock.
const MAX_BATCH: usize = 256;
/// How often the change feed looks for commits made by other processes.
const FOREIGN_POLL: Duration = Duration::from_millis(200);
/// Stored answers to write request ids are kept this long, far beyond any
/// slave's retry window.
const REQUEST_MEMORY_DAYS: i64 = 7;
/// How often a long-running writer prunes those stored answers.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

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

/// What a write returns: the stored result, and whether it was answered from
/// the record of an earlier request with the same id.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    pub value: Value,
    pub replayed: bool,
}

type Reply = Box<dyn FnOnce(Result<WriteOutcome>) + Send>;
type Listener = Box<dyn Fn(&[Change]) + Send + Sync>;

struct Job {
    ctx: WriteCtx,
    write: Write,
    reply: Reply,
}

struct Inner {
    path: PathBuf,
    schema: RwLock<Arc<Schema>>,
    readers: Mutex<Vec<Connection>>,
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    feed: Arc<Feed>,
    feed_thread: Mutex<Option<JoinHandle<()>>>,
}

/// Shared state of the change feed: listeners, the last sequence delivered,
/// and a wake-up the writer rings after each commit.
struct Feed {
    listeners: Mutex<Vec<Listener>>,
    wake: Mutex<(bool, bool)>, // (poked, stopping)
    cv: Condvar,
}

/// Handle to an open office database. Cheap to clone; all clones share the
/// same connections and writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -32000;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, applying the
    /// starter doctypes and the site's `dir/doctypes/*.json`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let schema = Schema::load(&dir.join(DOCTYPES_DIR))?;
        Store::open_with(&dir.join(DB_FILE), schema)
    }

    /// Opens the database file at `path` with the given doctypes.
    pub fn open_with(path: &Path, wanted: Schema) -> Result<Store> {
        let mut conn = Connection::open(path)?;
        let configured = configure(&conn);
        crate::backup::check_at_open(path, &conn, configured)?;
        let now = now_utc();
        let schema = migrate::migrate(&mut conn, &wanted, &now)
            .map_err(|e| crate::backup::damaged_if_corrupt(path, e))?;
        conn.execute(
            "INSERT OR IGNORE INTO _meta (key, value) VALUES ('site_id', ?)",
            [uuid::Uuid::now_v7().to_string()],
        )?;
        prune_requests(&conn);
        let last_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM _changes", [], |r| {
                r.get(0)
            })?;

        let schema = Arc::new(schema);
        let feed = Arc::new(Feed {
            listeners: Mutex::new(Vec::new()),
            wake: Mutex::new((false, false)),
            cv: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = {
            let schema = schema.clone();
            let feed = feed.clone();
            std::thread::Builder::new()
                .name("outpost-writer".into())
                .spawn(move || writer_loop(conn, schema, rx, feed))?
        };
        let feed_conn = open_reader(path)?;
        let feed_thread = {
            let feed = feed.clone();
            std::thread::Builder::new()
                .name("outpost-feed".into())
                .spawn(move || feed_loop(feed_conn, feed, last_seq))?
        };
        tracing::info!(path = %path.display(), doctypes = schema.doctypes.len(), "office database open");
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                schema: RwLock::new(schema),
                readers: Mutex::new(Vec::new()),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                feed,
                feed_thread: Mutex::new(Some(feed_thread)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn schema(&self) -> Arc<Schema> {
        self.inner
            .schema
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` with a pooled read-only connection.
    pub fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match conn {
            Some(c) => c,
            None => open_reader(&self.inner.path)?,
        };
        let out = f(&conn);
        self.inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        out
    }

    /// One live record with its child rows.
    pub fn get(&self, doctype: &str, name: &str) -> Result<Value> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        // One read transaction: the record and its child rows from the
        // same commit.
        self.with_reader(
            |c| match read_record(&*c.unchecked_transaction()?, &schema, dt, name)? {
                Some((v, false)) => Ok(v),
                Some((_, true)) => Err(StoreError::Deleted {
                    doctype: doctype.to_string(),
                    name: name.to_string(),
                }),
                None => Err(StoreError::NotFound {
                    doctype: doctype.to_string(),
                    name: name.to_string(),
                }),
            },
        )
    }

    /// Rows of a query, each a JSON object of the selected columns.
    pub fn query(&self, doctype: &str, spec: &QuerySpec) -> Result<Vec<Value>> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        let compiled = compile_in(dt, &schema.parents_of(dt), spec)?;
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&compiled.sql)?;
            let mut rows = stmt.query(params_from_iter(compiled.params.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let mut m = Map::with_capacity(compiled.columns.len());
                for (i, col) in compiled.columns.iter().enumerate() {
                    m.insert(col.key.clone(), to_json(col.ty, row.get_ref(i)?));
                }
                out.push(Value::Object(m));
            }
            Ok(out)
        })
    }

    /// How many live records match `filter`.
    pub fn count(&self, doctype: &str, filter: &Expr) -> Result<u64> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        let (cond, params) = compile_filter_in(dt, &schema.parents_of(dt), filter)?;
        let sql = format!("SELECT count(*) FROM {} WHERE {cond}", dt.table_name());
        self.with_reader(|c| {
            let n: i64 = c
                .prepare_cached(&sql)?
                .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// The SQLite query plan for a query (for tests and diagnostics).
    pub fn explain(&self, doctype: &str, spec: &QuerySpec) -> Result<Vec<String>> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        let compiled = compile_in(dt, &schema.parents_of(dt), spec)?;
        self.with_reader(|c| {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {}", compiled.sql))?;
            let rows = stmt.query_map(params_from_iter(compiled.params.iter()), |r| {
                r.get::<_, String>(3)
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Queues a write; `reply` runs on the writer thread once the write's
    /// transaction is durable (or failed). Never blocks on the disk.
    pub fn submit(&self, ctx: WriteCtx, write: Write, reply: Reply) {
        let job = Job { ctx, write, reply };
        let sender = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match sender {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    (job.reply)(Err(StoreError::Closed));
                }
            }
            None => (job.reply)(Err(StoreError::Closed)),
        }
    }

    /// Applies a write and waits until it is durable.
    pub fn write(&self, ctx: WriteCtx, write: Write) -> Result<WriteOutcome> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(
            ctx,
            write,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Calls `f` with every batch of committed changes, from this process or
    /// any other writing the same file, in commit order.
    pub fn on_change(&self, f: impl Fn(&[Change]) + Send + Sync + 'static) {
        self.inner
            .feed
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Changes after `seq` (oldest first), at most `limit`.
    pub fn changes_since(&self, seq: i64, limit: u32) -> Result<Vec<Change>> {
        self.with_reader(|c| read_changes(c, seq, limit))
    }

    /// Outbox entries waiting for the upstream sync worker.
    pub fn outbox_pending(&self) -> Result<u64> {
        self.with_reader(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM _outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    /// The site's own id, made once when the database was created.
    pub fn site_id(&self) -> Result<String> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT value FROM _meta WHERE key = 'site_id'", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    /// Stops taking writes, finishes those queued, and stops the threads.
    /// Also done on drop of the last clone.
    pub fn close(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        {
            let mut w = self.feed.wake.lock().unwrap_or_else(|e| e.into_inner());
            w.1 = true;
            self.feed.cv.notify_all();
        }
        if let Some(h) = self
            .feed_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;")?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn read_changes(c: &Connection, seq: i64, limit: u32) -> Result<Vec<Change>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, doctype, name, rev, op, device FROM _changes WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let rows = stmt.query_map(params![seq, limit], |r| {
        Ok(Change {
            seq: r.get(0)?,
            doctype: r.get(1)?,
            name: r.get(2)?,
            rev: r.get(3)?,
            op: r.get(4)?,
            device: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Forgets stored answers older than `REQUEST_MEMORY_DAYS`.
fn prune_requests(conn: &Connection) {
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
fn writer_loop(mut conn: Connection, schema: Arc<Schema>, rx: Receiver<Job>, feed: Arc<Feed>) {
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
            let mut w = feed.wake.lock().unwrap_or_else(|e| e.into_inner());
            w.0 = true;
            feed.cv.notify_all();
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

/// Tails the change log: woken by the writer after each commit, and every
/// `FOREIGN_POLL` to pick up commits made by other processes.
fn feed_loop(conn: Connection, feed: Arc<Feed>, mut last: i64) {
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
