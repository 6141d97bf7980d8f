//! Schema migration: brings the SQLite tables in line with the doctype
//! definitions at open, in one transaction, refusing any change that would
//! lose or corrupt stored data.

use rusqlite::types::Value as Sql;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use crate::doctype::{Doctype, Field, FieldType, Schema};
use crate::error::{Result, StoreError};
use crate::values::{sql_to_json, to_sql};

/// Tables the store keeps for itself.
const SYSTEM_TABLES: &str = "
CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _doctypes (name TEXT PRIMARY KEY, definition TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doctype TEXT NOT NULL, name TEXT NOT NULL, rev INTEGER NOT NULL,
    op TEXT NOT NULL, device TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doctype TEXT NOT NULL, name TEXT NOT NULL, rev INTEGER NOT NULL,
    op TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', message TEXT);
CREATE INDEX IF NOT EXISTS _outbox_state ON _outbox(state, seq);
CREATE TABLE IF NOT EXISTS _devices (
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    state TEXT NOT NULL, changed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _requests (
    device TEXT NOT NULL, req_id TEXT NOT NULL, op TEXT NOT NULL,
    response TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (device, req_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _sync_links (
    doctype TEXT NOT NULL, name TEXT NOT NULL, remote_id TEXT NOT NULL,
    hash TEXT NOT NULL, version TEXT, inactive INTEGER NOT NULL DEFAULT 0,
    children TEXT,
    PRIMARY KEY (doctype, name)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS _sync_links_remote ON _sync_links(doctype, remote_id);
CREATE TABLE IF NOT EXISTS _sync_cursors (
    doctype TEXT PRIMARY KEY, stamp TEXT, id TEXT NOT NULL, moved_at TEXT);
CREATE TABLE IF NOT EXISTS _sync_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctype TEXT NOT NULL, name TEXT, remote_id TEXT,
    kind TEXT NOT NULL, local TEXT, remote TEXT, remote_version TEXT,
    reason TEXT, state TEXT NOT NULL, requested TEXT,
    at TEXT NOT NULL, resolved_at TEXT);
CREATE INDEX IF NOT EXISTS _sync_conflicts_state ON _sync_conflicts(state, doctype, name);
CREATE TABLE IF NOT EXISTS _sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sync_bytes (
    day TEXT PRIMARY KEY, sent INTEGER NOT NULL, received INTEGER NOT NULL);
";

/// A change to the store's own tables made after they were first shipped,
/// applied once to each database file.
struct SystemStep {
    what: &'static str,
    apply: fn(&Transaction, &Schema) -> Result<()>,
}

/// The steps, in order; how many a file has had is its `user_version`. A
/// new step goes at the end, never in between.
const SYSTEM_STEPS: &[SystemStep] = &[
    SystemStep {
        what: "indexes for compaction",
        apply: compaction_indexes,
    },
    SystemStep {
        what: "people, their sign-ins, and each record's history",
        apply: people_and_history,
    },
];

/// Applies the steps this file has not had, in the migration's transaction.
fn apply_system_steps(tx: &Transaction, stored: &Schema) -> Result<()> {
    let done: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (n, step) in SYSTEM_STEPS.iter().enumerate().skip(done.max(0) as usize) {
        (step.apply)(tx, stored)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1))?;
        tracing::info!(step = n + 1, what = step.what, "office database upgraded");
    }
    Ok(())
}

/// What compaction looks rows up by ([`crate::compact`]): stamps of the
/// change log, request ids and settled conflicts, the outbox by record, and
/// each doctype's tombstones by age. Doctypes made later get theirs in
/// `create_doctype`.
fn compaction_indexes(tx: &Transaction, stored: &Schema) -> Result<()> {
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS _changes_at ON _changes(at);
         CREATE INDEX IF NOT EXISTS _requests_at ON _requests(at);
         CREATE INDEX IF NOT EXISTS _outbox_record ON _outbox(doctype, name);
         CREATE INDEX IF NOT EXISTS _sync_conflicts_settled ON _sync_conflicts(resolved_at)
           WHERE state != 'open';",
    )?;
    for dt in stored.doctypes.values().filter(|d| !d.child) {
        tombstone_index(tx, dt)?;
    }
    Ok(())
}

/// Users (`crate::users`), their open sign-ins (token hashes), and each
/// record's history (`crate::history`), kept apart from the change log
/// that compaction trims.
fn people_and_history(tx: &Transaction, _: &Schema) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _users (
             name TEXT PRIMARY KEY COLLATE NOCASE, role TEXT NOT NULL, hash TEXT NOT NULL,
             disabled INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, changed TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS _signins (
             token TEXT PRIMARY KEY, user TEXT NOT NULL COLLATE NOCASE, device TEXT NOT NULL,
             expires INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS _signins_user ON _signins(user);
         CREATE TABLE IF NOT EXISTS _history (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             doctype TEXT NOT NULL, name TEXT NOT NULL, rev INTEGER NOT NULL, op TEXT NOT NULL,
             user TEXT, device TEXT NOT NULL, at TEXT NOT NULL, fields TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS _history_record ON _history(doctype, name, seq);",
    )?;
    Ok(())
}

/// A doctype's tombstones by age: small (deleted records only), and what
/// compaction reads first.
fn tombstone_index(tx: &Transaction, dt: &Doctype) -> Result<()> {
    tx.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS \"tomb {}\" ON {} (modified) WHERE deleted = 1;",
        dt.name,
        dt.table_name()
    ))?;
    Ok(())
}

