//! The slave: `RemoteDb`, the same `Db` interface as `LocalDb`, carried over
//! a data channel to the master. It keeps no database: its data folder holds
//! only its identity and which master it paired with.
//!
//! Requests are multiplexed by id and matched back; a background task keeps
//! the channel up, reconnecting with backoff, and re-sends every request
//! still waiting for its answer with the same id (the master answers a
//! repeated write from its record, so a retry never applies twice).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use outpost_api::db::SubscriptionFilter;
use outpost_api::protocol::decode_incoming;
use outpost_api::{ApiError, Db, ErrorCode, Event, EventStream, Incoming, Op, Request, Response};
use outpost_link::pairing::PairingUrl;
use outpost_link::{ChannelSender, Identity, LinkError, RtcOptions};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::{NodeError, Result};

mod resolve;

pub(crate) use resolve::say_hello;
use resolve::{dial, hello_first, save_paired};
pub use resolve::{forget, load_paired, PairedMaster};

/// File in the slave's data folder naming the master it paired with.
pub const SLAVE_FILE: &str = "slave.json";
/// How long a call waits for the master (connecting included) by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Reconnection backoff: first wait, and the cap.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// After a refusal, how long before trying again.
const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// How long to look for a master by name on the LAN.
const BROWSE: Duration = Duration::from_secs(2);

/// Where to find the master.
#[derive(Debug, Clone)]
pub enum Target {
    /// A pairing URL (with or without a code).
    Url(PairingUrl),
    /// A master's name, found on the LAN (or the paired master's last address).
    Name(String),
}

impl Target {
    /// `outpost://...` is a URL; anything else a name.
    pub fn parse(text: &str) -> Result<Target> {
        if text.trim().is_empty() {
            return Err(NodeError::Config(
                "give the master's pairing URL (outpost://...) or its name".into(),
            ));
        }
        if text
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("outpost://")
        {
            Ok(Target::Url(PairingUrl::parse(text)?))
        } else {
            Ok(Target::Name(text.trim().to_string()))
        }
    }
}

#[derive(Debug, Clone)]
pub struct SlaveConfig {
    pub data: PathBuf,
    pub target: Target,
    /// Pairing code typed by hand (a URL may carry its own).
    pub code: Option<String>,
    /// How this PC is named on the master's device list.
    pub device_name: String,
    pub call_timeout: Duration,
    pub rtc: RtcOptions,
}

/// Connection state, for status bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    Connecting,
    Connected {
        master: String,
    },
    /// Lost the master; trying again.
    Reconnecting {
        reason: String,
    },
    /// The master refused this PC; no more attempts.
    Refused {
        code: String,
        message: String,
    },
}

struct Pending {
    text: String,
    reply: oneshot::Sender<Response>,
}

struct Inner {
    config: SlaveConfig,
    identity: Identity,
    pending: Mutex<HashMap<String, Pending>>,
    tx: RwLock<Option<ChannelSender>>,
    state: watch::Sender<LinkState>,
    events: broadcast::Sender<Event>,
    /// What this handle subscribed to, re-sent after a reconnect.
    subscription: SubscriptionFilter,
}

/// The slave's `Db`: calls run on the master.
#[derive(Clone)]
pub struct RemoteDb {
    inner: Arc<Inner>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.get_mut().ok().and_then(|t| t.take()) {
            // Only inside a runtime: dropping the last handle elsewhere must
            // not panic (the channel then closes when its tasks end).
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { tx.close().await });
            }
        }
    }
}

impl RemoteDb {
    /// Starts connecting in the background; calls wait for the connection.
    pub fn start(config: SlaveConfig) -> Result<RemoteDb> {
        std::fs::create_dir_all(&config.data)?;
        let identity = Identity::load_or_create(&config.data)?;
        let (state, _) = watch::channel(LinkState::Connecting);
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            config,
            identity,
            pending: Mutex::new(HashMap::new()),
            tx: RwLock::new(None),
            state,
            events,
            subscription: Arc::new(RwLock::new(None)),
        });
        let task = tokio::spawn(run(Arc::downgrade(&inner)));
        Ok(RemoteDb {
            inner,
            task: Arc::new(task),
        })
    }

    pub fn fingerprint(&self) -> &str {
        self.inner.identity.fingerprint()
    }

    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.inner.state.subscribe()
    }

    /// Waits until connected (or refused, or `timeout`).
    pub async fn wait_connected(&self, timeout: Duration) -> std::result::Result<String, ApiError> {
        self.wait(timeout, false).await
    }

    /// Like `wait_connected`, but the first failed attempt to reach the
    /// master ends the wait too: for a person pressing "Connect", who wants
    /// to hear at once that nobody answered, not after the whole timeout.
    pub async fn first_contact(&self, timeout: Duration) -> std::result::Result<String, ApiError> {
        self.wait(timeout, true).await
    }

    async fn wait(
        &self,
        timeout: Duration,
        give_up_unreached: bool,
    ) -> std::result::Result<String, ApiError> {
        let mut rx = self.state();
        let res = tokio::time::timeout(timeout, async {
            loop {
                let s = rx.borrow_and_update().clone();
                match s {
                    LinkState::Connected { master } => return Ok(master),
                    LinkState::Refused { code, message } => return Err(refusal(&code, message)),
                    LinkState::Reconnecting { reason } if give_up_unreached => {
                        return Err(self.unreached(&reason))
                    }
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "the connection task stopped",
                    ));
                }
            }
        })
        .await;
        res.unwrap_or_else(|_| Err(self.unavailable()))
    }

    /// A first attempt that reached nobody, in words for the Connect screen.
    fn unreached(&self, reason: &str) -> ApiError {
        let who = match &self.inner.config.target {
            Target::Url(u) => format!("the master at {}", u.authority()),
            Target::Name(n) => format!("a master called \"{n}\""),
        };
        ApiError::new(
            ErrorCode::Unavailable,
            format!("cannot reach {who}: {reason}. Check that the master PC is on, in master mode, and on this network"),
        )
    }

    fn unavailable(&self) -> ApiError {
        let state = self.inner.state.borrow().clone();
        let last = match state {
            LinkState::Reconnecting { reason } => format!(" ({reason})"),
            _ => String::new(),
        };
        let who = match &self.inner.config.target {
            Target::Url(u) if !u.name.is_empty() => format!("\"{}\"", u.name),
            Target::Url(u) => u.authority(),
            Target::Name(n) => format!("\"{n}\""),
        };
        ApiError::new(
            ErrorCode::Unavailable,
            format!("the master {who} cannot be reached{last}; check that the master PC is on and on this network. If this was a change, check whether it was saved before doing it again"),
        )
    }

    /// Closes the connection and stops reconnecting; calls still waiting
    /// and later calls fail at once.
    pub async fn close(&self) {
        self.task.abort();
        let message = "this connection to the master was closed".to_string();
        self.inner.state.send_replace(LinkState::Refused {
            code: "unavailable".into(),
            message: message.clone(),
        });
        fail_all(&self.inner, ApiError::new(ErrorCode::Unavailable, message));
        let tx = self
            .inner
            .tx
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = tx {
            tx.close().await;
        }
    }
}

