//! Finding masters on the LAN by name: each master announces
//! `_outpost._tcp.local.` over mDNS with its office name and fingerprint in
//! the TXT record; slaves browse for it. The fingerprint found this way is
//! only a hint for first contact: pairing still needs the code, and a paired
//! slave pins the fingerprint it paired with. The TXT record also carries
//! the office's epoch (raised by each promotion of a standby), so that a
//! paired slave looking for its office by name picks the current master
//! when a replaced one still announces itself.
//!
//! The announcement's host is the office's LAN name,
//! `outpost-OFFICE.local` ([`office_host`]), not the PC's: the standby
//! promoted in the master's place announces the same name with its own
//! addresses, so a browser that opened the office by that name reaches the
//! new master at the same web origin, where it keeps its pairing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};

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
    /// The office's epoch it announces (0: none, or an older master).
    pub epoch: u64,
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

/// The office's name on the LAN (a host label; `.local` goes after it):
/// `outpost-` and the office name in lower-case letters, digits and
/// hyphens. An office name with other letters (not ASCII) gets a short
/// hash of the whole name too, so two such offices do not share one.
pub fn office_host(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut label = format!("outpost-{}", slug.trim_matches('-'));
    if !name.is_ascii() || slug.trim_matches('-').is_empty() {
        // FNV-1a: stable across versions and platforms, unlike std's hasher.
        let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ b as u32).wrapping_mul(0x0100_0193)
        });
        label = format!("{}-{hash:08x}", label.trim_end_matches('-'));
    }
    // A DNS label holds at most 63 bytes (all ASCII here).
    label.truncate(63);
    label.trim_end_matches('-').to_string()
}

/// The addresses the office's LAN name (see [`office_host`]) resolves to
/// over mDNS within `wait`, as a PC's `.local` resolver would find them.
pub async fn resolve_office(name: &str, wait: Duration) -> Result<Vec<IpAddr>> {
    let daemon = daemon()?;
    let host = format!("{}.local.", office_host(name));
    let rx = daemon
        .resolve_hostname(&host, Some(wait.as_millis() as u64))
        .map_err(|e| LinkError::Discovery(e.to_string()))?;
    let mut found: Vec<IpAddr> = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, rx.recv_async()).await {
        match ev {
            mdns_sd::HostnameResolutionEvent::AddressesFound(_, addrs) => {
                found = addrs.into_iter().collect();
                break;
            }
            mdns_sd::HostnameResolutionEvent::SearchTimeout(_)
            | mdns_sd::HostnameResolutionEvent::SearchStopped(_) => break,
            _ => {}
        }
    }
    let _ = daemon.stop_resolve_hostname(&host);
    let _ = daemon.shutdown();
    found.sort();
    Ok(found)
}

/// Keeps a master announced until dropped.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

/// Announces the master `name` with fingerprint `fp` at `epoch` on `port`:
/// on every interface when `ips` is `None`, else only on the interfaces
/// holding `ips` (the addresses the master listens on; none yet: nowhere
/// until one is added), each with its own addresses; more can be added as
/// the master listens on them ([`Announcement::add_address`]).
pub fn announce(
    name: &str,
    fp: &str,
    epoch: u64,
    port: u16,
    ips: Option<&[IpAddr]>,
) -> Result<Announcement> {
    let daemon = daemon()?;
    let instance = format!("outpost-{}", &fp[..16.min(fp.len())]);
    let host = format!("{}.local.", office_host(name));
    let epoch = epoch.to_string();
    let props = [
        ("name", name),
        ("fp", fp),
        ("v", "1"),
        ("epoch", epoch.as_str()),
    ];
    let discovery = |e: mdns_sd::Error| LinkError::Discovery(e.to_string());
    if let Some(ips) = ips {
        // Not on an interface the master does not listen on (a public
        // one): the daemon speaks only where it is enabled, and gives each
        // interface's own addresses.
        daemon.disable_interface(IfKind::All).map_err(discovery)?;
        daemon
            .enable_interface(ips.iter().map(|ip| IfKind::Addr(*ip)).collect::<Vec<_>>())
            .map_err(discovery)?;
    }
    let info = ServiceInfo::new(SERVICE_TYPE, &instance, &host, "", port, &props[..])
        .map(|i| i.enable_addr_auto())
        .map_err(discovery)?;
    let fullname = info.get_fullname().to_string();
    daemon.register(info).map_err(discovery)?;
    tracing::info!(%name, %port, %epoch, "announced on the LAN over mDNS");
    Ok(Announcement { daemon, fullname })
}

