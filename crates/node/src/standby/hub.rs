//! The master's side of its standby: answers the standby's calls (a
//! snapshot in chunks, then the changesets in commit order) for the one
//! device the office made its standby, and keeps its lag (changes and
//! seconds behind), written to `standby.json` for `outpost devices` and the
//! Master screen every [`STATUS_EVERY`], whether the standby calls or not:
//! a standby that went silent shows its lag growing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use outpost_api::protocol::{StandbyChangesArgs, StandbyChunkArgs};
use outpost_api::{ApiError, ErrorCode, Op};
use outpost_store::{ReplEvent, Store, StoreError};
use serde_json::{json, Value};

use super::{StandbyStatus, STATUS_FILE};

/// Largest snapshot piece one `standby.chunk` answers.
pub const MAX_CHUNK: u64 = 512 * 1024;
/// Changeset bytes one `standby.changes` answer carries at most (more
/// wait for the next call).
const MAX_CHANGES_BYTES: usize = 2 * 1024 * 1024;
/// Changesets one answer carries at most.
const MAX_CHANGES: usize = 512;
/// Longest a `standby.changes` call waits for a new changeset.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// Commit times kept to tell the lag in seconds.
const COMMIT_TIMES: usize = 100_000;
/// The standby counts as away when it has not called for this long (it
/// calls at least every `follow::WAIT`).
pub const AWAY_AFTER: Duration = Duration::from_secs(5);
/// How often the master writes `standby.json`: the lag `outpost devices`
/// shows is at most this old, also while the standby is silent (in async
/// mode that lag is what a dead master would take with it).
pub(crate) const STATUS_EVERY: Duration = Duration::from_secs(1);
/// The snapshot file a standby fetches, in the master's data folder.
const SNAPSHOT_FILE: &str = "standby-snapshot.sqlite";

struct State {
    /// The snapshot being fetched: (its seq, its size).
    snapshot: Option<(u64, u64)>,
    /// Everything up to this number is on the standby's disk.
    acked: u64,
    /// The standby's last call.
    last_call: Option<Instant>,
    /// When each recent changeset was committed.
    commits: VecDeque<(u64, Instant)>,
}

/// The master's standby service (one per master).
pub(crate) struct Hub {
    store: Store,
    data: PathBuf,
    state: Arc<Mutex<State>>,
    /// The standby's acknowledged change, for writes waiting on it.
    acked: tokio::sync::watch::Sender<u64>,
}

impl Hub {
    pub fn new(store: Store, data: PathBuf) -> Hub {
        let state = Arc::new(Mutex::new(State {
            snapshot: None,
            acked: 0,
            last_call: None,
            commits: VecDeque::new(),
        }));
        let times = state.clone();
        store.on_changeset(move |ev| {
            if let ReplEvent::Committed { seq } = ev {
                let mut s = times.lock().unwrap_or_else(|e| e.into_inner());
                s.commits.push_back((seq, Instant::now()));
                if s.commits.len() > COMMIT_TIMES {
                    s.commits.pop_front();
                }
            }
        });
        let (acked, _) = tokio::sync::watch::channel(0);
        Hub {
            store,
            data,
            state,
            acked,
        }
    }

    /// Whether the office's standby is following now (it called within
    /// [`AWAY_AFTER`]); `None` when the office has no standby. Reads the
    /// setting afresh (off the async runtime): a standby made a moment ago
    /// with `outpost devices standby` counts at once.
    pub async fn following(&self) -> Option<bool> {
        self.standby_device_now().await?;
        Some(
            self.lock()
                .last_call
                .is_some_and(|t| t.elapsed() <= AWAY_AFTER),
        )
    }

