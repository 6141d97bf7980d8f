//! Backups of the office database: a consistent snapshot taken while the
//! master runs (`VACUUM INTO` inside one read transaction, so it holds every
//! write committed before it began and none half-done), checked with
//! `integrity_check` before it is called done; restore, which checks the
//! file first and keeps the replaced database aside; and the data folder's
//! instance lock, which lets one master at a time use a folder.
//!
//! A backup is one SQLite file: the office database (records, devices,
//! outbox, sync state, request-id answers) plus a `_backup_files` table with
//! the site's doctype files and, only when asked, the data folder's secrets
//! (the master's `identity.pem` and the head-office file); a backup holding
//! secrets is written owner-only.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::store::{DB_FILE, DOCTYPES_DIR};
use crate::values::now_utc;

/// The data folder's secrets, included only with `with_secrets`: the
/// master's identity (its certificate and key: the office's master
/// fingerprint) and the head-office file the desktop's form writes.
pub const SECRET_FILES: [&str; 2] = ["identity.pem", "head-office.toml"];
/// The lock file a running master holds in its data folder.
pub const INSTANCE_LOCK: &str = "master.lock";
/// What the master remembers of its backups (read when the database is
/// found damaged, and by the Master screen).
pub const BACKUP_LOG: &str = "backups.json";
/// Table of the files carried inside a backup.
const FILES_TABLE: &str = "_backup_files";
/// Good backups `backups.json` remembers.
const KEEP_GOOD: usize = 20;

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupInfo {
    pub path: String,
    /// When the snapshot was taken (UTC).
    pub at: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub millis: u64,
    /// Live records, all doctypes together.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub records: u64,
    /// The last change-log entry it holds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_change: i64,
    /// Whether the master's identity and the head-office file are inside.
    pub with_secrets: bool,
}

/// A backup file's own description, stored inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub at: String,
    pub office: Option<String>,
    pub site_id: String,
    pub version: String,
    pub files: Vec<String>,
}

/// Takes a backup of the database in `data` to `to`. Works while a master
/// serves the folder (it only reads). The file appears at `to` only once
/// it passed `integrity_check`; until then it is `to` + `.partial`.
pub fn backup(data: &Path, to: &Path, with_secrets: bool) -> Result<BackupInfo> {
    let started = Instant::now();
    let db = data.join(DB_FILE);
    if !db.exists() {
        return Err(StoreError::BadRequest(format!(
            "there is no office database in {} (no {DB_FILE})",
            data.display()
        )));
    }
    if with_secrets && !data.join(SECRET_FILES[0]).is_file() {
        return Err(StoreError::BadRequest(format!(
            "there is no master identity ({}) in {} to include",
            SECRET_FILES[0],
            data.display()
        )));
    }
    let target = |e: &dyn std::fmt::Display| StoreError::BackupTarget {
        path: to.to_path_buf(),
        problem: e.to_string(),
    };
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| target(&e))?;
    }
    let to = &std::path::absolute(to)?;
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let result = take(data, &db, &partial, with_secrets);
    let (at, records, last_change) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            // The source opened; a failure to write the copy is the target's.
            return Err(match e {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, m))
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::CannotOpen
                            | rusqlite::ErrorCode::ReadOnly
                            | rusqlite::ErrorCode::DiskFull
                            | rusqlite::ErrorCode::SystemIoFailure
                    ) =>
                {
                    target(&m.unwrap_or_else(|| f.to_string()))
                }
                StoreError::Io(io) => target(&io),
                other => other,
            });
        }
    };
    std::fs::rename(&partial, to).map_err(|e| target(&e))?;
    sync_dir(to);
    let bytes = std::fs::metadata(to)?.len();
    Ok(BackupInfo {
        path: to.display().to_string(),
        at,
        bytes,
        millis: started.elapsed().as_millis() as u64,
        records,
        last_change,
        with_secrets,
    })
}

