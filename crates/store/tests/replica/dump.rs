//! Every table of a database file, to compare a standby's copy with its
//! primary's, and catching a copy up.

use std::collections::BTreeMap;
use std::path::Path;

use outpost_store::{Replica, Store};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};

/// Every table of a database file (SQLite's `sqlite_sequence` included),
/// each as its rows ordered by primary key, and the schema itself.
pub type Dump = BTreeMap<String, Vec<Vec<Sql>>>;

pub fn dump(path: &Path) -> Dump {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut out = Dump::new();
    let mut schema = conn
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
        )
        .unwrap();
    let rows: Vec<Vec<Sql>> = schema
        .query_map([], |r| (0..4).map(|i| r.get::<_, Sql>(i)).collect())
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    out.insert("(schema)".into(), rows);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for table in tables {
        let keys: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk")
            .unwrap()
            .query_map([&table], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|k| format!("\"{}\"", k.unwrap()))
            .collect();
        // sqlite_sequence has no key: its name column is unique.
        let order = if keys.is_empty() {
            "1".to_string()
        } else {
            keys.join(", ")
        };
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY {order}"))
            .unwrap();
        let n = stmt.column_count();
        let rows: Vec<Vec<Sql>> = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        out.insert(table, rows);
    }
    out
}

/// Asserts two dumps are equal, naming the first table that differs.
pub fn assert_same(primary: &Dump, replica: &Dump) {
    assert_eq!(
        primary.keys().collect::<Vec<_>>(),
        replica.keys().collect::<Vec<_>>()
    );
    for (table, rows) in primary {
        assert_eq!(rows, &replica[table], "table {table} differs");
    }
}

pub fn rows(d: &Dump, table: &str) -> usize {
    d.get(table).map_or(0, Vec::len)
}

/// Applies every changeset the primary holds after the replica's number.
pub fn catch_up(store: &Store, replica: &mut Replica) -> usize {
    let mut applied = 0;
    loop {
        let batch = store.changesets_after(replica.seq(), 100).unwrap();
        if batch.is_empty() {
            return applied;
        }
        for cs in batch {
            replica.apply(cs.seq, &cs.bytes).unwrap();
            applied += 1;
        }
    }
}
