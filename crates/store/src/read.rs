//! Reads: a pool of read-only connections, and the record, query and count
//! reads made on them.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params_from_iter, Connection, OpenFlags};
use serde_json::{Map, Value};

use crate::error::{Result, StoreError};
use crate::query::compile::{compile_filter_in, compile_in};
use crate::query::{Expr, QuerySpec};
use crate::record::read_record;
use crate::store::Store;
use crate::values::to_json;

impl Store {
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
