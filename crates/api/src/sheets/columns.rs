//! Which field each column of a file fills, and a cell turned into the
//! value that field takes: what a person sees (and may change) in the
//! import dialog before anything is stored.

use outpost_store::import::PARENT_KEY;
use outpost_store::{Doctype, Field, FieldType, Schema};
use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// A field an import can fill: its key and its label.
pub struct Target {
    pub key: String,
    pub label: String,
    /// `None` for `name` and `parent` (text, checked by the store).
    pub field: Option<Field>,
}

/// The fields a file may fill for `doctype` (or, with `table`, for the
/// lines of that table, with `parent` naming the record they join).
pub fn targets(
    schema: &Schema,
    dt: &Doctype,
    table: Option<&str>,
) -> Result<Vec<Target>, ApiError> {
    let mut out = Vec::new();
    let fields_of = match table {
        None => {
            out.push(Target {
                key: "name".into(),
                label: "name".into(),
                field: None,
            });
            dt
        }
        Some(t) => {
            let field = dt
                .field(t)
                .filter(|f| f.ty == FieldType::Table)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{} has no table field '{t}'", dt.name))
                })?;
            out.push(Target {
                key: PARENT_KEY.into(),
                label: dt.name.clone(),
                field: None,
            });
            schema
                .get(field.table.as_deref().unwrap_or_default())
                .map_err(crate::error::from_store)?
        }
    };
    for f in &fields_of.fields {
        if f.ty == FieldType::Table || f.compute.is_some() || f.read_only {
            continue;
        }
        out.push(Target {
            key: f.name.clone(),
            label: f.label.clone().unwrap_or_else(|| f.name.clone()),
            field: Some(f.clone()),
        });
    }
    Ok(out)
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field each header names, by key or label, ignoring case, spaces
/// and punctuation (`Party Name`, `party_name`); each field once.
pub fn guess(headers: &[String], targets: &[Target]) -> Vec<Option<String>> {
    let mut taken: Vec<&str> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let h = norm(h);
            let t = targets.iter().find(|t| {
                !taken.contains(&t.key.as_str()) && (norm(&t.key) == h || norm(&t.label) == h)
            })?;
            taken.push(&t.key);
            Some(t.key.clone())
        })
        .collect()
}

/// Checks a mapping a person chose: one entry per column, known fields,
/// none twice.
pub fn check(
    columns: &[Option<String>],
    headers: &[String],
    targets: &[Target],
) -> Result<(), ApiError> {
    if columns.len() != headers.len() {
        return Err(ApiError::bad_request(format!(
            "the mapping has {} entries but the file has {} columns; give one field (or null to skip) per column",
            columns.len(),
            headers.len()
        )));
    }
    for (i, c) in columns.iter().enumerate() {
        let Some(key) = c else { continue };
        if !targets.iter().any(|t| &t.key == key) {
            let known: Vec<&str> = targets.iter().map(|t| t.key.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "column {} (\"{}\") is mapped to '{key}', which is not a field that can be imported; choose one of: {}",
                i + 1,
                headers[i],
                known.join(", ")
            )));
        }
        if columns[..i].contains(c) {
            return Err(ApiError::bad_request(format!(
                "two columns are mapped to '{key}'; map each field at most once"
            )));
        }
    }
    if columns.iter().all(Option::is_none) {
        return Err(ApiError::bad_request(
            "no column is mapped to a field; map at least one column (the headers did not name any field)",
        ));
    }
    Ok(())
}

/// The record one row makes, or why a cell cannot fill its field.
pub fn record(
    cells: &[Value],
    columns: &[Option<String>],
    targets: &[Target],
) -> Result<Map<String, Value>, (Option<String>, String)> {
    let mut out = Map::new();
    for (cell, key) in cells.iter().zip(columns) {
        let Some(key) = key else { continue };
        let Some(t) = targets.iter().find(|t| &t.key == key) else {
            continue;
        };
        let v = match &t.field {
            None => text(cell),
            Some(f) => cell_value(f, cell).map_err(|m| (Some(key.clone()), m))?,
        };
        if !v.is_null() {
            out.insert(key.clone(), v);
        }
    }
    Ok(out)
}

fn text(cell: &Value) -> Value {
    match cell {
        Value::String(s) if s.trim().is_empty() => Value::Null,
        Value::String(s) => Value::String(s.trim().to_string()),
        Value::Null => Value::Null,
        other => Value::String(other.to_string()),
    }
}

/// A cell as `f` takes it: text from CSV parsed into numbers and yes/no;
/// numbers from XLSX as text for text fields. Anything else is left for
/// the store's own check (the same as a single insert's).
fn cell_value(f: &Field, cell: &Value) -> Result<Value, String> {
    let s = match cell {
        Value::String(s) => s.trim(),
        Value::Number(n) => {
            return Ok(match f.ty {
                FieldType::Data
                | FieldType::Text
                | FieldType::Link
                | FieldType::Select
                | FieldType::Date
                | FieldType::Datetime => Value::String(n.to_string()),
                _ => cell.clone(),
            })
        }
        other => return Ok(other.clone()),
    };
    if s.is_empty() {
        return Ok(Value::Null);
    }
    let wrong = |what: &str| format!("{} expects {what}, got \"{s}\"", f.name);
    Ok(match f.ty {
        FieldType::Int => Value::from(s.parse::<i64>().map_err(|_| wrong("a whole number"))?),
        FieldType::Float | FieldType::Currency => {
            let n: f64 = s.parse().map_err(|_| wrong("a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| wrong("a number"))?
        }
        FieldType::Check => match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "y" | "x" => Value::Bool(true),
            "0" | "false" | "no" | "n" => Value::Bool(false),
            _ => return Err(wrong("yes or no (1/0, true/false)")),
        },
        _ => Value::String(s.to_string()),
    })
}