impl Announcement {
    /// Announces the master on the interface holding `ip` too (it listens
    /// there now).
    pub fn add_address(&self, ip: IpAddr) -> Result<()> {
        self.daemon
            .enable_interface(IfKind::Addr(ip))
            .map_err(|e| LinkError::Discovery(e.to_string()))
    }
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
    let mut watch = Watch::start()?;
    let mut found: BTreeMap<String, FoundMaster> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, watch.next()).await {
        let entry = found
            .entry(m.fingerprint.clone())
            .or_insert_with(|| m.clone());
        for a in m.addrs {
            if !entry.addrs.contains(&a) {
                entry.addrs.push(a);
            }
        }
        entry.addrs.sort();
        entry.epoch = entry.epoch.max(m.epoch);
    }
    Ok(found.into_values().collect())
}

/// Masters as they announce themselves on the LAN, for as long as it is
/// kept (a master that starts later is seen when it announces itself).
pub struct Watch {
    daemon: Browsing,
    rx: mdns_sd::Receiver<ServiceEvent>,
}

impl Watch {
    pub fn start() -> Result<Watch> {
        let daemon = Browsing(daemon()?);
        let rx = daemon
            .0
            .browse(SERVICE_TYPE)
            .map_err(|e| LinkError::Discovery(e.to_string()))?;
        Ok(Watch { daemon, rx })
    }

    /// The next master resolved (again, when it announces itself again);
    /// `None` once the daemon has stopped.
    pub async fn next(&mut self) -> Option<FoundMaster> {
        let _ = &self.daemon;
        loop {
            match self.rx.recv_async().await {
                Err(_) => return None,
                Ok(ServiceEvent::ServiceResolved(info)) => {
                    if let Some(m) = found_master(&info) {
                        return Some(m);
                    }
                }
                Ok(_) => {}
            }
        }
    }
}

