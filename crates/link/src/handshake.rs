//! Bringing up the data channel between a slave and its master, over the
//! signaling socket, with both fingerprints pinned.
//!
//! The master is the offerer: it creates the `db` channel, sends its offer
//! and trickles its candidates; the slave checks the offer's fingerprint
//! against the master it expects before applying it, answers (as DTLS
//! server), and trickles its own. The master checks that the answer's
//! fingerprint is the device the slave said it was, which it has approved.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{RTCPeerConnectionState, RTCSessionDescription};

use crate::error::{LinkError, Result};
use crate::identity::{
    check_sdp_fingerprint, check_sdp_fingerprint_in, normalize_fingerprint, Identity,
};
use crate::peer::{nudge, remote_max_frame, Channel, PcEvent, Peer, RtcOptions, DB_CHANNEL};
use crate::signal::{Signal, SIGNAL_VERSION};
use crate::socket::SignalSocket;

/// Time for a slave to say hello after connecting.
pub const HELLO_DEADLINE: Duration = Duration::from_secs(5);
/// Time for the whole exchange, hello to open channel.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(15);

/// Candidates kept from a slave before its answer (a real one sends a few).
const MAX_EARLY_CANDIDATES: usize = 64;

/// Who a slave says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveHello {
    /// Its certificate fingerprint (normalised).
    pub device: String,
    pub name: String,
    /// Proof of the pairing code (first contact only), see
    /// `pairing::code_proof`; the master checks it against its own code.
    pub proof: Option<String>,
}

/// The master's decision about a slave that said hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accept,
    Refuse { code: String, message: String },
}

/// Master side: reads the slave's hello, asks `admit`, and on acceptance
/// brings up the channel. On refusal the slave gets the reason and nothing
/// else.
pub async fn accept_slave<F, Fut>(
    mut ws: SignalSocket,
    identity: &Identity,
    opts: &RtcOptions,
    master_name: &str,
    admit: F,
) -> Result<(Channel, SlaveHello)>
where
    F: FnOnce(SlaveHello) -> Fut,
    Fut: Future<Output = Admission>,
{
    let first = match ws
        .recv_within(HELLO_DEADLINE, "waiting for the slave's hello")
        .await
    {
        Ok(first) => first,
        // Garbage, a binary or oversized frame: say why before closing, so
        // a broken client learns what is wrong instead of seeing a bare close.
        Err(LinkError::Signaling(why)) => return refuse(ws, "bad_request", why).await,
        Err(e) => return Err(e),
    };
    let hello = match first {
        Some(Signal::Hello {
            v,
            device,
            name,
            proof,
        }) => {
            if v != SIGNAL_VERSION {
                return refuse(ws, "bad_request", format!("signaling version {v} is not supported; this master speaks {SIGNAL_VERSION} (update Outpost on the older PC)")).await;
            }
            let Some(device) = normalize_fingerprint(&device) else {
                return refuse(
                    ws,
                    "bad_request",
                    "the device id is not a SHA-256 fingerprint".into(),
                )
                .await;
            };
            SlaveHello {
                device,
                name: name.chars().take(100).collect(),
                proof: proof.filter(|p| p.len() <= 128),
            }
        }
        Some(other) => {
            return refuse(
                ws,
                "bad_request",
                format!("expected hello first, got {}", kind(&other)),
            )
            .await
        }
        None => return Err(LinkError::Closed),
    };
    if let Admission::Refuse { code, message } = admit(hello.clone()).await {
        tracing::info!(device = %hello.device, %code, "slave refused: {message}");
        return refuse(ws, &code, message).await;
    }
    let local_ip = ws.local_addr().ip();
    let result = tokio::time::timeout(
        HANDSHAKE_DEADLINE,
        offer_channel(&mut ws, identity, opts, master_name, &hello, local_ip),
    )
    .await
    .unwrap_or_else(|_| Err(LinkError::Timeout("bringing up the data channel".into())));
    match result {
        Ok(channel) => {
            ws.close().await;
            Ok((channel, hello))
        }
        Err(e) => {
            let code = match e {
                LinkError::FingerprintMismatch { .. } => "forbidden",
                _ => "unavailable",
            };
            let _ = ws
                .send(&Signal::Refused {
                    code: code.into(),
                    message: e.to_string(),
                })
                .await;
            ws.close().await;
            Err(e)
        }
    }
}

