//! The master: the office database served to slaves over WebRTC.
//!
//! One TCP port takes the signaling WebSocket; each slave that is approved
//! (or pairs with the current code) gets its own peer connection and `db`
//! data channel, on which its calls run against a `LocalDb` handle acting
//! for that device. Revoking a device closes its channel within a second.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_api::LocalDb;
use outpost_link::discovery::{self, Announcement};
use outpost_link::pairing::{PairingUrl, DEFAULT_PORT};
use outpost_link::{ChannelSender, Identity, RtcOptions};
use outpost_store::backup::{BackupInfo, InstanceLock};
use outpost_store::Store;
use tokio::sync::watch;

use crate::backups::{BackupSchedule, BackupStatus, Scheduler};
use crate::error::{NodeError, Result};
use crate::pairing_state;
use crate::standby::{Durability, WriteMode, WritePolicy};

mod admit;
mod gate;
pub use gate::LocalSession;
mod lan;
mod listen;
mod sessions;

pub use listen::{is_lan_ip, Listen};
use sessions::revocation_watch;

/// How long to look for another master of the same name at start.
const NAME_CHECK: Duration = Duration::from_millis(1500);

/// The packages folder in a master's data folder, unless told another.
pub const PACKAGES_DIR: &str = "packages";

#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub data: PathBuf,
    /// The office name ("Kashgar depot").
    pub name: String,
    /// Where to listen: the LAN interfaces (default), or given addresses.
    pub listen: Listen,
    /// The office's postal address (lines), printed on invoices; `None`:
    /// keep the one the database has.
    pub address: Option<String>,
    pub port: u16,
    /// Minutes a pairing code stays valid.
    pub code_minutes: u64,
    pub rtc: RtcOptions,
    /// Announce over mDNS (and refuse a duplicate name on the LAN).
    pub announce: bool,
    /// The web UI (a folder, or built into the program), served over HTTP
    /// on the same port for browsers on the LAN; `None`: the port answers
    /// that there is none.
    pub ui: Option<outpost_link::web::WebRoot>,
    /// Backups taken by the master itself; `None`: by hand only.
    pub backup: Option<BackupSchedule>,
    /// When a write is answered (at the master's commit, or once the
    /// standby holds it too) and what a synchronous master does while its
    /// standby is away; the first policy: [`Master::set_write_policy`]
    /// changes it.
    pub writes: WritePolicy,
    /// Whether it starts an office that has no users yet.
    pub without_users: WithoutUsers,
    /// The folder of packages (`.deb`) this master serves to the office's
    /// other PCs at `/install/`; `None`: `DATA/packages`.
    pub packages: Option<PathBuf>,
}

/// Whether a master starts an office that has no users (issue 14). The
/// `outpost` CLI and the desktop app always refuse: the office's first
/// manager is made before its master starts, so nobody ever works without
/// signing in. Only in-process tests and benchmarks of the node open an
/// office without users, where every paired device may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutUsers {
    /// `Master::start` fails with [`NodeError::NoUsers`] (the default).
    Refuse,
    /// Starts open: no sign-in until the first user is added beside it.
    OpenForTests,
}

impl MasterConfig {
    pub fn new(data: PathBuf, name: impl Into<String>) -> MasterConfig {
        MasterConfig {
            data,
            name: name.into(),
            listen: Listen::Lan,
            address: None,
            port: DEFAULT_PORT,
            code_minutes: pairing_state::DEFAULT_CODE_MINUTES,
            rtc: RtcOptions::default(),
            announce: true,
            ui: None,
            backup: None,
            writes: WritePolicy::default(),
            without_users: WithoutUsers::Refuse,
            packages: None,
        }
    }
}

pub(crate) struct SessionEntry {
    pub(crate) device: String,
    name: String,
    tx: ChannelSender,
    /// The person signed in on this channel.
    seat: gate::Seat,
}