/// The snapshot, its files and its check; returns (taken at, live records,
/// last change seq).
fn take(data: &Path, db: &Path, partial: &Path, with_secrets: bool) -> Result<(String, u64, i64)> {
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(std::time::Duration::from_secs(30))?;
    let at = now_utc();
    // VACUUM INTO reads in one transaction: a consistent snapshot.
    src.execute("VACUUM INTO ?", [partial.to_string_lossy().as_ref()])?;
    drop(src);
    if with_secrets {
        owner_only(partial)?;
    }
    let mut conn = Connection::open(partial)?;
    let tx = conn.transaction()?;
    tx.execute_batch(&format!(
        "CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)"
    ))?;
    let mut files = Vec::new();
    for (name, path) in carried_files(data, with_secrets)? {
        let content = std::fs::read(&path)?;
        tx.execute(
            &format!("INSERT INTO {FILES_TABLE} (name, content) VALUES (?, ?)"),
            params![name, content],
        )?;
        files.push(name);
    }
    let site_id: String = tx
        .query_row("SELECT value FROM _meta WHERE key = 'site_id'", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default();
    let office: Option<String> = tx
        .query_row(
            "SELECT value FROM _meta WHERE key = 'master_name'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let manifest = Manifest {
        at: at.clone(),
        office,
        site_id,
        version: env!("CARGO_PKG_VERSION").to_string(),
        files,
    };
    tx.execute(
        &format!("INSERT INTO {FILES_TABLE} (name, content) VALUES ('manifest.json', ?)"),
        [serde_json::to_vec(&manifest).map_err(|e| StoreError::BadRequest(e.to_string()))?],
    )?;
    tx.commit()?;
    integrity_check(&conn, "integrity_check").map_err(|problem| {
        StoreError::CommitFailed(format!("the new backup failed its check: {problem}"))
    })?;
    let records = live_records(&conn)?;
    let last_change: i64 =
        conn.query_row("SELECT coalesce(max(seq), 0) FROM _changes", [], |r| {
            r.get(0)
        })?;
    conn.execute_batch("PRAGMA journal_mode = DELETE")?;
    drop(conn);
    std::fs::File::open(partial)?.sync_all()?;
    Ok((at, records, last_change))
}

/// The files carried inside a backup: `doctypes/*.json`, and the secrets
/// when asked; as (name inside the backup, path).
fn carried_files(data: &Path, with_secrets: bool) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let dir = data.join(DOCTYPES_DIR);
    if dir.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for p in names {
            if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                out.push((format!("{DOCTYPES_DIR}/{n}"), p.clone()));
            }
        }
    }
    if with_secrets {
        for name in SECRET_FILES {
            let p = data.join(name);
            if p.is_file() {
                out.push((name.to_string(), p));
            }
        }
    }
    Ok(out)
}

/// Live (not deleted) records in every doctype table.
fn live_records(conn: &Connection) -> Result<u64> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tab%'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0u64;
    for t in tables {
        let has_deleted: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{t}') WHERE name = 'deleted'"
            ))?
            .exists([])?;
        let sql = if has_deleted {
            format!("SELECT count(*) FROM \"{t}\" WHERE deleted = 0")
        } else {
            format!("SELECT count(*) FROM \"{t}\"")
        };
        n += conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64;
    }
    Ok(n)
}

/// Opens a database file read-only (to check it).
pub fn open_read_only(path: &Path) -> Result<Connection> {
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Opens a database file to read and write (to fold its WAL in).
pub fn open_read_write(path: &Path) -> Result<Connection> {
    Ok(Connection::open(path)?)
}

/// Runs `PRAGMA integrity_check` or `quick_check`; `Err` holds the first
/// problems it names.
pub fn integrity_check(conn: &Connection, pragma: &str) -> std::result::Result<(), String> {
    let rows: Vec<String> = conn
        .prepare(&format!("PRAGMA {pragma}(5)"))
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| e.to_string())?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(rows.join("; "))
    }
}

