//! The master's scheduled backups from the window: Settings → Backups (the
//! form, saved and handed to the running master) and the Master screen's
//! view, with "Back up now".

use super::*;
use crate::backups::{self, BackupSettings, BackupView};

impl App {
    /// Settings → Backups: the saved schedule, or a blank form (no folder)
    /// with the master's defaults.
    pub fn backup_form(&self) -> BackupSettings {
        self.settings().backup.unwrap_or_else(BackupSettings::blank)
    }

    /// Saves the schedule and hands it to the running master, which takes
    /// a first backup at once. A blank folder turns scheduled backups off.
    /// A value that cannot be used is refused naming its field, and nothing
    /// changes. Returns the form as saved.
    pub async fn backup_settings_save(
        &self,
        form: &BackupSettings,
    ) -> Result<BackupSettings, AppError> {
        self.admin(AdminRight::Backups).await?;
        let next = backups::validate(form)?;
        // Not while master mode is being turned on or off: the master that
        // starts reads the schedule from Settings.
        let _switching = self.inner.switching.lock().await;
        self.save_settings(|s| s.backup = next.clone())?;
        if let Mode::Master { master, .. } = &*self.inner.mode.lock().await {
            master.set_backup_schedule(next.as_ref().map(BackupSettings::to_schedule));
        }
        match &next {
            Some(b) => {
                tracing::info!(folder = %b.folder, every_minutes = b.every_minutes, keep = b.keep, dailies = b.dailies, "backup schedule saved from the window")
            }
            None => tracing::info!("scheduled backups turned off from the window"),
        }
        Ok(next.unwrap_or_else(|| BackupSettings {
            folder: String::new(),
            ..form.clone()
        }))
    }

    /// The Master screen's backups: the schedule, whether they are healthy,
    /// the last attempt and the last good backup.
    pub async fn backup_view(&self) -> Result<BackupView, AppError> {
        self.with_master(|master| Ok(master.backup_status().into()))
            .await
    }

    /// "Back up now", into the schedule's folder; waits for the backup and
    /// its check. Other calls go on meanwhile.
    pub async fn backup_now(&self) -> Result<BackupView, AppError> {
        self.admin(AdminRight::Backups).await?;
        let master = match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => master.clone(),
            _ => return Err(AppError::NotMaster),
        };
        let outcome = master.backup_now(None).await;
        let view: BackupView = master.backup_status().into();
        drop(master);
        let info = outcome?;
        tracing::info!(path = %info.path, bytes = info.bytes, "backup taken from the window");
        Ok(view)
    }
}
