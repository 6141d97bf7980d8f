//! The writes the store applies and who makes them: [`Write`] (records,
//! pulled pages, conflict choices) and [`WriteCtx`], and [`apply`], the one
//! dispatch the writer thread calls inside its transaction. Records live in
//! [`crate::record`], the sync bookkeeping in [`crate::upstream`]; neither
//! knows the other through this enum.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::doctype::Schema;
use crate::error::{Result, StoreError};
use crate::import::ImportJob;
pub use crate::record::WriteCtx;
use crate::record::{delete, insert, update};
use crate::upstream::{self, Keep, PulledPage};

/// One write the store can apply.
#[derive(Debug, Clone)]
pub enum Write {
    Insert {
        doctype: String,
        record: Map<String, Value>,
    },
    /// Partial update: only the fields present change; `rev` is the revision
    /// the caller edited.
    Update {
        doctype: String,
        name: String,
        rev: i64,
        record: Map<String, Value>,
    },
    /// Tombstone delete; `rev`, when given, must be current.
    Delete {
        doctype: String,
        name: String,
        rev: Option<i64>,
    },
    /// Many inserts in one transaction: all or none.
    InsertMany {
        doctype: String,
        records: Vec<Map<String, Value>>,
    },
    /// Many rows from a spreadsheet, each checked on its own
    /// ([`crate::import`]).
    Import(Box<ImportJob>),
    /// A page pulled from the upstream ERP, with the cursor after it.
    Pull(Box<PulledPage>),
    /// A person's choice for an open sync conflict.
    Resolve { conflict: i64, keep: Keep },
}

impl Write {
    pub fn op_name(&self) -> &'static str {
        match self {
            Write::Insert { .. } => "insert",
            Write::Update { .. } => "update",
            Write::Delete { .. } => "delete",
            Write::InsertMany { .. } => "insert_many",
            Write::Import(_) => "import",
            Write::Pull(_) => "sync_pull",
            Write::Resolve { .. } => "sync_resolve",
        }
    }

    /// The op and a digest of its arguments, stored with a request id so a
    /// retry is told apart from another call reusing the id.
    pub fn call_digest(&self) -> String {
        use sha2::Digest;
        let args = match self {
            Write::Insert { doctype, record } => serde_json::json!([doctype, record]),
            Write::Update {
                doctype,
                name,
                rev,
                record,
            } => serde_json::json!([doctype, name, rev, record]),
            Write::Delete { doctype, name, rev } => serde_json::json!([doctype, name, rev]),
            Write::InsertMany { doctype, records } => serde_json::json!([doctype, records]),
            Write::Import(job) => serde_json::json!(job),
            Write::Pull(page) => serde_json::json!(page),
            Write::Resolve { conflict, keep } => serde_json::json!([conflict, keep]),
        };
        let digest = sha2::Sha256::digest(args.to_string().as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.op_name())
    }

    pub fn doctype(&self) -> &str {
        match self {
            Write::Insert { doctype, .. }
            | Write::Update { doctype, .. }
            | Write::Delete { doctype, .. }
            | Write::InsertMany { doctype, .. } => doctype,
            Write::Import(job) => &job.doctype,
            Write::Pull(page) => &page.doctype,
            Write::Resolve { .. } => "-",
        }
    }
}

/// Applies one write on `conn` (inside the caller's transaction).
pub fn apply(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    write: &Write,
) -> Result<Value> {
    match write {
        Write::Insert { doctype, record } => insert(conn, schema, ctx, now, doctype, record),
        Write::Update {
            doctype,
            name,
            rev,
            record,
        } => update(conn, schema, ctx, now, doctype, name, *rev, record),
        Write::Delete { doctype, name, rev } => delete(conn, schema, ctx, now, doctype, name, *rev),
        Write::InsertMany { doctype, records } => {
            let mut names = Vec::with_capacity(records.len());
            for (i, r) in records.iter().enumerate() {
                let v =
                    insert(conn, schema, ctx, now, doctype, r).map_err(|e| at_line(e, i + 1))?;
                names.push(v["name"].clone());
            }
            Ok(serde_json::json!({"inserted": names.len(), "names": names}))
        }
        Write::Import(job) => crate::import::apply(conn, schema, ctx, now, job),
        Write::Pull(page) => upstream::apply_page(conn, schema, ctx, now, page),
        Write::Resolve { conflict, keep } => {
            upstream::resolve(conn, schema, ctx, now, *conflict, *keep)
        }
    }
}

fn at_line(e: StoreError, line: usize) -> StoreError {
    match e {
        StoreError::Field {
            doctype,
            field,
            problem,
            message,
        } => StoreError::Field {
            doctype,
            field,
            problem,
            message: format!("record {line}: {message}"),
        },
        StoreError::BadRequest(m) => StoreError::BadRequest(format!("record {line}: {m}")),
        other => other,
    }
}
