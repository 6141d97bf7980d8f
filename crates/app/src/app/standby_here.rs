//! This PC as the office's standby (issue 13): a desktop slave that its
//! master made the standby (the Master screen's "Make standby", or
//! `outpost devices standby ID`) keeps a copy of the office database in its
//! own data folder, following every change, while its window goes on
//! working as a slave. When the master is gone, "Make this PC the office's
//! master" promotes the copy and the window becomes the master's.
//!
//! Which PC is the standby is decided on the master only: this PC learns
//! it from the office's roster (the master, then its standby) that the
//! master tells every PC in its `hello`, asked again every few seconds and
//! kept in `slave.json`, so a standby whose master died still knows it is
//! one after a restart. The copy runs as `outpost standby` does, with its
//! instance lock on the data folder, but over the slave's own connection
//! ([`standby::follow_over`]): one PC, one session at the master (a master
//! may close a device's older channel when it connects again), the
//! standby's calls multiplexed with the window's.

use std::sync::Weak;

use outpost_api::protocol::HelloArgs;
use outpost_node::standby::{self, StandbyState};
use outpost_store::backup::{InstanceLock, INSTANCE_LOCK};
use tokio::sync::watch;

use super::*;
use crate::standby::{designated, StandbyHere};

/// How often the slave asks its master whether this PC is the standby.
const ROSTER_POLL: Duration = Duration::from_secs(5);
/// How long one such question may take (the master may be gone).
const ROSTER_WAIT: Duration = Duration::from_secs(5);
/// How long promoting waits for the stopped copy to free the data folder.
const FOLDER_FREE_WAIT: Duration = Duration::from_secs(15);

/// The copy being kept: `standby::follow` running in the background.
pub(super) struct Follower {
    state: watch::Receiver<StandbyState>,
    stop: watch::Sender<bool>,
    /// `None` once [`Follower::stop`] waited for it.
    task: Option<tokio::task::JoinHandle<()>>,
    /// Why following stopped by itself, once it did.
    stopped: Arc<StdMutex<Option<String>>>,
    /// Publishes the status when the copy's state changes.
    watch: tokio::task::JoinHandle<()>,
}

impl Follower {
    fn start(inner: &Arc<Inner>, db: RemoteDb) -> Follower {
        let data = inner.data.clone();
        let (state_tx, state) = watch::channel(StandbyState::Connecting);
        let (stop, stop_rx) = watch::channel(false);
        let stopped = Arc::new(StdMutex::new(None));
        let why = stopped.clone();
        let weak = Arc::downgrade(inner);
        let task = tokio::spawn(async move {
            let result = standby::follow_over(&db, &data, state_tx, stop_rx).await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "the standby copy stopped");
                *why.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            }
            // Not awaited here: whoever stops the copy waits for this task.
            if let Some(inner) = weak.upgrade() {
                tokio::spawn(async move { App { inner }.publish_status().await });
            }
        });
        let watch = tokio::spawn(publish_on_change(state.clone(), Arc::downgrade(inner)));
        tracing::info!("this PC is the office's standby: keeping a copy of the office database");
        Follower {
            state,
            stop,
            task: Some(task),
            stopped,
            watch,
        }
    }

    /// Where the copy stands.
    fn view(&self) -> StandbyHere {
        if let Some(message) = self
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return StandbyHere::Stopped { message };
        }
        StandbyHere::from(&*self.state.borrow())
    }

    /// Stops following and waits until the data folder is free (its
    /// instance lock released).
    pub(super) async fn stop(mut self) {
        self.watch.abort();
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "the standby copy ended badly");
            }
        }
        tracing::info!("standby copy stopped");
    }
}

/// A copy dropped without [`Follower::stop`] (its task aborted) still
/// stops: `follow` ends at its next step and releases the folder.
impl Drop for Follower {
    fn drop(&mut self) {
        self.watch.abort();
        let _ = self.stop.send(true);
    }
}

/// The slave's standby copy, if it keeps one; shared by its mode and the
/// task that starts and stops it.
pub(super) type FollowerSlot = Arc<Mutex<Option<Follower>>>;

/// Keeps the copy running exactly while the office names this PC its
/// standby: asks the master (through the slave's own connection) every
/// [`ROSTER_POLL`], and otherwise goes by the roster it last learned.
pub(super) async fn keep_standby(db: RemoteDb, slot: FollowerSlot, weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        // Asked only over a live connection: a call made while the master
        // is away would wait for it (and be sent again when it is back).
        let connected = matches!(*db.state().borrow(), LinkState::Connected { .. });
        if connected {
            let hello = Op::Hello(HelloArgs::default());
            if let Ok(Ok(hello)) = tokio::time::timeout(ROSTER_WAIT, db.run(hello)).await {
                slave::learn_roster(&inner.data, &hello);
            }
        }
        // No pairing to read (a moment's rewrite): nothing changes.
        if let Some(paired) = slave::load_paired(&inner.data) {
            let wanted = designated(&paired, &inner.device_id);
            let mut follower = slot.lock().await;
            let changed = match (wanted, follower.is_some()) {
                (true, false) => {
                    *follower = Some(Follower::start(&inner, db.clone()));
                    true
                }
                (false, true) => {
                    tracing::info!("the office has another standby now, or none");
                    if let Some(f) = follower.take() {
                        f.stop().await;
                    }
                    true
                }
                _ => false,
            };
            drop(follower);
            if changed {
                App {
                    inner: inner.clone(),
                }
                .publish_status()
                .await;
            }
        }
        drop(inner);
        tokio::time::sleep(ROSTER_POLL).await;
    }
}

