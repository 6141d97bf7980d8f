//! Reads: a pool of read-only connections, each read under a deadline, and
//! the record, query and count reads made on them.
//!
//! The deadline exists because a read holds whatever thread runs it: the
//! api layer runs reads off the async runtime, at most [`READERS`] at once,
//! and a query that would scan a large table for minutes must give its
//! reader back, with an answer the clerk can act on
//! ([`StoreError::TooSlow`]), rather than keep the others waiting.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params_from_iter, Connection, OpenFlags};
use serde_json::{Map, Value};

use crate::doctype::FieldType;
use crate::error::{Result, StoreError};
use crate::query::compile::{compile_filter_in, compile_in};
use crate::query::{Expr, QuerySpec};
use crate::record::{read_children, read_record};
use crate::store::Store;
use crate::values::to_json;

/// Reader connections kept open between reads, and how many reads the api
/// layer runs at once (more wait their turn). Two cores serve four readers
/// well: WAL readers never block each other, and a read often waits on the
/// disk.
pub const READERS: usize = 4;
/// How long one read may run before it is stopped: far beyond any list or
/// form the UI shows (milliseconds), short enough that a runaway query
/// does not hold a reader for minutes.
pub const DEFAULT_READ_DEADLINE: Duration = Duration::from_secs(10);
/// SQLite virtual-machine steps between two looks at the clock: a look
/// costs one clock read, a thousand steps a few microseconds of work.
const DEADLINE_CHECK_EVERY: std::os::raw::c_int = 1000;

/// The reader connections and the deadline every read runs under.
pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    /// Connections kept open between reads: the [`READERS`] the api layer
    /// runs on blocking threads, and one for each core, whose async worker
    /// runs record gets in place. A read that finds none idle opens one,
    /// and it is closed after the read when this many are already kept.
    kept: usize,
    /// The deadline in microseconds (an atomic so it can be changed on a
    /// running store).
    deadline_us: AtomicU64,
}

impl Readers {
    pub(crate) fn new() -> Readers {
        Readers {
            idle: Mutex::new(Vec::new()),
            kept: READERS + std::thread::available_parallelism().map_or(1, |n| n.get()),
            deadline_us: AtomicU64::new(DEFAULT_READ_DEADLINE.as_micros() as u64),
        }
    }
}

impl Store {
    /// How long one read may run before it is stopped with
    /// [`StoreError::TooSlow`].
    pub fn read_deadline(&self) -> Duration {
        Duration::from_micros(self.inner.readers.deadline_us.load(Ordering::Relaxed))
    }

    /// Sets how long one read may run ([`DEFAULT_READ_DEADLINE`] unless
    /// set); reads already running keep the deadline they started with.
    pub fn set_read_deadline(&self, deadline: Duration) {
        let us = u64::try_from(deadline.as_micros()).unwrap_or(u64::MAX);
        self.inner.readers.deadline_us.store(us, Ordering::Relaxed);
    }

