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
use outpost_api::{ApiError, Db, ErrorCode, Event, EventStream, Op, Request, Response};
use outpost_link::pairing::PairingUrl;
use outpost_link::{ChannelSender, Company, Identity, RtcOptions};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::{NodeError, Result};

mod resolve;
mod run;
use run::{fail_all, run};
mod signin;

pub(crate) use resolve::say_hello;
pub use resolve::{forget, learn_roster, load_paired, PairedMaster};
pub use signin::Credentials;

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
    /// The request as sent (shared with the channel's queue, not copied).
    text: bytes::Bytes,
    reply: oneshot::Sender<Reply>,
}

/// What a waiting call is handed.
enum Reply {
    /// Its answer as the master sent it, for the caller to decode.
    Raw(bytes::Bytes),
    /// An answer made here or already decoded (a failed link, a refusal).
    Decoded(Response),
}

impl Reply {
    /// The answer; one the master sent that cannot be read is an error
    /// saying so, for this call only.
    fn into_response(self, id: &outpost_api::RequestId) -> Response {
        match self {
            Reply::Decoded(resp) => resp,
            Reply::Raw(bytes) => match outpost_api::decode_incoming(&bytes) {
                Ok(outpost_api::Incoming::Response(resp)) => resp,
                Ok(outpost_api::Incoming::Event(_)) => Response {
                    id: Some(id.clone()),
                    result: Err(ApiError::bad_request(
                        "the master answered this call with an event",
                    )),
                },
                Err(e) => Response {
                    id: Some(id.clone()),
                    result: Err(e),
                },
            },
        }
    }
}

struct Inner {
    config: SlaveConfig,
    identity: Identity,
    /// Calls waiting for their answer, by request id (`RequestId` keeps
    /// `1` and `"1"` apart, as their JSON does).
    pending: Mutex<HashMap<outpost_api::RequestId, Pending>>,
    tx: RwLock<Option<ChannelSender>>,
    state: watch::Sender<LinkState>,
    events: broadcast::Sender<Event>,
    /// What this handle subscribed to, re-sent after a reconnect.
    subscription: SubscriptionFilter,
    /// A newer Outpost the master carries, learned on connecting.
    update: RwLock<Option<crate::version::Update>>,
    /// Who is signed in, resumed after a reconnect.
    person: Mutex<signin::Person>,
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
        RemoteDb::start_as(config, None)
    }

    /// The same, signing in as `credentials` on each connect (before any
    /// call goes out).
    pub fn start_as(mut config: SlaveConfig, credentials: Option<Credentials>) -> Result<RemoteDb> {
        std::fs::create_dir_all(&config.data)?;
        // Said in the hello (a test may say another).
        config.rtc.versions.get_or_insert_with(crate::version::ours);
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
            person: Mutex::new(signin::Person::new(credentials)),
            update: RwLock::new(None),
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

    /// The newer Outpost the master carries (its version and install
    /// page), when the master this slave last connected to runs one.
    pub fn update(&self) -> Option<crate::version::Update> {
        self.inner
            .update
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        let refused = match &*self.inner.state.borrow() {
            LinkState::Refused { code, message } => Some(refusal(code, message.clone())),
            _ => None,
        };
        if let Some(err) = refused {
            return Response {
                id: Some(id),
                result: Err(err),
            };
        }
        let text = bytes::Bytes::from(req.encode());
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
        let company = {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.contains_key(&id) {
                return Response {
                    id: Some(id),
                    result: Err(ApiError::bad_request(
                        "a call with this request id is still waiting for its answer; use a new id for a new call",
                    )),
                };
            }
            pending.insert(
                id.clone(),
                Pending {
                    text: text.clone(),
                    reply,
                },
            );
            // Other calls waiting for their answers: theirs may share
            // this one's frame.
            Company::among(pending.len())
        };
        let tx = self
            .inner
            .tx
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(tx) = tx {
            // On failure the request stays pending and is re-sent on
            // reconnect. Queued, not waited for: its answer is.
            let _ = tx.post(text, (), company);
        }
        match tokio::time::timeout(self.inner.config.call_timeout, rx).await {
            Ok(Ok(reply)) => {
                let resp = reply.into_response(&id);
                signin::note(&self.inner.person, &req.op, &resp.result);
                resp
            }
            Ok(Err(_)) | Err(_) => {
                let gone = self
                    .inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
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
