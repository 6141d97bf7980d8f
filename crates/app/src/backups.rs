//! Settings → Backups as a form, and the Master screen's view of backups.
//!
//! The master backs itself up on a schedule (`outpost_node::backups`): every
//! N minutes a checked snapshot into a folder (a USB stick, a NAS mount),
//! keeping the newest K and one a day for D days. Here the schedule is what
//! a clerk types: a folder and whole numbers, checked field by field before
//! anything is saved, so the master never runs a schedule that cannot work
//! from the start (a folder that cannot be written, no interval).

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_node::{BackupSchedule, BackupStatus};
use outpost_store::backup::{Attempt, BackupHealth, BackupInfo};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The file written (and removed) to prove the folder takes files.
const WRITE_PROBE: &str = ".outpost-write-test";

/// The scheduled backups as Settings keep them and as the form edits them.
/// A blank `folder` in the form means "no scheduled backups".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BackupSettings {
    /// The folder backups go to (full path).
    pub folder: String,
    /// Minutes between two backups (at least 1).
    pub every_minutes: u32,
    /// The newest backups kept, whatever their day (at least 1).
    pub keep: u32,
    /// Days for which the day's newest backup is kept as well (0: none).
    pub dailies: u32,
}

impl BackupSettings {
    /// The form before anything is saved: no folder, the master's defaults.
    pub fn blank() -> BackupSettings {
        BackupSettings {
            folder: String::new(),
            every_minutes: minutes(BackupSchedule::DEFAULT_EVERY),
            keep: BackupSchedule::DEFAULT_KEEP as u32,
            dailies: BackupSchedule::DEFAULT_DAILIES as u32,
        }
    }

    /// The schedule the master runs. Values edited by hand in
    /// `settings.json` below the form's minimums are raised to them.
    pub fn to_schedule(&self) -> BackupSchedule {
        BackupSchedule {
            dir: PathBuf::from(self.folder.trim()),
            every: Duration::from_secs(u64::from(self.every_minutes.max(1)) * 60),
            keep: self.keep.max(1) as usize,
            dailies: self.dailies as usize,
        }
    }

    /// The schedule a master runs, as the form shows it (an interval that
    /// is not whole minutes, from `outpost master --backup-every 30s`, is
    /// shown rounded up).
    pub fn from_schedule(s: &BackupSchedule) -> BackupSettings {
        BackupSettings {
            folder: s.dir.display().to_string(),
            every_minutes: minutes(s.every),
            keep: u32::try_from(s.keep).unwrap_or(u32::MAX),
            dailies: u32::try_from(s.dailies).unwrap_or(u32::MAX),
        }
    }
}

fn minutes(d: Duration) -> u32 {
    u32::try_from(d.as_secs().div_ceil(60)).unwrap_or(u32::MAX)
}

/// Checks the form; `None`: scheduled backups off (a blank folder). The
/// folder is created when missing and must take a file. A value that
/// cannot be used is refused naming its field.
pub fn validate(form: &BackupSettings) -> Result<Option<BackupSettings>, AppError> {
    let folder = form.folder.trim();
    if folder.is_empty() {
        return Ok(None);
    }
    let field = |field: &'static str, message: String| AppError::Field { field, message };
    if form.every_minutes < 1 {
        return Err(field(
            "every_minutes",
            "back up at least every 1 minute (60 is once an hour)".into(),
        ));
    }
    if form.keep < 1 {
        return Err(field(
            "keep",
            "keep at least 1 backup; the newest ones are kept".into(),
        ));
    }
    let dir = Path::new(folder);
    if !dir.is_absolute() {
        return Err(field(
            "folder",
            format!(
                "give the folder's full path, e.g. /media/usb/outpost-backups (\"{folder}\" does not start at /)"
            ),
        ));
    }
    writable(dir).map_err(|message| field("folder", message))?;
    Ok(Some(BackupSettings {
        folder: folder.to_string(),
        ..form.clone()
    }))
}

/// Creates `dir` if missing and writes a file in it, to be sure backups
/// can go there; `Err` says why not and what to do.
fn writable(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "{} is a file, not a folder; choose a folder",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the folder {} ({e}); plug in the drive it is on, or choose another folder",
            dir.display()
        )
    })?;
    let probe = dir.join(WRITE_PROBE);
    std::fs::write(&probe, b"outpost").map_err(|e| {
        format!(
            "cannot write to {} ({e}); choose a folder this user can write to",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The backups as the Master screen shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BackupView {
    /// The schedule the master runs; `None`: no scheduled backups.
    pub schedule: Option<BackupSettings>,
    pub health: BackupHealth,
    /// The last attempt, good or not.
    pub last: Option<Attempt>,
    /// The newest good backup whose file is still there.
    pub last_good: Option<BackupInfo>,
}

impl From<BackupStatus> for BackupView {
    fn from(s: BackupStatus) -> BackupView {
        BackupView {
            schedule: s.schedule.as_ref().map(BackupSettings::from_schedule),
            health: s.health,
            last: s.last,
            last_good: s.last_good,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(folder: &str) -> BackupSettings {
        BackupSettings {
            folder: folder.into(),
            ..BackupSettings::blank()
        }
    }

    fn refused_field(r: Result<Option<BackupSettings>, AppError>) -> (&'static str, String) {
        match r {
            Err(AppError::Field { field, message }) => (field, message),
            other => panic!("expected a refused field, got {other:?}"),
        }
    }

    #[test]
    fn a_blank_folder_turns_scheduled_backups_off() {
        assert_eq!(validate(&form("  ")).unwrap(), None);
    }

    #[test]
    fn a_missing_folder_is_created_and_left_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("usb/backups");
        let ok = validate(&form(&format!(" {} ", dir.display())))
            .unwrap()
            .unwrap();
        assert_eq!(ok.folder, dir.display().to_string());
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn unusable_values_are_refused_naming_their_field() {
        let tmp = tempfile::tempdir().unwrap();
        let (f, m) = refused_field(validate(&form("backups")));
        assert_eq!(f, "folder");
        assert!(m.contains("full path"), "{m}");

        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let (f, m) = refused_field(validate(&form(&file.display().to_string())));
        assert_eq!(f, "folder");
        assert!(m.contains("is a file"), "{m}");

        let under_file = file.join("backups");
        let (f, m) = refused_field(validate(&form(&under_file.display().to_string())));
        assert_eq!(f, "folder");
        assert!(m.contains("cannot create"), "{m}");

        let dir = tmp.path().display().to_string();
        let (f, _) = refused_field(validate(&BackupSettings {
            every_minutes: 0,
            ..form(&dir)
        }));
        assert_eq!(f, "every_minutes");
        let (f, _) = refused_field(validate(&BackupSettings {
            keep: 0,
            ..form(&dir)
        }));
        assert_eq!(f, "keep");
    }

    #[test]
    fn the_form_and_the_schedule_say_the_same() {
        let s = BackupSettings {
            folder: "/mnt/nas/outpost".into(),
            every_minutes: 90,
            keep: 5,
            dailies: 3,
        };
        let schedule = s.to_schedule();
        assert_eq!(schedule.every, Duration::from_secs(5400));
        assert_eq!(BackupSettings::from_schedule(&schedule), s);
        let blank = BackupSettings::blank();
        assert_eq!(blank.every_minutes, 60);
        assert_eq!(blank.keep, 24);
        assert_eq!(blank.dailies, 7);
    }
}
