//! Records: reading them back as JSON and the three writes (insert, update,
//! delete), each validated against its doctype and logged in the same
//! transaction as the change itself.

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::doctype::{Doctype, FieldType, Schema};
use crate::error::{Result, StoreError};

use crate::values::to_json;

mod prepare;

use prepare::{prepare, store_children};

/// Who writes, and under which request id (for idempotent retries).
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    /// Device id (fingerprint) or a local label such as `cli`.
    pub device: String,
    /// The signed-in user, for the record's history (`None`: nobody).
    pub user: Option<String>,
    /// The caller's request id; a repeated id is answered from the stored
    /// result instead of being applied again.
    pub request_id: Option<String>,
    /// The write applies a change pulled from the upstream ERP: it is
    /// logged for slaves but not put in the outbox (it would echo back).
    pub from_upstream: bool,
}

/// Keys a caller may send that the store sets itself; they are ignored on input.
const IGNORED_ON_INPUT: &[&str] = &[
    "rev",
    "created",
    "modified",
    "modified_by",
    "doctype",
    "deleted",
];

/// Reads one record (with child rows). Returns `None` when it does not exist;
/// the flag says whether it is a tombstone.
pub fn read_record(
    conn: &Connection,
    schema: &Schema,
    dt: &Doctype,
    name: &str,
) -> Result<Option<(Value, bool)>> {
    let cols: Vec<&str> = dt.column_fields().map(|f| f.name.as_str()).collect();
    let mut sql = String::from("SELECT name, rev, created, modified, modified_by, deleted");
    for c in &cols {
        sql.push_str(", \"");
        sql.push_str(c);
        sql.push('"');
    }
    sql.push_str(" FROM ");
    sql.push_str(&dt.table_name());
    sql.push_str(" WHERE name = ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([name])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut map = Map::with_capacity(cols.len() + 8);
    map.insert("doctype".into(), Value::String(dt.name.clone()));
    map.insert("name".into(), to_json(FieldType::Data, row.get_ref(0)?));
    map.insert("rev".into(), to_json(FieldType::Int, row.get_ref(1)?));
    map.insert("created".into(), to_json(FieldType::Data, row.get_ref(2)?));
    map.insert("modified".into(), to_json(FieldType::Data, row.get_ref(3)?));
    map.insert(
        "modified_by".into(),
        to_json(FieldType::Data, row.get_ref(4)?),
    );
    let deleted: i64 = row.get(5)?;
    let mut i = 6;
    for f in &dt.fields {
        if f.has_column() {
            map.insert(f.name.clone(), to_json(f.ty, row.get_ref(i)?));
            i += 1;
        }
    }
    drop(rows);
    drop(stmt);
    for f in dt.table_fields() {
        let child = schema.get(f.table.as_deref().unwrap_or_default())?;
        map.insert(
            f.name.clone(),
            Value::Array(read_children(conn, child, name, &dt.name, &f.name)?),
        );
    }
    if deleted != 0 {
        map.insert("deleted".into(), Value::Bool(true));
    }
    Ok(Some((Value::Object(map), deleted != 0)))
}

pub(crate) fn read_children(
    conn: &Connection,
    child: &Doctype,
    parent: &str,
    parenttype: &str,
    parentfield: &str,
) -> Result<Vec<Value>> {
    let cols: Vec<&str> = child.column_fields().map(|f| f.name.as_str()).collect();
    let mut sql = String::from("SELECT name, idx");
    for c in &cols {
        sql.push_str(&format!(", \"{c}\""));
    }
    sql.push_str(&format!(
        " FROM {} WHERE parent = ? AND parenttype = ? AND parentfield = ? ORDER BY idx",
        child.table_name()
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([parent, parenttype, parentfield])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut m = Map::new();
        m.insert("name".into(), to_json(FieldType::Data, row.get_ref(0)?));
        m.insert("idx".into(), to_json(FieldType::Int, row.get_ref(1)?));
        for (i, f) in child.column_fields().enumerate() {
            m.insert(f.name.clone(), to_json(f.ty, row.get_ref(i + 2)?));
        }
        out.push(Value::Object(m));
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && !name.chars().any(|c| c.is_control())
        && name.trim() == name
}

fn new_name() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What a device may set: read-only fields (set by the upstream sync only)
/// are dropped from its input, as the system fields are.
fn device_input<'a>(
    dt: &Doctype,
    ctx: &WriteCtx,
    input: &'a Map<String, Value>,
) -> std::borrow::Cow<'a, Map<String, Value>> {
    if ctx.from_upstream
        || !dt
            .fields
            .iter()
            .any(|f| f.read_only && input.contains_key(&f.name))
    {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut own = input.clone();
    for f in dt.fields.iter().filter(|f| f.read_only) {
        own.remove(&f.name);
    }
    std::borrow::Cow::Owned(own)
}

fn writable(schema: &Schema, doctype: &str) -> Result<Doctype> {
    let dt = schema.get(doctype)?;
    if dt.child {
        return Err(StoreError::BadRequest(format!(
            "{doctype} is a child table; edit its rows inside the parent record"
        )));
    }
    Ok(dt.clone())
}

pub(crate) fn insert(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    doctype: &str,
    record: &Map<String, Value>,
) -> Result<Value> {
    let dt = writable(schema, doctype)?;
    let own = device_input(&dt, ctx, record);
    let record: &Map<String, Value> = &own;
    let name = match record.get("name") {
        None | Some(Value::Null) => new_name(),
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        Some(other) => {
            return Err(StoreError::BadRequest(format!(
                "a record name must be text of 1 to 140 characters without line breaks or outer spaces; got {other}"
            )))
        }
    };
    let exists: Option<i64> = conn
        .prepare_cached(&format!(
            "SELECT deleted FROM {} WHERE name = ?",
            dt.table_name()
        ))?
        .query_row([&name], |r| r.get(0))
        .optional()?;
    if let Some(deleted) = exists {
        return Err(StoreError::BadRequest(format!(
            "{doctype} {name} already exists{}; update it instead, or insert without a name",
            if deleted != 0 { " (deleted)" } else { "" }
        )));
    }
    let p = prepare(conn, schema, &dt, &name, record)?;
    let mut cols = vec![
        "name".to_string(),
        "rev".into(),
        "created".into(),
        "modified".into(),
        "modified_by".into(),
        "deleted".into(),
    ];
    let mut vals = vec![
        Sql::Text(name.clone()),
        Sql::Integer(1),
        Sql::Text(now.to_string()),
        Sql::Text(now.to_string()),
        Sql::Text(ctx.device.clone()),
        Sql::Integer(0),
    ];
    for (k, v) in &p.columns {
        cols.push(format!("\"{k}\""));
        vals.push(v.clone());
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        dt.table_name(),
        cols.join(", "),
        vec!["?"; vals.len()].join(", ")
    );
    conn.prepare_cached(&sql)?.execute(params_from_iter(vals))?;
    store_children(conn, schema, &dt, &name, &p)?;
    finish(conn, schema, ctx, now, &dt, &name, 1, "insert", None)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn update(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    doctype: &str,
    name: &str,
    rev: i64,
    changes: &Map<String, Value>,
) -> Result<Value> {
    let dt = writable(schema, doctype)?;
    let own = device_input(&dt, ctx, changes);
    let changes: &Map<String, Value> = &own;
    let current = live(conn, schema, &dt, name)?;
    check_rev(&dt, name, rev, &current)?;
    let mut merged = current.as_object().cloned().unwrap_or_default();
    for (k, v) in changes {
        if k == "name" && v.as_str().is_some_and(|n| n != name) {
            return Err(StoreError::BadRequest(format!(
                "a record cannot be renamed ({name} -> {v})"
            )));
        }
        merged.insert(k.clone(), v.clone());
    }
    let p = prepare(conn, schema, &dt, name, &merged)?;
    let new_rev = rev + 1;
    let mut sets = vec![
        "rev = ?".to_string(),
        "modified = ?".into(),
        "modified_by = ?".into(),
    ];
    let mut vals = vec![
        Sql::Integer(new_rev),
        Sql::Text(now.to_string()),
        Sql::Text(ctx.device.clone()),
    ];
    for (k, v) in &p.columns {
        sets.push(format!("\"{k}\" = ?"));
        vals.push(v.clone());
    }
    vals.push(Sql::Text(name.to_string()));
    let sql = format!(
        "UPDATE {} SET {} WHERE name = ?",
        dt.table_name(),
        sets.join(", ")
    );
    conn.prepare_cached(&sql)?.execute(params_from_iter(vals))?;
    store_children(conn, schema, &dt, name, &p)?;
    finish(
        conn,
        schema,
        ctx,
        now,
        &dt,
        name,
        new_rev,
        "update",
        Some(&current),
    )
}

pub(crate) fn live(conn: &Connection, schema: &Schema, dt: &Doctype, name: &str) -> Result<Value> {
    match read_record(conn, schema, dt, name)? {
        Some((v, false)) => Ok(v),
        Some((_, true)) => Err(StoreError::Deleted {
            doctype: dt.name.clone(),
            name: name.to_string(),
        }),
        None => Err(StoreError::NotFound {
            doctype: dt.name.clone(),
            name: name.to_string(),
        }),
    }
}

fn check_rev(dt: &Doctype, name: &str, rev: i64, current: &Value) -> Result<()> {
    let current_rev = current["rev"].as_i64().unwrap_or_default();
    if rev != current_rev {
        return Err(StoreError::Conflict {
            doctype: dt.name.clone(),
            name: name.to_string(),
            yours: rev,
            current_rev,
            modified_by: current["modified_by"]
                .as_str()
                .unwrap_or("someone")
                .to_string(),
            current: Box::new(current.clone()),
        });
    }
    Ok(())
}

pub(crate) fn delete(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    doctype: &str,
    name: &str,
    rev: Option<i64>,
) -> Result<Value> {
    let dt = writable(schema, doctype)?;
    let current = live(conn, schema, &dt, name)?;
    if let Some(rev) = rev {
        check_rev(&dt, name, rev, &current)?;
    }
    check_unused(conn, schema, &dt, name)?;
    let new_rev = current["rev"].as_i64().unwrap_or_default() + 1;
    conn.prepare_cached(&format!(
        "UPDATE {} SET deleted = 1, rev = ?, modified = ?, modified_by = ? WHERE name = ?",
        dt.table_name()
    ))?
    .execute(params![new_rev, now, ctx.device, name])?;
    finish(
        conn,
        schema,
        ctx,
        now,
        &dt,
        name,
        new_rev,
        "delete",
        Some(&current),
    )
}

/// Refuses to delete a record that live records still link to.
fn check_unused(conn: &Connection, schema: &Schema, dt: &Doctype, name: &str) -> Result<()> {
    for other in schema.doctypes.values() {
        for f in other
            .fields
            .iter()
            .filter(|f| f.link.as_deref() == Some(&dt.name))
        {
            let hit: Option<(String, String)> = if other.child {
                // A child row counts only while its parent is live.
                let parents: Vec<&Doctype> = schema
                    .doctypes
                    .values()
                    .filter(|p| {
                        p.table_fields()
                            .any(|t| t.table.as_deref() == Some(&other.name))
                    })
                    .collect();
                let mut found = None;
                for p in parents {
                    let sql = format!(
                        "SELECT c.parent, ?1 FROM {} c JOIN {} p ON p.name = c.parent \
                         WHERE c.parenttype = ?1 AND c.\"{}\" = ?2 AND p.deleted = 0 LIMIT 1",
                        other.table_name(),
                        p.table_name(),
                        f.name
                    );
                    found = conn
                        .prepare_cached(&sql)?
                        .query_row(params![p.name, name], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if found.is_some() {
                        break;
                    }
                }
                found
            } else {
                let sql = format!(
                    "SELECT name, ? FROM {} WHERE \"{}\" = ? AND deleted = 0 LIMIT 1",
                    other.table_name(),
                    f.name
                );
                conn.prepare_cached(&sql)?
                    .query_row(params![other.name, name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
            };
            if let Some((used_by_name, used_by_doctype)) = hit {
                return Err(StoreError::InUse {
                    doctype: dt.name.clone(),
                    name: name.to_string(),
                    used_by_doctype,
                    used_by_name,
                    field: f.name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Logs the change (the outbox entry, and the record's history, from
/// `before`) and returns the record as stored.
#[allow(clippy::too_many_arguments)]
fn finish(
    conn: &Connection,
    schema: &Schema,
    ctx: &WriteCtx,
    now: &str,
    dt: &Doctype,
    name: &str,
    rev: i64,
    op: &str,
    before: Option<&Value>,
) -> Result<Value> {
    let (record, _) = read_record(conn, schema, dt, name)?.ok_or_else(|| StoreError::NotFound {
        doctype: dt.name.clone(),
        name: name.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT INTO _changes (doctype, name, rev, op, device, at) VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![dt.name, name, rev, op, ctx.device, now])?;
    crate::history::note(conn, ctx, now, dt, name, rev, op, before, &record)?;
    if dt.sync && !ctx.from_upstream {
        conn.prepare_cached(
            "INSERT INTO _outbox (doctype, name, rev, op, payload, at) VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![dt.name, name, rev, op, record.to_string(), now])?;
    }
    Ok(record)
}
