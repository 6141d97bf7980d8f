//! Finding masters on the LAN by name: each master announces
//! `_outpost._tcp.local.` over mDNS with its office name and fingerprint in
//! the TXT record; slaves browse for it. The fingerprint found this way is
//! only a hint for first contact: pairing still needs the code, and a paired
//! slave pins the fingerprint it paired with.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use crate::error::{LinkError, Result};
use crate::identity::normalize_fingerprint;

pub const SERVICE_TYPE: &str = "_outpost._tcp.local.";

/// A master seen on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundMaster {
    pub name: String,
    pub fingerprint: String,
    pub addrs: Vec<IpAddr>,
    pub port: u16,
}

impl FoundMaster {
    /// `host:port` to connect to (the first IPv4 address, else the first).
    pub fn authority(&self) -> Option<String> {
        let ip = self
            .addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| self.addrs.first())?;
        Some(match ip {
            IpAddr::V4(v4) => format!("{v4}:{}", self.port),
            IpAddr::V6(v6) => format!("[{v6}]:{}", self.port),
        })
    }
}

fn daemon() -> Result<ServiceDaemon> {
    ServiceDaemon::new().map_err(|e| LinkError::Discovery(e.to_string()))
}

/// Keeps a master announced until dropped.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

/// Announces the master `name` with fingerprint `fp` on `port`, on `ips`
/// (all interfaces when empty).
pub fn announce(name: &str, fp: &str, port: u16, ips: &[IpAddr]) -> Result<Announcement> {
    let daemon = daemon()?;
    let instance = format!("outpost-{}", &fp[..16.min(fp.len())]);
    let host = format!("{instance}.local.");
    let props = [("name", name), ("fp", fp), ("v", "1")];
    let info = if ips.is_empty() {
        ServiceInfo::new(SERVICE_TYPE, &instance, &host, "", port, &props[..])
            .map(|i| i.enable_addr_auto())
    } else {
        ServiceInfo::new(SERVICE_TYPE, &instance, &host, ips, port, &props[..])
    }
    .map_err(|e| LinkError::Discovery(e.to_string()))?;
    let fullname = info.get_fullname().to_string();
    daemon
        .register(info)
        .map_err(|e| LinkError::Discovery(e.to_string()))?;
    tracing::info!(%name, %port, "announced on the LAN over mDNS");
    Ok(Announcement { daemon, fullname })
}

impl Drop for Announcement {
    fn drop(&mut self) {
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = rx.recv_timeout(Duration::from_millis(500));
        }
        let _ = self.daemon.shutdown();
    }
}

/// A browsing daemon, stopped when dropped: also when the lookup is given
/// up half-way (its future dropped), so no daemon thread is left behind.
struct Browsing(ServiceDaemon);

impl Drop for Browsing {
    fn drop(&mut self) {
        let _ = self.0.stop_browse(SERVICE_TYPE);
        let _ = self.0.shutdown();
    }
}

/// Every master that answers within `wait`, by fingerprint.
pub async fn browse(wait: Duration) -> Result<Vec<FoundMaster>> {
    let daemon = Browsing(daemon()?);
    let rx = daemon
        .0
        .browse(SERVICE_TYPE)
        .map_err(|e| LinkError::Discovery(e.to_string()))?;
    let mut found: BTreeMap<String, FoundMaster> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv_async()).await {
            Err(_) | Ok(Err(_)) => break,
            Ok(Ok(ServiceEvent::ServiceResolved(info))) => {
                let Some(fp) = info
                    .get_property_val_str("fp")
                    .and_then(normalize_fingerprint)
                else {
                    continue;
                };
                let name = info
                    .get_property_val_str("name")
                    .unwrap_or_default()
                    .to_string();
                let entry = found.entry(fp.clone()).or_insert_with(|| FoundMaster {
                    name,
                    fingerprint: fp,
                    addrs: vec![],
                    port: info.get_port(),
                });
                for a in info.get_addresses() {
                    if !entry.addrs.contains(a) {
                        entry.addrs.push(*a);
                    }
                }
                entry.addrs.sort();
            }
            Ok(Ok(_)) => {}
        }
    }
    drop(daemon);
    Ok(found.into_values().collect())
}

/// The master called `name` (case-insensitive). Several masters with that
/// name is an error: the user must pick by URL.
pub async fn find_by_name(name: &str, wait: Duration) -> Result<FoundMaster> {
    let all = browse(wait).await?;
    let matching: Vec<FoundMaster> = all
        .iter()
        .filter(|m| m.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .collect();
    match matching.len() {
        1 => Ok(matching.into_iter().next().expect("one")),
        0 => Err(LinkError::Discovery(if all.is_empty() {
            format!("no master found on the LAN (looking for \"{name}\"); check that the master PC is on and on this network, or use its pairing URL")
        } else {
            format!(
                "no master called \"{name}\" on the LAN; found: {}",
                all.iter()
                    .map(|m| format!("\"{}\"", m.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })),
        n => Err(LinkError::Discovery(format!(
            "{n} masters are called \"{name}\"; use the pairing URL of the one you want"
        ))),
    }
}