impl Shared {
    pub(crate) fn write_policy(&self) -> WritePolicy {
        *self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How writes are answered now: the policy meeting the standby.
    pub(crate) async fn write_mode(&self) -> WriteMode {
        let policy = self.write_policy();
        // An asynchronous master answers every write alike: it need not
        // ask (off the runtime) whether its standby follows.
        let following = match policy.durability {
            Durability::Async => None,
            Durability::Sync => self.standby.following().await,
        };
        policy.mode(following)
    }
}

pub(crate) struct Shared {
    config: MasterConfig,
    auth: Arc<crate::auth::Auth>,
    standby: crate::standby::hub::Hub,
    pub(crate) db: LocalDb,
    identity: Identity,
    sessions: Mutex<HashMap<u64, SessionEntry>>,
    next_session: AtomicU64,
    /// Calls of every slave received and not yet answered on the wire
    /// (`sessions::UnderWay`).
    under_way: Arc<std::sync::atomic::AtomicUsize>,
    /// Set by `shutdown`: handshakes still finishing connect nobody.
    stopping: AtomicBool,
    /// The higher epoch this master met (0: none): a standby was promoted
    /// in its place, and it takes no more writes.
    pub(crate) fenced: AtomicU64,
    /// How writes are answered now (the config's at start).
    writes: std::sync::RwLock<WritePolicy>,
    /// The office's epoch this master serves (a promotion raises it; a
    /// running master never changes it).
    epoch: u64,
    /// This master on the LAN (mDNS), until it is replaced or stops.
    announcement: Mutex<Option<Announcement>>,
    /// The packages served at `/install/`.
    shelf: Arc<outpost_link::install::Shelf>,
}

/// A running master. Dropping it does not stop it: call `shutdown`.
pub struct Master {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: PairingUrl,
    /// The last code this master made (at start, or [`Master::new_code`]),
    /// in memory only: the database holds its key.
    code: Mutex<pairing_state::MadeCode>,
    /// Whether the office's LAN name was announced at start.
    announced: bool,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    backups: Scheduler,
    /// One master per data folder: held until the master stops.
    _lock: InstanceLock,
}

/// A connected slave, for status displays.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectedDevice {
    pub device: String,
    pub name: String,
}

