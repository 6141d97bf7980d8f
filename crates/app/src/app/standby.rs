//! The standby master from the Master screen: which paired PC is the
//! office's standby, how far behind it is, making one or none, and the
//! banner when a standby was promoted in this master's place.

use super::*;
use crate::standby::{StandbyDeviceView, StandbyView};
use outpost_node::standby;

impl App {
    /// The standby line and the fenced banner.
    pub async fn standby_view(&self) -> Result<StandbyView, AppError> {
        self.with_master(|master| {
            // The device is read afresh: the master's own answer may be a
            // second old, and a standby made a moment ago shows at once.
            let store = master.store();
            let policy = master.write_policy();
            let standby = match standby::standby_device(store)? {
                Some(device) => {
                    let status = master
                        .standby_status()
                        .filter(|s| s.device == device)
                        .unwrap_or_else(|| not_called_yet(store, device, policy));
                    let name = store
                        .devices()?
                        .into_iter()
                        .find(|d| d.fingerprint == status.device)
                        .map(|d| d.name);
                    Some(StandbyDeviceView::new(status, name))
                }
                None => None,
            };
            let writes = policy.mode(standby.as_ref().map(|s| s.connected));
            Ok(StandbyView {
                standby,
                fenced: master.fenced(),
                policy,
                writes,
            })
        })
        .await
    }

    /// "Make standby": the approved device `fingerprint` becomes the
    /// office's standby, in place of any other. A revoked one is refused.
    pub async fn device_make_standby(&self, fingerprint: &str) -> Result<StandbyView, AppError> {
        self.admin(AdminRight::Devices).await?;
        let device = self
            .with_master(|master| Ok(standby::make_standby(master.store(), fingerprint)?))
            .await?;
        tracing::info!(device = %device.fingerprint, name = %device.name, "standby made from the window");
        self.standby_view().await
    }

    /// The standby card's "Writes are answered ..." choice: saved for the
    /// next start and taken by the running master from the next write on.
    pub async fn write_policy_save(
        &self,
        policy: standby::WritePolicy,
    ) -> Result<StandbyView, AppError> {
        self.admin(AdminRight::Master).await?;
        let switching = self.inner.switching.lock().await;
        self.save_settings(|s| s.writes = policy)?;
        if let Mode::Master { master, .. } = &*self.inner.mode.lock().await {
            master.set_write_policy(policy);
        }
        tracing::info!(durability = ?policy.durability, when_away = ?policy.when_away, "write policy saved from the window");
        drop(switching);
        self.standby_view().await
    }

    /// "No standby": the office has none any more.
    pub async fn device_clear_standby(&self) -> Result<StandbyView, AppError> {
        self.admin(AdminRight::Devices).await?;
        self.with_master(|master| Ok(standby::clear_standby(master.store())?))
            .await?;
        tracing::info!("standby cleared from the window");
        self.standby_view().await
    }
}

/// A standby made a moment ago, before the master's own record of it: it
/// has not called, and holds none of the office's changes yet.
fn not_called_yet(
    store: &outpost_store::Store,
    device: String,
    policy: standby::WritePolicy,
) -> standby::StandbyStatus {
    let master_seq = store.repl_seq();
    standby::StandbyStatus {
        device,
        connected: false,
        acked_seq: 0,
        master_seq,
        lag_changes: master_seq,
        lag_seconds: 0.0,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        writes: policy.mode(Some(false)),
    }
}
