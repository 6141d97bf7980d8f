//! One WebRTC peer connection with its `db` data channel, tuned for a LAN
//! (the channel as a pipe of messages is `channel::Channel`).
//!
//! Tuning (measured, see NOTES.md): host candidates on one given address,
//! mDNS candidates off, a 10 ms ICE check interval with enough attempts for
//! the usual retry window, no wait before accepting peer-reflexive
//! candidates (trickle races), and the answerer as DTLS server. With the
//! driver of `vendor/webrtc`, which sends at once what its layers make while
//! they pass events on (the ClientHello, the SCTP INIT, the channel's OPEN),
//! they open a loopback pair in about 20 ms instead of about 400 ms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use rtc::peer_connection::transport::RTCDtlsRole;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    SettingEngineBuilder,
};

use crate::error::{LinkError, Result};
use crate::framing::MAX_FRAME;
use crate::identity::Identity;

/// Label of the one data channel DB calls travel on.
pub const DB_CHANNEL: &str = "db";
/// Largest message either side accepts after reassembly (matches the DB
/// protocol's own limit).
pub const MAX_MESSAGE: usize = 8 * 1024 * 1024;
/// SCTP max message size we advertise.
const SCTP_MAX_MESSAGE: u32 = 262_144;
/// SCTP receive window: large answers (an export page is ~300 KiB) flow
/// without waiting on window updates.
const SCTP_RECEIVE_BUFFER: u32 = 4 * 1024 * 1024;
/// Bytes a channel may have in flight before `send` waits.
const SEND_BUFFER: usize = 4 * 1024 * 1024;

/// How a peer connection is set up on this site.
#[derive(Debug, Clone, Default)]
pub struct RtcOptions {
    /// STUN/TURN servers (`stun:host:port`, `turn:host:port`) for sites
    /// whose PCs sit on different subnets. Empty on a plain LAN.
    pub ice_servers: Vec<String>,
    /// TURN username and credential, when `ice_servers` has TURN.
    pub turn_user: Option<(String, String)>,
    /// What this program says it is in the hello (a slave) or the offer
    /// (a master); nothing when unset.
    pub versions: Option<crate::handshake::Versions>,
}

/// How often a Rust slave sends its ICE keepalive (a STUN request the
/// master answers), and says so in its hello. The master then sends none:
/// an idle connection costs the master one request and one answer every
/// 4 s, where both sides' 500 ms keepalives (and webrtc-rs's 200 ms ICE
/// tick, patched out in `vendor/rtc-ice`) woke it about eight times a
/// second: 11% of a core for 200 idle devices, under 2% now (BENCHMARKS.md,
/// issue 16). The price: a slave notices a silent master (killed, cable
/// pulled) after 13 to 17 s, where it took 2 s.
pub(crate) const SLAVE_KEEPALIVE: Duration = Duration::from_millis(4000);
/// The keepalives a master takes from a slave's hello; outside, it keeps
/// the connection alive itself.
const KEEPALIVE_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_secs(10));

/// A slave's announced keepalive, in milliseconds, when the master takes
/// it (a stranger sends this before it is admitted).
pub(crate) fn slave_keepalive(ms: u64) -> Option<Duration> {
    let k = Duration::from_millis(ms);
    (KEEPALIVE_BOUNDS.0..=KEEPALIVE_BOUNDS.1)
        .contains(&k)
        .then_some(k)
}

/// Which end of the connection this peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// A master, and how often the slave said it keeps the connection
    /// alive (none: a browser or an older slave).
    Master {
        slave_keepalive: Option<Duration>,
    },
    Slave,
}

/// ICE's timers for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IceTimes {
    /// Silence after which the peer is taken for gone (the channel ends).
    pub disconnected: Duration,
    /// After `disconnected`, until ICE calls the connection failed. The
    /// channel has ended by then, so this only sets how often a side with
    /// no keepalive of its own checks the silence; while connecting, ICE
    /// gives up after `disconnected + failed` (a slave's handshake gives up
    /// sooner, `handshake::NO_PATH`).
    pub failed: Duration,
    /// How often this side sends a keepalive (zero: never).
    pub keepalive: Duration,
}

impl Side {
    pub(crate) fn ice(self) -> IceTimes {
        // Two of the keeping side's keepalives lost in a row (or their
        // answers), and a second more: the link ends on the third. The
        // silence is checked at each wake-up, every keepalive (the slave)
        // or every `failed` (the master, which sends none).
        let silence = |k: Duration| 3 * k + Duration::from_secs(1);
        match self {
            Side::Master {
                slave_keepalive: Some(k),
            } => IceTimes {
                disconnected: silence(k),
                failed: k,
                keepalive: Duration::ZERO,
            },
            // A browser keeps to its own timers (Chromium pings about
            // every 2.5 s once stable): the master's 500 ms keepalive
            // keeps answers coming, so 2 s of silence is a dead peer.
            Side::Master {
                slave_keepalive: None,
            } => IceTimes {
                disconnected: Duration::from_secs(2),
                failed: Duration::from_secs(4),
                keepalive: Duration::from_millis(500),
            },
            Side::Slave => IceTimes {
                disconnected: silence(SLAVE_KEEPALIVE),
                failed: SLAVE_KEEPALIVE,
                keepalive: SLAVE_KEEPALIVE,
            },
        }
    }
}

pub(crate) enum PcEvent {
    State(RTCPeerConnectionState),
    Candidate(RTCIceCandidateInit),
    Channel(Arc<dyn DataChannel>),
}

