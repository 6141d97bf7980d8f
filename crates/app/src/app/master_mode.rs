//! Master mode: turning it on and off, pairing codes, the device list.

use super::*;
use crate::people::{self, FirstManager};
use outpost_api::print::{check_office_address, OFFICE_ADDRESS_KEY};
use outpost_node::pairing_state::MadeCode;
use outpost_node::standby;

impl App {
    /// "This PC is the master": opens (or creates) the office database,
    /// starts the signaling socket and the mDNS announcement. A slave
    /// pairing this PC had is forgotten: a PC is one or the other.
    ///
    /// `manager`: the office's first manager, made before the master starts:
    /// needed when the office has no users (a master never runs without),
    /// refused when it has some.
    pub async fn master_enable(
        &self,
        name: &str,
        port: Option<u16>,
        manager: Option<&FirstManager>,
    ) -> Result<Status, AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::BadInput(
                "give the office a name, e.g. \"Kashgar depot\"; slaves find the master by it"
                    .into(),
            ));
        }
        match manager {
            Some(m) => people::check(m)?,
            None if !self.office_has_users().await? => return Err(people::needed()),
            None => {}
        }
        let _switching = self.inner.switching.lock().await;
        // A standby becomes the master only by promotion (which raises the
        // office's epoch); a master started on its copy would be a second
        // office's master beside the first.
        if let Mode::Slave { standby, .. } = &*self.inner.mode.lock().await {
            if standby.lock().await.is_some() {
                return Err(AppError::IsStandby);
            }
        }
        let port = port.or(self.settings().port);
        // What runs now, if this PC is already the master.
        let running = match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => Some((
                master.pairing_url().name.clone(),
                master.local_addr().port(),
            )),
            _ => None,
        };
        if let Some(m) = manager {
            let store = match &*self.inner.mode.lock().await {
                Mode::Master { master, .. } => Some(master.store().clone()),
                _ => None,
            };
            people::make_first(store.as_ref(), &self.inner.data, m).await?;
        }
        if let Some((running_name, running_port)) = &running {
            if running_name == name && port.is_none_or(|p| p == *running_port) {
                return Ok(self.status().await);
            }
        }
        self.swap(Mode::None).await.stop().await;
        let next = self.start_master(name, port).await;
        if let Mode::MasterFailed(message) = next {
            // A renamed (or moved) master that cannot start goes back to
            // what it was; a new one stays off: nothing was started.
            if let Some((old_name, _)) = running {
                let back = self.start_master(&old_name, self.settings().port).await;
                if matches!(back, Mode::Master { .. }) {
                    self.swap(back).await;
                }
            }
            self.publish_status().await;
            return Err(ApiError::new(ErrorCode::Unavailable, message).into());
        }
        self.swap(next).await;
        slave::forget(&self.inner.data)?;
        self.save_settings(|s| {
            s.role = Role::Master;
            s.office_name = Some(name.to_string());
            if port.is_some() {
                s.port = port;
            }
        })?;
        tracing::info!(office = %name, "master mode on");
        self.publish_status().await;
        Ok(self.status().await)
    }

    /// Turns master mode off: stops the socket and closes the database
    /// (which stays on disk). With slaves connected, only when `force`.
    pub async fn master_disable(&self, force: bool) -> Result<Status, AppError> {
        self.admin(AdminRight::Master).await?;
        let _switching = self.inner.switching.lock().await;
        if let Mode::Master { master, .. } = &*self.inner.mode.lock().await {
            let count = master.connected().len();
            if count > 0 && !force {
                return Err(AppError::DevicesConnected { count });
            }
        }
        self.swap(Mode::None).await.stop().await;
        self.save_settings(|s| s.role = Role::None)?;
        tracing::info!("master mode off");
        self.publish_status().await;
        Ok(self.status().await)
    }

    /// The office's postal address as its documents print it (invoices,
    /// receipts); empty until someone gives it.
    pub async fn office_address(&self) -> Result<String, AppError> {
        let store = self.master().await?.store().clone();
        let address = tokio::task::spawn_blocking(move || store.meta(OFFICE_ADDRESS_KEY))
            .await
            .map_err(|e| AppError::Io(std::io::Error::other(e)))??;
        Ok(address.unwrap_or_default())
    }

    /// Sets the office's postal address (several lines; at most
    /// [`MAX_OFFICE_ADDRESS`](outpost_api::print::MAX_OFFICE_ADDRESS)
    /// characters): the next document printed on any PC carries it.
    pub async fn office_address_set(&self, address: &str) -> Result<String, AppError> {
        self.admin(AdminRight::Master).await?;
        let address = check_office_address(address)?;
        let store = self.master().await?.store().clone();
        let kept = address.clone();
        tokio::task::spawn_blocking(move || store.set_meta(OFFICE_ADDRESS_KEY, &kept))
            .await
            .map_err(|e| AppError::Io(std::io::Error::other(e)))??;
        tracing::info!("office address set from the window");
        Ok(address)
    }

    /// Whether this PC's office database has users (then its window signs
    /// in, and "Make this PC the master" asks for no first manager).
    pub async fn office_has_users(&self) -> Result<bool, AppError> {
        let store = match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => Some(master.store().clone()),
            _ => None,
        };
        people::has_users(store.as_ref(), &self.inner.data)
    }

    pub(super) async fn start_master(&self, name: &str, port: Option<u16>) -> Mode {
        let mut config = MasterConfig::new(self.inner.data.clone(), name);
        config.port = port
            .or(self.inner.options.default_port)
            .unwrap_or(DEFAULT_PORT);
        config.announce = self.inner.options.announce;
        config.ui = self.inner.options.web_ui.clone();
        config.backup = self.settings().backup.map(|b| b.to_schedule());
        config.writes = self.settings().writes;
        match Master::start(config).await {
            Ok(master) => {
                let label = window_session::MASTER_WINDOW;
                let db = Arc::new(window_session::WindowDb {
                    session: Arc::new(master.local_session(label)),
                    raw: master.db().for_device(label),
                });
                let tasks = vec![
                    tokio::spawn(window_session::forward_master_changes(
                        db.clone(),
                        self.inner.events.clone(),
                    )),
                    tokio::spawn(watch_master(Arc::downgrade(&self.inner))),
                ];
                let (sync, sync_error) = match start_sync(&master, self.settings().upstream) {
                    Ok(s) => (s, None),
                    Err(e) => (None, Some(e)),
                };
                Mode::Master {
                    master: Arc::new(master),
                    db,
                    tasks,
                    sync,
                    sync_error,
                }
            }
            Err(outpost_node::NodeError::NoUsers { .. }) => {
                tracing::warn!("master mode waits for the office's first manager");
                Mode::NoManager
            }
            Err(e) => {
                tracing::warn!("master mode could not start: {e}");
                Mode::MasterFailed(e.to_string())
            }
        }
    }

    /// The running master (for calls that wait: the mode's lock is not
    /// held meanwhile).
    async fn master(&self) -> Result<Arc<Master>, AppError> {
        match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => Ok(master.clone()),
            _ => Err(AppError::NotMaster),
        }
    }

    pub(super) async fn with_master<T>(
        &self,
        f: impl FnOnce(&Master) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => f(master),
            _ => Err(AppError::NotMaster),
        }
    }

    /// The pairing URL with the code this master made, and its QR code;
    /// without a code when the current one was made by `outpost pair` (it
    /// is shown there only: the database keeps no code) or was retired.
    pub async fn pairing_info(&self) -> Result<Pairing, AppError> {
        let master = self.master().await?;
        let made = master.shown_code()?;
        pairing(&master, made).await
    }

    /// A new pairing code, made here and shown here; the old one stops
    /// working.
    pub async fn pairing_renew(&self) -> Result<Pairing, AppError> {
        self.admin(AdminRight::Devices).await?;
        let master = self.master().await?;
        let made = master.new_code(pairing_state::DEFAULT_CODE_MINUTES).await?;
        tracing::info!("new pairing code made from the window");
        pairing(&master, Some(made)).await
    }

    /// Every device that ever paired, connected ones first.
    pub async fn devices(&self) -> Result<Vec<DeviceView>, AppError> {
        self.with_master(|master| {
            let connected: Vec<String> = master.connected().into_iter().map(|d| d.device).collect();
            let standby = standby::standby_device(master.store())?;
            let mut list: Vec<DeviceView> = master
                .store()
                .devices()?
                .into_iter()
                .map(|d| {
                    let connected = connected.contains(&d.fingerprint);
                    DeviceView::new(d, connected, standby.as_deref())
                })
                .collect();
            list.sort_by(|a, b| {
                b.connected
                    .cmp(&a.connected)
                    .then_with(|| b.last_seen.cmp(&a.last_seen))
            });
            Ok(list)
        })
        .await
    }

    /// Revokes a device: its channel closes within the master's poll and it
    /// cannot come back, not even with the code it paired with (the current
    /// code is retired; "New code" makes another).
    pub async fn device_revoke(&self, fingerprint: &str) -> Result<DeviceView, AppError> {
        self.admin(AdminRight::Devices).await?;
        let (device, standby) = self
            .with_master(|master| {
                let device = pairing_state::revoke(master.store(), fingerprint)?;
                Ok((device, standby::standby_device(master.store())?))
            })
            .await?;
        tracing::info!(device = %device.fingerprint, "device revoked from the window");
        Ok(DeviceView::new(device, false, standby.as_deref()))
    }
}

