//! [`App`]: the running desktop app, without its window.
//!
//! It holds one of three modes: nothing yet, the master (a running
//! [`Master`] and its `LocalDb`), or a slave (a [`RemoteDb`] to the paired
//! master). DB calls go to whichever `Db` the mode has, so the window never
//! knows which. Change events and status changes go out as [`AppEvent`]s on
//! a broadcast channel that the shell forwards to the window.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use outpost_api::protocol::{decode_request, SubscribeArgs};
use outpost_api::{ApiError, Db, ErrorCode, Event, Op, Response};
use outpost_link::identity::short_fingerprint;
use outpost_link::pairing::{display_code, DEFAULT_PORT};
use outpost_link::{discovery, Identity, PairingUrl};
use outpost_node::pairing_state;
use outpost_node::slave::{self, LinkState};
use outpost_node::{Master, MasterConfig, RemoteDb, SlaveConfig, Target};
use outpost_store::{Conflict, Keep, LinkState as SyncLink, Parked, SyncStatus};
use outpost_sync::{Probe, Sync, UpstreamConfig};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, Mutex};

use crate::error::AppError;
use crate::head_office::{self, UpstreamForm, UpstreamFormView};
use crate::qr;
use crate::settings::{Role, Settings};
use crate::status::{DeviceView, FoundMasterView, LinkView, PairedView, Pairing, Status, SyncView};

/// How long "Connect" waits for a first answer from a master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the master's status (connected devices) is looked at.
const STATUS_POLL: Duration = Duration::from_millis(500);
/// How long to listen for masters on the LAN.
const DISCOVER: Duration = Duration::from_secs(2);
/// How long "Sync now" waits for the cycle.
const SYNC_NOW_WAIT: Duration = Duration::from_secs(300);
/// The device name the master's own window writes as (`modified_by`).
const MASTER_DEVICE: &str = "master";

/// What the window is told about.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// A record changed (here or on another PC), or the feed lagged.
    Db(Event),
    Status(Status),
    /// An `outpost://` URL was opened while the app runs.
    OpenUrl(String),
}

enum Mode {
    None,
    Master {
        master: Box<Master>,
        db: Arc<dyn Db>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        /// The sync worker, when an upstream file is set and it started.
        sync: Option<Arc<Sync>>,
        /// Why the sync worker could not start.
        sync_error: Option<String>,
    },
    /// Master mode is on in Settings but could not start.
    MasterFailed(String),
    Slave {
        db: RemoteDb,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    },
}

impl Mode {
    fn db(&self) -> Option<Arc<dyn Db>> {
        match self {
            Mode::Master { db, .. } => Some(db.clone()),
            Mode::Slave { db, .. } => Some(Arc::new(db.clone())),
            _ => None,
        }
    }

    /// Stops what the mode runs (the master's socket and database, or the
    /// slave's connection).
    async fn stop(self) {
        match self {
            Mode::Master {
                master,
                tasks,
                sync,
                ..
            } => {
                for t in tasks {
                    t.abort();
                }
                stop_sync(&master, sync).await;
                (*master).shutdown().await;
            }
            Mode::Slave { db, tasks } => {
                for t in tasks {
                    t.abort();
                }
                db.close().await;
            }
            Mode::None | Mode::MasterFailed(_) => {}
        }
    }
}

/// How the app runs, beyond what Settings hold.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Announce the master over mDNS (and check its name is free). Off for
    /// tests that run several masters on one machine.
    pub announce: bool,
    /// The master's port when Settings name none (7355 when this is None).
    pub default_port: Option<u16>,
    /// The built web UI (`ui/dist`) the master serves to browsers on the
    /// LAN; none: browsers get a page saying so.
    pub web_ui: Option<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> AppOptions {
        AppOptions {
            announce: true,
            default_port: None,
            web_ui: None,
        }
    }
}

struct Inner {
    data: PathBuf,
    options: AppOptions,
    device_id: String,
    settings: StdMutex<Settings>,
    /// What runs now. Held only for short looks and swaps, never across a
    /// connection attempt, so status and DB calls answer meanwhile.
    mode: Mutex<Mode>,
    /// Serialises role changes (master on/off, connect, forget), which take
    /// seconds.
    switching: Mutex<()>,
    events: broadcast::Sender<AppEvent>,
    last_status: StdMutex<Option<Status>>,
    open_url: StdMutex<Option<String>>,
}