/// Publishes the status whenever the copy's state changes.
async fn publish_on_change(mut state: watch::Receiver<StandbyState>, weak: Weak<Inner>) {
    while state.changed().await.is_ok() {
        let Some(inner) = weak.upgrade() else { return };
        App { inner }.publish_status().await;
    }
}

/// The status bar's view of a slave's standby copy.
pub(super) async fn view(slot: &FollowerSlot) -> Option<StandbyHere> {
    slot.lock().await.as_ref().map(Follower::view)
}

impl App {
    /// The writes this PC took as a former master that never reached the
    /// office: listed aside when it started following the new master (the
    /// Standby screen names them; they are never merged).
    pub fn stray_writes(&self) -> Vec<outpost_node::standby::StrayList> {
        outpost_node::standby::stray_lists(&self.inner.data)
    }

    /// "Make this PC the office's master", on the standby when its master
    /// is gone: stops following, promotes the copy (the office's epoch is
    /// raised; the office's PCs accept this PC as their master by
    /// themselves) and starts the master on it under the office's name, on
    /// the port the office's master had. If the promotion fails, this PC
    /// goes back to following; if the master cannot start after it, this
    /// PC stays the master (as a restart would retry) and says why.
    pub async fn standby_promote(&self) -> Result<Status, AppError> {
        let _switching = self.inner.switching.lock().await;
        let paired = slave::load_paired(&self.inner.data);
        let is_standby = match &*self.inner.mode.lock().await {
            Mode::Slave { standby, .. } => standby.lock().await.is_some(),
            _ => false,
        } || paired
            .as_ref()
            .is_some_and(|p| designated(p, &self.inner.device_id));
        if !is_standby {
            return Err(AppError::NotStandby);
        }
        // Following ends (and frees the folder) before the copy is touched:
        // `promote` stops whatever process holds the folder, and that must
        // never be this one.
        self.swap(Mode::None).await.stop().await;
        let data = self.inner.data.clone();
        let deadline = tokio::time::Instant::now() + FOLDER_FREE_WAIT;
        while InstanceLock::held(&data) {
            if tokio::time::Instant::now() > deadline {
                if let Some(p) = &paired {
                    let back = self.start_slave(Target::Name(p.name.clone()), None)?;
                    self.swap(back).await;
                }
                self.publish_status().await;
                return Err(AppError::Promote(Box::new(
                    outpost_store::StoreError::FolderInUse {
                        dir: data.clone(),
                        holder: std::fs::read_to_string(data.join(INSTANCE_LOCK))
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    }
                    .into(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let promoted = tokio::task::spawn_blocking(move || standby::promote(&data))
            .await
            .map_err(|e| AppError::Io(std::io::Error::other(e)))?;
        let promoted = match promoted {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "the standby could not be promoted");
                if let Some(p) = &paired {
                    let back = self.start_slave(Target::Name(p.name.clone()), None)?;
                    self.swap(back).await;
                }
                self.publish_status().await;
                return Err(AppError::Promote(Box::new(e)));
            }
        };
        tracing::info!(office = %promoted.office, epoch = promoted.epoch, seq = promoted.seq, "this PC is the office's master now");
        let port = self
            .settings()
            .port
            .or_else(|| paired.as_ref().and_then(|p| port_of(&p.addr)));
        let next = self.start_master(&promoted.office, port).await;
        let failed = match &next {
            Mode::MasterFailed(message) => Some(message.clone()),
            _ => None,
        };
        self.swap(next).await;
        slave::forget(&self.inner.data)?;
        self.save_settings(|s| {
            s.role = Role::Master;
            s.office_name = Some(promoted.office.clone());
            if port.is_some() {
                s.port = port;
            }
        })?;
        self.publish_status().await;
        match failed {
            Some(message) => Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "this PC was promoted (the office's epoch is {}), but its master could not start: {message}",
                    promoted.epoch
                ),
            )
            .into()),
            None => Ok(self.status().await),
        }
    }
}

/// The port of a `host:port` address.
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn the_promoted_master_takes_the_port_its_office_was_reached_at() {
        assert_eq!(port_of("192.168.1.20:7355"), Some(7355));
        assert_eq!(port_of("[fe80::1]:7400"), Some(7400));
        assert_eq!(port_of("depot"), None);
    }
}