/// The Master screen's pairing view. The packages folder is listed off the
/// async runtime: a package not seen before is hashed first.
async fn pairing(master: &Arc<Master>, made: Option<MadeCode>) -> Result<Pairing, AppError> {
    let listing = master.clone();
    let packages = tokio::task::spawn_blocking(move || listing.packages().len())
        .await
        .unwrap_or(0);
    let mut url = master.pairing_url().clone();
    url.code = made.as_ref().map(|m| m.code.clone());
    let text = url.to_string();
    let expires = made.as_ref().map_or(0, |m| m.expires);
    let phone_url = made.as_ref().and_then(|m| master.phone_url(&m.code));
    Ok(Pairing {
        phone_qr_svg: phone_url.as_deref().map(qr::svg).transpose()?,
        phone_url,
        qr_svg: qr::svg(&text)?,
        url: text,
        code: made.map(|m| display_code(&m.code)),
        expires,
        minutes_left: pairing_state::minutes_left(expires),
        browser_url: master.browser_url(),
        office_url: master.office_url(),
        install_url: master.install_url(),
        packages,
        packages_dir: master.packages_dir().display().to_string(),
    })
}

/// Publishes the master's status when its connected devices change.
async fn watch_master(weak: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(STATUS_POLL).await;
        let Some(inner) = weak.upgrade() else { return };
        App { inner }.publish_status().await;
    }
}
