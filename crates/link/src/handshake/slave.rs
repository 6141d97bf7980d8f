//! The slave's side of the handshake: say hello (with a proof of the
//! pairing code on first contact), check the offer's fingerprint against
//! the master it expects before applying it, answer, and wait for the
//! master's `db` channel.

use std::sync::Arc;
use std::time::Duration;

use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{RTCPeerConnectionState, RTCSessionDescription};

use super::{candidate_init, kind, CloseOnDrop, HANDSHAKE_DEADLINE, NO_PATH};
use crate::channel::Channel;
use crate::code::CodeKeys;
use crate::error::{LinkError, Result};
use crate::identity::{check_sdp_fingerprint_in, Identity};
use crate::peer::{remote_max_frame, PcEvent, Peer, RtcOptions, Side, SLAVE_KEEPALIVE};
use crate::signal::{Signal, SIGNAL_VERSION};
use crate::socket::SignalSocket;

/// What the slave learned about the master on connecting.
#[derive(Debug, Clone)]
pub struct MasterInfo {
    pub name: String,
    pub fingerprint: String,
    /// The Outpost the master runs and its DB protocol, when it said.
    pub app: Option<String>,
    pub protocol: Option<u32>,
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
    let pairing = code.map(Pairing::First);
    connect(addr, identity, &claimed, opts, roster, name, pairing).await
}

/// Like [`connect_master_in`] for a slave already paired with a master of
/// `roster` that still holds a code (a URL with a code, `--code`): it
/// proves the code, so that a revoked device pairs again, but accepts an
/// offer without the master's proof (an approved device is let in without
/// the code, and this slave pins a master it paired with).
pub async fn connect_master_again(
    addr: &str,
    identity: &Identity,
    opts: &RtcOptions,
    roster: &[String],
    name: &str,
    code: &str,
) -> Result<(Channel, MasterInfo)> {
    let claimed = identity.fingerprint().to_string();
    let pairing = Some(Pairing::Again(code));
    connect(addr, identity, &claimed, opts, roster, name, pairing).await
}

/// How a slave uses a pairing code.
#[derive(Clone, Copy)]
enum Pairing<'a> {
    /// First contact: the master must prove the code too.
    First(&'a str),
    /// Already paired with this master: the master may prove it.
    Again(&'a str),
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
    let pairing = code.map(Pairing::First);
    connect(addr, identity, claimed_device, opts, &roster, name, pairing).await
}

async fn connect(
    addr: &str,
    identity: &Identity,
    claimed_device: &str,
    opts: &RtcOptions,
    roster: &[String],
    name: &str,
    pairing: Option<Pairing<'_>>,
) -> Result<(Channel, MasterInfo)> {
    let first = roster.first().map(String::as_str).unwrap_or_default();
    let (code, must_prove) = match pairing {
        Some(Pairing::First(c)) => (Some(c), true),
        Some(Pairing::Again(c)) => (Some(c), false),
        None => (None, false),
    };
    // The code's slow derivation comes before the socket opens: the master
    // gives a new socket only a short while to say hello.
    let keys = match code {
        Some(c) => {
            let (c, slave, master) = (c.to_string(), claimed_device.to_string(), first.to_string());
            let keys = tokio::task::spawn_blocking(move || CodeKeys::derive(&c, &slave, &master))
                .await
                .map_err(|e| LinkError::Signaling(format!("cannot make the code proof: {e}")))?;
            Some(keys)
        }
        None => None,
    };
    let mut ws = SignalSocket::connect(addr, Duration::from_secs(5)).await?;
    ws.send(&Signal::Hello {
        v: SIGNAL_VERSION,
        device: claimed_device.to_string(),
        name: name.to_string(),
        proof: keys.as_ref().map(|k| k.slave_proof().to_string()),
        app: opts.versions.as_ref().map(|v| v.app.clone()),
        protocol: opts.versions.as_ref().map(|v| v.protocol),
        keepalive_ms: Some(SLAVE_KEEPALIVE.as_millis() as u64),
        batches: true,
    })
    .await?;
    let local = ws.local_addr();
    let result = tokio::time::timeout(
        HANDSHAKE_DEADLINE,
        answer_channel(
            &mut ws,
            identity,
            opts,
            roster,
            local,
            keys.as_ref().filter(|_| must_prove),
            addr,
        ),
    )
    .await
    .unwrap_or_else(|_| {
        Err(LinkError::Timeout(format!(
            "connecting to the master at {addr}"
        )))
    });
    // The close handshake goes on in the background: the channel (or the
    // refusal) is what the caller waits for.
    tokio::spawn(ws.close());
    result
}

async fn answer_channel(
    ws: &mut SignalSocket,
    identity: &Identity,
    opts: &RtcOptions,
    roster: &[String],
    local: std::net::SocketAddr,
    keys: Option<&CodeKeys>,
    addr: &str,
) -> Result<(Channel, MasterInfo)> {
    // Wait for the offer (or a refusal) before making a peer connection.
    let (master_name, offer_sdp, master_proof, app, protocol, batches) = match ws.recv().await? {
        Some(Signal::Offer {
            master,
            sdp,
            proof,
            app,
            protocol,
            batches,
        }) => (master, sdp, proof, app, protocol, batches),
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
    if let Some(keys) = keys {
        check_master_proof(keys, &fingerprint, master_proof.as_deref()).map_err(|why| {
            LinkError::NotTheOffice {
                name: master_name.clone(),
                addr: addr.to_string(),
                why,
            }
        })?;
    }
    let max_frame = remote_max_frame(&offer_sdp);
    let Peer { pc, mut events } = Peer::new(identity, opts, local, Side::Slave).await?;
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
    // ICE's own timers are set for a link that is up (`Side::ice`): left to
    // them, a master out of reach would be given up only after 17 s.
    let no_path = tokio::time::sleep(NO_PATH);
    tokio::pin!(no_path);
    let mut connected = false;
    let unreachable =
        || LinkError::Rtc("the connection failed (no network path to the master?)".into());
    loop {
        tokio::select! {
            _ = &mut no_path, if !connected => return Err(unreachable()),
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
                Some(PcEvent::State(RTCPeerConnectionState::Connected)) => connected = true,
                Some(PcEvent::State(RTCPeerConnectionState::Failed)) => return Err(unreachable()),
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
        Channel::start(pc, dc, events, max_frame, batches),
        MasterInfo {
            name: master_name,
            fingerprint,
            app: app.map(|a| a.chars().take(40).collect()),
            protocol,
        },
    ))
}

/// Whether the master that offered (at `fingerprint`) proved it knows the
/// code this slave paired with; else why not, in words.
fn check_master_proof(
    keys: &CodeKeys,
    fingerprint: &str,
    proof: Option<&str>,
) -> std::result::Result<(), String> {
    let Some(proof) = proof else {
        return Err("it did not prove that it knows the pairing code (it is not an Outpost master, or one too old to prove it: update Outpost on the master)".into());
    };
    if !keys.is_for_master(fingerprint) || !keys.is_master_proof(proof) {
        return Err("its proof of the pairing code is wrong: it does not know the code".into());
    }
    Ok(())
}
