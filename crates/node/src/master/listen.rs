//! Where the master listens.
//!
//! By default ([`Listen::Lan`]) on this PC's LAN only: loopback and every
//! interface address that is private or link-local (IPv4 10/8, 172.16/12,
//! 192.168/16 and 169.254/16; IPv6 unique-local fc00::/7 and link-local
//! fe80::/10), one socket per address. An address that is none of these
//! (the public address of a satellite modem or a mobile router plugged
//! into the master, a server's public interface) gets no socket: a
//! connection to it is refused by the OS. Addresses that come later (the
//! LAN cable plugged in after the master started, DHCP answering late) are
//! listened on within [`RESCAN`], and ones that go away are let go.
//!
//! `--listen ADDR` ([`Listen::Addrs`]) picks the addresses instead, any of
//! them, `0.0.0.0` or `::` for every interface.
//!
//! The master's WebRTC host candidate is on the address the slave's
//! signaling socket reached (`outpost_link::peer`), so ICE follows the same
//! choice; mDNS announces the master only on the interfaces it listens on.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Shared;
use crate::error::{NodeError, Result};

/// How often the LAN's addresses are looked at again.
pub const RESCAN: Duration = Duration::from_secs(2);
/// Ports tried when the OS picks one (`port 0`) and another program holds
/// it on one of the other LAN addresses.
const PORT_TRIES: usize = 8;

/// Where a master listens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Listen {
    /// Loopback and this PC's private and link-local addresses, as
    /// interfaces come and go.
    #[default]
    Lan,
    /// These addresses, and no others (an unspecified one, `0.0.0.0` or
    /// `::`, is every interface).
    Addrs(Vec<IpAddr>),
}

impl From<IpAddr> for Listen {
    fn from(ip: IpAddr) -> Listen {
        Listen::Addrs(vec![ip])
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Lan => f.write_str("the LAN interfaces"),
            Listen::Addrs(ips) => {
                let list: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
                f.write_str(&list.join(", "))
            }
        }
    }
}

/// Whether `ip` belongs to a LAN: loopback, private (RFC 1918), link-local
/// (169.254/16, fe80::/10) or IPv6 unique-local (fc00::/7). An IPv4 address
/// written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 address.
pub fn is_lan_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_lan_ip(IpAddr::V4(v4)),
            None => v6.is_loopback() || is_unique_local(&v6) || is_unicast_link_local(&v6),
        },
    }
}

fn is_unique_local(v6: &Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xfe00) == 0xfc00
}

fn is_unicast_link_local(v6: &Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// One address to listen on: the IP, and for an IPv6 link-local address
/// the interface it is on (it means nothing without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Spot {
    ip: IpAddr,
    scope: u32,
}

impl Spot {
    fn socket(self, port: u16) -> SocketAddr {
        match self.ip {
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, self.scope)),
            v4 => SocketAddr::new(v4, port),
        }
    }
}

/// This PC's LAN addresses now: loopback first, then IPv4, then IPv6.
fn lan_spots() -> Vec<Spot> {
    let mut spots: Vec<Spot> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| is_lan_ip(i.ip()))
        .map(|i| {
            let ip = i.ip();
            let scope = match ip {
                IpAddr::V6(v6) if is_unicast_link_local(&v6) => i.index.unwrap_or(0),
                _ => 0,
            };
            Spot { ip, scope }
        })
        .collect();
    spots.sort_by_key(|s| (!s.ip.is_loopback(), !s.ip.is_ipv4()));
    spots.dedup();
    spots
}

/// The master's listening sockets at start.
pub(super) struct Bound {
    /// The port every socket listens on.
    pub port: u16,
    pub listeners: Vec<(IpAddr, TcpListener)>,
}

impl Bound {
    pub fn ips(&self) -> Vec<IpAddr> {
        self.listeners.iter().map(|(ip, _)| *ip).collect()
    }
}

