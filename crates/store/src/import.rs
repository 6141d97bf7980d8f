//! Importing many records at once (issue 15): every row validated by the
//! same rules as a single insert, each in its own savepoint, so one bad row
//! is reported with its row number and leaves nothing behind, and the whole
//! import is one write of the writer thread (one transaction).
//!
//! Two modes, chosen before the import runs ([`ImportMode`]): keep the good
//! rows and report the bad ones, or store nothing unless every row is good.
//! A dry run is an all-or-nothing import that is always rolled back: the
//! check a person sees before choosing.
//!
//! A child-table import (`table` set, e.g. Sale's `lines`) takes rows that
//! carry their parent's name in `parent`; each parent gets its rows appended
//! to that table in one update (its computed totals follow).

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::doctype::{FieldType, Schema};
use crate::error::{Result, StoreError};
use crate::record::{insert, live, update, WriteCtx};

/// The key a row of a child-table import names its parent record with.
pub const PARENT_KEY: &str = "parent";

/// Whether an import with bad rows keeps its good ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Store nothing unless every row is good.
    AllOrNothing,
    /// Store the good rows; report the bad ones.
    GoodRows,
}

/// One row to import: its number in the file (for messages) and the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRow {
    pub row: u32,
    pub record: Map<String, Value>,
}

/// Why one row was not imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowError {
    /// The row's number in the file (the header is row 1).
    pub row: u32,
    /// The field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub field: Option<String>,
    pub message: String,
}

/// An import as the writer applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub doctype: String,
    /// A table field of `doctype`: the rows become lines of their parents.
    pub table: Option<String>,
    pub rows: Vec<ImportRow>,
    pub mode: ImportMode,
    /// Check every row and store nothing.
    pub dry_run: bool,
}

/// What an import did (or, stopped, would have done).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Rows stored (or, in a dry run or a stopped import, that were good).
    pub imported: u32,
    pub errors: Vec<RowError>,
}

/// Applies `job` inside the caller's transaction. A dry run, and an
/// all-or-nothing import with a bad row, end in
/// [`StoreError::ImportStopped`] so the writer rolls everything back.
pub(crate) fn apply(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    job: &ImportJob,
) -> Result<Value> {
    let dt = schema.get(&job.doctype)?;
    let outcome = match &job.table {
        None => {
            let mut outcome = ImportOutcome {
                imported: 0,
                errors: Vec::new(),
            };
            for r in &job.rows {
                match in_row_savepoint(conn, || {
                    insert(conn, schema, ctx, now, &job.doctype, &r.record)
                }) {
                    Ok(_) => outcome.imported += 1,
                    Err(e) => outcome.errors.push(row_error(r.row, e)?),
                }
            }
            outcome
        }
        Some(table) => {
            let field = dt.field(table).filter(|f| f.ty == FieldType::Table);
            if field.is_none() {
                return Err(StoreError::BadRequest(format!(
                    "{} has no table field '{table}'",
                    dt.name
                )));
            }
            import_lines(conn, schema, ctx, now, job, table)?
        }
    };
    if job.dry_run || (job.mode == ImportMode::AllOrNothing && !outcome.errors.is_empty()) {
        return Err(StoreError::ImportStopped(Box::new(outcome)));
    }
    Ok(serde_json::json!({"imported": outcome.imported, "errors": outcome.errors}))
}

