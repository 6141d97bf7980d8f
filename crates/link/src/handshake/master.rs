//! The master's side of the handshake: read the slave's hello, ask whether
//! it is admitted, offer the `db` channel and check that the answer's
//! fingerprint is the device the slave said it was.

use std::future::Future;

use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::{RTCPeerConnectionState, RTCSessionDescription};

use super::{
    candidate_init, canonical_ip, is_mdns_candidate, kind, tried_from, CloseOnDrop,
    HANDSHAKE_DEADLINE, HELLO_DEADLINE, MAX_CANDIDATES, SIGNAL_BUDGET,
};
use super::{Admission, SlaveHello};
use crate::channel::Channel;
use crate::error::{LinkError, Result};
use crate::identity::{check_sdp_fingerprint, normalize_fingerprint, Identity};
use crate::peer::{remote_max_frame, slave_keepalive, PcEvent, Peer, RtcOptions, Side, DB_CHANNEL};
use crate::signal::{Signal, SIGNAL_VERSION};
use crate::socket::SignalSocket;

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
    ws.set_budget(SIGNAL_BUDGET);
    let first = match ws
        .recv_within(HELLO_DEADLINE, "waiting for the slave's hello")
        .await
    {
        Ok(first) => first,
        // Garbage, a binary or oversized frame: say why before closing, so
        // a broken client learns what is wrong instead of seeing a bare close.
        Err(LinkError::Signaling(why)) => return refuse(ws, "bad_request", why).await,
        Err(e @ LinkError::TooLarge { .. }) => return refuse(ws, "too_large", e.to_string()).await,
        Err(e) => return Err(e),
    };
    let hello = match first {
        Some(Signal::Hello {
            v,
            device,
            name,
            proof,
            app,
            protocol,
            keepalive_ms,
            batches,
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
                app: app.map(|a| a.chars().take(40).collect()),
                protocol,
                keepalive: keepalive_ms.and_then(slave_keepalive),
                batches,
                reached: Some(ws.local_addr()),
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
    let master_proof = match admit(hello.clone()).await {
        Admission::Accept => None,
        Admission::Paired { master_proof } => Some(master_proof),
        Admission::Refuse { code, message } => {
            tracing::info!(device = %hello.device, %code, "slave refused: {message}");
            return refuse(ws, &code, message).await;
        }
    };
    let local = ws.local_addr();
    let result = tokio::time::timeout(
        HANDSHAKE_DEADLINE,
        offer_channel(
            &mut ws,
            identity,
            opts,
            master_name,
            &hello,
            local,
            master_proof,
        ),
    )
    .await
    .unwrap_or_else(|_| Err(LinkError::Timeout("bringing up the data channel".into())));
    match result {
        Ok(channel) => {
            // The master closes the signaling socket, cleanly, beside the
            // session (nothing waits for it). A browser page leaves it to
            // the master: Firefox counts a socket the page closes at this
            // moment as failed and holds the page's next socket back by
            // 200 ms or more (BENCHMARKS.md, issue 16).
            tokio::spawn(ws.close());
            Ok((channel, hello))
        }
        Err(e) => {
            let code = match e {
                LinkError::FingerprintMismatch { .. } => "forbidden",
                LinkError::TooLarge { .. } => "too_large",
                LinkError::Signaling(_) => "bad_request",
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
    local: std::net::SocketAddr,
    master_proof: Option<String>,
) -> Result<Channel> {
    // ICE is tried only towards the address the slave's socket came from:
    // its candidates cannot point the master at other hosts.
    let slave_ip = canonical_ip(ws.peer_addr().ip());
    let Peer { pc, mut events } = Peer::new(
        identity,
        opts,
        local,
        Side::Master {
            slave_keepalive: hello.keepalive,
        },
    )
    .await?;
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
        proof: master_proof,
        app: opts.versions.as_ref().map(|v| v.app.clone()),
        protocol: opts.versions.as_ref().map(|v| v.protocol),
        batches: true,
    })
    .await?;
    let mut answered = false;
    let mut early_candidates = Vec::new();
    let mut candidates = 0usize;
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
                Some(Signal::Candidate { .. }) if candidates >= MAX_CANDIDATES => {
                    return Err(LinkError::Signaling(format!("the slave sent more than {MAX_CANDIDATES} ICE candidates")));
                }
                Some(Signal::Candidate { candidate, .. }) if is_mdns_candidate(&candidate) => {
                    candidates += 1;
                    // A browser hides its address behind a `.local` name.
                    // Nothing resolves it here: the browser's connectivity
                    // checks reach our host candidate (the address it
                    // already reached over TCP) and reveal its address.
                    tracing::debug!("an mDNS candidate from the slave, not resolved: its checks show its address");
                }
                Some(Signal::Candidate { candidate, mid }) => {
                    candidates += 1;
                    let init = candidate_init(candidate.clone(), mid);
                    if !tried_from(&candidate, slave_ip) {
                        tracing::debug!(%slave_ip, "a candidate not at the slave's own address, not tried: {candidate}");
                    } else if answered {
                        let _ = pc.add_ice_candidate(init).await;
                    } else {
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
                    // webrtc-rs leaves the mid empty; the offer's only m-line
                    // is `a=mid:0`, and a browser that reads the mid strictly
                    // would refuse a candidate for "".
                    let mid = c.sdp_mid.filter(|m| !m.is_empty()).or_else(|| Some("0".into()));
                    if !socket_done {
                        let _ = ws.send(&Signal::Candidate { candidate: c.candidate, mid }).await;
                    }
                }
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
    Ok(Channel::start(
        pc,
        dc,
        events,
        max_frame.unwrap_or(65_536),
        hello.batches,
    ))
}
