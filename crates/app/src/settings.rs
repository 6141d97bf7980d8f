//! What the app remembers between runs, in `settings.json` in the data
//! folder. The slave's paired master lives in the node's own `slave.json`
//! beside it; the master's database in `outpost.db`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backups::BackupSettings;

pub const SETTINGS_FILE: &str = "settings.json";

/// What this PC is in the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Neither yet: the first start, or after forgetting a master.
    #[default]
    None,
    Master,
    Slave,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub role: Role,
    /// The office name this PC serves as master (kept when master mode is
    /// turned off, to offer it again).
    pub office_name: Option<String>,
    /// TCP port of the signaling socket when master (default 7355).
    pub port: Option<u16>,
    /// The upstream file (TOML, docs/sync.md) of the head-office ERP the
    /// master syncs with: the one Settings' form writes in the data folder
    /// (`head-office.toml`), or one given by path.
    pub upstream: Option<String>,
    /// Scheduled backups of the master (Settings → Backups); `None`: off.
    /// Settings written before backups existed read as `None`.
    pub backup: Option<BackupSettings>,
    /// How the master answers writes (the Master screen's standby card):
    /// asynchronous until someone chooses otherwise.
    pub writes: outpost_node::standby::WritePolicy,
}

impl Settings {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(SETTINGS_FILE)
    }

    /// Reads the settings; a missing file is the first start. A file that
    /// cannot be read is reported, not silently replaced.
    pub fn load(dir: &Path) -> std::io::Result<Settings> {
        match std::fs::read(Settings::path(dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} is damaged ({e}); fix or delete it",
                        Settings::path(dir).display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the settings atomically (a crash leaves the old or the new).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, Settings::path(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_default_on_first_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
        let s = Settings {
            role: Role::Master,
            office_name: Some("Kashgar depot".into()),
            port: Some(7400),
            upstream: Some("/etc/outpost/hq.toml".into()),
            backup: Some(BackupSettings {
                folder: "/media/usb/outpost".into(),
                every_minutes: 30,
                keep: 12,
                dailies: 7,
            }),
            writes: outpost_node::standby::WritePolicy {
                durability: outpost_node::standby::Durability::Sync,
                when_away: outpost_node::standby::WhenAway::Refuse,
            },
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn settings_from_before_backups_still_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            Settings::path(dir.path()),
            br#"{"role":"master","office_name":"Kashgar depot","port":null,"upstream":null}"#,
        )
        .unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert_eq!(s.role, Role::Master);
        assert_eq!(s.backup, None);
    }

    #[test]
    fn damaged_settings_are_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(Settings::path(dir.path()), b"{not json").unwrap();
        let err = Settings::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(
            std::fs::read(Settings::path(dir.path())).unwrap(),
            b"{not json"
        );
    }
}
