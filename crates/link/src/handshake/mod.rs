//! Bringing up the data channel between a slave and its master, over the
//! signaling socket, with both fingerprints pinned.
//!
//! The master is the offerer: it creates the `db` channel, sends its offer
//! and trickles its candidates; the slave checks the offer's fingerprint
//! against the master it expects before applying it, answers (as DTLS
//! server), and trickles its own. The master checks that the answer's
//! fingerprint is the device the slave said it was, which it has approved.
//!
//! On first contact both prove they know the pairing code (see
//! [`crate::code`]): the slave in its hello, the master with its offer. A
//! slave pairing by code refuses an offer without the master's proof, so a
//! PC that announces the office's name on the LAN but never saw the code
//! gets nothing saved.
//!
//! Before a slave is admitted it has cost the master little: its hello
//! must come within [`HELLO_DEADLINE`], it may send at most
//! [`SIGNAL_BUDGET`] bytes and [`MAX_CANDIDATES`] candidates, and only
//! candidates at the address its socket comes from are tried.

use std::sync::Arc;
use std::time::Duration;

use crate::signal::Signal;

mod master;
mod slave;

pub use master::accept_slave;
pub use slave::{
    connect_master, connect_master_again, connect_master_as, connect_master_in, MasterInfo,
};

/// Time for a slave to say hello once its socket is open (it makes its
/// code proof before connecting, so the hello follows at once).
pub const HELLO_DEADLINE: Duration = Duration::from_secs(3);
/// Time for the whole exchange, hello to open channel.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(15);
/// Time for a slave's connection to come up once it has answered the
/// offer; past it the master is out of reach over what it offered (the
/// time ICE took to give up before issue 16's keepalives).
pub const NO_PATH: Duration = Duration::from_secs(6);

/// Candidates a slave may send (a real one sends a few: one per interface
/// and protocol); more is refused.
pub const MAX_CANDIDATES: usize = 32;
/// Bytes a slave may send on the signaling socket in all (hello, answer,
/// candidates: a few KiB); more is refused.
pub const SIGNAL_BUDGET: usize = 128 * 1024;

/// Who a slave says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveHello {
    /// Its certificate fingerprint (normalised).
    pub device: String,
    pub name: String,
    /// Proof of the pairing code (first contact only), see
    /// [`crate::code::CodeKeys`]; the master checks it against its own code.
    pub proof: Option<String>,
    /// The Outpost it runs and the DB protocol it speaks, when it said
    /// (slaves older than these fields do not).
    pub app: Option<String>,
    pub protocol: Option<u32>,
    /// How often the slave keeps the connection alive itself, when it said
    /// (a Rust slave of this version; not a browser), within the bounds
    /// the master takes.
    pub keepalive: Option<std::time::Duration>,
    /// It reads batch frames (several answers in one data-channel message).
    pub batches: bool,
    /// The master's address the slave reached (for words that point it
    /// back to this master, such as its install page).
    pub reached: Option<std::net::SocketAddr>,
}

/// What a program says it is in the signaling hello and offer: its app
/// version and the DB protocol version it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub app: String,
    pub protocol: u32,
}

/// The master's decision about a slave that said hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// An approved device: no code involved.
    Accept,
    /// Admitted by the pairing code: `master_proof` goes with the offer,
    /// so the slave knows this master saw the code too
    /// ([`crate::code::CodeKeys::master_proof`]).
    Paired {
        master_proof: String,
    },
    Refuse {
        code: String,
        message: String,
    },
}

pub(super) fn kind(s: &Signal) -> &'static str {
    match s {
        Signal::Hello { .. } => "hello",
        Signal::Offer { .. } => "offer",
        Signal::Answer { .. } => "answer",
        Signal::Candidate { .. } => "candidate",
        Signal::Refused { .. } => "refused",
    }
}

/// Whether an ICE candidate's address is an mDNS name (`<uuid>.local`),
/// as browsers send instead of LAN addresses.
pub(super) fn is_mdns_candidate(candidate: &str) -> bool {
    candidate
        .trim_start_matches("a=")
        .split_ascii_whitespace()
        .nth(4)
        .is_some_and(|addr| addr.to_ascii_lowercase().ends_with(".local"))
}

pub(super) fn candidate_init(
    candidate: String,
    mid: Option<String>,
) -> webrtc::peer_connection::RTCIceCandidateInit {
    webrtc::peer_connection::RTCIceCandidateInit {
        candidate,
        sdp_mid: mid,
        sdp_mline_index: Some(0),
        ..Default::default()
    }
}

/// The address of an ICE candidate (`candidate:F C udp P ADDR PORT typ ...`),
/// when it is an IP address.
pub(super) fn candidate_ip(candidate: &str) -> Option<std::net::IpAddr> {
    let addr = candidate
        .trim_start_matches("a=")
        .split_ascii_whitespace()
        .nth(4)?;
    addr.parse::<std::net::IpAddr>().ok().map(canonical_ip)
}

/// Whether the master tries a slave's `candidate`: only one at the address
/// the slave's socket came from (`slave_ip`, canonical), so a stranger's
/// candidates cannot point the master's checks at other hosts.
pub(super) fn tried_from(candidate: &str, slave_ip: std::net::IpAddr) -> bool {
    candidate_ip(candidate) == Some(slave_ip)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub(super) fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Closes a half-made connection when the handshake fails or times out.
pub(super) struct CloseOnDrop(Option<Arc<dyn webrtc::peer_connection::PeerConnection>>);

impl CloseOnDrop {
    pub(super) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(pc) = self.0.take() {
            tokio::spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{candidate_ip, canonical_ip, is_mdns_candidate, tried_from};

    #[test]
    fn only_candidates_at_the_socket_s_own_address_are_tried() {
        let from: std::net::IpAddr = "192.168.1.20".parse().unwrap();
        assert!(tried_from(
            "candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host",
            from
        ));
        assert!(!tried_from(
            "candidate:2 1 udp 2130706431 192.168.1.99 50000 typ host",
            from
        ));
        assert!(!tried_from(
            "candidate:3 1 udp 2130706431 10.0.0.1 53 typ host",
            from
        ));
        assert!(!tried_from(
            "candidate:4 1 udp 1 not-an-address 1 typ host",
            from
        ));
        assert!(!tried_from("garbage", from));
        // A socket on an IPv6 listener reports an IPv4 slave as mapped.
        let mapped = canonical_ip("::ffff:192.168.1.20".parse().unwrap());
        assert!(tried_from(
            "candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host",
            mapped
        ));
    }

    #[test]
    fn a_candidate_address_is_read_from_its_fifth_field() {
        let ip = |s: &str| candidate_ip(s).map(|i| i.to_string());
        assert_eq!(
            ip("candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host").as_deref(),
            Some("192.168.1.20")
        );
        assert_eq!(
            ip("a=candidate:1 1 udp 1 ::ffff:10.0.0.1 5 typ host").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(ip("candidate:1 1 udp 1 abc.local 5 typ host"), None);
        assert_eq!(ip("garbage"), None);
    }

    #[test]
    fn browser_mdns_candidates_are_told_from_addresses() {
        assert!(is_mdns_candidate(
            "candidate:3382559165 1 udp 2113937151 6409ef99-3f29-4291-8a12-047b97e280fd.local 45391 typ host generation 0"
        ));
        assert!(!is_mdns_candidate(
            "candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host"
        ));
        assert!(!is_mdns_candidate(
            "candidate:2 1 udp 1694498815 10.0.0.1 50001 typ srflx raddr 0.0.0.0 rport 0"
        ));
        assert!(!is_mdns_candidate("garbage"));
    }
}