/// Forwards the driver's callbacks to a queue: the driver awaits handlers
/// inline, so they must never block.
struct Handler {
    tx: mpsc::UnboundedSender<PcEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
        if let Ok(init) = e.candidate.to_json() {
            let _ = self.tx.send(PcEvent::Candidate(init));
        }
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        let _ = self.tx.send(PcEvent::State(s));
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.tx.send(PcEvent::Channel(dc));
    }
}

pub(crate) struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    pub events: mpsc::UnboundedReceiver<PcEvent>,
}

impl Peer {
    /// A peer connection with host candidates on `local`'s address only
    /// (the address the signaling socket connected on; an IPv6 link-local
    /// one keeps its interface).
    pub async fn new(
        identity: &Identity,
        opts: &RtcOptions,
        local: SocketAddr,
        side: Side,
    ) -> Result<Peer> {
        let mut local = local;
        local.set_port(0);
        let (tx, events) = mpsc::unbounded_channel();
        let ice = side.ice();
        let se = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(SCTP_MAX_MESSAGE))
            .with_sctp_max_receive_buffer_size(SCTP_RECEIVE_BUFFER)
            // ICE's tick while it checks: 2 ms (not 10), the same 1.4 s in
            // all. The DTLS client's first flight and the controlling
            // side's nomination each wait for a tick in webrtc-rs 0.21, so
            // a connect paid two 10 ms ticks (issue 16: a packet capture
            // of a browser's connect). Once connected, the keepalive
            // interval below applies instead. (With connects this fast, a
            // device's older live connection must not reconnect when the
            // master replaces it: it is told, `Event::Replaced`.)
            .with_ice_connection_attempts(Some(Duration::from_millis(2)), Some(700))
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            // A dead peer (master killed, cable pulled) is noticed within
            // seconds, so the slave can reconnect (`Side::ice`).
            .with_ice_timeouts(
                Some(ice.disconnected),
                Some(ice.failed),
                Some(ice.keepalive),
            )
            .build();
        let mut config =
            RTCConfigurationBuilder::new().with_certificates(vec![identity.certificate()]);
        if !opts.ice_servers.is_empty() {
            let (username, credential) = opts.turn_user.clone().unwrap_or_default();
            config = config.with_ice_servers(vec![RTCIceServer {
                urls: opts.ice_servers.clone(),
                username,
                credential,
            }]);
        }
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config.build())
            .with_setting_engine(se)
            .with_handler(Arc::new(Handler { tx }))
            .with_runtime(crate::runtime::runtime())
            .with_udp_addrs(vec![local])
            .with_data_channel_send_buffer_limit(SEND_BUFFER)
            // The drivers run on tokio's workers (webrtc-rs's default).
            // One reactor thread of their own for all of them
            // (`with_dedicated_reactor_pool_size(1)`) was measured: calls
            // pipelined 0.82x to 0.92x of a WebSocket, but a single get's
            // p50 went from 1.2x to 2.2x, each round trip crossing to and
            // from that thread four times (BENCHMARKS.md, issue 16).
            .build()
            .await
            .map_err(LinkError::rtc)?;
        Ok(Peer {
            pc: Arc::new(pc),
            events,
        })
    }
}

/// The largest frame the remote side accepts, from its SDP
/// (`a=max-message-size`; absent means 64 KiB), capped at ours.
pub(crate) fn remote_max_frame(sdp: &str) -> usize {
    let advertised = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=max-message-size:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(65_536);
    // 0 means "no limit" in the spec; keep to what every peer handles.
    let advertised = if advertised == 0 {
        MAX_FRAME
    } else {
        advertised
    };
    advertised.min(SCTP_MAX_MESSAGE as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_side_keeps_the_link_alive_and_the_other_waits_longer() {
        let slave = Side::Slave.ice();
        assert_eq!(slave.keepalive, SLAVE_KEEPALIVE);
        // Two keepalives in a row may be lost (the third is sent before
        // the silence is checked again) before the slave gives up.
        assert!(slave.disconnected > 3 * SLAVE_KEEPALIVE);
        // The master, which sends none, checks as often as one arrives.
        assert!(slave.failed <= SLAVE_KEEPALIVE);
        let master = Side::Master {
            slave_keepalive: slave_keepalive(SLAVE_KEEPALIVE.as_millis() as u64),
        }
        .ice();
        assert_eq!(master.keepalive, Duration::ZERO);
        assert_eq!(master.disconnected, slave.disconnected);
        assert!(master.failed <= SLAVE_KEEPALIVE);
        // A browser (or an older slave) announces nothing: the master
        // keeps its connection alive itself, as before.
        let browser = Side::Master {
            slave_keepalive: None,
        }
        .ice();
        assert_eq!(browser.keepalive, Duration::from_millis(500));
        assert_eq!(browser.disconnected, Duration::from_secs(2));
    }

    #[test]
    fn an_announced_keepalive_out_of_bounds_is_not_taken() {
        assert_eq!(slave_keepalive(0), None);
        assert_eq!(slave_keepalive(50), None);
        assert_eq!(slave_keepalive(u64::MAX), None);
        assert_eq!(slave_keepalive(60_000), None);
        assert_eq!(slave_keepalive(4000), Some(Duration::from_secs(4)));
    }

    #[test]
    fn the_remote_limit_comes_from_the_sdp() {
        assert_eq!(
            remote_max_frame("v=0\r\na=max-message-size:262144\r\n"),
            262_144
        );
        assert_eq!(
            remote_max_frame("v=0\r\na=max-message-size:16384\r\n"),
            16_384
        );
        assert_eq!(remote_max_frame("v=0\r\n"), 65_536);
        assert_eq!(
            remote_max_frame("a=max-message-size:1073741823\r\n"),
            262_144
        );
    }
}