pub fn create_system_tables(conn: &Connection) -> Result<()> {
    conn.execute_batch(SYSTEM_TABLES)?;
    // Columns added since a table was first made.
    let has_children: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('_sync_links') WHERE name = 'children'")?
        .exists([])?;
    if !has_children {
        conn.execute_batch("ALTER TABLE _sync_links ADD COLUMN children TEXT")?;
    }
    Ok(())
}

/// The schema as last applied to this database file.
pub fn stored_schema(conn: &Connection) -> Result<Schema> {
    let mut schema = Schema::default();
    let mut stmt = conn.prepare("SELECT name, definition FROM _doctypes")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, def) = row?;
        let dt: Doctype = serde_json::from_str(&def).map_err(|e| StoreError::Definition {
            source_name: format!("stored doctype {name}"),
            message: e.to_string(),
        })?;
        schema.doctypes.insert(name, dt);
    }
    Ok(schema)
}

/// Applies `wanted` over what the file holds. Doctypes that the files no
/// longer define are kept as stored: dropping one would drop its records.
pub fn migrate(conn: &mut Connection, wanted: &Schema, now: &str) -> Result<Schema> {
    // Names go into DDL: only a checked schema gets this far.
    wanted.check()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    create_system_tables(&tx)?;
    let stored = stored_schema(&tx)?;
    apply_system_steps(&tx, &stored)?;
    let mut result = stored.clone();
    for dt in wanted.doctypes.values() {
        match stored.doctypes.get(&dt.name) {
            None => create_doctype(&tx, dt)?,
            Some(old) if old == dt => continue,
            Some(old) => alter_doctype(&tx, wanted, old, dt)?,
        }
        tx.execute(
            "INSERT INTO _doctypes (name, definition, updated) VALUES (?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, updated = excluded.updated",
            params![dt.name, serde_json::to_string(dt).unwrap_or_default(), now],
        )?;
        result.doctypes.insert(dt.name.clone(), dt.clone());
        tracing::info!(doctype = %dt.name, "doctype schema applied");
    }
    result.check()?;
    tx.commit()?;
    Ok(result)
}

fn column_def(f: &Field) -> Option<String> {
    f.ty.column_type().map(|t| format!("\"{}\" {t}", f.name))
}