fn kind(s: &Signal) -> &'static str {
    match s {
        Signal::Hello { .. } => "hello",
        Signal::Offer { .. } => "offer",
        Signal::Answer { .. } => "answer",
        Signal::Candidate { .. } => "candidate",
        Signal::Refused { .. } => "refused",
    }
}

async fn refuse<T>(mut ws: SignalSocket, code: &str, message: String) -> Result<T> {
    let _ = ws
        .send(&Signal::Refused {
            code: code.to_string(),
            message: message.clone(),
        })
        .await;
    ws.close().await;
    Err(LinkError::Refused {
        code: code.to_string(),
        message,
    })
}

async fn offer_channel(
    ws: &mut SignalSocket,
    identity: &Identity,
    opts: &RtcOptions,
    master_name: &str,
    hello: &SlaveHello,
    local_ip: std::net::IpAddr,
) -> Result<Channel> {
    let Peer { pc, mut events } = Peer::new(identity, opts, local_ip).await?;
    let guard = CloseOnDrop(Some(pc.clone()));
    let dc = pc
        .create_data_channel(DB_CHANNEL, None)
        .await
        .map_err(LinkError::rtc)?;
    let offer = pc.create_offer(None).await.map_err(LinkError::rtc)?;
    pc.set_local_description(offer.clone())
        .await
        .map_err(LinkError::rtc)?;
    ws.send(&Signal::Offer {
        master: master_name.to_string(),
        sdp: offer.sdp,
    })
    .await?;
    let mut answered = false;
    let mut early_candidates = Vec::new();
    let mut max_frame = None;
    let mut opened = false;
    let mut socket_done = false;
    while !(opened && max_frame.is_some()) {
        tokio::select! {
            msg = ws.recv(), if !socket_done => match msg? {
                Some(Signal::Answer { sdp }) if !answered => {
                    check_sdp_fingerprint("the slave", &sdp, &hello.device)?;
                    max_frame = Some(remote_max_frame(&sdp));
                    let desc = RTCSessionDescription::answer(sdp).map_err(LinkError::rtc)?;
                    pc.set_remote_description(desc).await.map_err(LinkError::rtc)?;
                    answered = true;
                    for c in early_candidates.drain(..) {
                        let _ = pc.add_ice_candidate(c).await;
                    }
                }
                Some(Signal::Candidate { candidate, .. }) if is_mdns_candidate(&candidate) => {
                    // A browser hides its address behind a `.local` name.
                    // Nothing resolves it here: the browser's connectivity
                    // checks reach our host candidate (the address it
                    // already reached over TCP) and reveal its address.
                    tracing::debug!("an mDNS candidate from the slave, not resolved: its checks show its address");
                }
                Some(Signal::Candidate { candidate, mid }) => {
                    let init = candidate_init(candidate, mid);
                    if answered {
                        let _ = pc.add_ice_candidate(init).await;
                    } else if early_candidates.len() < MAX_EARLY_CANDIDATES {
                        early_candidates.push(init);
                    }
                }
                Some(other) => {
                    return Err(LinkError::Signaling(format!("unexpected {} from the slave", kind(&other))));
                }
                None => socket_done = true,
            },
            ev = events.recv() => match ev {
                Some(PcEvent::Candidate(c)) => {
                    // The slave may already have closed the socket (its side
                    // is up); a late candidate is then simply not needed.
                    if !socket_done {
                        let _ = ws.send(&Signal::Candidate { candidate: c.candidate, mid: c.sdp_mid }).await;
                    }
                }
                Some(PcEvent::State(RTCPeerConnectionState::Connected)) => nudge(dc.clone()),
                Some(PcEvent::State(RTCPeerConnectionState::Failed)) => {
                    return Err(LinkError::Rtc("the connection failed (no network path to the slave?)".into()));
                }
                Some(_) => {}
                None => return Err(LinkError::Closed),
            },
            ev = dc.poll(), if !opened => match ev {
                Some(DataChannelEvent::OnOpen) => opened = true,
                Some(DataChannelEvent::OnClose) | None => return Err(LinkError::Closed),
                Some(_) => {}
            },
        }
        if socket_done && !answered {
            return Err(LinkError::Signaling(
                "the slave left before answering".into(),
            ));
        }
    }
    guard.disarm();
    Ok(Channel::start(pc, dc, events, max_frame.unwrap_or(65_536)))
}

