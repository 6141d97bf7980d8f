//! The slave's connection: kept up for as long as its `RemoteDb` lives.
//! Each (re)connect finds the master, says hello (is it still the office's
//! master?), resumes the sign-in, restores the subscription, and re-sends
//! every call still waiting, under its own id; answers and events are
//! handed to the waiting calls and the subscribers.

use outpost_api::protocol::{decode_incoming, incoming_head, IncomingHead};
use outpost_api::{ApiError, ErrorCode, Event, Incoming, Op, Request, Response};
use outpost_link::LinkError;

use super::resolve::{dial, hello_first, load_paired, save_paired, PairedMaster};
use super::{
    refusal, signin, Inner, LinkState, Pending, Reply, BACKOFF_MAX, BACKOFF_START, REFUSED_RETRY,
};

/// Keeps the channel up for as long as the `RemoteDb` lives.
pub(super) async fn run(weak: std::sync::Weak<Inner>) {
    let mut backoff = BACKOFF_START;
    let mut connected_once = false;
    let mut refused_before = false;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let attempt = dial(&inner, refused_before, connected_once);
        let (channel, info, addr) = match attempt.await {
            Ok(x) => x,
            // A refusal comes before anything is authenticated (anyone on
            // the LAN could send one), so it does not end the slave: calls
            // fail at once with its words, and it tries again now and then.
            Err(LinkError::Refused { code, message }) if code != "unavailable" => {
                tracing::warn!(%code, "the master refused this PC: {message}");
                inner.state.send_replace(LinkState::Refused {
                    code: code.clone(),
                    message: message.clone(),
                });
                fail_all(&inner, refusal(&code, message));
                refused_before = true;
                drop(inner);
                tokio::time::sleep(REFUSED_RETRY).await;
                continue;
            }
            Err(e @ (LinkError::FingerprintMismatch { .. } | LinkError::NotTheOffice { .. })) => {
                tracing::warn!("{e}");
                let message = e.to_string();
                inner.state.send_replace(LinkState::Refused {
                    code: "forbidden".into(),
                    message: message.clone(),
                });
                fail_all(&inner, refusal("forbidden", message));
                refused_before = true;
                drop(inner);
                tokio::time::sleep(REFUSED_RETRY).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot connect yet");
                inner.state.send_replace(LinkState::Reconnecting {
                    reason: e.to_string(),
                });
                drop(inner);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_START;
        let update = crate::version::update_from(info.app.as_deref(), &addr);
        if let Some(u) = &update {
            tracing::info!(
                master = %u.version,
                this = %u.current,
                "an update is available from the master: {}",
                u.url
            );
        }
        *inner.update.write().unwrap_or_else(|e| e.into_inner()) = update;
        let reconnect = connected_once;
        connected_once = true;
        refused_before = false;
        // The roster and epoch learned before stay: they are replaced only
        // by what a master says over the channel (`learn_roster`).
        // The epoch is the office's: never forgotten, whichever master
        // answered (a stale one is caught by `hello_first` below).
        let before = load_paired(&inner.config.data);
        let epoch = before.as_ref().map(|p| p.epoch).unwrap_or_default();
        let known = before
            .clone()
            .filter(|p| p.accepted().contains(&info.fingerprint));
        let _ = save_paired(
            &inner.config.data,
            &PairedMaster {
                name: info.name.clone(),
                fingerprint: info.fingerprint.clone(),
                addr,
                roster: known.as_ref().map(|p| p.roster.clone()).unwrap_or_default(),
                epoch,
            },
        );
        tracing::info!(master = %info.name, "connected to the master");
        let outpost_link::Channel { tx, mut rx } = channel;
        // Before any call goes out: is this still the office's master?
        if let Err(why) = hello_first(&inner, &tx, &mut rx).await {
            tracing::warn!("{why}");
            // Not this master: keep remembering the one before.
            if let Some(b) = &before {
                let _ = save_paired(&inner.config.data, b);
            }
            inner.state.send_replace(LinkState::Reconnecting {
                reason: why.clone(),
            });
            tx.close().await;
            refused_before = true;
            drop(inner);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        // Then the sign-in, resumed or made again, before any call.
        if let Err(e) = signin::after_hello(&inner.person, &tx, &mut rx).await {
            tx.close().await;
            if e.code == ErrorCode::Unavailable {
                drop(inner);
                tokio::time::sleep(backoff).await;
                continue;
            }
            tracing::warn!("the sign-in was refused: {e}");
            inner.state.send_replace(LinkState::Refused {
                code: e.code.as_str().to_string(),
                message: e.message.clone(),
            });
            fail_all(&inner, e);
            refused_before = false;
            drop(inner);
            tokio::time::sleep(REFUSED_RETRY).await;
            continue;
        }
        *inner.tx.write().unwrap_or_else(|e| e.into_inner()) = Some(tx.clone());
        // Restore the subscription, then re-send whatever still waits.
        let sub = inner
            .subscription
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(doctypes) = sub {
            let req = Request::new(Op::Subscribe(outpost_api::protocol::SubscribeArgs {
                doctypes,
            }));
            let _ = tx.send(req.encode().as_bytes()).await;
        }
        let waiting: Vec<bytes::Bytes> = inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|p| p.text.clone())
            .collect();
        for text in waiting {
            let _ = tx.send(&text).await;
        }
        inner.state.send_replace(LinkState::Connected {
            master: info.name.clone(),
        });
        // Events may have been missed while away: tell subscribers to reload.
        if reconnect {
            let _ = inner.events.send(Event::Lagged { missed: 0 });
        }
        drop(inner);

        while let Some(msg) = rx.recv().await {
            let Some(inner) = weak.upgrade() else { return };
            let bytes = match msg {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "bad message from the master");
                    continue;
                }
            };
            // An answer goes to its caller as it came, and the caller
            // decodes it: the answers of a batch frame are decoded on
            // their callers' tasks, not one after another here.
            if let Ok(IncomingHead::Response(Some(id))) = incoming_head(&bytes) {
                let waiting = inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                // None: a duplicate answer to a re-sent request.
                if let Some(p) = waiting {
                    let _ = p.reply.send(Reply::Raw(bytes));
                }
                continue;
            }
            match decode_incoming(&bytes) {
                Ok(Incoming::Response(resp)) => {
                    let waiting = resp.id.as_ref().and_then(|id| {
                        inner
                            .pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(id)
                    });
                    match waiting {
                        Some(p) => {
                            let _ = p.reply.send(Reply::Decoded(resp));
                        }
                        None if resp.id.is_none() => {
                            tracing::warn!(
                                "the master could not read a request: {:?}",
                                resp.result.err()
                            );
                        }
                        None => {} // a duplicate answer to a re-sent request
                    }
                }
                Ok(Incoming::Event(Event::Replaced {})) => {
                    replaced(&inner).await;
                    return;
                }
                Ok(Incoming::Event(ev)) => {
                    let _ = inner.events.send(ev);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable message from the master"),
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        tracing::info!("lost the master; reconnecting");
        inner.state.send_replace(LinkState::Reconnecting {
            reason: "the connection to the master was lost".into(),
        });
    }
}

/// The master closed this channel because this device connected again
/// from elsewhere (another program with this PC's identity): this one
/// stops for good, or the two would take turns closing each other.
async fn replaced(inner: &Inner) {
    let message = REPLACED.to_string();
    tracing::warn!("{message}");
    let tx = inner.tx.write().unwrap_or_else(|e| e.into_inner()).take();
    inner.state.send_replace(LinkState::Refused {
        code: "replaced".into(),
        message: message.clone(),
    });
    fail_all(inner, refusal("replaced", message));
    if let Some(tx) = tx {
        tx.close().await;
    }
}

/// What a replaced connection says, to the person and in its calls.
const REPLACED: &str = "this PC connected to the master again from another window or program, which now holds its session; this one stopped (close it, or connect again here)";

pub(super) fn fail_all(inner: &Inner, err: ApiError) {
    let pending: Vec<(outpost_api::RequestId, Pending)> = inner
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    for (id, p) in pending {
        let _ = p.reply.send(Reply::Decoded(Response {
            id: Some(id),
            result: Err(err.clone()),
        }));
    }
}
