//! Serving slaves: the accept loop (signaling WebSocket or the web UI on
//! one port), the handshake and admission of a device, one data-channel
//! session per slave running its calls, and the revocation watch that
//! closes a revoked device's channel.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use outpost_api::{decode_request, Db, Event, LocalDb};
use outpost_link::web::{self, Arrival};
use outpost_link::{
    accept_slave, Admission, Channel, ChannelSender, Company, SignalSocket, SlaveHello,
};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

use outpost_store::Store;

use super::admit::{admit, record_arrival, Gates};
use super::{SessionEntry, Shared};
use crate::standby::WriteMode;

/// Handshakes in progress at once; more connections are dropped at once, so
/// a flood of half-open connections cannot exhaust the master.
const MAX_HANDSHAKES: usize = 32;
/// Calls one slave may have running at once; it waits beyond that.
const MAX_CALLS_PER_SLAVE: usize = 64;
/// How often revocations are looked for.
/// How long a replaced channel is given to acknowledge why it is closed.
const REPLACED_ACK: Duration = Duration::from_secs(1);
const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// Web UI connections (browsers loading files) served at once.
const MAX_WEB: usize = 64;
/// Time for a new socket's WebSocket upgrade (its hello then has
/// `outpost_link::handshake::HELLO_DEADLINE`).
const UPGRADE_DEADLINE: Duration = Duration::from_secs(3);
/// The limits every listening socket of one master shares: handshakes and
/// web connections in progress, and the gates for devices not yet trusted.
pub(super) struct Door {
    handshakes: Arc<Semaphore>,
    web: Arc<Semaphore>,
    gates: Arc<Gates>,
}

impl Door {
    pub(super) fn new() -> Door {
        Door {
            handshakes: Arc::new(Semaphore::new(MAX_HANDSHAKES)),
            web: Arc::new(Semaphore::new(MAX_WEB)),
            gates: Arc::new(Gates::new()),
        }
    }
}

/// Takes the connections of one listening socket until the master stops.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    door: Arc<Door>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let (handshakes, web, gates) = (&door.handshakes, &door.web, &door.gates);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Per address first: a flood from one PC is dropped before it
        // takes the slots everyone shares.
        let Some(slot) = gates.enter(peer.ip()) else {
            tracing::debug!(%peer, "too many connections from one address; dropping one");
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many handshakes in progress; dropping the connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let web = web.clone();
        let gates = gates.clone();
        tokio::spawn(async move {
            let _slot = slot;
            // The signaling socket, or a browser fetching the web UI.
            match web::classify(&stream).await {
                None => return,
                Some(Arrival::Web) => {
                    drop(permit);
                    let Ok(_slot) = web.try_acquire_owned() else {
                        tracing::warn!(%peer, "too many web connections; dropping one");
                        return;
                    };
                    let info =
                        web::WebInfo::new(&shared.config.name, shared.identity.fingerprint());
                    let shelf = Some(shared.shelf.clone());
                    web::serve(stream, shared.config.ui.clone(), info, shelf).await;
                    return;
                }
                Some(Arrival::Signaling) => {}
            }
            // A browser loads the UI over several connections at once;
            // the signaling handshakes of one address are fewer.
            let Some(handshaking) = gates.handshake(peer.ip()) else {
                tracing::debug!(%peer, "too many handshakes from one address; dropping one");
                return;
            };
            let channel = handshake(&shared, &gates, stream, peer).await;
            drop((permit, handshaking));
            if let Some((channel, hello)) = channel {
                serve(shared, channel, hello).await;
            }
        });
    }
}

