//! Preparing a record for storage: validated against its doctype (and its
//! child doctypes), computed fields filled in; and storing its child rows.

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::doctype::{Compute, Doctype, FieldType, Schema, SYSTEM_FIELDS};
use crate::error::{FieldProblem, Result, StoreError};
use crate::values::{round_to, sql_to_json, to_sql};

use super::{new_name, valid_name, IGNORED_ON_INPUT};

/// A record's column values and child rows, validated and computed.
pub(super) struct Prepared {
    pub(super) columns: Vec<(String, Sql)>,
    pub(super) tables: Vec<(String, Vec<ChildRow>)>,
}

pub(super) struct ChildRow {
    name: String,
    columns: Vec<(String, Sql)>,
}

/// Validates `input` against `dt` (and child doctypes), fills computed
/// fields, and returns what is to be stored.
pub(super) fn prepare(
    conn: &Connection,
    schema: &Schema,
    dt: &Doctype,
    name: &str,
    input: &Map<String, Value>,
) -> Result<Prepared> {
    let (columns, tables) = prepare_fields(conn, schema, dt, name, input)?;
    let mut columns = columns;
    // Parent-level computed sums over child rows.
    for f in dt.fields.iter() {
        if let Some(Compute::Sum { table, field }) = f.computed() {
            let rows = tables
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, r)| r.as_slice())
                .unwrap_or(&[]);
            let sum: f64 = rows
                .iter()
                .filter_map(|r| r.columns.iter().find(|(k, _)| *k == field))
                .map(|(_, v)| num(v))
                .sum();
            let sum = f.precision().map_or(sum, |p| round_to(sum, p));
            set(&mut columns, &f.name, Sql::Real(sum));
        }
    }
    Ok(Prepared { columns, tables })
}

fn num(v: &Sql) -> f64 {
    match v {
        Sql::Integer(i) => *i as f64,
        Sql::Real(f) => *f,
        _ => 0.0,
    }
}

fn set(columns: &mut Vec<(String, Sql)>, key: &str, v: Sql) {
    match columns.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = v,
        None => columns.push((key.to_string(), v)),
    }
}

type Fields = (Vec<(String, Sql)>, Vec<(String, Vec<ChildRow>)>);