fn create_doctype(tx: &Transaction, dt: &Doctype) -> Result<()> {
    let mut cols = vec!["name TEXT PRIMARY KEY NOT NULL".to_string()];
    if dt.child {
        cols.extend(
            [
                "parent TEXT NOT NULL",
                "parenttype TEXT NOT NULL",
                "parentfield TEXT NOT NULL",
                "idx INTEGER NOT NULL",
            ]
            .map(String::from),
        );
    }
    // Child rows carry these too (unused), so one reader serves both kinds.
    cols.extend(
        [
            "rev INTEGER NOT NULL DEFAULT 1",
            "created TEXT",
            "modified TEXT NOT NULL DEFAULT ''",
            "modified_by TEXT NOT NULL DEFAULT ''",
            "deleted INTEGER NOT NULL DEFAULT 0",
        ]
        .map(String::from),
    );
    cols.extend(dt.fields.iter().filter_map(column_def));
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} ({});",
        dt.table_name(),
        cols.join(", ")
    ))?;
    if dt.child {
        tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"idx {0} parent\" ON {1} (parent, parentfield, idx);",
            dt.name,
            dt.table_name()
        ))?;
    } else {
        tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"idx {0} modified\" ON {1} (modified);",
            dt.name,
            dt.table_name()
        ))?;
        tombstone_index(tx, dt)?;
    }
    for f in &dt.fields {
        create_indexes(tx, dt, f)?;
    }
    Ok(())
}

fn index_name(dt: &Doctype, f: &Field, kind: &str) -> String {
    format!("\"{kind} {} {}\"", dt.name, f.name)
}

/// An indexed field gets `(field, modified)`, so a filter on it sorted by
/// last change (what every list shows) reads only the rows it returns.
fn create_indexes(tx: &Transaction, dt: &Doctype, f: &Field) -> Result<()> {
    if f.wants_index() {
        let cols = if dt.child {
            format!("\"{}\"", f.name)
        } else {
            format!("\"{}\", modified", f.name)
        };
        tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({cols});",
            index_name(dt, f, "idx"),
            dt.table_name()
        ))?;
    }
    if f.unique {
        tx.execute_batch(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (\"{}\") WHERE deleted = 0;",
            index_name(dt, f, "uniq"),
            dt.table_name(),
            f.name
        ))?;
    }
    Ok(())
}

fn drop_indexes(tx: &Transaction, dt: &Doctype, f: &Field) -> Result<()> {
    tx.execute_batch(&format!(
        "DROP INDEX IF EXISTS {}; DROP INDEX IF EXISTS {};",
        index_name(dt, f, "idx"),
        index_name(dt, f, "uniq")
    ))?;
    Ok(())
}

fn count_where(tx: &Transaction, dt: &Doctype, cond: &str) -> Result<i64> {
    Ok(tx.query_row(
        &format!("SELECT count(*) FROM {} WHERE {cond}", dt.table_name()),
        [],
        |r| r.get(0),
    )?)
}

fn refuse(msg: String) -> StoreError {
    StoreError::Migration(msg)
}