async fn handshake(
    shared: &Arc<Shared>,
    gates: &Arc<Gates>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<(Channel, SlaveHello)> {
    let ws = match SignalSocket::accept(stream, UPGRADE_DEADLINE).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "not a signaling connection");
            return None;
        }
    };
    let admit_shared = shared.clone();
    let admit_gates = gates.clone();
    let by_code = Arc::new(AtomicBool::new(false));
    let flag = by_code.clone();
    let result = accept_slave(
        ws,
        &shared.identity,
        &shared.config.rtc,
        &shared.config.name,
        move |hello| async move {
            let gates = admit_gates.clone();
            let admission = tokio::task::spawn_blocking(move || {
                admit(&admit_shared, &gates, &hello, peer.ip())
            })
            .await
            .unwrap_or_else(|_| Admission::Refuse {
                code: "unavailable".into(),
                message: "the master could not check this device".into(),
            });
            flag.store(
                matches!(admission, Admission::Paired { .. }),
                Ordering::SeqCst,
            );
            admission
        },
    )
    .await;
    match result {
        Ok((channel, _)) if shared.stopping.load(Ordering::SeqCst) => {
            channel.tx.close().await;
            None
        }
        Ok((channel, hello)) => {
            let by_code = by_code.load(Ordering::SeqCst);
            let (device, name) = (hello.device.clone(), hello.name.clone());
            let admitted = on_store(shared, move |store| {
                record_arrival(store, by_code, &device, &name)
            })
            .await
            .unwrap_or(false);
            if !admitted {
                channel.tx.close().await;
                return None;
            }
            if by_code {
                tracing::info!(device = %hello.device, name = %hello.name, %peer, "new device paired");
            }
            Some((channel, hello))
        }
        Err(e) => {
            tracing::info!(%peer, error = %e, "slave not connected");
            None
        }
    }
}

/// Runs `f` on the store on a blocking thread: each store call here reads
/// SQLite, or writes and waits for the disk, and this runtime's workers
/// also drive every slave's peer (ICE keepalives, DTLS, data channels).
/// `None` if the blocking thread failed.
async fn on_store<T: Send + 'static>(
    shared: &Shared,
    f: impl FnOnce(&Store) -> T + Send + 'static,
) -> Option<T> {
    let store = shared.db.store().clone();
    tokio::task::spawn_blocking(move || f(&store)).await.ok()
}

/// Runs one slave's calls until its channel closes.
async fn serve(shared: Arc<Shared>, channel: Channel, hello: SlaveHello) {
    let span = tracing::info_span!("slave", device = %short(&hello.device), name = %hello.name);
    serve_channel(shared, channel, hello).instrument(span).await
}

async fn serve_channel(shared: Arc<Shared>, channel: Channel, hello: SlaveHello) {
    let Channel { tx, mut rx } = channel;
    if shared.stopping.load(Ordering::SeqCst) {
        tx.close().await;
        return;
    }
    let id = shared.next_session.fetch_add(1, Ordering::SeqCst);
    let seat = super::gate::Seat::default();
    shared
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id,
            SessionEntry {
                device: hello.device.clone(),
                name: hello.name.clone(),
                tx: tx.clone(),
                seat: seat.clone(),
            },
        );
    close_older_sessions(&shared, &hello.device, id);
    tracing::info!("slave connected");
    let db = shared.db.for_device(hello.device.clone());
    let events = tokio::spawn(forward_events(
        shared.clone(),
        seat.clone(),
        db.clone(),
        tx.clone(),
    ));
    let calls = Arc::new(Semaphore::new(MAX_CALLS_PER_SLAVE));
    while let Some(msg) = rx.recv().await {
        let bytes = match msg {
            Ok(b) => b,
            Err(e) => {
                // A frame error: answer it without an id and go on.
                let resp = outpost_api::Response {
                    id: None,
                    result: Err(match e {
                        outpost_link::LinkError::TooLarge { .. } => outpost_api::ApiError::new(
                            outpost_api::ErrorCode::TooLarge,
                            e.to_string(),
                        ),
                        other => outpost_api::ApiError::bad_request(other.to_string()),
                    }),
                };
                let _ = tx.send(resp.encode().as_bytes()).await;
                continue;
            }
        };
        let req = match decode_request(&bytes) {
            Ok(r) => r,
            Err(resp) => {
                let _ = tx.send(resp.encode().as_bytes()).await;
                continue;
            }
        };
        let Ok(permit) = calls.clone().acquire_owned().await else {
            break;
        };
        let under_way = UnderWay::new(&shared.under_way);
        // Every call, gated ones (sign-in, resume, people) included, is
        // traced with its request id from arrival to answer.
        let span = tracing::debug_span!("call", req = %req.id, op = req.op.name());
        if db.answers_in_place(&req.op) {
            // A get of one row: answered in this loop, in less time than a
            // task of its own takes to start and hand its answer over (a
            // pipelined call's CPU 0.96x the WebSocket's, from 1.15x,
            // BENCHMARKS.md, issue 16, "2026-12-07").
            call(&shared, &db, &seat, &tx, req, permit, under_way)
                .instrument(span)
                .await;
            continue;
        }
        let (shared, db, seat, tx) = (shared.clone(), db.clone(), seat.clone(), tx.clone());
        // Boxed: the task then moves a pointer, not the call's future
        // (the request and every branch of `answer`), as it starts.
        tokio::spawn(Box::pin(
            async move { call(&shared, &db, &seat, &tx, req, permit, under_way).await }
                .instrument(span),
        ));
    }
    events.abort();
    tx.close().await;
    shared
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    let device = hello.device.clone();
    on_store(&shared, move |store| store.touch_device(&device)).await;
    tracing::info!("slave disconnected");
}