/// The running app. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl App {
    /// Opens the data folder and resumes what this PC was: the master
    /// starts again, a slave reconnects to its paired master.
    pub async fn open(data: &Path, options: AppOptions) -> Result<App, AppError> {
        std::fs::create_dir_all(data)?;
        let settings = Settings::load(data)?;
        let identity = Identity::load_or_create(data).map_err(outpost_node::NodeError::from)?;
        let (events, _) = broadcast::channel(1024);
        let app = App {
            inner: Arc::new(Inner {
                data: data.to_path_buf(),
                options,
                device_id: identity.fingerprint().to_string(),
                settings: StdMutex::new(settings.clone()),
                mode: Mutex::new(Mode::None),
                switching: Mutex::new(()),
                events,
                last_status: StdMutex::new(None),
                open_url: StdMutex::new(None),
            }),
        };
        match settings.role {
            Role::Master => {
                let name = settings.office_name.clone().unwrap_or_default();
                let mode = app.start_master(&name, settings.port).await;
                *app.inner.mode.lock().await = mode;
            }
            Role::Slave => {
                if let Some(p) = slave::load_paired(data) {
                    let mode = app.start_slave(Target::Name(p.name), None)?;
                    *app.inner.mode.lock().await = mode;
                }
            }
            Role::None => {}
        }
        app.publish_status().await;
        Ok(app)
    }

    /// Events for the window: changes, status, URLs opened.
    pub fn subscribe(&self) -> broadcast::Receiver<AppEvent> {
        self.inner.events.subscribe()
    }

    /// Runs one DB call (a request envelope as JSON) on this PC's `Db` and
    /// returns the response envelope. Never fails: errors are inside.
    pub async fn db_call(&self, request: &serde_json::Value) -> Box<RawValue> {
        let bytes = serde_json::to_vec(request).unwrap_or_default();
        let response = match decode_request(&bytes) {
            Err(bad) => bad,
            Ok(req) => {
                let db = {
                    let mode = self.inner.mode.lock().await;
                    mode.db().ok_or_else(|| Self::no_database(&mode))
                };
                match db {
                    Ok(db) => db.call(req).await,
                    Err(e) => Response {
                        id: Some(req.id),
                        result: Err(e),
                    },
                }
            }
        };
        RawValue::from_string(response.encode())
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
    }

    /// Why there is no `Db` to call in `mode`, in words saying what to do.
    fn no_database(mode: &Mode) -> ApiError {
        match mode {
            Mode::MasterFailed(m) => ApiError::new(
                ErrorCode::Unavailable,
                format!("the office database is not open: {m}"),
            ),
            _ => ApiError::new(
                ErrorCode::Unavailable,
                "this PC is not connected to a master yet; connect to one, or make this PC the master in Settings",
            ),
        }
    }

    /// The status bar's view of the app.
    pub async fn status(&self) -> Status {
        let settings = self.settings();
        let mode = self.inner.mode.lock().await;
        // Read from disk only where a slave's pairing matters: a master's
        // status is taken twice a second.
        let paired = || {
            slave::load_paired(&self.inner.data).map(|p| PairedView {
                short: short_fingerprint(&p.fingerprint),
                name: p.name,
                fingerprint: p.fingerprint,
                addr: p.addr,
            })
        };
        let (office_name, link, devices_connected, listen, master) = match &*mode {
            Mode::None => (None, LinkView::Idle, 0, None, paired()),
            Mode::MasterFailed(message) => (
                settings.office_name.clone(),
                LinkView::Failed {
                    message: message.clone(),
                },
                0,
                None,
                None,
            ),
            Mode::Master { master, .. } => {
                let url = master.pairing_url();
                (
                    Some(url.name.clone()),
                    LinkView::Connected {
                        master: url.name.clone(),
                    },
                    master.connected().len(),
                    Some(url.authority()),
                    None,
                )
            }
            Mode::Slave { db, .. } => {
                let link = match db.state().borrow().clone() {
                    LinkState::Connecting => LinkView::Connecting,
                    LinkState::Connected { master } => LinkView::Connected { master },
                    LinkState::Reconnecting { reason } => LinkView::Reconnecting { reason },
                    LinkState::Refused { code, message } => LinkView::Refused { code, message },
                };
                let paired = paired();
                let name = paired.as_ref().map(|p| p.name.clone());
                (name, link, 0, None, paired)
            }
        };
        Status {
            role: settings.role,
            device_short: short_fingerprint(&self.inner.device_id),
            device_id: self.inner.device_id.clone(),
            office_name,
            master,
            link,
            devices_connected,
            listen,
            data_dir: self.inner.data.display().to_string(),
        }
    }

    pub fn settings(&self) -> Settings {
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn save_settings(&self, f: impl FnOnce(&mut Settings)) -> Result<(), AppError> {
        let mut s = self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut next = s.clone();
        f(&mut next);
        next.save(&self.inner.data)?;
        *s = next;
        Ok(())
    }

    /// Puts `next` in place and returns what ran before (to be stopped).
    async fn swap(&self, next: Mode) -> Mode {
        std::mem::replace(&mut *self.inner.mode.lock().await, next)
    }

    /// Sends the status to the window if it changed since last time.
    async fn publish_status(&self) {
        let status = self.status().await;
        let mut last = self
            .inner
            .last_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.as_ref() != Some(&status) {
            *last = Some(status.clone());
            let _ = self.inner.events.send(AppEvent::Status(status));
        }
    }

    // ---- master mode ----

    /// "This PC is the master": opens (or creates) the office database,
    /// starts the signaling socket and the mDNS announcement. A slave
    /// pairing this PC had is forgotten: a PC is one or the other.
    pub async fn master_enable(&self, name: &str, port: Option<u16>) -> Result<Status, AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::BadInput(
                "give the office a name, e.g. \"Kashgar depot\"; slaves find the master by it"
                    .into(),
            ));
        }
        let _switching = self.inner.switching.lock().await;
        let port = port.or(self.settings().port);
        // What runs now, if this PC is already the master.
        let running = match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => Some((
                master.pairing_url().name.clone(),
                master.local_addr().port(),
            )),
            _ => None,
        };
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

    async fn start_master(&self, name: &str, port: Option<u16>) -> Mode {
        let mut config = MasterConfig::new(self.inner.data.clone(), name);
        config.port = port
            .or(self.inner.options.default_port)
            .unwrap_or(DEFAULT_PORT);
        config.announce = self.inner.options.announce;
        config.ui = self.inner.options.web_ui.clone();
        match Master::start(config).await {
            Ok(master) => {
                let db: Arc<dyn Db> = Arc::new(master.db().for_device(MASTER_DEVICE));
                let tasks = vec![
                    tokio::spawn(forward_changes(db.clone(), self.inner.events.clone())),
                    tokio::spawn(watch_master(Arc::downgrade(&self.inner))),
                ];
                let (sync, sync_error) = match start_sync(&master, self.settings().upstream) {
                    Ok(s) => (s, None),
                    Err(e) => (None, Some(e)),
                };
                Mode::Master {
                    master: Box::new(master),
                    db,
                    tasks,
                    sync,
                    sync_error,
                }
            }
            Err(e) => {
                tracing::warn!("master mode could not start: {e}");
                Mode::MasterFailed(e.to_string())
            }
        }
    }

    async fn with_master<T>(
        &self,
        f: impl FnOnce(&Master) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        match &*self.inner.mode.lock().await {
            Mode::Master { master, .. } => f(master),
            _ => Err(AppError::NotMaster),
        }
    }

    /// The pairing URL with the current code, and its QR code.
    pub async fn pairing_info(&self) -> Result<Pairing, AppError> {
        self.with_master(|master| {
            let store = master.store();
            let (code, expires) = pairing_state::current(store)?.unwrap_or_default();
            pairing(master, code, expires)
        })
        .await
    }

    /// A new pairing code; the old one stops working.
    pub async fn pairing_renew(&self) -> Result<Pairing, AppError> {
        self.with_master(|master| {
            let minutes = pairing_state::DEFAULT_CODE_MINUTES;
            let (code, expires) = pairing_state::renew(master.store(), minutes)?;
            tracing::info!("new pairing code made from the window");
            pairing(master, code, expires)
        })
        .await
    }

    /// Every device that ever paired, connected ones first.
    pub async fn devices(&self) -> Result<Vec<DeviceView>, AppError> {
        self.with_master(|master| {
            let connected: Vec<String> = master.connected().into_iter().map(|d| d.device).collect();
            let mut list: Vec<DeviceView> = master
                .store()
                .devices()?
                .into_iter()
                .map(|d| {
                    let connected = connected.contains(&d.fingerprint);
                    DeviceView::new(d, connected)
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
        let device = self
            .with_master(|master| Ok(pairing_state::revoke(master.store(), fingerprint)?))
            .await?;
        tracing::info!(device = %device.fingerprint, "device revoked from the window");
        Ok(DeviceView::new(device, false))
    }

    // ---- upstream sync (master) ----

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
            Mode::None | Mode::MasterFailed(_) => Ok(SyncView {
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

    // ---- slave mode ----

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
            Mode::Master { .. } | Mode::MasterFailed(_)
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

    fn start_slave(&self, target: Target, code: Option<String>) -> Result<Mode, AppError> {
        let config = SlaveConfig {
            data: self.inner.data.clone(),
            target,
            code,
            device_name: slave::default_device_name(),
            call_timeout: slave::DEFAULT_CALL_TIMEOUT,
            rtc: Default::default(),
        };
        let db = RemoteDb::start(config)?;
        let tasks = vec![
            tokio::spawn(forward_changes(
                Arc::new(db.clone()),
                self.inner.events.clone(),
            )),
            tokio::spawn(watch_slave(db.state(), Arc::downgrade(&self.inner))),
        ];
        Ok(Mode::Slave { db, tasks })
    }

    // ---- URLs and QR codes ----

    /// Reads a pairing URL from a photo or screenshot of a QR code.
    pub fn qr_decode(&self, image: &[u8]) -> Result<String, AppError> {
        qr::decode(image)
    }

    /// Called with the app's command line and with a second copy's: an
    /// `outpost://` argument is a pairing URL to connect with.
    pub fn open_args<I: IntoIterator<Item = String>>(&self, args: I, running: bool) {
        let Some(url) = args
            .into_iter()
            .find(|a| a.to_ascii_lowercase().starts_with("outpost://"))
        else {
            return;
        };
        if PairingUrl::parse(&url).is_err() {
            tracing::warn!("ignored a malformed outpost:// URL");
            return;
        }
        tracing::info!("opened with a pairing URL");
        *self
            .inner
            .open_url
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
        if running {
            let _ = self.inner.events.send(AppEvent::OpenUrl(url));
        }
    }

    /// The pairing URL the app was opened with, once.
    pub fn take_open_url(&self) -> Option<String> {
        self.inner
            .open_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Stops the master or the slave connection (at exit).
    pub async fn shutdown(&self) {
        let _switching = self.inner.switching.lock().await;
        self.swap(Mode::None).await.stop().await;
    }
}

/// Starts the sync worker for `master` with the upstream file at `path`
/// (nothing without one); the error in words when it cannot start.
fn start_sync(master: &Master, path: Option<String>) -> Result<Option<Arc<Sync>>, String> {
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

async fn stop_sync(master: &Master, sync: Option<Arc<Sync>>) {
    master.db().set_upstream(None);
    if let Some(s) = sync.and_then(Arc::into_inner) {
        s.stop().await;
    }
}

fn pairing(master: &Master, code: String, expires: u64) -> Result<Pairing, AppError> {
    let mut url = master.pairing_url().clone();
    url.code = (!code.is_empty()).then(|| code.clone());
    let text = url.to_string();
    Ok(Pairing {
        qr_svg: qr::svg(&text)?,
        url: text,
        code: display_code(&code),
        expires,
        minutes_left: pairing_state::minutes_left(expires),
        browser_url: master.browser_url(),
    })
}

/// Subscribes `db` to every doctype and forwards its events.
async fn forward_changes(db: Arc<dyn Db>, tx: broadcast::Sender<AppEvent>) {
    let mut events = db.events();
    if let Err(e) = db.run(Op::Subscribe(SubscribeArgs::default())).await {
        // A slave that cannot reach its master yet: its subscription is
        // restored when it connects (RemoteDb re-sends it).
        tracing::debug!("subscribe failed for now: {}", e.message);
    }
    while let Some(ev) = events.recv().await {
        let _ = tx.send(AppEvent::Db(ev));
    }
}

/// Publishes the master's status when its connected devices change.
async fn watch_master(weak: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(STATUS_POLL).await;
        let Some(inner) = weak.upgrade() else { return };
        App { inner }.publish_status().await;
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

/// The event that tells the window it missed changes and must reload.
pub fn lagged(missed: u64) -> Event {
    Event::Lagged { missed }
}
