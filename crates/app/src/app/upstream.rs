//! The master's upstream sync: the head-office form, the sync worker,
//! its status, conflicts and parked entries.

use super::*;

impl App {
    /// Settings → Head office: the saved head office as a form (never its
    /// password), what the form offers, and the upstream file in use.
    pub fn upstream_form(&self) -> UpstreamFormView {
        let file = self.settings().upstream;
        let ours = self.form_file();
        let (form, problem) = match &file {
            None => (head_office::blank(), None),
            Some(p) => match UpstreamConfig::load(Path::new(p)) {
                Ok(c) => (head_office::from_config(&c), None),
                Err(e) => (head_office::blank(), Some(e.to_string())),
            },
        };
        UpstreamFormView {
            form,
            choices: head_office::choices(),
            advanced: file.as_deref().is_some_and(|f| Path::new(f) != ours),
            file,
            problem,
        }
    }

    /// "Test connection": signs in to the head office the form describes
    /// and says what is there, without saving or syncing anything. A
    /// blank password tries the saved one.
    pub async fn upstream_test(&self, form: &UpstreamForm) -> Result<Probe, AppError> {
        let (_, config) =
            head_office::to_config(form, self.saved_password().as_deref(), &self.form_file())?;
        let probe = outpost_sync::probe(&config)
            .await
            .map_err(AppError::HeadOffice)?;
        tracing::info!(server = %probe.server, version = ?probe.version, ok = probe.ok, "head office tested from the window");
        Ok(probe)
    }

    /// Saves the form as the upstream file in the data folder (this user
    /// only: it holds the password) and, on a running master, restarts the
    /// sync with it, as [`App::upstream_set`] does with a file given by
    /// path. A bad value is refused naming its field, and nothing changes.
    pub async fn upstream_save(&self, form: &UpstreamForm) -> Result<SyncView, AppError> {
        self.admin(AdminRight::Upstream).await?;
        let path = self.form_file();
        let (text, _) = head_office::to_config(form, self.saved_password().as_deref(), &path)?;
        head_office::write_private(&path, &text)?;
        tracing::info!(file = %path.display(), "head office saved from the form");
        self.upstream_set(Some(path.display().to_string())).await
    }

    /// Where the form writes its upstream file.
    fn form_file(&self) -> PathBuf {
        self.inner.data.join(head_office::FORM_FILE)
    }

    /// The password of the upstream file in use, kept when the form leaves
    /// its password blank.
    fn saved_password(&self) -> Option<String> {
        let file = self.settings().upstream?;
        let c = UpstreamConfig::load(Path::new(&file)).ok()?;
        c.has_password().then(|| c.password().to_string())
    }

    /// Sets (or with `None` removes) the upstream file and, on a running
    /// master, restarts the sync worker with it. A file that cannot be read
    /// or is not valid is refused and nothing changes.
    pub async fn upstream_set(&self, path: Option<String>) -> Result<SyncView, AppError> {
        self.admin(AdminRight::Upstream).await?;
        let path = path.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
        if let Some(p) = &path {
            UpstreamConfig::load(Path::new(p)).map_err(|e| AppError::BadInput(e.to_string()))?;
        }
        let _switching = self.inner.switching.lock().await;
        self.save_settings(|s| s.upstream = path.clone())?;
        // The form's file holds a password: it does not stay behind once
        // another file, or none, is in use.
        let ours = self.form_file();
        if path.as_deref().map(Path::new) != Some(ours.as_path()) && ours.exists() {
            std::fs::remove_file(&ours)?;
        }
        let mut mode = self.inner.mode.lock().await;
        if let Mode::Master {
            master,
            sync,
            sync_error,
            ..
        } = &mut *mode
        {
            stop_sync(master, sync.take()).await;
            match start_sync(master, path) {
                Ok(s) => {
                    *sync = s;
                    *sync_error = None;
                }
                Err(e) => *sync_error = Some(e),
            }
        }
        drop(mode);
        self.sync_status().await
    }