/// One session per device: a device that connects again (its old channel
/// half-dead after a network cut) replaces its older sessions.
fn close_older_sessions(shared: &Shared, device: &str, newest: u64) {
    let older: Vec<SessionEntry> = {
        let mut sessions = shared.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<u64> = sessions
            .iter()
            .filter(|(id, s)| **id != newest && s.device == device)
            .map(|(id, _)| *id)
            .collect();
        ids.iter().filter_map(|id| sessions.remove(id)).collect()
    };
    // Told why first: the older connection, if it is alive (another
    // program or tab of the same device), stops reconnecting instead of
    // replacing this one in its turn. A half-dead one never acknowledges
    // that, so the new session does not wait for it.
    let why = serde_json::to_string(&Event::Replaced {}).unwrap_or_default();
    for s in older {
        tracing::info!("the device connected again: closing its older channel");
        let why = why.clone();
        tokio::spawn(async move { s.tx.send_last(why.as_bytes(), REPLACED_ACK).await });
    }
}

/// One call: its answer, queued for the slave. The permit goes with the
/// answer until it has left, so a slave that stops reading cannot have
/// more than its share waiting; so does the call's count in
/// `Shared::under_way`, taken when the call arrived.
async fn call(
    shared: &Shared,
    db: &LocalDb,
    seat: &super::gate::Seat,
    tx: &ChannelSender,
    req: outpost_api::Request,
    permit: tokio::sync::OwnedSemaphorePermit,
    under_way: UnderWay,
) {
    tracing::debug!("received");
    let resp = answer(shared, db, seat, req).await;
    // Other calls under way at this master, of this slave or another:
    // the writer gives them a turn before it sends (this slave's, to share
    // the frame; the others', their turn on the runtime's workers: counting
    // only this slave's, the p99 of 200 devices flat out rose by about half
    // a millisecond, BENCHMARKS.md, issue 16, "2026-12-07 (morning)").
    // A lone call's answer goes at once.
    let company = Company::among(shared.under_way.load(Ordering::Relaxed));
    match tx.post(resp.encode(), (permit, under_way), company) {
        Ok(()) => tracing::debug!("answered"),
        // The channel closed under the call: the slave fails the call
        // itself when its channel ends.
        Err(e) => tracing::debug!(error = %e, "answer not sent"),
    }
}

/// Counts a call from its arrival until its answer has left (or failed
/// to).
struct UnderWay(Arc<AtomicUsize>);