/// Rows grouped by parent (first appearance first), each group appended
/// to its parent's `table` in one update. A line the store refuses is
/// reported and left out, and the parent tried again without it.
fn import_lines(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    job: &ImportJob,
    table: &str,
) -> Result<ImportOutcome> {
    let dt = schema.get(&job.doctype)?;
    let mut outcome = ImportOutcome {
        imported: 0,
        errors: Vec::new(),
    };
    let mut groups: Vec<(String, Vec<&ImportRow>)> = Vec::new();
    for r in &job.rows {
        let parent = match r.record.get(PARENT_KEY) {
            Some(Value::String(p)) if !p.trim().is_empty() => p.trim().to_string(),
            _ => {
                outcome.errors.push(RowError {
                    row: r.row,
                    field: Some(PARENT_KEY.into()),
                    message: format!(
                        "the row names no {} (its '{PARENT_KEY}' column is empty)",
                        dt.name
                    ),
                });
                continue;
            }
        };
        match groups.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((parent, vec![r])),
        }
    }
    for (parent, mut rows) in groups {
        let current = match live(conn, schema, dt, &parent) {
            Ok(v) => v,
            Err(e @ (StoreError::NotFound { .. } | StoreError::Deleted { .. })) => {
                for r in rows {
                    outcome.errors.push(RowError {
                        row: r.row,
                        field: Some(PARENT_KEY.into()),
                        message: e.to_string(),
                    });
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let existing: Vec<Value> = current[table].as_array().cloned().unwrap_or_default();
        let rev = current["rev"].as_i64().unwrap_or_default();
        while !rows.is_empty() {
            let mut lines = existing.clone();
            lines.extend(rows.iter().map(|r| {
                let mut line = r.record.clone();
                line.remove(PARENT_KEY);
                Value::Object(line)
            }));
            let mut changes = Map::new();
            changes.insert(table.to_string(), Value::Array(lines));
            let r = in_row_savepoint(conn, || {
                update(conn, schema, ctx, now, &job.doctype, &parent, rev, &changes)
            });
            match r {
                Ok(_) => {
                    outcome.imported += rows.len() as u32;
                    break;
                }
                Err(e) => {
                    // "lines[3].product": the third line of the record, after
                    // the ones it had.
                    let at = failed_line(&e, table)
                        .and_then(|k| k.checked_sub(existing.len() + 1))
                        .filter(|k| *k < rows.len());
                    match at {
                        Some(k) => {
                            let r = rows.remove(k);
                            outcome.errors.push(row_error(r.row, e)?);
                        }
                        None => {
                            for r in rows.drain(..) {
                                outcome.errors.push(RowError {
                                    row: r.row,
                                    field: None,
                                    message: e.to_string(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    outcome.errors.sort_by_key(|e| e.row);
    Ok(outcome)
}

/// The 1-based line of `table` a refused update names (`lines[3].product`).
fn failed_line(e: &StoreError, table: &str) -> Option<usize> {
    let StoreError::Field { field, .. } = e else {
        return None;
    };
    let rest = field.strip_prefix(table)?.strip_prefix('[')?;
    rest.split(']').next()?.parse().ok()
}

/// A refused row as the report shows it; an error that is not the row's
/// fault (the disk, the database) stops the import.
fn row_error(row: u32, e: StoreError) -> Result<RowError> {
    match e {
        StoreError::Field { field, message, .. } => Ok(RowError {
            row,
            field: Some(field),
            message,
        }),
        e @ (StoreError::BadRequest(_)
        | StoreError::NotFound { .. }
        | StoreError::Deleted { .. }
        | StoreError::UnknownDoctype(_)) => Ok(RowError {
            row,
            field: None,
            message: e.to_string(),
        }),
        other => Err(other),
    }
}

fn in_row_savepoint<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT import_row")?;
    let r = f().and_then(|v| {
        conn.execute_batch("RELEASE import_row")?;
        Ok(v)
    });
    if r.is_err() && !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK TO import_row; RELEASE import_row")?;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, Write};
    use serde_json::json;

    fn ctx() -> WriteCtx {
        WriteCtx {
            device: "test".into(),
            user: None,
            request_id: None,
            from_upstream: false,
        }
    }

    fn row(row: u32, v: Value) -> ImportRow {
        ImportRow {
            row,
            record: v.as_object().cloned().unwrap(),
        }
    }

    fn parties(store: &Store) -> u64 {
        store
            .count("Party", &crate::query::Expr::And(vec![]))
            .unwrap()
    }

    fn job(rows: Vec<ImportRow>, mode: ImportMode) -> Write {
        Write::Import(Box::new(ImportJob {
            doctype: "Party".into(),
            table: None,
            rows,
            mode,
            dry_run: false,
        }))
    }

    #[test]
    fn all_or_nothing_reports_every_bad_row_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rows = vec![
            row(2, json!({"party_name": "A"})),
            row(3, json!({"code": "x"})),
            row(4, json!({"party_name": "C", "kind": "Alien"})),
        ];
        let e = store
            .write(ctx(), job(rows.clone(), ImportMode::AllOrNothing))
            .unwrap_err();
        let StoreError::ImportStopped(out) = e else {
            panic!("{e}")
        };
        assert_eq!(out.errors.iter().map(|e| e.row).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(out.errors[0].field.as_deref(), Some("party_name"));
        assert_eq!(parties(&store), 0);
        let v = store
            .write(ctx(), job(rows, ImportMode::GoodRows))
            .unwrap()
            .value;
        assert_eq!(v["imported"], 1);
        assert_eq!(parties(&store), 1);
        store.close();
    }

    #[test]
    fn lines_join_their_parent_and_a_bad_line_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = |write| store.write(ctx(), write).unwrap().value;
        let p = w(Write::Insert {
            doctype: "Party".into(),
            record: json!({"party_name": "P"}).as_object().cloned().unwrap(),
        });
        let prod = w(Write::Insert {
            doctype: "Product".into(),
            record: json!({"product_name": "Nut", "code": "N1"})
                .as_object()
                .cloned()
                .unwrap(),
        });
        let sale = w(Write::Insert {
            doctype: "Sale".into(),
            record: json!({"party": p["name"]}).as_object().cloned().unwrap(),
        });
        let (s, pr) = (sale["name"].clone(), prod["name"].clone());
        let rows = vec![
            row(
                2,
                json!({"parent": s, "product": pr, "quantity": 2, "unit_price": 3}),
            ),
            row(3, json!({"parent": s, "product": "nope", "quantity": 1})),
            row(4, json!({"parent": "missing", "product": pr})),
            row(
                5,
                json!({"parent": s, "product": pr, "quantity": 1, "unit_price": 4}),
            ),
        ];
        let v = w(Write::Import(Box::new(ImportJob {
            doctype: "Sale".into(),
            table: Some("lines".into()),
            rows,
            mode: ImportMode::GoodRows,
            dry_run: false,
        })));
        assert_eq!(v["imported"], 2, "{v}");
        let rows: Vec<u64> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, [3, 4]);
        let sale = store.get("Sale", s.as_str().unwrap()).unwrap();
        assert_eq!(sale["lines"].as_array().unwrap().len(), 2);
        assert_eq!(sale["total"], 10.0);
        store.close();
    }
}