impl Master {
    /// Opens the office database, checks the name is free on the LAN,
    /// listens, and starts serving slaves.
    pub async fn start(mut config: MasterConfig) -> Result<Master> {
        // Said in every offer (a test may say another).
        config.rtc.versions.get_or_insert_with(crate::version::ours);
        let name = config.name.trim().to_string();
        if name.is_empty() {
            return Err(NodeError::Config("the office name is empty".into()));
        }
        pairing_state::check_code_minutes(config.code_minutes).map_err(NodeError::Config)?;
        let address = match &config.address {
            Some(a) => Some(
                outpost_api::print::check_office_address(a)
                    .map_err(|e| NodeError::Config(e.message))?,
            ),
            None => None,
        };
        outpost_link::identity::private_dir(&config.data)?;
        let lock = InstanceLock::acquire(&config.data)?;
        let store = Store::open(&config.data)?;
        if config.without_users == WithoutUsers::Refuse && !store.has_users()? {
            return Err(NodeError::NoUsers {
                data: config.data.clone(),
            });
        }
        let identity = Identity::load_or_create(&config.data)?;
        let epoch = crate::standby::promote::epoch(&store);
        let fenced_at_start = crate::standby::fence::fenced_by(&store);
        if config.announce && fenced_at_start == 0 {
            let others = discovery::browse(NAME_CHECK).await.unwrap_or_default();
            let office = lan::office_fingerprints(
                &config.data,
                crate::standby::standby_device(&store)?,
                identity.fingerprint(),
            );
            lan::name_check(&others, &name, identity.fingerprint(), epoch, &office)?;
        }
        let bound = listen::bind(&config.listen, config.port).await?;
        let listening = bound.ips();
        let addr = SocketAddr::new(listening[0], bound.port);
        let code = {
            let (store, fp, minutes) = (
                store.clone(),
                identity.fingerprint().to_string(),
                config.code_minutes,
            );
            tokio::task::spawn_blocking(move || pairing_state::renew(&store, &fp, minutes))
                .await
                .map_err(|e| NodeError::Config(format!("cannot make a pairing code: {e}")))??
        };
        let url = PairingUrl {
            host: listen::advertised_host(&listening),
            port: addr.port(),
            name: name.clone(),
            fingerprint: identity.fingerprint().to_string(),
            code: Some(code.code.clone()),
        };
        pairing_state::store_url(&store, &url)?;
        store.set_meta("master_name", &name)?;
        // A replaced master is not announced: the office's name is its
        // promoted standby's now.
        let announcement = if config.announce && fenced_at_start == 0 {
            // Where it listens, not on every interface (a public one).
            let ips: Option<Vec<IpAddr>> =
                (!listening.iter().any(|ip| ip.is_unspecified())).then(|| {
                    listening
                        .iter()
                        .copied()
                        .filter(|ip| !ip.is_loopback())
                        .collect()
                });
            Some(discovery::announce(
                &name,
                identity.fingerprint(),
                epoch,
                addr.port(),
                ips.as_deref(),
            )?)
        } else {
            None
        };
        if fenced_at_start > 0 {
            tracing::error!(
                epoch = fenced_at_start,
                "this PC was replaced as the office's master: it takes no writes"
            );
        }
        let auth = crate::auth::Auth::new(store.clone(), &config.data);
        if !auth.required() {
            tracing::warn!(
                "nobody signs in on this master (started open, for a test): every paired device may do everything"
            );
        }
        let announced = announcement.is_some();
        if let Some(address) = &address {
            store.set_meta(outpost_api::print::OFFICE_ADDRESS_KEY, address)?;
        }
        let db = LocalDb::new(store, "master");
        db.set_printer(crate::print::PrintEngine::new(config.data.clone()));
        let shelf = Arc::new(outpost_link::install::Shelf::new(
            config
                .packages
                .clone()
                .unwrap_or_else(|| config.data.join(PACKAGES_DIR)),
        ));
        let shared = Arc::new(Shared {
            auth,
            standby: crate::standby::hub::Hub::new(db.store().clone(), config.data.clone()),
            config: MasterConfig { name, ..config },
            db,
            identity,
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            under_way: Arc::default(),
            stopping: AtomicBool::new(false),
            fenced: AtomicU64::new(fenced_at_start),
            writes: std::sync::RwLock::new(config.writes),
            epoch,
            announcement: Mutex::new(announcement),
            shelf,
        });
        let (stop, stop_rx) = watch::channel(false);
        let (backups, backup_task) = Scheduler::start(
            shared.config.data.clone(),
            shared.config.name.clone(),
            shared.config.backup.clone(),
            stop_rx.clone(),
        );
        let mut tasks = vec![
            backup_task,
            tokio::spawn(listen::serve(shared.clone(), bound, stop_rx.clone())),
            tokio::spawn(revocation_watch(shared.clone(), stop_rx.clone())),
            tokio::spawn(gate::users_watch(shared.clone(), stop_rx.clone())),
            tokio::spawn(standby_status(shared.clone(), stop_rx.clone())),
        ];
        if shared.config.announce {
            tasks.push(tokio::spawn(lan::watch(shared.clone(), stop_rx)));
        }
        tracing::info!(
            port = addr.port(),
            on = %shared.config.listen,
            addresses = ?listening,
            fingerprint = %shared.identity.fingerprint(),
            "master listening"
        );
        Ok(Master {
            shared,
            addr,
            url,
            code: Mutex::new(code),
            announced,
            stop,
            tasks,
            backups,
            _lock: lock,
        })
    }