impl UnderWay {
    fn new(count: &Arc<AtomicUsize>) -> UnderWay {
        count.fetch_add(1, Ordering::Relaxed);
        UnderWay(count.clone())
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one call of a slave: a sign-in or people's op and the role check
/// at the gate, a standby's op, a write in the master's write mode, or a
/// read; `hello` also carries the roster, the epoch and the packages.
async fn answer(
    shared: &Shared,
    db: &LocalDb,
    seat: &super::gate::Seat,
    req: outpost_api::Request,
) -> outpost_api::Response {
    let gated = super::gate::gate(shared, db.device(), seat, &req).await;
    let db = db.as_user(super::gate::seated(seat).map(|s| s.user.clone()));
    if let Some(answer) = gated {
        answer
    } else if req.op.is_standby() {
        let result = shared.standby.call(db.device(), &req.op).await;
        outpost_api::Response {
            id: Some(req.id.clone()),
            result,
        }
    } else if req.op.is_write() {
        write_call(shared, &db, req).await
    } else if let outpost_api::Op::Hello(args) = &req.op {
        let theirs = args.epoch.unwrap_or(0);
        let mut resp = db.call(req).await;
        if let Ok(v) = &mut resp.result {
            let (roster, epoch) = shared.standby.roster(shared.identity.fingerprint());
            if theirs > epoch {
                crate::standby::fence::fence(shared, theirs).await;
            }
            v["roster"] = serde_json::json!(roster);
            v["sign_in_required"] = serde_json::json!(shared.auth.required());
            v["epoch"] = serde_json::json!(epoch);
            // Which Outpost this master runs, and the packages it
            // carries: their SHA-256 reaches a slave here, over the
            // authenticated channel, so a download over plain HTTP
            // can be checked against it.
            v["app"] = serde_json::json!(crate::version::app_version());
            let shelf = shared.shelf.clone();
            let packages = tokio::task::spawn_blocking(move || shelf.list())
                .await
                .unwrap_or_default();
            v["packages"] = serde_json::json!(packages);
            let fenced = shared.fenced.load(Ordering::SeqCst);
            if fenced > 0 {
                v["fenced_by"] = serde_json::json!(fenced);
            }
        }
        resp
    } else {
        db.call(req).await
    }
}

/// A write, answered as the office's durability says: at the master's
/// commit, or once the standby holds it too.
async fn write_call(
    shared: &Shared,
    db: &LocalDb,
    req: outpost_api::Request,
) -> outpost_api::Response {
    let fenced = shared.fenced.load(Ordering::SeqCst);
    if fenced > 0 {
        return outpost_api::Response {
            id: Some(req.id.clone()),
            result: Err(crate::standby::fence::refusal(fenced)),
        };
    }
    let mode = shared.write_mode().await;
    if mode == WriteMode::RefusedStandbyAway {
        return outpost_api::Response {
            id: Some(req.id.clone()),
            result: Err(outpost_api::ApiError::new(
                outpost_api::ErrorCode::Unavailable,
                "the standby is away, and this office keeps every change on two PCs: nothing was saved; start the standby again (or set the master to go on without it)",
            )
            .with_details(serde_json::json!({"reason": "standby_away"}))),
        };
    }
    let (resp, group) = db.call_seq(req).await;
    if mode == WriteMode::OnBoth && resp.result.is_ok() {
        // The write's own group, not whichever group committed last.
        let seq = if group > 0 {
            group
        } else {
            shared.db.store().repl_seq()
        };
        if !shared
            .standby
            .wait_acked(seq, crate::standby::hub::AWAY_AFTER)
            .await
        {
            tracing::warn!(
                seq,
                "the standby did not confirm a write in time; answered at the master's commit"
            );
        }
    }
    resp
}

/// Sends the channel the change events its person may see.
async fn forward_events(
    shared: Arc<Shared>,
    seat: super::gate::Seat,
    db: LocalDb,
    tx: ChannelSender,
) {
    let mut events = db.events();
    while let Some(ev) = events.recv().await {
        if let Event::Changed { doctype, .. } = &ev {
            if !super::gate::may_see(&shared, &seat, doctype) {
                continue;
            }
        }
        let text = serde_json::to_string(&ev).unwrap_or_default();
        if tx.send(text.as_bytes()).await.is_err() {
            return;
        }
        if let Event::Lagged { .. } = ev {
            tracing::warn!("a slave fell behind on change events");
        }
    }
}

/// Closes the channels of revoked devices.
pub(super) async fn revocation_watch(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REVOCATION_POLL) => {}
            _ = stop.changed() => return,
        }
        let open: Vec<(u64, String)> = shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, s)| (*id, s.device.clone()))
            .collect();
        if open.is_empty() {
            continue;
        }
        let Some(Ok(unapproved)) = on_store(&shared, |store| store.unapproved_devices()).await
        else {
            continue;
        };
        if unapproved.is_empty() {
            continue;
        }
        let unapproved: std::collections::HashSet<String> = unapproved.into_iter().collect();
        for (id, device) in open {
            if unapproved.contains(&device) && shared.end_session(id).await {
                tracing::info!(device = %short(&device), "device revoked: its channel closed");
            }
        }
    }
}

fn short(fp: &str) -> String {
    outpost_link::identity::short_fingerprint(fp)
}