    /// The standby device, read afresh from the database (off the async
    /// runtime): a standby made a moment ago counts at once.
    async fn standby_device_now(&self) -> Option<String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || super::standby_device(&store))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
    }

    /// Waits until the standby holds change `seq` on disk, at most
    /// `timeout`; whether it does.
    pub async fn wait_acked(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.acked.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|a| *a >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device the office made its standby, if any (for the rare
    /// callers on the runtime: a `hello`, a status display).
    pub fn standby_device(&self) -> Option<String> {
        super::standby_device(&self.store).ok().flatten()
    }

    /// The office's roster (this master, then its standby) and epoch, as
    /// the `hello` answer tells every slave.
    pub fn roster(&self, master: &str) -> (Vec<String>, u64) {
        let mut roster = vec![master.to_string()];
        if let Some(d) = self.standby_device() {
            if d != master {
                roster.push(d);
            }
        }
        (roster, super::promote::epoch(&self.store))
    }

    /// Answers one of the standby's calls from `device`.
    pub async fn call(&self, device: &str, op: &Op) -> Result<Value, ApiError> {
        if self.standby_device_now().await.as_deref() != Some(device) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this PC is not the office's standby: make it one on the master (`outpost devices standby ID`, or the Master screen's device list)",
            ));
        }
        self.lock().last_call = Some(Instant::now());
        match op {
            Op::StandbyBegin => self.begin().await,
            Op::StandbyChunk(a) => self.chunk(a).await,
            Op::StandbyChanges(a) => self.changes(a).await,
            other => Err(ApiError::bad_request(format!(
                "'{}' is not a standby call",
                other.name()
            ))),
        }
    }

    async fn begin(&self) -> Result<Value, ApiError> {
        let store = self.store.clone();
        let path = self.data.join(SNAPSHOT_FILE);
        let info = tokio::task::spawn_blocking(move || {
            // A new copy replaces the one fetched before (or given up on):
            // a standby taken back and made again, or one that fell too far
            // behind, needs another, and `snapshot_to` never overwrites.
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::from(e)),
                _ => store.snapshot_to(&path),
            }
        })
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(format!("cannot make a copy for the standby: {e}")))?;
        self.lock().snapshot = Some((info.seq, info.bytes));
        let site_id = self.store.site_id().unwrap_or_default();
        tracing::info!(
            seq = info.seq,
            bytes = info.bytes,
            "snapshot made for the standby"
        );
        Ok(json!({"seq": info.seq, "bytes": info.bytes, "site_id": site_id}))
    }

    async fn chunk(&self, a: &StandbyChunkArgs) -> Result<Value, ApiError> {
        let Some((_, size)) = self.lock().snapshot else {
            return Err(ApiError::bad_request(
                "no copy is being fetched: call standby.begin first",
            ));
        };
        if a.offset > size {
            return Err(ApiError::bad_request(format!(
                "offset {} is past the copy's end ({size} bytes)",
                a.offset
            )));
        }
        let len = a.len.min(MAX_CHUNK).min(size - a.offset);
        let path = self.data.join(SNAPSHOT_FILE);
        let offset = a.offset;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf)?;
            Ok(buf)
        })
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(format!("cannot read the copy for the standby: {e}")))?;
        Ok(json!({"data": base64::engine::general_purpose::STANDARD.encode(bytes)}))
    }

    async fn changes(&self, a: &StandbyChangesArgs) -> Result<Value, ApiError> {
        let master_seq = self.store.repl_seq();
        if a.after > master_seq {
            return Err(ApiError::bad_request(format!(
                "the standby says it holds change {} but this master is at change {master_seq}: it copies another office's database; it needs a fresh copy",
                a.after
            ))
            .with_details(json!({"reason": "snapshot_needed"})));
        }
        self.acked(a.after);
        let mut list = self.store.changesets_after(a.after, MAX_CHANGES);
        if matches!(&list, Ok(l) if l.is_empty()) && a.wait_ms > 0 {
            let store = self.store.clone();
            let (after, wait) = (a.after, Duration::from_millis(a.wait_ms).min(MAX_WAIT));
            let _ =
                tokio::task::spawn_blocking(move || store.wait_for_changeset(after, wait)).await;
            list = self.store.changesets_after(a.after, MAX_CHANGES);
        }
        let list = match list {
            Ok(l) => l,
            Err(e @ StoreError::SnapshotNeeded { .. }) => {
                return Err(ApiError::new(ErrorCode::Unavailable, e.to_string())
                    .with_details(json!({"reason": "snapshot_needed"})))
            }
            Err(e) => return Err(internal(e.to_string())),
        };
        let mut out = Vec::new();
        let mut size = 0usize;
        for c in list {
            if !out.is_empty() && size + c.bytes.len() > MAX_CHANGES_BYTES {
                break;
            }
            size += c.bytes.len();
            out.push(json!({
                "seq": c.seq,
                "data": base64::engine::general_purpose::STANDARD.encode(&c.bytes),
            }));
        }
        Ok(json!({"master_seq": self.store.repl_seq(), "changes": out}))
    }

    /// Records that the standby holds everything up to `seq`.
    fn acked(&self, seq: u64) {
        let mut s = self.lock();
        s.acked = s.acked.max(seq);
        self.acked.send_if_modified(|a| {
            let moved = *a < s.acked;
            *a = (*a).max(s.acked);
            moved
        });
        while s.commits.front().is_some_and(|(q, _)| *q <= s.acked) {
            s.commits.pop_front();
        }
    }

    /// Writes the standby's state now to `standby.json` (blocking: reads
    /// the standby setting); nothing when the office has no standby.
    pub fn write_status(&self, policy: super::WritePolicy) {
        let Some(status) = self.status(policy) else {
            return;
        };
        if let Err(e) = status.save(&self.data.join(STATUS_FILE)) {
            tracing::warn!(error = %e, "cannot write standby.json");
        }
    }

    /// The standby's state now (none when no device is the standby).
    pub fn status(&self, policy: super::WritePolicy) -> Option<StandbyStatus> {
        self.standby_device().map(|d| self.status_for(&d, policy))
    }

    fn status_for(&self, device: &str, policy: super::WritePolicy) -> StandbyStatus {
        let master_seq = self.store.repl_seq();
        let s = self.lock();
        let lag_changes = master_seq.saturating_sub(s.acked);
        let lag_seconds = if lag_changes == 0 {
            0.0
        } else {
            s.commits
                .iter()
                .find(|(q, _)| *q > s.acked)
                .map(|(_, t)| t.elapsed().as_secs_f64())
                .unwrap_or(0.0)
        };
        let away = s.last_call.is_none_or(|t| t.elapsed() > AWAY_AFTER);
        StandbyStatus {
            device: device.to_string(),
            connected: !away,
            acked_seq: s.acked,
            master_seq,
            lag_changes,
            lag_seconds,
            at: unix_now(),
            writes: policy.mode(Some(!away)),
        }
    }
}

fn internal(message: String) -> ApiError {
    ApiError::new(ErrorCode::Internal, message)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