/// Checks a backup file: it opens, passes `integrity_check`, and is an
/// Outpost office database. Returns its manifest (`None` for a plain copy
/// of an office database, which restores as well).
pub fn check(file: &Path) -> Result<Option<Manifest>> {
    let bad = |problem: String| StoreError::BadBackup {
        path: file.to_path_buf(),
        problem,
    };
    if !file.is_file() {
        return Err(bad("there is no such file".into()));
    }
    let conn = open_read_only(file).map_err(|e| bad(e.to_string()))?;
    integrity_check(&conn, "integrity_check").map_err(bad)?;
    let site: Option<String> = conn
        .query_row("SELECT value FROM _meta WHERE key = 'site_id'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|_| bad("it is not an Outpost office database".into()))?;
    if site.is_none() {
        return Err(bad("it is not an Outpost office database".into()));
    }
    let manifest: Option<Vec<u8>> = conn
        .query_row(
            &format!("SELECT content FROM {FILES_TABLE} WHERE name = 'manifest.json'"),
            [],
            |r| r.get(0),
        )
        .ok();
    Ok(manifest.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub manifest: Option<Manifest>,
    /// Where the replaced database (and any replaced file) was kept.
    pub kept_aside: Vec<PathBuf>,
    /// Files written into the data folder from the backup.
    pub files: Vec<String>,
}

/// Restores `from` into `data`: checks the file, refuses a folder a master
/// is running on, keeps the replaced database (and any file the backup
/// replaces) aside as `NAME.replaced-STAMP`.
pub fn restore(from: &Path, data: &Path) -> Result<Restored> {
    let manifest = check(from)?;
    std::fs::create_dir_all(data)?;
    let _lock = InstanceLock::acquire(data)?;
    let stamp = now_utc().replace([':', '-', '.'], "");
    let suffix = format!("replaced-{stamp}");
    let db = data.join(DB_FILE);
    let mut kept_aside = Vec::new();
    if db.exists() {
        // Fold the WAL into the file first, so the copy kept aside is whole.
        if let Ok(old) = Connection::open(&db) {
            let _ = old.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        for ext in ["", "-wal", "-shm"] {
            let p = data.join(format!("{DB_FILE}{ext}"));
            if p.exists() {
                let aside = data.join(format!("{DB_FILE}{ext}.{suffix}"));
                std::fs::rename(&p, &aside)?;
                if ext.is_empty() {
                    kept_aside.push(aside);
                }
            }
        }
    }
    let incoming = data.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(from, &incoming)?;
    let mut files = Vec::new();
    {
        let conn = Connection::open(&incoming)?;
        let has_files: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")?
            .exists([FILES_TABLE])?;
        if has_files {
            let rows: Vec<(String, Vec<u8>)> = conn
                .prepare(&format!(
                    "SELECT name, content FROM {FILES_TABLE} WHERE name <> 'manifest.json' ORDER BY name"
                ))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (name, content) in rows {
                if let Some(aside) = write_carried(data, &name, &content, &suffix)? {
                    kept_aside.push(aside);
                }
                files.push(name);
            }
            conn.execute_batch(&format!("DROP TABLE {FILES_TABLE}"))?;
        }
        conn.execute_batch("PRAGMA journal_mode = WAL")?;
    }
    std::fs::File::open(&incoming)?.sync_all()?;
    std::fs::rename(&incoming, &db)?;
    sync_dir(&db);
    Ok(Restored {
        manifest,
        kept_aside,
        files,
    })
}

/// Writes one file carried in a backup into the data folder; a different
/// file already there is kept aside. Only known names are accepted.
fn write_carried(data: &Path, name: &str, content: &[u8], suffix: &str) -> Result<Option<PathBuf>> {
    let secret = SECRET_FILES.contains(&name);
    let doctype_file = name
        .strip_prefix(&format!("{DOCTYPES_DIR}/"))
        .is_some_and(|n| !n.is_empty() && !n.contains(['/', '\\']) && !n.starts_with('.'));
    if !secret && !doctype_file {
        tracing::warn!(name, "backup carries an unknown file; not restored");
        return Ok(None);
    }
    let path = data.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut aside = None;
    if path.exists() {
        if std::fs::read(&path)? == content {
            return Ok(None);
        }
        let a = PathBuf::from(format!("{}.{suffix}", path.display()));
        std::fs::rename(&path, &a)?;
        aside = Some(a);
    }
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        if secret {
            owner_only(&tmp)?;
        }
        f.write_all(content)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(aside)
}

fn partial_path(to: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", to.display()))
}

#[cfg(unix)]
fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !path.exists() {
        std::fs::File::create(path)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> Result<()> {
    Ok(())
}

/// Makes a rename durable (best effort: not every file system syncs a
/// folder).
fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

mod lock;
mod log;

pub use lock::InstanceLock;
pub(crate) use log::{check_at_open, damaged_if_corrupt};
pub use log::{damaged_advice, Attempt, BackupHealth, BackupLog};