    /// The sync state: the master reads its own database; a slave asks its
    /// master (`sync.status`).
    pub async fn sync_status(&self) -> Result<SyncView, AppError> {
        let mode = self.inner.mode.lock().await;
        match &*mode {
            Mode::Master {
                master, sync_error, ..
            } => {
                let mut status = master.store().sync_status()?;
                let file = self.settings().upstream;
                if file.is_none() {
                    // The database remembers the last worker's upstream;
                    // Settings say there is none now.
                    status.configured = false;
                    status.link = SyncLink::NotConfigured;
                    status.hint = None;
                }
                Ok(SyncView {
                    status,
                    upstream_file: file,
                    upstream_error: sync_error.clone(),
                })
            }
            Mode::Slave { db, .. } => {
                let db = db.clone();
                drop(mode);
                let answer = db.run(Op::SyncStatus).await?;
                let status: SyncStatus = serde_json::from_value(answer).map_err(|e| {
                    ApiError::new(
                        ErrorCode::Internal,
                        format!(
                            "the master's sync status cannot be read ({e}); \
                             update Outpost on the master to this version"
                        ),
                    )
                })?;
                Ok(SyncView {
                    status,
                    upstream_file: None,
                    upstream_error: None,
                })
            }
            // Not a master (yet): what Settings hold, nothing running.
            Mode::None | Mode::MasterFailed(_) | Mode::NoManager => Ok(SyncView {
                status: SyncStatus::not_configured(),
                upstream_file: self.settings().upstream,
                upstream_error: None,
            }),
        }
    }

    fn sync_parts(
        &self,
        mode: &Mode,
    ) -> Result<(outpost_store::Store, Option<Arc<Sync>>), AppError> {
        match mode {
            Mode::Master { master, sync, .. } => Ok((master.store().clone(), sync.clone())),
            _ => Err(AppError::NotMaster),
        }
    }

    /// Syncs now and waits for the cycle to end (at most 5 minutes).
    pub async fn sync_now(&self) -> Result<SyncView, AppError> {
        self.admin(AdminRight::Upstream).await?;
        let (store, sync) = self.sync_parts(&*self.inner.mode.lock().await)?;
        let sync = sync.ok_or_else(|| {
            AppError::BadInput(
                "no head office is configured: set it up in Settings, Head office".into(),
            )
        })?;
        let token = sync
            .sync_now()
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.message))?;
        let deadline = tokio::time::Instant::now() + SYNC_NOW_WAIT;
        while !outpost_sync::request_served(&store, &token) {
            if tokio::time::Instant::now() > deadline {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the sync did not finish within 5 minutes; it goes on in the background",
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.sync_status().await
    }

    pub async fn sync_conflicts(&self, all: bool) -> Result<Vec<Conflict>, AppError> {
        let (store, _) = self.sync_parts(&*self.inner.mode.lock().await)?;
        Ok(store.sync_conflicts(all)?)
    }

    /// Settles a conflict; the office's version goes up at the next cycle,
    /// which starts at once.
    pub async fn sync_resolve(&self, id: i64, keep: Keep) -> Result<Conflict, AppError> {
        self.admin(AdminRight::Upstream).await?;
        let (store, sync) = self.sync_parts(&*self.inner.mode.lock().await)?;
        let c = store.sync_resolve(id, keep)?;
        tracing::info!(conflict = id, ?keep, "conflict settled from the window");
        if let Some(s) = sync {
            let _ = s.sync_now();
        }
        Ok(c)
    }

    pub async fn sync_parked(&self) -> Result<Vec<Parked>, AppError> {
        let (store, _) = self.sync_parts(&*self.inner.mode.lock().await)?;
        Ok(store.outbox_parked()?)
    }
}

/// Starts the sync worker for `master` with the upstream file at `path`
/// (nothing without one); the error in words when it cannot start.
pub(super) fn start_sync(
    master: &Master,
    path: Option<String>,
) -> Result<Option<Arc<Sync>>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    let config = UpstreamConfig::load(Path::new(&path)).map_err(|e| e.to_string())?;
    let sync = Sync::start(master.store().clone(), config)
        .map_err(|e| format!("the head-office sync could not start: {e}"))?;
    let sync = Arc::new(sync);
    master.db().set_upstream(Some(sync.clone()));
    tracing::info!(upstream = %path, "head-office sync started");
    Ok(Some(sync))
}

pub(super) async fn stop_sync(master: &Master, sync: Option<Arc<Sync>>) {
    master.db().set_upstream(None);
    if let Some(s) = sync.and_then(Arc::into_inner) {
        s.stop().await;
    }
}