    /// Runs `f` with a pooled read-only connection, stopped with
    /// [`StoreError::TooSlow`] once it runs past the read deadline. Blocks
    /// the calling thread for as long as the read runs: async callers run
    /// it on a blocking thread.
    pub fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_reader_for(self.read_deadline(), f)
    }

    /// As [`Store::with_reader`], stopped after `limit` instead of the
    /// store's read deadline (an export reads every matching row).
    pub fn with_reader_for<T>(
        &self,
        limit: Duration,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let readers = &self.inner.readers;
        let conn = readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_reader(&self.inner.path)?,
        };
        let stopped = Arc::new(AtomicBool::new(false));
        if let Some(until) = Instant::now().checked_add(limit) {
            let stopped = stopped.clone();
            conn.progress_handler(
                DEADLINE_CHECK_EVERY,
                Some(move || {
                    let late = Instant::now() >= until;
                    if late {
                        stopped.store(true, Ordering::Relaxed);
                    }
                    late
                }),
            );
        }
        let out = f(&conn);
        // The connection goes back to the pool as it came: no handler.
        conn.progress_handler(0, None::<fn() -> bool>);
        let mut idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < readers.kept {
            idle.push(conn);
        }
        drop(idle);
        match out {
            Err(e) if stopped.load(Ordering::Relaxed) && interrupted(&e) => {
                tracing::warn!(
                    limit_ms = limit.as_millis() as u64,
                    "a read ran past its deadline and was stopped"
                );
                Err(StoreError::TooSlow { limit })
            }
            other => other,
        }
    }

    /// Whether [`Store::get`] of a `doctype` record reads one row by its
    /// key: the doctype has no child tables (or is not known, and the get
    /// reads nothing). Such a get takes microseconds whatever the size of
    /// the table, so the api layer runs it in place.
    pub fn get_reads_one_row(&self, doctype: &str) -> bool {
        self.schema()
            .get(doctype)
            .map_or(true, |dt| dt.is_one_row())
    }

    /// One live record with its child rows.
    pub fn get(&self, doctype: &str, name: &str) -> Result<Value> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        self.with_reader(|c| {
            let found = if dt.is_one_row() {
                // One statement, which reads one commit: no transaction to
                // begin and roll back around it.
                read_record(c, &schema, dt, name)?
            } else {
                // One read transaction: the record and its child rows from
                // the same commit.
                read_record(&*c.unchecked_transaction()?, &schema, dt, name)?
            };
            match found {
                Some((v, false)) => Ok(v),
                Some((_, true)) => Err(StoreError::Deleted {
                    doctype: doctype.to_string(),
                    name: name.to_string(),
                }),
                None => Err(StoreError::NotFound {
                    doctype: doctype.to_string(),
                    name: name.to_string(),
                }),
            }
        })
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

    /// Each row of a query, one at a time, from one statement (one
    /// snapshot of the database, however long it runs): what an export
    /// streams into its file without holding the rows. Without a limit in
    /// `spec` it reads every matching row (not one page); `limit` bounds
    /// how long it may run; `each` may stop it with an error.
    pub fn query_each(
        &self,
        doctype: &str,
        spec: &QuerySpec,
        limit: Duration,
        mut each: impl FnMut(Map<String, Value>) -> Result<()>,
    ) -> Result<u64> {
        self.rows_each(doctype, spec, limit, |_, row| each(row))
    }

    /// Each line of table field `table` of the records a query matches,
    /// in the query's order and then the lines' order, read in the same
    /// snapshot: what an export of a document's lines streams, one row per
    /// line. `each` gets the parent's name and the line (its `name`, `idx`
    /// and fields). Answers how many lines there were.
    pub fn query_lines_each(
        &self,
        doctype: &str,
        spec: &QuerySpec,
        table: &str,
        limit: Duration,
        mut each: impl FnMut(&str, Map<String, Value>) -> Result<()>,
    ) -> Result<u64> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        let child = dt
            .field(table)
            .filter(|f| f.ty == FieldType::Table)
            .and_then(|f| f.table.as_deref())
            .ok_or_else(|| {
                StoreError::BadRequest(format!("{} has no table field '{table}'", dt.name))
            })?;
        let child = schema.get(child)?;
        let spec = QuerySpec {
            fields: vec!["name".into()],
            ..spec.clone()
        };
        let mut lines = 0u64;
        self.rows_each(doctype, &spec, limit, |c, row| {
            let parent = row.get("name").and_then(Value::as_str).unwrap_or_default();
            // The same connection while its statement runs: the same snapshot.
            for line in read_children(c, child, parent, &dt.name, table)? {
                let Value::Object(line) = line else { continue };
                each(parent, line)?;
                lines += 1;
            }
            Ok(())
        })?;
        Ok(lines)
    }

    fn rows_each(
        &self,
        doctype: &str,
        spec: &QuerySpec,
        limit: Duration,
        mut each: impl FnMut(&Connection, Map<String, Value>) -> Result<()>,
    ) -> Result<u64> {
        let schema = self.schema();
        let dt = schema.get(doctype)?;
        let mut compiled = compile_in(dt, &schema.parents_of(dt), spec)?;
        // Every row, not a page: the compiled query ends `LIMIT ? OFFSET ?`,
        // and SQLite reads a negative limit as none. The caller bounds it.
        let at = compiled.params.len().saturating_sub(2);
        if spec.limit.is_none() {
            if let Some(p) = compiled.params.get_mut(at) {
                *p = rusqlite::types::Value::Integer(-1);
            }
        }
        self.with_reader_for(limit, |c| {
            let mut stmt = c.prepare(&compiled.sql)?;
            let mut rows = stmt.query(params_from_iter(compiled.params.iter()))?;
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                let mut m = Map::with_capacity(compiled.columns.len());
                for (i, col) in compiled.columns.iter().enumerate() {
                    m.insert(col.key.clone(), to_json(col.ty, row.get_ref(i)?));
                }
                each(c, m)?;
                n += 1;
            }
            Ok(n)
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
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;")?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Whether `e` is SQLite's answer to an interrupted statement.
fn interrupted(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(s) if s.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted))
}
