//! Slave mode: finding masters on the LAN, connecting, forgetting.

use super::*;

impl App {
    /// Masters announcing themselves on the LAN.
    pub async fn discover(&self) -> Result<Vec<FoundMasterView>, AppError> {
        let found = discovery::browse(DISCOVER)
            .await
            .map_err(outpost_node::NodeError::from)?;
        Ok(found
            .into_iter()
            .map(|m| FoundMasterView {
                addr: m.authority().unwrap_or_default(),
                short: short_fingerprint(&m.fingerprint),
                name: m.name,
                fingerprint: m.fingerprint,
            })
            .collect())
    }

    /// Connects to a master by pairing URL or name, with the pairing code
    /// for a first contact. Returns once connected; a refusal, an
    /// unreachable master or a name nobody answers to is an error, and the
    /// previous pairing (if any) stays as it was.
    pub async fn slave_connect(
        &self,
        target: &str,
        code: Option<&str>,
    ) -> Result<Status, AppError> {
        let target = Target::parse(target)?;
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        let _switching = self.inner.switching.lock().await;
        if matches!(
            &*self.inner.mode.lock().await,
            Mode::Master { .. } | Mode::MasterFailed(_) | Mode::NoManager
        ) {
            return Err(AppError::NotSlave);
        }
        self.swap(Mode::None).await.stop().await;
        // The pairing as it was, put back if this attempt fails (even one
        // that connected just as the wait ended and rewrote it).
        let paired_file = self.inner.data.join(slave::SLAVE_FILE);
        let before = std::fs::read(&paired_file).ok();
        let outcome = match self.start_slave(target, code.map(str::to_string)) {
            Err(e) => Err(e),
            Ok(next) => {
                let Mode::Slave { db, .. } = &next else {
                    unreachable!("start_slave makes a slave")
                };
                let db = db.clone();
                // In place while it connects: the status bar shows "connecting".
                self.swap(next).await;
                self.publish_status().await;
                db.first_contact(CONNECT_TIMEOUT)
                    .await
                    .map_err(AppError::from)
            }
        };
        match outcome {
            Ok(_) => {
                self.save_settings(|s| s.role = Role::Slave)?;
                self.publish_status().await;
                Ok(self.status().await)
            }
            Err(e) => {
                let failed = self.swap(Mode::None).await;
                failed.stop().await;
                match &before {
                    Some(bytes) => std::fs::write(&paired_file, bytes)?,
                    None => slave::forget(&self.inner.data)?,
                }
                // Back to the master this PC was paired with, if any.
                if let Some(p) = slave::load_paired(&self.inner.data) {
                    let back = self.start_slave(Target::Name(p.name), None)?;
                    self.swap(back).await;
                }
                self.publish_status().await;
                Err(e)
            }
        }
    }

    /// Forgets the paired master: the connection closes and this PC keeps
    /// nothing of it (the master still lists the device until revoked).
    pub async fn slave_forget(&self) -> Result<Status, AppError> {
        let _switching = self.inner.switching.lock().await;
        if matches!(&*self.inner.mode.lock().await, Mode::Master { .. }) {
            return Err(AppError::NotSlave);
        }
        self.swap(Mode::None).await.stop().await;
        slave::forget(&self.inner.data)?;
        self.save_settings(|s| s.role = Role::None)?;
        tracing::info!("forgot the paired master");
        self.publish_status().await;
        Ok(self.status().await)
    }

    pub(super) fn start_slave(
        &self,
        target: Target,
        code: Option<String>,
    ) -> Result<Mode, AppError> {
        let config = SlaveConfig {
            data: self.inner.data.clone(),
            target,
            code,
            device_name: slave::default_device_name(),
            call_timeout: slave::DEFAULT_CALL_TIMEOUT,
            rtc: Default::default(),
        };
        let db = RemoteDb::start(config)?;
        let standby = standby_here::FollowerSlot::default();
        let tasks = vec![
            tokio::spawn(forward_changes(
                Arc::new(db.clone()),
                self.inner.events.clone(),
            )),
            tokio::spawn(watch_slave(db.state(), Arc::downgrade(&self.inner))),
            tokio::spawn(standby_here::keep_standby(
                db.clone(),
                standby.clone(),
                Arc::downgrade(&self.inner),
            )),
        ];
        Ok(Mode::Slave { db, tasks, standby })
    }

    /// Downloads the newer Outpost the master carries into `folder`,
    /// checks it against the SHA-256 the master gives over the channel,
    /// and starts the system's installer on it.
    pub async fn install_update(
        &self,
        folder: &std::path::Path,
    ) -> Result<crate::update::UpdateStarted, AppError> {
        let db =
            match &*self.inner.mode.lock().await {
                Mode::Slave { db, .. } => db.clone(),
                _ => return Err(AppError::Update(
                    "this PC is not connected to a master, so there is no update to take from one"
                        .into(),
                )),
            };
        let Some(update) = db.update() else {
            return Err(AppError::Update(
                "the master runs the same Outpost as this PC (or an older one): there is no update"
                    .into(),
            ));
        };
        // The list with hashes comes over the pinned channel; the file over
        // plain HTTP is trusted only if it matches.
        let hello = outpost_api::Request::new(Op::Hello(Default::default()));
        let answer = db.call(hello).await.result?;
        let packages: Vec<outpost_link::install::Package> =
            serde_json::from_value(answer["packages"].clone()).unwrap_or_default();
        let Some(package) = crate::update::pick(&packages, &update.version) else {
            return Err(AppError::Update(format!(
                "the master runs Outpost {} but carries no package of it for this PC ({}); see {}",
                update.version,
                crate::update::deb_arch(),
                update.url
            )));
        };
        let path = crate::update::download(&update.url, package, folder).await?;
        tracing::info!(file = %path.display(), sha256 = %package.sha256, "the update was downloaded and checked");
        let installer = crate::update::start_installer(&path)?;
        Ok(crate::update::UpdateStarted {
            path: path.display().to_string(),
            sha256: package.sha256.clone(),
            version: package.version.clone(),
            installer,
        })
    }
}

/// Publishes the slave's status when its connection changes.
async fn watch_slave(
    mut rx: tokio::sync::watch::Receiver<LinkState>,
    weak: std::sync::Weak<Inner>,
) {
    while rx.changed().await.is_ok() {
        let Some(inner) = weak.upgrade() else { return };
        App { inner }.publish_status().await;
    }
}
