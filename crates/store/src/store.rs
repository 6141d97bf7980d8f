//! The `Store`: one SQLite file in WAL mode, a pool of reader connections
//! ([`crate::read`]), one writer thread that commits concurrent writes
//! together ([`crate::writer`]), and a change feed that tails the change log
//! ([`crate::feed`]). This module opens them and hands out the handle.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::Value;

use crate::compact::{self, Floor, Schedule};
use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::feed::{feed_loop, read_changes, Change, Feed};
use crate::migrate;
use crate::read::{open_reader, Readers};
use crate::repl::capture::{Capture, OpenMark};
use crate::repl::ReplLog;
use crate::values::now_utc;
use crate::write::{Write, WriteCtx};
use crate::writer::{writer_loop, Job, Reply};

/// File name of the office database inside the data folder.
pub const DB_FILE: &str = "outpost.sqlite";
/// Folder (inside the data folder) read for site doctype definitions.
pub const DOCTYPES_DIR: &str = "doctypes";

/// What a write returns: the stored result, and whether it was answered from
/// the record of an earlier request with the same id.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    pub value: Value,
    pub replayed: bool,
    /// The write group (`repl_seq`) that holds it: what a standby must
    /// hold before a synchronous master answers (for a repeated request,
    /// the last group when it was answered again).
    pub seq: u64,
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    schema: RwLock<Arc<Schema>>,
    pub(crate) readers: Readers,
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    feed: Arc<Feed>,
    feed_thread: Mutex<Option<JoinHandle<()>>>,
    /// The lowest change-log sequence a reader still needs.
    pub(crate) changes_floor: Floor,
    /// The changesets kept for a standby ([`crate::repl`]).
    pub(crate) repl: Arc<ReplLog>,
}

/// Handle to an open office database. Cheap to clone; all clones share the
/// same connections and writer.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
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
        Store::open_with_capture(path, wanted, true)
    }

    /// [`Store::open_with`], choosing whether each write group's changeset
    /// is recorded for a standby ([`crate::repl`]). Without capture every
    /// write group still raises `repl_seq`, so a standby can only follow
    /// by snapshots; it is for measuring what capture costs.
    pub fn open_with_capture(path: &Path, wanted: Schema, capture: bool) -> Result<Store> {
        if crate::repl::pending::left_beside(path) {
            // A standby's copy, with changes it received (and acknowledged)
            // but did not apply before it stopped: they go in first.
            drop(crate::repl::Replica::open(path)?);
        }
        let mut conn = Connection::open(path)?;
        let configured = configure(&conn);
        crate::backup::check_at_open(path, &conn, configured)?;
        let mark = OpenMark::take(&conn)?;
        let now = now_utc();
        let schema = migrate::migrate(&mut conn, &wanted, &now)
            .map_err(|e| crate::backup::damaged_if_corrupt(path, e))?;
        conn.execute(
            "INSERT OR IGNORE INTO _meta (key, value) VALUES ('site_id', ?)",
            [uuid::Uuid::now_v7().to_string()],
        )?;
        let capture = Capture::start(&conn, mark, capture)?;
        let repl = capture.log();
        let last_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM _changes", [], |r| {
                r.get(0)
            })?;

        let schema = Arc::new(schema);
        let feed = Arc::new(Feed::new());
        let (tx, rx) = mpsc::channel::<Job>();
        let changes_floor = compact::no_floor();
        let writer = {
            let schema = schema.clone();
            let feed = feed.clone();
            let compaction = Schedule::new(changes_floor.clone());
            std::thread::Builder::new()
                .name("outpost-writer".into())
                .spawn(move || writer_loop(conn, schema, rx, feed, capture, compaction))?
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
                readers: Readers::new(),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                feed,
                feed_thread: Mutex::new(Some(feed_thread)),
                changes_floor,
                repl,
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

    /// Queues a write; `reply` runs on the writer thread once the write's
    /// transaction is durable (or failed). Never blocks on the disk.
    pub fn submit(&self, ctx: WriteCtx, write: Write, reply: Reply) {
        self.send(Job::Write { ctx, write, reply });
    }

    /// Hands a job to the writer thread (or fails it if the store closed).
    pub(crate) fn send(&self, job: Job) {
        let sender = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match sender {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    job.fail(StoreError::Closed);
                }
            }
            None => job.fail(StoreError::Closed),
        }
    }

    /// The replication log the writer fills ([`crate::repl`]).
    pub(crate) fn repl_log(&self) -> &ReplLog {
        &self.inner.repl
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
        self.inner.feed.listen(Box::new(f));
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
        self.feed.stop();
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