    /// The pairing URL with the code made at start.
    pub fn pairing_url(&self) -> &PairingUrl {
        &self.url
    }

    /// The address browsers open (`http://HOST:PORT/`), when this master
    /// serves the web UI.
    pub fn browser_url(&self) -> Option<String> {
        self.shared
            .config
            .ui
            .as_ref()
            .map(|_| format!("http://{}/", self.url.authority()))
    }

    /// The install page (`http://HOST:PORT/install/`), listing the
    /// packages this master carries for the office's other PCs.
    pub fn install_url(&self) -> String {
        crate::version::install_url(&self.url.authority())
    }

    /// The folder the install page lists.
    pub fn packages_dir(&self) -> &std::path::Path {
        self.shared.shelf.dir()
    }

    /// The packages this master carries now (blocking: hashes new files).
    pub fn packages(&self) -> Vec<outpost_link::install::Package> {
        self.shared.shelf.list()
    }

    /// The address browsers open by the office's LAN name
    /// (`http://outpost-OFFICE.local:PORT/`), when this master serves the
    /// web UI and announced the name: the standby promoted in its place
    /// announces the same name, so a browser that opened this address keeps
    /// its pairing through a failover (the office's port stays the same).
    pub fn office_url(&self) -> Option<String> {
        (self.announced && self.shared.config.ui.is_some()).then(|| {
            format!(
                "http://{}.local:{}/",
                discovery::office_host(&self.shared.config.name),
                self.url.port
            )
        })
    }

    /// What a phone's camera opens to pair with `code` (the browser
    /// address, the code and this master's fingerprint in its fragment),
    /// when this master serves the web UI.
    pub fn phone_url(&self, code: &str) -> Option<String> {
        self.browser_url()
            .map(|b| outpost_link::pairing::phone_url(&b, code, self.fingerprint()))
    }

    /// When the code made at start expires (seconds since the epoch).
    pub fn code_expires(&self) -> u64 {
        self.code.lock().unwrap_or_else(|e| e.into_inner()).expires
    }

    /// Makes a new pairing code valid for `minutes` (the previous one stops
    /// working) and keeps it to show ([`Master::shown_code`]).
    pub async fn new_code(&self, minutes: u64) -> Result<pairing_state::MadeCode> {
        pairing_state::check_code_minutes(minutes).map_err(NodeError::Config)?;
        let store = self.store().clone();
        let fp = self.fingerprint().to_string();
        let made = tokio::task::spawn_blocking(move || pairing_state::renew(&store, &fp, minutes))
            .await
            .map_err(|e| NodeError::Config(format!("cannot make a pairing code: {e}")))??;
        *self.code.lock().unwrap_or_else(|e| e.into_inner()) = made.clone();
        Ok(made)
    }