fn prepare_fields(
    conn: &Connection,
    schema: &Schema,
    dt: &Doctype,
    name: &str,
    input: &Map<String, Value>,
) -> Result<Fields> {
    for key in input.keys() {
        if dt.field(key).is_none()
            && !IGNORED_ON_INPUT.contains(&key.as_str())
            && !SYSTEM_FIELDS.contains(&key.as_str())
        {
            let known: Vec<&str> = dt.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(StoreError::field(
                &dt.name,
                key,
                FieldProblem::Unknown,
                format!(
                    "{} has no field '{key}'; its fields are: {}",
                    dt.name,
                    known.join(", ")
                ),
            ));
        }
    }
    let mut columns = Vec::new();
    let mut tables = Vec::new();
    for f in &dt.fields {
        let given = input.get(&f.name).unwrap_or(&Value::Null);
        if f.ty == FieldType::Table {
            let child = schema.get(f.table.as_deref().unwrap_or_default())?;
            let rows = match given {
                Value::Null => vec![],
                Value::Array(rows) => rows.clone(),
                _ => {
                    return Err(StoreError::field(
                        &dt.name,
                        &f.name,
                        FieldProblem::WrongType,
                        format!("{}.{} expects a list of rows", dt.name, f.name),
                    ))
                }
            };
            if f.required && rows.is_empty() {
                return Err(missing(dt, &f.name));
            }
            let mut out = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let Value::Object(row) = row else {
                    return Err(StoreError::field(
                        &dt.name,
                        &f.name,
                        FieldProblem::WrongType,
                        format!("{}.{} row {} must be an object", dt.name, f.name, i + 1),
                    ));
                };
                let row_name = match row.get("name") {
                    Some(Value::String(n)) if valid_name(n) => n.clone(),
                    _ => new_name(),
                };
                let (cols, _) =
                    prepare_fields(conn, schema, child, &row_name, row).map_err(|e| match e {
                        StoreError::Field {
                            field,
                            problem,
                            message,
                            ..
                        } => StoreError::Field {
                            doctype: dt.name.clone(),
                            field: format!("{}[{}].{field}", f.name, i + 1),
                            problem,
                            message: format!("{} row {}: {message}", f.name, i + 1),
                        },
                        other => other,
                    })?;
                out.push(ChildRow {
                    name: row_name,
                    columns: cols,
                });
            }
            tables.push((f.name.clone(), out));
            continue;
        }
        if f.compute.is_some() {
            continue; // filled in below, whatever the caller sent
        }
        let v = to_sql(dt, f, given)?;
        if v == Sql::Null && f.required {
            return Err(missing(dt, &f.name));
        }
        if let (FieldType::Link, Sql::Text(target)) = (f.ty, &v) {
            let target_dt = schema.get(f.link.as_deref().unwrap_or_default())?;
            let exists: Option<i64> = conn
                .prepare_cached(&format!(
                    "SELECT 1 FROM {} WHERE name = ? AND deleted = 0",
                    target_dt.table_name()
                ))?
                .query_row([target], |r| r.get(0))
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::field(
                    &dt.name,
                    &f.name,
                    FieldProblem::BrokenLink,
                    format!(
                        "{}.{} links to {} \"{target}\", which does not exist",
                        dt.name, f.name, target_dt.name
                    ),
                ));
            }
        }
        if f.unique && v != Sql::Null {
            let other: Option<String> = conn
                .prepare_cached(&format!(
                    "SELECT name FROM {} WHERE \"{}\" = ? AND deleted = 0 AND name != ?",
                    dt.table_name(),
                    f.name
                ))?
                .query_row(params![v, name], |r| r.get(0))
                .optional()?;
            if let Some(other) = other {
                return Err(StoreError::field(
                    &dt.name,
                    &f.name,
                    FieldProblem::Duplicate,
                    format!(
                        "{}.{} must be unique: {} {other} already has {}",
                        dt.name,
                        f.name,
                        dt.name,
                        sql_to_json(f.ty, &v)
                    ),
                ));
            }
        }
        columns.push((f.name.clone(), v));
    }
    // Row-level computed products (e.g. amount = quantity * unit_price).
    for f in &dt.fields {
        if let Some(Compute::Product(a, b)) = f.computed() {
            let get = |k: &str| columns.iter().find(|(n, _)| n == k).map(|(_, v)| num(v));
            let x = get(&a).unwrap_or(0.0) * get(&b).unwrap_or(0.0);
            let x = f.precision().map_or(x, |p| round_to(x, p));
            set(&mut columns, &f.name, Sql::Real(x));
        }
    }
    Ok((columns, tables))
}

fn missing(dt: &Doctype, field: &str) -> StoreError {
    let label = dt
        .field(field)
        .and_then(|f| f.label.clone())
        .unwrap_or_else(|| field.to_string());
    StoreError::field(
        &dt.name,
        field,
        FieldProblem::Missing,
        format!("{}.{field} ({label}) is required", dt.name),
    )
}

pub(super) fn store_children(
    conn: &Connection,
    schema: &Schema,
    dt: &Doctype,
    parent: &str,
    p: &Prepared,
) -> Result<()> {
    for f in dt.table_fields() {
        let child = schema.get(f.table.as_deref().unwrap_or_default())?;
        conn.prepare_cached(&format!(
            "DELETE FROM {} WHERE parent = ? AND parenttype = ? AND parentfield = ?",
            child.table_name()
        ))?
        .execute([parent, dt.name.as_str(), f.name.as_str()])?;
        let Some((_, rows)) = p.tables.iter().find(|(t, _)| *t == f.name) else {
            continue;
        };
        for (i, row) in rows.iter().enumerate() {
            let mut cols = vec!["name", "parent", "parenttype", "parentfield", "idx"]
                .into_iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>();
            let mut vals: Vec<Sql> = vec![
                Sql::Text(row.name.clone()),
                Sql::Text(parent.to_string()),
                Sql::Text(dt.name.clone()),
                Sql::Text(f.name.clone()),
                Sql::Integer(i as i64 + 1),
            ];
            for (k, v) in &row.columns {
                cols.push(format!("\"{k}\""));
                vals.push(v.clone());
            }
            let marks = vec!["?"; vals.len()].join(", ");
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                child.table_name(),
                cols.join(", ")
            );
            conn.prepare_cached(&sql)?
                .execute(params_from_iter(vals))
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(err, _)
                        if err.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::BadRequest(format!(
                            "{} row {}: the row name {} is already used by another record",
                            f.name,
                            i + 1,
                            row.name
                        ))
                    }
                    other => other.into(),
                })?;
        }
    }
    Ok(())
}