fn alter_doctype(tx: &Transaction, wanted: &Schema, old: &Doctype, new: &Doctype) -> Result<()> {
    let rows = count_where(tx, old, "1")?;
    if old.child != new.child {
        if rows > 0 {
            return Err(refuse(format!(
                "{} holds {rows} records; it cannot switch between child table and standalone doctype",
                new.name
            )));
        }
        // Empty: the two kinds have different system columns; start afresh.
        tx.execute_batch(&format!("DROP TABLE {};", old.table_name()))?;
        return create_doctype(tx, new);
    }
    // Removed fields: only when nothing is stored in them.
    for f in &old.fields {
        if new.field(&f.name).is_some() {
            continue;
        }
        if f.ty == FieldType::Table {
            let child = wanted.get(f.table.as_deref().unwrap_or_default())?;
            let n: i64 = tx.query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE parenttype = ? AND parentfield = ?",
                    child.table_name()
                ),
                params![old.name, f.name],
                |r| r.get(0),
            )?;
            if n > 0 {
                return Err(refuse(format!("removing {}.{} would lose {n} rows stored in it; keep the field, or clear those rows first", new.name, f.name)));
            }
            continue;
        }
        let n = count_where(tx, old, &format!("\"{}\" IS NOT NULL", f.name))?;
        if n > 0 {
            return Err(refuse(format!(
                "removing {}.{} would lose the values stored in {n} records; keep the field, or clear it in those records first",
                new.name, f.name
            )));
        }
        drop_indexes(tx, old, f)?;
        tx.execute_batch(&format!(
            "ALTER TABLE {} DROP COLUMN \"{}\";",
            old.table_name(),
            f.name
        ))?;
    }
    for f in &new.fields {
        match old.field(&f.name) {
            None => {
                if let Some(def) = column_def(f) {
                    if f.required && rows > 0 {
                        return Err(refuse(format!(
                            "{}.{} is new and required, but the {rows} existing records have no value for it; add it as optional first",
                            new.name, f.name
                        )));
                    }
                    tx.execute_batch(&format!(
                        "ALTER TABLE {} ADD COLUMN {def};",
                        new.table_name()
                    ))?;
                }
            }
            Some(of) if of == f => {}
            Some(of) => {
                if of.ty == FieldType::Table || f.ty == FieldType::Table {
                    if of.ty != f.ty || of.table != f.table {
                        return Err(refuse(format!(
                            "{}.{} cannot change between a table and a value, or to another child doctype; add a new field instead",
                            new.name, f.name
                        )));
                    }
                    continue;
                }
                revalidate(tx, new, of, f)?;
            }
        }
        if f.has_column() {
            let before = old.field(&f.name);
            if before.is_some_and(|b| b.wants_index() != f.wants_index() || b.unique != f.unique)
                || before.is_none()
            {
                drop_indexes(tx, new, f)?;
            }
            if f.unique && before.is_none_or(|b| !b.unique) {
                let dup: Option<String> = tx
                    .query_row(
                        &format!(
                            "SELECT \"{0}\" FROM {1} WHERE deleted = 0 AND \"{0}\" IS NOT NULL GROUP BY \"{0}\" HAVING count(*) > 1 LIMIT 1",
                            f.name,
                            new.table_name()
                        ),
                        [],
                        |r| r.get(0),
                    )
                    .ok();
                if let Some(v) = dup {
                    return Err(refuse(format!(
                        "{}.{} cannot become unique: several records share the value \"{v}\"",
                        new.name, f.name
                    )));
                }
            }
            create_indexes(tx, new, f)?;
        }
    }
    Ok(())
}