    /// The code this master made, while it is still the office's current
    /// one; `None` when a newer code was made by `outpost pair` (shown by
    /// that command only: the database keeps no code) or the code was
    /// retired by a revocation.
    pub fn shown_code(&self) -> Result<Option<pairing_state::MadeCode>> {
        let made = self.code.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(made.is_current(self.store())?.then_some(made))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn fingerprint(&self) -> &str {
        self.shared.identity.fingerprint()
    }

    pub fn db(&self) -> &LocalDb {
        &self.shared.db
    }

    pub fn store(&self) -> &Store {
        self.shared.db.store()
    }

    pub fn connected(&self) -> Vec<ConnectedDevice> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| ConnectedDevice {
                device: s.device.clone(),
                name: s.name.clone(),
            })
            .collect()
    }

    /// Takes a backup now: into the schedule's folder, or to `to`.
    pub async fn backup_now(&self, to: Option<PathBuf>) -> Result<BackupInfo> {
        Ok(self.backups.now(to).await?)
    }

    /// Changes (or stops, with `None`) the scheduled backups; a new
    /// schedule takes its first backup at once.
    pub fn set_backup_schedule(&self, schedule: Option<BackupSchedule>) {
        self.backups.set(schedule);
    }

    /// The schedule, the last attempt and the last good backup.
    pub fn backup_status(&self) -> BackupStatus {
        self.backups.status()
    }

    /// A wait for the standby to hold change `seq`, for the upstream sync
    /// worker (`outpost_sync::Sync::set_barrier`): in synchronous mode with
    /// the standby following, at most until it counts as away; otherwise
    /// at once.
    #[allow(clippy::type_complexity)]
    pub fn standby_barrier(
        &self,
    ) -> std::sync::Arc<
        dyn Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
            + Send
            + Sync,
    > {
        let shared = self.shared.clone();
        std::sync::Arc::new(move |seq| {
            let shared = shared.clone();
            Box::pin(async move {
                if shared.write_mode().await != WriteMode::OnBoth {
                    return true;
                }
                shared
                    .standby
                    .wait_acked(seq, crate::standby::hub::AWAY_AFTER)
                    .await
            })
        })
    }

    /// The higher epoch this master met, when a standby was promoted in
    /// its place (it then refuses every write).
    pub fn fenced(&self) -> Option<u64> {
        Some(self.shared.fenced.load(Ordering::SeqCst)).filter(|e| *e > 0)
    }

    /// The standby's lag, when the office has one.
    pub fn standby_status(&self) -> Option<crate::standby::StandbyStatus> {
        self.shared.standby.status(self.shared.write_policy())
    }

    /// How writes are answered, as chosen.
    pub fn write_policy(&self) -> WritePolicy {
        self.shared.write_policy()
    }

    /// Answers writes so from the next one on.
    pub fn set_write_policy(&self, policy: WritePolicy) {
        *self
            .shared
            .writes
            .write()
            .unwrap_or_else(|e| e.into_inner()) = policy;
        tracing::info!(durability = ?policy.durability, when_away = ?policy.when_away, "write policy set");
    }

    /// How writes are answered now: the policy meeting the standby.
    pub async fn write_mode(&self) -> WriteMode {
        self.shared.write_mode().await
    }

    /// Stops listening, closes every slave's channel, and closes the store
    /// after the writes in progress.
    pub async fn shutdown(self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        if let Some(a) = self.shared.take_announcement() {
            let _ = tokio::task::spawn_blocking(move || drop(a)).await;
        }
        let sessions: Vec<ChannelSender> = self
            .shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s.tx)
            .collect();
        for tx in sessions {
            tx.close().await;
        }
        let tasks = self.tasks;
        self.backups
            .stop_after_current(|| tasks.iter().for_each(|t| t.abort()))
            .await;
        // An aborted task is dropped on a worker thread some time later:
        // waited for, so the port and the files it holds are free once the
        // master has stopped (a master started again at once can listen).
        for t in tasks {
            let _ = t.await;
        }
        self.shared.db.store().close();
        tracing::info!("master stopped");
    }
}

/// Writes the standby's lag to `standby.json` every
/// [`STATUS_EVERY`](crate::standby::hub::STATUS_EVERY) until the master
/// stops: from a timer, not from the standby's calls, so the figure stays
/// current while the standby is silent.
/// Says in the log when the way writes are answered changes (the standby
/// went away, came back ...), for a headless master's terminal.
async fn standby_status(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut said = shared.write_mode().await;
    if said.degraded() {
        tracing::warn!("{}", said.words());
    }
    loop {
        let s = shared.clone();
        let policy = shared.write_policy();
        let _ = tokio::task::spawn_blocking(move || s.standby.write_status(policy)).await;
        let now = shared.write_mode().await;
        if now != said {
            if now.degraded() {
                tracing::warn!("{}", now.words());
            } else {
                tracing::info!("{}", now.words());
            }
            said = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(crate::standby::hub::STATUS_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