/// What an announcement says, when it is an Outpost master's.
fn found_master(info: &ServiceInfo) -> Option<FoundMaster> {
    let fingerprint = info
        .get_property_val_str("fp")
        .and_then(normalize_fingerprint)?;
    let mut addrs: Vec<IpAddr> = info.get_addresses().iter().copied().collect();
    addrs.sort();
    Some(FoundMaster {
        name: info
            .get_property_val_str("name")
            .unwrap_or_default()
            .to_string(),
        fingerprint,
        addrs,
        port: info.get_port(),
        epoch: info
            .get_property_val_str("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0),
    })
}

/// The master called `name` (case-insensitive). Several masters with that
/// name is an error: the user must pick by URL.
pub async fn find_by_name(name: &str, wait: Duration) -> Result<FoundMaster> {
    pick(browse(wait).await?, name, &[])
}

/// Every master announced as `name`: a slave pairing by code tries each,
/// and only the one that proves it knows the code is the office's (a PC
/// may announce any name).
pub async fn find_all_by_name(name: &str, wait: Duration) -> Result<Vec<FoundMaster>> {
    named(browse(wait).await?, name)
}

/// The office called `name`, for a slave that pins `accepted` (its master
/// and the office's standby): of the masters announced under that name
/// with one of those fingerprints, the one at the highest epoch (a
/// promoted standby, while the master it replaced may still announce
/// itself).
pub async fn find_office(name: &str, accepted: &[String], wait: Duration) -> Result<FoundMaster> {
    pick(browse(wait).await?, name, accepted)
}

/// [`find_office`]'s choice among `all` (`accepted` empty: any one master
/// of that name, and only one).
fn pick(all: Vec<FoundMaster>, name: &str, accepted: &[String]) -> Result<FoundMaster> {
    let named = named(all, name)?;
    if accepted.is_empty() {
        return match named.len() {
            1 => Ok(named.into_iter().next().expect("one")),
            n => Err(LinkError::Discovery(format!(
                "{n} masters are called \"{name}\"; use the pairing URL of the one you want"
            ))),
        };
    }
    let first = named[0].fingerprint.clone();
    named
        .into_iter()
        .filter(|m| accepted.contains(&m.fingerprint))
        .max_by_key(|m| m.epoch)
        .ok_or_else(|| LinkError::FingerprintMismatch {
            who: format!("the master called \"{name}\" on the LAN"),
            got: first,
            expected: accepted.join(" or "),
        })
}

/// The masters of `all` announced as `name`; an error naming what was
/// found when none is.
fn named(all: Vec<FoundMaster>, name: &str) -> Result<Vec<FoundMaster>> {
    let named: Vec<FoundMaster> = all
        .iter()
        .filter(|m| m.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .collect();
    if named.is_empty() {
        return Err(LinkError::Discovery(if all.is_empty() {
            format!("no master found on the LAN (looking for \"{name}\"); check that the master PC is on and on this network, or use its pairing URL")
        } else {
            format!(
                "no master called \"{name}\" on the LAN; found: {}",
                all.iter()
                    .map(|m| format!("\"{}\"", m.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }));
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, fp: &str, epoch: u64) -> FoundMaster {
        FoundMaster {
            name: name.into(),
            fingerprint: fp.into(),
            addrs: vec![IpAddr::from([10, 0, 0, 1])],
            port: 7000,
            epoch,
        }
    }

    #[test]
    fn the_office_s_lan_name_is_a_host_label_made_from_its_name() {
        assert_eq!(office_host("Kashgar depot"), "outpost-kashgar-depot");
        assert_eq!(office_host("  Depot #2 (north) "), "outpost-depot-2-north");
        // Other letters: a hash of the whole name keeps two offices apart.
        let a = office_host("Кашгар");
        let b = office_host("Урумчи");
        assert!(
            a.starts_with("outpost-") && a.len() == "outpost-".len() + 8,
            "{a}"
        );
        assert_ne!(a, b);
        assert!(office_host("Café Ürümqi").starts_with("outpost-caf-r-mqi-"));
        let long = office_host(&"x".repeat(200));
        assert!(long.len() <= 63 && !long.ends_with('-'));
        for label in [a, b, long] {
            assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
    }

    #[test]
    fn a_paired_slave_picks_its_office_at_the_highest_epoch() {
        let all = vec![
            m("Depot", "AA", 0),
            m("Depot", "BB", 1),
            m("Depot", "CC", 7),
            m("Camp", "DD", 9),
        ];
        let accepted = vec!["AA".to_string(), "BB".to_string()];
        assert_eq!(
            pick(all.clone(), "depot", &accepted).unwrap().fingerprint,
            "BB"
        );
        // A stranger's announcement of the name is never chosen.
        let only = vec!["AA".to_string()];
        assert_eq!(pick(all.clone(), "Depot", &only).unwrap().fingerprint, "AA");
        let e = pick(all.clone(), "Camp", &accepted).unwrap_err();
        assert!(matches!(e, LinkError::FingerprintMismatch { .. }), "{e}");
        // Unpaired: a name announced twice is the user's choice to make.
        let e = pick(all.clone(), "Depot", &[]).unwrap_err();
        assert!(e.to_string().contains("3 masters are called"), "{e}");
        assert_eq!(pick(all.clone(), "Camp", &[]).unwrap().fingerprint, "DD");
        assert_eq!(named(all.clone(), "DEPOT").unwrap().len(), 3);
        let e = pick(all, "Nowhere", &[]).unwrap_err();
        assert!(e.to_string().contains("found: \"Depot\""), "{e}");
        let e = pick(vec![], "Nowhere", &[]).unwrap_err();
        assert!(e.to_string().contains("no master found on the LAN"), "{e}");
    }
}