/// A master's refusal (its code word and message) as a DB error.
pub fn refusal(code: &str, message: String) -> ApiError {
    let code = match code {
        "forbidden" => ErrorCode::Forbidden,
        "unauthorized" => ErrorCode::Unauthorized,
        "bad_request" => ErrorCode::BadRequest,
        _ => ErrorCode::Unavailable,
    };
    ApiError::new(code, message)
}

#[async_trait]
impl Db for RemoteDb {
    async fn call(&self, req: Request) -> Response {
        let id = req.id.clone();
        let key = id_key(&id);
        // Remember the subscription locally so it is restored on reconnect
        // and events are filtered the same way as on the master.
        match &req.op {
            Op::Subscribe(a) => {
                *self
                    .inner
                    .subscription
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some(a.doctypes.clone())
            }
            Op::Unsubscribe => {
                *self
                    .inner
                    .subscription
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = None
            }
            _ => {}
        }
        let state = self.inner.state.borrow().clone();
        if let LinkState::Refused { code, message } = state {
            return Response {
                id: Some(id),
                result: Err(refusal(&code, message)),
            };
        }
        let text = req.encode();
        // 8: refuse here what the channel would refuse, instead of leaving
        // it pending and blaming the master 30 s later.
        if text.len() > outpost_link::peer::MAX_MESSAGE {
            return Response {
                id: Some(id),
                result: Err(ApiError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "this call is {} bytes, more than the {}-byte limit; send fewer records per call",
                        text.len(),
                        outpost_link::peer::MAX_MESSAGE
                    ),
                )),
            };
        }
        let (reply, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.contains_key(&key) {
                return Response {
                    id: Some(id),
                    result: Err(ApiError::bad_request(
                        "a call with this request id is still waiting for its answer; use a new id for a new call",
                    )),
                };
            }
            pending.insert(
                key.clone(),
                Pending {
                    text: text.clone(),
                    reply,
                },
            );
        }
        let tx = self
            .inner
            .tx
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(tx) = tx {
            // On failure the request stays pending and is re-sent on reconnect.
            let _ = tx.send(text.as_bytes()).await;
        }
        match tokio::time::timeout(self.inner.config.call_timeout, rx).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(_)) | Err(_) => {
                let gone = self
                    .inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                // Clone first: `unavailable` borrows the state again, and a
                // second read behind a waiting writer would deadlock.
                let state = self.inner.state.borrow().clone();
                let err = match state {
                    LinkState::Refused { code, message } => refusal(&code, message),
                    _ => self.unavailable(),
                };
                drop(gone);
                Response {
                    id: Some(id),
                    result: Err(err),
                }
            }
        }
    }

    fn events(&self) -> EventStream {
        EventStream::new(
            self.inner.events.subscribe(),
            self.inner.subscription.clone(),
        )
    }
}

/// Pending calls are keyed by the id's JSON form, so `1` and `"1"` differ.
fn id_key(id: &outpost_api::RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// Keeps the channel up for as long as the `RemoteDb` lives.
async fn run(weak: std::sync::Weak<Inner>) {
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
        let waiting: Vec<String> = inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|p| p.text.clone())
            .collect();
        for text in waiting {
            let _ = tx.send(text.as_bytes()).await;
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
            match decode_incoming(&bytes) {
                Ok(Incoming::Response(resp)) => {
                    let key = resp.id.as_ref().map(id_key).unwrap_or_default();
                    let waiting = inner
                        .pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key);
                    match waiting {
                        Some(p) => {
                            let _ = p.reply.send(resp);
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

fn fail_all(inner: &Inner, err: ApiError) {
    let pending: Vec<(String, Pending)> = inner
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    for (key, p) in pending {
        let _ = p.reply.send(Response {
            id: serde_json::from_str(&key).ok(),
            result: Err(err.clone()),
        });
    }
}

/// A short name for this PC on the master's device list.
pub fn default_device_name() -> String {
    std::env::var("OUTPOST_DEVICE_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Outpost slave".into())
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, e.to_string())
    }
}
