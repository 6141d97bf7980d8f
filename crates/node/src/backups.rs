//! Scheduled backups on the master: every interval a checked snapshot to a
//! folder (a USB stick, a NAS mount), named after the office and the time,
//! keeping the last K and one per day for the last D days; each attempt is
//! recorded in the data folder's `backups.json` (the Master screen reads it,
//! and a damaged database's message names the newest good one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use outpost_store::backup::{self, BackupHealth, BackupInfo, BackupLog};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

/// When and where the master backs up by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// The folder backups go to.
    pub dir: PathBuf,
    /// Time between two backups.
    pub every: Duration,
    /// The newest backups kept, whatever their day.
    pub keep: usize,
    /// Days for which the newest backup of the day is kept as well.
    pub dailies: usize,
}

impl BackupSchedule {
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(60 * 60);
    pub const DEFAULT_KEEP: usize = 24;
    pub const DEFAULT_DAILIES: usize = 7;

    pub fn new(dir: PathBuf) -> BackupSchedule {
        BackupSchedule {
            dir,
            every: BackupSchedule::DEFAULT_EVERY,
            keep: BackupSchedule::DEFAULT_KEEP,
            dailies: BackupSchedule::DEFAULT_DAILIES,
        }
    }
}

/// Parses an interval: `90` (minutes), `30s`, `15m`, `2h`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "m"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not an interval: write minutes (90) or 30s, 15m, 2h"))?;
    let secs = match unit.trim() {
        "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        other => {
            return Err(format!(
                "'{other}' is not a unit of time: use s, m or h (e.g. 15m)"
            ))
        }
    };
    if secs == 0 {
        return Err("the interval between backups must be more than zero".into());
    }
    Ok(Duration::from_secs(secs))
}

/// The file name stem of this office's backups: the office name in lower
/// case, letters and digits joined by `-`.
pub fn office_slug(office: &str) -> String {
    let mut out = String::new();
    for c in office.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "outpost".into()
    } else {
        out
    }
}

/// `SLUG-YYYYMMDD-HHMMSS.sqlite` for the time `at` (UTC).
pub fn file_name(slug: &str, at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{slug}-{:04}{:02}{:02}-{:02}{:02}{:02}.sqlite",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The stamp (`YYYYMMDD-HHMMSS`) of one of this office's backup files.
fn stamp_of<'a>(slug: &str, name: &'a str) -> Option<&'a str> {
    let stamp = name
        .strip_prefix(slug)?
        .strip_prefix('-')?
        .strip_suffix(".sqlite")?;
    let ok = stamp.len() == 15
        && stamp.as_bytes()[8] == b'-'
        && stamp
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit());
    ok.then_some(stamp)
}

/// Which of `names` (files in the backup folder) rotation removes: of this
/// office's backups, all but the newest `keep` and the newest of each of
/// the newest `dailies` days. Other files are never touched.
pub fn rotation(slug: &str, names: &[String], keep: usize, dailies: usize) -> Vec<String> {
    let mut ours: Vec<(&str, &String)> = names
        .iter()
        .filter_map(|n| stamp_of(slug, n).map(|s| (s, n)))
        .collect();
    ours.sort_by(|a, b| b.0.cmp(a.0));
    let mut days: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, (stamp, name)) in ours.into_iter().enumerate() {
        let day = &stamp[..8];
        let newest_of_day = !days.contains(&day);
        if newest_of_day {
            days.push(day);
        }
        let daily = newest_of_day && days.len() <= dailies;
        if i >= keep && !daily {
            out.push(name.clone());
        }
    }
    out
}

/// Takes one backup into the schedule's folder, records it, and rotates.
pub fn run_once(
    data: &Path,
    office: &str,
    schedule: &BackupSchedule,
) -> outpost_store::Result<BackupInfo> {
    let slug = office_slug(office);
    let to = schedule
        .dir
        .join(file_name(&slug, time::OffsetDateTime::now_utc()));
    let outcome = backup::backup(data, &to, false);
    if let Err(e) = BackupLog::record(data, &to, &outcome) {
        tracing::warn!(error = %e, "cannot record the backup in backups.json");
    }
    match &outcome {
        Ok(info) => {
            tracing::info!(path = %info.path, bytes = info.bytes, millis = info.millis, "backup done");
            rotate(&schedule.dir, &slug, schedule.keep, schedule.dailies);
        }
        Err(e) => tracing::error!(to = %to.display(), error = %e, "backup failed"),
    }
    outcome
}

fn rotate(dir: &Path, slug: &str, keep: usize, dailies: usize) {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list the backup folder");
            return;
        }
    };
    for name in rotation(slug, &names, keep, dailies) {
        match std::fs::remove_file(dir.join(&name)) {
            Ok(()) => tracing::info!(%name, "old backup removed"),
            Err(e) => tracing::warn!(%name, error = %e, "cannot remove an old backup"),
        }
    }
}

/// The backups as the Master screen shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupStatus {
    pub schedule: Option<BackupSchedule>,
    pub health: BackupHealth,
    pub last: Option<backup::Attempt>,
    pub last_good: Option<BackupInfo>,
}