/// Whether an ICE candidate's address is an mDNS name (`<uuid>.local`),
/// as browsers send instead of LAN addresses.
fn is_mdns_candidate(candidate: &str) -> bool {
    candidate
        .trim_start_matches("a=")
        .split_ascii_whitespace()
        .nth(4)
        .is_some_and(|addr| addr.to_ascii_lowercase().ends_with(".local"))
}

fn candidate_init(
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

/// Closes a half-made connection when the handshake fails or times out.
struct CloseOnDrop(Option<Arc<dyn webrtc::peer_connection::PeerConnection>>);

impl CloseOnDrop {
    fn disarm(mut self) {
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

/// What the slave learned about the master on connecting.
#[derive(Debug, Clone)]
pub struct MasterInfo {
    pub name: String,
    pub fingerprint: String,
}

/// Slave side: says hello to the master at `addr` (`host:port`), refuses an
/// offer whose fingerprint is not `expected_master`, and brings up the channel.
pub async fn connect_master(
    addr: &str,
    identity: &Identity,
    opts: &RtcOptions,
    expected_master: &str,
    name: &str,
    code: Option<&str>,
) -> Result<(Channel, MasterInfo)> {
    let claimed = identity.fingerprint().to_string();
    connect_master_as(addr, identity, &claimed, opts, expected_master, name, code).await
}

/// Like [`connect_master`], accepting any master of `roster` (the office's
/// master and its standby, learned over an authenticated channel before):
/// after a failover the standby answers at the office's name. A pairing
/// code is proved against the first.
pub async fn connect_master_in(
    addr: &str,
    identity: &Identity,
    opts: &RtcOptions,
    roster: &[String],
    name: &str,
    code: Option<&str>,
) -> Result<(Channel, MasterInfo)> {
    let claimed = identity.fingerprint().to_string();
    connect(addr, identity, &claimed, opts, roster, name, code).await
}

/// Like [`connect_master`], but says hello as `claimed_device`, which an
/// honest slave never does: this is how the tests play an impostor that
/// knows an approved device's id but not its private key.
pub async fn connect_master_as(
    addr: &str,
    identity: &Identity,
    claimed_device: &str,
    opts: &RtcOptions,
    expected_master: &str,
    name: &str,
    code: Option<&str>,
) -> Result<(Channel, MasterInfo)> {
    let roster = [expected_master.to_string()];
    connect(addr, identity, claimed_device, opts, &roster, name, code).await
}

async fn connect(
    addr: &str,
    identity: &Identity,
    claimed_device: &str,
    opts: &RtcOptions,
    roster: &[String],
    name: &str,
    code: Option<&str>,
) -> Result<(Channel, MasterInfo)> {
    let first = roster.first().map(String::as_str).unwrap_or_default();
    let mut ws = SignalSocket::connect(addr, Duration::from_secs(5)).await?;
    ws.send(&Signal::Hello {
        v: SIGNAL_VERSION,
        device: claimed_device.to_string(),
        name: name.to_string(),
        proof: code.map(|c| crate::pairing::code_proof(c, claimed_device, first)),
    })
    .await?;
    let local_ip = ws.local_addr().ip();
    let result = tokio::time::timeout(
        HANDSHAKE_DEADLINE,
        answer_channel(&mut ws, identity, opts, roster, local_ip),
    )
    .await
    .unwrap_or_else(|_| {
        Err(LinkError::Timeout(format!(
            "connecting to the master at {addr}"
        )))
    });
    ws.close().await;
    result
}

async fn answer_channel(
    ws: &mut SignalSocket,
    identity: &Identity,
    opts: &RtcOptions,
    roster: &[String],
    local_ip: std::net::IpAddr,
) -> Result<(Channel, MasterInfo)> {
    // Wait for the offer (or a refusal) before making a peer connection.
    let (master_name, offer_sdp) = match ws.recv().await? {
        Some(Signal::Offer { master, sdp }) => (master, sdp),
        Some(Signal::Refused { code, message }) => {
            return Err(LinkError::Refused { code, message })
        }
        Some(other) => {
            return Err(LinkError::Signaling(format!(
                "expected an offer from the master, got {}",
                kind(&other)
            )))
        }
        None => {
            return Err(LinkError::Signaling(
                "the master closed the signaling socket without an answer".into(),
            ))
        }
    };
    let fingerprint =
        check_sdp_fingerprint_in(&format!("the master \"{master_name}\""), &offer_sdp, roster)?;
    let max_frame = remote_max_frame(&offer_sdp);
    let Peer { pc, mut events } = Peer::new(identity, opts, local_ip).await?;
    let guard = CloseOnDrop(Some(pc.clone()));
    let desc = RTCSessionDescription::offer(offer_sdp).map_err(LinkError::rtc)?;
    pc.set_remote_description(desc)
        .await
        .map_err(LinkError::rtc)?;
    let answer = pc.create_answer(None).await.map_err(LinkError::rtc)?;
    pc.set_local_description(answer.clone())
        .await
        .map_err(LinkError::rtc)?;
    ws.send(&Signal::Answer { sdp: answer.sdp }).await?;

    let mut dc: Option<Arc<dyn DataChannel>> = None;
    let mut socket_done = false;
    loop {
        tokio::select! {
            msg = ws.recv(), if !socket_done => match msg {
                Ok(Some(Signal::Candidate { candidate, mid })) => {
                    let _ = pc.add_ice_candidate(candidate_init(candidate, mid)).await;
                }
                Ok(Some(Signal::Refused { code, message })) => return Err(LinkError::Refused { code, message }),
                Ok(Some(other)) => {
                    return Err(LinkError::Signaling(format!("unexpected {} from the master", kind(&other))));
                }
                // The master may close the socket once the channel is up.
                Ok(None) | Err(_) => socket_done = true,
            },
            ev = events.recv() => match ev {
                Some(PcEvent::Candidate(c)) if !socket_done => {
                    let _ = ws.send(&Signal::Candidate { candidate: c.candidate, mid: c.sdp_mid }).await;
                }
                Some(PcEvent::Channel(ch)) => {
                    dc = Some(ch);
                }
                Some(PcEvent::State(RTCPeerConnectionState::Failed)) => {
                    return Err(LinkError::Rtc("the connection failed (no network path to the master?)".into()));
                }
                Some(_) => {}
                None => return Err(LinkError::Closed),
            },
            ev = async { match &dc { Some(d) => d.poll().await, None => std::future::pending().await } } => match ev {
                Some(DataChannelEvent::OnOpen) => break,
                Some(DataChannelEvent::OnClose) | None => return Err(LinkError::Closed),
                Some(_) => {}
            },
        }
    }
    guard.disarm();
    let dc = dc.ok_or(LinkError::Closed)?;
    Ok((
        Channel::start(pc, dc, events, max_frame),
        MasterInfo {
            name: master_name,
            fingerprint,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::is_mdns_candidate;

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