/// Opens the master's sockets on `port` (0: one the OS picks, the same on
/// every address). Explicit addresses must all work; of the LAN's, one
/// that cannot be listened on yet (an IPv6 address still being checked
/// for duplicates) is tried again by [`watch`], but a port another program
/// holds is an error.
pub(super) async fn bind(listen: &Listen, port: u16) -> Result<Bound> {
    let (spots, explicit) = match listen {
        Listen::Lan => (lan_spots(), false),
        Listen::Addrs(ips) => (
            ips.iter().map(|ip| Spot { ip: *ip, scope: 0 }).collect(),
            true,
        ),
    };
    if spots.is_empty() {
        return Err(NodeError::Config(
            "there is no address to listen on: give --listen ADDR".into(),
        ));
    }
    let mut tries = if port == 0 { PORT_TRIES } else { 1 };
    loop {
        tries -= 1;
        match bind_all(&spots, port, explicit).await {
            Err(BindError::Taken(e)) if tries > 0 && port == 0 => {
                tracing::debug!(error = %e, "the port the OS gave is taken on another address; trying another");
            }
            Err(BindError::Taken(e) | BindError::Other(e)) => return Err(e),
            Ok(bound) => return Ok(bound),
        }
    }
}

enum BindError {
    /// The port is held on one of the addresses.
    Taken(NodeError),
    Other(NodeError),
}

async fn bind_all(
    spots: &[Spot],
    port: u16,
    explicit: bool,
) -> std::result::Result<Bound, BindError> {
    let mut port = port;
    let mut listeners = Vec::new();
    for spot in spots {
        let addr = spot.socket(port);
        match TcpListener::bind(addr).await {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                }
                listeners.push((spot.ip, l));
            }
            Err(source) => {
                let taken = source.kind() == std::io::ErrorKind::AddrInUse;
                if !explicit && !taken {
                    tracing::warn!(ip = %spot.ip, error = %source, "cannot listen on this LAN address yet; trying again in a moment");
                    continue;
                }
                let e = NodeError::Listen {
                    addr: addr.to_string(),
                    source,
                };
                return Err(if taken {
                    BindError::Taken(e)
                } else {
                    BindError::Other(e)
                });
            }
        }
    }
    if listeners.is_empty() {
        return Err(BindError::Other(NodeError::Config(
            "cannot listen on any LAN address of this PC: give --listen ADDR".into(),
        )));
    }
    Ok(Bound { port, listeners })
}

/// Runs one accept loop per listening socket, and with [`Listen::Lan`]
/// follows the LAN's addresses every [`RESCAN`]: a new one is listened on
/// (and announced), one gone is let go.
pub(super) async fn serve(shared: Arc<Shared>, bound: Bound, stop: watch::Receiver<bool>) {
    let door = Arc::new(super::sessions::Door::new());
    let port = bound.port;
    let mut open: HashMap<IpAddr, tokio::task::JoinHandle<()>> = HashMap::new();
    for (ip, listener) in bound.listeners {
        let task = tokio::spawn(super::sessions::accept_loop(
            shared.clone(),
            door.clone(),
            listener,
            stop.clone(),
        ));
        open.insert(ip, task);
    }
    if shared.config.listen != Listen::Lan {
        for (_, task) in open {
            let _ = task.await;
        }
        return;
    }
    let mut stop_rx = stop.clone();
    // Addresses that could not be listened on, said once each.
    let mut failing: HashSet<IpAddr> = HashSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RESCAN) => {}
            _ = stop_rx.changed() => break,
        }
        let now = lan_spots();
        let here: HashSet<IpAddr> = now.iter().map(|s| s.ip).collect();
        open.retain(|ip, task| {
            if here.contains(ip) {
                return true;
            }
            task.abort();
            tracing::info!(%ip, "this address left the PC; no longer listening on it");
            false
        });
        failing.retain(|ip| here.contains(ip));
        for spot in now {
            if open.contains_key(&spot.ip) {
                continue;
            }
            match TcpListener::bind(spot.socket(port)).await {
                Ok(listener) => {
                    failing.remove(&spot.ip);
                    tracing::info!(ip = %spot.ip, port, "listening on a new LAN address");
                    shared.announce_address(spot.ip);
                    let task = tokio::spawn(super::sessions::accept_loop(
                        shared.clone(),
                        door.clone(),
                        listener,
                        stop.clone(),
                    ));
                    open.insert(spot.ip, task);
                }
                Err(e) => {
                    if failing.insert(spot.ip) {
                        tracing::warn!(ip = %spot.ip, port, error = %e, "cannot listen on a LAN address of this PC");
                    }
                }
            }
        }
    }
    for (_, task) in open {
        task.abort();
    }
}

