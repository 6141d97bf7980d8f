//! The master's record of its backups (`backups.json`), how they stand
//! (good, failed, overdue), and what a damaged database's message says.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{integrity_check, BackupInfo, BACKUP_LOG, KEEP_GOOD};
use crate::error::{Result, StoreError};
use crate::values::now_utc;

/// The master's record of its backups, in `backups.json` in the data
/// folder (outside the database, so it can be read when the database is
/// damaged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupLog {
    /// The last attempt, good or not.
    pub last: Option<Attempt>,
    /// Good backups, newest first.
    pub good: Vec<BackupInfo>,
}

/// One backup attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attempt {
    pub at: String,
    /// Where it was written (or was to be).
    pub path: String,
    /// Why it failed; `None` when it worked.
    pub error: Option<String>,
}

impl BackupLog {
    pub fn path(data: &Path) -> PathBuf {
        data.join(BACKUP_LOG)
    }

    /// Reads the log; a missing or unreadable one is empty.
    pub fn load(data: &Path) -> BackupLog {
        std::fs::read(BackupLog::path(data))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records an attempt (atomically: a crash leaves the old or the new).
    pub fn record(data: &Path, path: &Path, outcome: &Result<BackupInfo>) -> Result<()> {
        let mut log = BackupLog::load(data);
        match outcome {
            Ok(info) => {
                log.last = Some(Attempt {
                    at: info.at.clone(),
                    path: info.path.clone(),
                    error: None,
                });
                log.good.retain(|g| g.path != info.path);
                log.good.insert(0, info.clone());
                log.good.truncate(KEEP_GOOD);
            }
            Err(e) => {
                log.last = Some(Attempt {
                    at: now_utc(),
                    path: std::path::absolute(path)
                        .unwrap_or_else(|_| path.to_path_buf())
                        .display()
                        .to_string(),
                    error: Some(e.to_string()),
                })
            }
        }
        let tmp = data.join(format!("{BACKUP_LOG}.tmp"));
        let bytes =
            serde_json::to_vec_pretty(&log).map_err(|e| StoreError::BadRequest(e.to_string()))?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, BackupLog::path(data))?;
        Ok(())
    }

    /// Forgets good backups whose file is gone (rotated away, deleted).
    pub fn forget_missing(&mut self) {
        self.good.retain(|g| Path::new(&g.path).is_file());
    }

    /// The newest good backup whose file is still there.
    pub fn newest_good(&self) -> Option<&BackupInfo> {
        self.good.iter().find(|g| Path::new(&g.path).is_file())
    }
}

/// What to tell a person whose database is damaged.
pub fn damaged_advice(data: &Path) -> String {
    match BackupLog::load(data).newest_good() {
        Some(b) => format!(
            "the newest good backup is {} (taken {}); restore it with: outpost restore --from {} --data {}",
            b.path,
            b.at,
            b.path,
            data.display()
        ),
        None => format!(
            "no backup of this folder is known; restore one you have with: outpost restore --from FILE --data {}",
            data.display()
        ),
    }
}

/// Checks a database just opened by the master (`quick_check`): a damaged
/// file (or one that is not a database at all) becomes [`StoreError::Damaged`]
/// naming the newest good backup. `configured` is the result of setting the
/// connection up, which is where a file that is not a database fails.
pub(crate) fn check_at_open(path: &Path, conn: &Connection, configured: Result<()>) -> Result<()> {
    let problem = match configured {
        Err(e) => match corruption(&e) {
            Some(p) => p,
            None => return Err(e),
        },
        Ok(()) => match integrity_check(conn, "quick_check") {
            Ok(()) => return Ok(()),
            Err(p) => p,
        },
    };
    Err(damaged(path, problem))
}

/// Turns a corruption error met later (while migrating) into
/// [`StoreError::Damaged`]; other errors pass unchanged.
pub(crate) fn damaged_if_corrupt(path: &Path, e: StoreError) -> StoreError {
    match corruption(&e) {
        Some(p) => damaged(path, p),
        None => e,
    }
}

fn corruption(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, msg))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            Some(msg.clone().unwrap_or_else(|| f.to_string()))
        }
        _ => None,
    }
}

fn damaged(path: &Path, problem: String) -> StoreError {
    let data = path.parent().unwrap_or(Path::new("."));
    tracing::error!(path = %path.display(), %problem, "the office database is damaged");
    StoreError::Damaged {
        path: path.to_path_buf(),
        problem,
        advice: damaged_advice(data),
    }
}

/// How the master's backups stand, for the Master screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum BackupHealth {
    /// No schedule is set and no backup was ever taken.
    Never,
    /// The last backup worked and is recent enough.
    Good,
    /// The last attempt failed.
    Failed,
    /// The last good backup is older than two intervals.
    Overdue,
}

impl BackupLog {
    /// How the backups stand at `now`, for a schedule of `every` (none:
    /// backups are taken by hand, so none is ever overdue).
    pub fn health(
        &self,
        every: Option<std::time::Duration>,
        now: time::OffsetDateTime,
    ) -> BackupHealth {
        if self.last.as_ref().is_some_and(|a| a.error.is_some()) {
            return BackupHealth::Failed;
        }
        let Some(good) = self.good.first() else {
            return if every.is_some() {
                BackupHealth::Overdue
            } else {
                BackupHealth::Never
            };
        };
        let Some(every) = every else {
            return BackupHealth::Good;
        };
        let at =
            time::OffsetDateTime::parse(&good.at, &time::format_description::well_known::Rfc3339);
        match at {
            Ok(at) if now - at <= every * 2 => BackupHealth::Good,
            _ => BackupHealth::Overdue,
        }
    }
}