/// Whether rewriting `old` as `new` keeps what the clerk typed: the same
/// number in another storage class, a number written as text, or the same
/// text in the spelling of a select option. Rounding, "007" becoming 7,
/// "1e3" becoming 1000 are losses.
fn lossless(old: &Sql, new: &Sql) -> bool {
    match (old, new) {
        (Sql::Integer(a), Sql::Real(b)) => (*a as f64) == *b,
        (Sql::Real(a), Sql::Integer(b)) => *a == (*b as f64),
        (Sql::Real(a), Sql::Real(b)) => a == b,
        (Sql::Integer(a), Sql::Integer(b)) => a == b,
        (Sql::Text(t), Sql::Integer(n)) => t.trim() == n.to_string(),
        (Sql::Text(t), Sql::Real(x)) => t.trim() == format!("{x}"),
        (Sql::Integer(n), Sql::Text(t)) => *t == n.to_string(),
        (Sql::Real(x), Sql::Text(t)) => *t == format!("{x}"),
        (Sql::Text(a), Sql::Text(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

fn show(v: &Sql) -> String {
    match v {
        Sql::Null => "nothing".into(),
        Sql::Integer(i) => i.to_string(),
        Sql::Real(x) => format!("{x}"),
        Sql::Text(t) => format!("\"{t}\""),
        Sql::Blob(_) => "binary data".into(),
    }
}

/// A changed field (type, options, link target, required): every stored value
/// must still be valid under the new definition; values are rewritten in
/// the new type's storage form.
fn revalidate(tx: &Transaction, dt: &Doctype, old: &Field, new: &Field) -> Result<()> {
    let live_only = if dt.child { "1" } else { "deleted = 0" };
    if new.required && !old.required {
        let n = count_where(tx, dt, &format!("{live_only} AND \"{}\" IS NULL", new.name))?;
        if n > 0 {
            return Err(refuse(format!(
                "{}.{} cannot become required: {n} records have no value for it; fill them in first",
                dt.name, new.name
            )));
        }
    }
    if let (FieldType::Link, Some(target)) = (new.ty, &new.link) {
        if old.ty != FieldType::Link || old.link != new.link {
            check_link_targets(tx, dt, new, target)?;
        }
    }
    let mut stmt = tx.prepare(&format!(
        "SELECT name, \"{}\" FROM {} WHERE \"{0}\" IS NOT NULL",
        new.name,
        dt.table_name()
    ))?;
    let rows: Vec<(String, Sql)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    let mut rewritten = Vec::new();
    for (name, v) in rows {
        let as_json: Value = sql_to_json(old.ty, &v);
        // Numbers may become text and back: compare what the new type accepts.
        let input = match (&as_json, new.ty) {
            (Value::Number(n), FieldType::Data | FieldType::Text) => Value::String(n.to_string()),
            (Value::Bool(b), FieldType::Int | FieldType::Float) => Value::from(*b as i64),
            (Value::String(s), FieldType::Int | FieldType::Float | FieldType::Currency) => {
                number_in_text(s).unwrap_or_else(|| as_json.clone())
            }
            _ => as_json.clone(),
        };
        let converted = to_sql(dt, new, &input).map_err(|e| {
            refuse(format!(
                "changing {}.{} ({} to {}) does not fit the value stored in {} {name}: {e}",
                dt.name,
                new.name,
                old.ty.as_str(),
                new.ty.as_str(),
                dt.name
            ))
        })?;
        if converted != v {
            if !lossless(&v, &converted) {
                return Err(refuse(format!(
                    "changing {}.{} ({} to {}) would change the value stored in {} {name} from {} to {}; keep the field as it is, or add a new field",
                    dt.name,
                    new.name,
                    old.ty.as_str(),
                    new.ty.as_str(),
                    dt.name,
                    show(&v),
                    show(&converted)
                )));
            }
            rewritten.push((name, converted));
        }
    }
    if old.ty.column_type() != new.ty.column_type() {
        // SQLite cannot change a column's type, and the old column's
        // affinity would turn the rewritten values back (an int stored in a
        // TEXT column is kept as text and compared as text). So the column
        // is rebuilt; its indexes are made again by the caller.
        let tmp = format!("{}__retype", new.name);
        let def = new.ty.column_type().unwrap_or("TEXT");
        let table = dt.table_name();
        drop_indexes(tx, dt, new)?;
        tx.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN \"{tmp}\" {def};
             UPDATE {table} SET \"{tmp}\" = \"{0}\";
             ALTER TABLE {table} DROP COLUMN \"{0}\";
             ALTER TABLE {table} RENAME COLUMN \"{tmp}\" TO \"{0}\";",
            new.name
        ))?;
    }
    let sql = format!(
        "UPDATE {} SET \"{}\" = ? WHERE name = ?",
        dt.table_name(),
        new.name
    );
    for (name, v) in rewritten {
        tx.execute(&sql, params![v, name])?;
    }
    Ok(())
}

/// A number written as text ("12", " 3.5 "), for a field becoming numeric.
fn number_in_text(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// A field that becomes a link (or links elsewhere): every stored value must
/// name a record of the target doctype.
fn check_link_targets(tx: &Transaction, dt: &Doctype, f: &Field, target: &str) -> Result<()> {
    let target_table: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        [format!("tab {target}")],
        |r| r.get(0),
    )?;
    let exists = if target_table > 0 {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM {} t WHERE t.name = c.\"{}\")",
            crate::doctype::table_name(target),
            f.name
        )
    } else {
        String::new()
    };
    let broken: Option<(String, String)> = tx
        .query_row(
            &format!(
                "SELECT c.name, CAST(c.\"{0}\" AS TEXT) FROM {1} c WHERE c.\"{0}\" IS NOT NULL{exists} LIMIT 1",
                f.name,
                dt.table_name()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((name, value)) = broken {
        return Err(refuse(format!(
            "{}.{} cannot link to {target}: {} {name} holds \"{value}\", which is not a {target}",
            dt.name, f.name, dt.name
        )));
    }
    Ok(())
}