/// The host to put in the pairing URL, of the addresses listened on: the
/// one this PC reaches the network from when it is one of them, else a
/// private IPv4 address, else an IPv6 unique-local one, else loopback.
/// Listening everywhere: this PC's address towards the network.
pub(super) fn advertised_host(ips: &[IpAddr]) -> String {
    let routed = routed_ip();
    if ips.iter().any(|ip| ip.is_unspecified()) {
        if let Some(ip) = routed {
            return ip.to_string();
        }
        return if_addrs::get_if_addrs()
            .ok()
            .and_then(|list| {
                list.into_iter()
                    .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                    .map(|i| i.ip().to_string())
            })
            .unwrap_or_else(|| "127.0.0.1".into());
    }
    let pick = routed
        .filter(|r| ips.contains(r))
        .or_else(|| ips.iter().copied().find(|ip| ip.is_ipv4() && !ip.is_loopback()))
        .or_else(|| {
            ips.iter()
                .copied()
                .find(|ip| matches!(ip, IpAddr::V6(v6) if !v6.is_loopback() && !is_unicast_link_local(v6)))
        })
        .or_else(|| ips.iter().copied().find(|ip| ip.is_ipv4()))
        .or_else(|| ips.first().copied());
    pick.map(|ip| ip.to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The address the OS would use to reach another host (needs a default
/// route; nothing is sent).
fn routed_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    Some(s.local_addr().ok()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_addresses_are_private_link_local_or_loopback() {
        let lan = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.10",
            "169.254.10.20",
            "::1",
            "fd00::2",
            "fc12::1",
            "fe80::1",
            "::ffff:192.168.1.10",
        ];
        for ip in lan {
            assert!(is_lan_ip(ip.parse().unwrap()), "{ip} is on the LAN");
        }
        let public = [
            "8.8.8.8",
            "192.0.2.2",
            "203.0.113.7",
            "172.32.0.1",
            "100.64.0.1",
            "11.0.0.1",
            "2001:db8::1",
            "2a00:1450::1",
            "fec0::1",
            "::ffff:8.8.8.8",
            "0.0.0.0",
            "::",
        ];
        for ip in public {
            assert!(!is_lan_ip(ip.parse().unwrap()), "{ip} is not on the LAN");
        }
    }

    #[test]
    fn the_pairing_url_names_a_lan_address_listened_on() {
        let ips = |s: &[&str]| {
            s.iter()
                .map(|i| i.parse().unwrap())
                .collect::<Vec<IpAddr>>()
        };
        assert_eq!(
            advertised_host(&ips(&[
                "127.0.0.1",
                "::1",
                "fe80::1",
                "fd00::2",
                "10.0.0.5"
            ])),
            "10.0.0.5"
        );
        assert_eq!(
            advertised_host(&ips(&["127.0.0.1", "::1", "fe80::1", "fd00::2"])),
            "fd00::2"
        );
        assert_eq!(advertised_host(&ips(&["127.0.0.1", "::1"])), "127.0.0.1");
        assert_eq!(advertised_host(&ips(&["::1"])), "::1");
    }

    #[test]
    fn a_link_local_ipv6_address_keeps_its_interface() {
        let spot = Spot {
            ip: "fe80::1".parse().unwrap(),
            scope: 3,
        };
        let SocketAddr::V6(v6) = spot.socket(7355) else {
            panic!("an IPv6 socket address");
        };
        assert_eq!((v6.scope_id(), v6.port()), (3, 7355));
    }
}
