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
use outpost_api::roles::AdminRight;
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
mod backups;
mod master_mode;
mod slave_mode;
mod standby;
mod standby_here;
mod upstream;
mod window_session;

use upstream::{start_sync, stop_sync};

use crate::status::{DeviceView, FoundMasterView, LinkView, PairedView, Pairing, Status, SyncView};

/// How long "Connect" waits for a first answer from a master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the master's status (connected devices) is looked at.
const STATUS_POLL: Duration = Duration::from_millis(500);
/// How long to listen for masters on the LAN.
const DISCOVER: Duration = Duration::from_secs(2);
/// How long "Sync now" waits for the cycle.
const SYNC_NOW_WAIT: Duration = Duration::from_secs(300);
/// How often stopping the master looks whether a backup still holds it.
const SOLE_POLL: Duration = Duration::from_millis(20);

/// What the window is told about.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// A record changed (here or on another PC), or the feed lagged.
    Db(Event),
    /// Boxed: a status is large, and most events are record changes.
    Status(Box<Status>),
    /// An `outpost://` URL was opened while the app runs.
    OpenUrl(String),
}

enum Mode {
    None,
    Master {
        /// Shared only while a backup taken from the window runs (it must
        /// not hold the mode's lock for seconds); `stop` waits for it.
        master: Arc<Master>,
        /// The window's calls, through the master's gate (sign-in, roles).
        db: Arc<window_session::WindowDb>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        /// The sync worker, when an upstream file is set and it started.
        sync: Option<Arc<Sync>>,
        /// Why the sync worker could not start.
        sync_error: Option<String>,
    },
    /// Master mode is on in Settings but could not start.
    MasterFailed(String),
    /// Master mode is on in Settings, but the office database has no users
    /// (made before every office had a manager, or a standby's copy of
    /// such an office): its master starts once the window has made the
    /// first manager (`master_enable` with one).
    NoManager,
    Slave {
        db: RemoteDb,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        /// The standby copy, while the office names this PC its standby.
        standby: standby_here::FollowerSlot,
    },
}

impl Mode {
    fn db(&self) -> Option<Arc<dyn Db>> {
        match self {
            Mode::Master { db, .. } => Some(db.clone() as Arc<dyn Db>),
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
                sole(master).await.shutdown().await;
            }
            Mode::Slave { db, tasks, standby } => {
                for t in tasks {
                    t.abort();
                }
                if let Some(copy) = standby.lock().await.take() {
                    copy.stop().await;
                }
                db.close().await;
            }
            Mode::None | Mode::MasterFailed(_) | Mode::NoManager => {}
        }
    }
}

/// The master once no backup taken from the window holds it any more.
async fn sole(mut master: Arc<Master>) -> Master {
    loop {
        match Arc::try_unwrap(master) {
            Ok(m) => return m,
            Err(shared) => {
                master = shared;
                tokio::time::sleep(SOLE_POLL).await;
            }
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
    /// The web UI the master serves to browsers on the LAN (the one built
    /// into the app, or `OUTPOST_UI`); none: browsers get a page saying so.
    pub web_ui: Option<outpost_link::web::WebRoot>,
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
                let (db, slave) = {
                    let mode = self.inner.mode.lock().await;
                    let slave = matches!(*mode, Mode::Slave { .. });
                    (mode.db().ok_or_else(|| Self::no_database(&mode)), slave)
                };
                let signs_in = matches!(req.op, Op::SignIn(_) | Op::Resume(_));
                match db {
                    Ok(db) => {
                        let response = db.call(req).await;
                        // A slave's subscription was refused before anyone
                        // signed in: made again for the person now seated.
                        if slave && signs_in && response.result.is_ok() {
                            let all = Op::Subscribe(SubscribeArgs::default());
                            if let Err(e) = db.run(all).await {
                                tracing::debug!("subscribe after sign-in failed: {}", e.message);
                            }
                        }
                        response
                    }
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
            Mode::NoManager => ApiError::new(
                ErrorCode::Unavailable,
                "this office has no users yet: make its first manager (the window asks for one), then everyone signs in",
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
        let mut standby = None;
        let mut update = None;
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
            Mode::NoManager => (
                settings.office_name.clone(),
                LinkView::NoManager,
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
            Mode::Slave {
                db, standby: copy, ..
            } => {
                standby = standby_here::view(copy).await;
                update = db.update().map(crate::update::UpdateView::from);
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
            standby,
            update,
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
            let _ = self.inner.events.send(AppEvent::Status(Box::new(status)));
        }
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

/// The event that tells the window it missed changes and must reload.
pub fn lagged(missed: u64) -> Event {
    Event::Lagged { missed }
}