/// The master's backup task: takes a backup at start and then every
/// interval, follows schedule changes, and takes one on demand.
pub(crate) struct Scheduler {
    schedule: watch::Sender<Option<BackupSchedule>>,
    /// Serialises backups (scheduled and on demand).
    running: Arc<Mutex<()>>,
    data: PathBuf,
    office: String,
}

impl Scheduler {
    pub fn start(
        data: PathBuf,
        office: String,
        schedule: Option<BackupSchedule>,
        stop: watch::Receiver<bool>,
    ) -> (Scheduler, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(schedule);
        let running = Arc::new(Mutex::new(()));
        let task = tokio::spawn(schedule_loop(
            data.clone(),
            office.clone(),
            rx,
            running.clone(),
            stop,
        ));
        (
            Scheduler {
                schedule: tx,
                running,
                data,
                office,
            },
            task,
        )
    }

    pub fn set(&self, schedule: Option<BackupSchedule>) {
        self.schedule.send_replace(schedule);
    }

    pub fn schedule(&self) -> Option<BackupSchedule> {
        self.schedule.borrow().clone()
    }

    /// A backup now, into the schedule's folder, or to `to` when given.
    pub async fn now(&self, to: Option<PathBuf>) -> outpost_store::Result<BackupInfo> {
        let _one = self.running.lock().await;
        let data = self.data.clone();
        let office = self.office.clone();
        let schedule = self.schedule();
        let joined = tokio::task::spawn_blocking(move || match (to, schedule) {
            (Some(to), _) => {
                let outcome = backup::backup(&data, &to, false);
                let _ = BackupLog::record(&data, &to, &outcome);
                outcome
            }
            (None, Some(s)) => run_once(&data, &office, &s),
            (None, None) => Err(outpost_store::StoreError::BadRequest(
                "no backup folder is set: choose one in Settings (or start the master with --backup-dir)".into(),
            )),
        })
        .await;
        joined.unwrap_or_else(|e| Err(outpost_store::StoreError::CommitFailed(e.to_string())))
    }

    /// Waits for a backup in progress (and its rotation) to finish, then
    /// runs `stop` before another can begin.
    pub async fn stop_after_current(&self, stop: impl FnOnce()) {
        let _one = self.running.lock().await;
        stop();
    }

    pub fn status(&self) -> BackupStatus {
        let schedule = self.schedule();
        let mut log = BackupLog::load(&self.data);
        let health = log.health(
            schedule.as_ref().map(|s| s.every),
            time::OffsetDateTime::now_utc(),
        );
        log.forget_missing();
        BackupStatus {
            schedule,
            health,
            last: log.last.clone(),
            last_good: log.good.first().cloned(),
        }
    }
}

async fn schedule_loop(
    data: PathBuf,
    office: String,
    mut schedule: watch::Receiver<Option<BackupSchedule>>,
    running: Arc<Mutex<()>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let current = schedule.borrow_and_update().clone();
        if let Some(s) = &current {
            let _one = running.lock().await;
            let (d, o, s2) = (data.clone(), office.clone(), s.clone());
            let _ = tokio::task::spawn_blocking(move || run_once(&d, &o, &s2)).await;
        }
        let wait = current.as_ref().map(|s| s.every).unwrap_or(Duration::MAX);
        tokio::select! {
            _ = sleep_for(wait) => {}
            changed = schedule.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

async fn sleep_for(d: Duration) {
    if d == Duration::MAX {
        std::future::pending::<()>().await
    } else {
        tokio::time::sleep(d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_a_person_writes_them() {
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_interval("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_interval("0").unwrap_err().contains("more than zero"));
        assert!(parse_interval("2d").unwrap_err().contains("s, m or h"));
        assert!(parse_interval("soon")
            .unwrap_err()
            .contains("not an interval"));
    }

    #[test]
    fn names_carry_the_office_and_the_time() {
        assert_eq!(office_slug("Kashgar depot #2"), "kashgar-depot-2");
        assert_eq!(office_slug("  ** "), "outpost");
        let at = time::macros::datetime!(2026-12-02 21:07:05 UTC);
        assert_eq!(
            file_name("kashgar-depot", at),
            "kashgar-depot-20261202-210705.sqlite"
        );
    }

    #[test]
    fn rotation_keeps_the_newest_and_one_per_day() {
        let names: Vec<String> = [
            "depot-20261202-120000.sqlite",
            "depot-20261202-110000.sqlite",
            "depot-20261202-100000.sqlite",
            "depot-20261201-230000.sqlite",
            "depot-20261201-220000.sqlite",
            "depot-20261130-230000.sqlite",
            "depot-20261129-230000.sqlite",
            // not ours: another office, a partial file, a person's file
            "other-20261101-000000.sqlite",
            "depot-20261101-000000.sqlite.partial",
            "notes.txt",
        ]
        .map(String::from)
        .to_vec();
        // Keep 2 newest, and dailies for 3 days (02, 01, 30).
        let gone = rotation("depot", &names, 2, 3);
        assert_eq!(
            gone,
            vec![
                "depot-20261202-100000.sqlite".to_string(),
                "depot-20261201-220000.sqlite".to_string(),
                "depot-20261129-230000.sqlite".to_string(),
            ]
        );
        assert!(rotation("depot", &names, 100, 0).is_empty());
    }
}
