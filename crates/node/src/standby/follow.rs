//! The standby's side (`outpost standby`): connects to the master as a
//! paired slave, fetches a snapshot of the office database in chunks into
//! its data folder, then asks for the changesets after the last one it
//! holds (which also tells the master how far it is). Each answer is
//! written to the copy's pending file first (to the OS: PostgreSQL's
//! `remote_write`); the next ask, which acknowledges it, leaves at once,
//! and the answer is applied to the copy in one transaction while that ask
//! is on its way. A gap, a changeset that does not apply, or a master that
//! no longer holds the changes asked for: a fresh snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use outpost_api::protocol::{StandbyChangesArgs, StandbyChunkArgs};
use outpost_api::{ApiError, Db, ErrorCode, Op};
use outpost_link::RtcOptions;
use outpost_store::backup::{integrity_check, InstanceLock};
use outpost_store::{Replica, StoreError, DB_FILE};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::hub::MAX_CHUNK;
use crate::error::{NodeError, Result};
use crate::slave::{RemoteDb, SlaveConfig, Target};

/// How long one `standby.changes` call waits at the master for a change.
const WAIT: Duration = Duration::from_secs(2);
/// Pause after a failed call before the next.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct StandbyConfig {
    /// The standby's data folder: its own identity, its pairing, and the
    /// copy (`outpost.sqlite`, an office database a master can open).
    pub data: PathBuf,
    pub target: Target,
    pub code: Option<String>,
    pub device_name: String,
    pub rtc: RtcOptions,
}

/// Where the standby stands, for its screen and its terminal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StandbyState {
    Connecting,
    /// Fetching a snapshot: bytes so far of the total.
    Copying {
        done: u64,
        total: u64,
    },
    /// Following the master's changes; `seq` is the last one received
    /// (written here; applied a moment later).
    Following {
        seq: u64,
        master_seq: u64,
    },
    /// The master refuses (this PC is not its standby): said in words,
    /// asked again every few seconds.
    Refused {
        message: String,
    },
}

/// Follows the master until `stop` turns true, over a connection of its
/// own.
pub async fn follow(
    config: StandbyConfig,
    state: watch::Sender<StandbyState>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    std::fs::create_dir_all(&config.data)?;
    outpost_link::identity::private_dir(&config.data)?;
    let _lock = InstanceLock::acquire(&config.data)?;
    let db = RemoteDb::start(SlaveConfig {
        data: config.data.clone(),
        target: config.target.clone(),
        code: config.code.clone(),
        device_name: config.device_name.clone(),
        call_timeout: Duration::from_secs(60),
        rtc: config.rtc.clone(),
    })?;
    let result = follow_loop(&db, &config.data, &state, stop).await;
    db.close().await;
    result
}

/// Follows the master until `stop` turns true, over the connection `db`
/// the caller already holds with its data folder `data` (the desktop
/// app's slave connection: a master serves one session per device), which
/// stays open afterwards.
pub async fn follow_over(
    db: &RemoteDb,
    data: &Path,
    state: watch::Sender<StandbyState>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    std::fs::create_dir_all(data)?;
    let _lock = InstanceLock::acquire(data)?;
    follow_loop(db, data, &state, stop).await
}

async fn follow_loop(
    db: &RemoteDb,
    data: &Path,
    state: &watch::Sender<StandbyState>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let path = data.join(DB_FILE);
    let mut replica = if path.exists() {
        match Replica::open(&path) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "the copy here cannot be followed; fetching a fresh one");
                None
            }
        }
    } else {
        None
    };
    // A copy here must be of this office and of its current history (the
    // same epoch): a former master rejoining as the standby, whose file
    // has writes nobody else has, starts from a fresh copy (its strays are
    // listed and kept aside), never by applying changes on top.
    let mut checked = replica.is_none();
    loop {
        if *stop.borrow() {
            break Ok(());
        }
        if !checked {
            let history = replica.as_ref().map(history_of);
            match same_history(db, history).await {
                Ok(true) => checked = true,
                Ok(false) => {
                    tracing::info!("the copy here is not of the master's current history; fetching a fresh one");
                    replica = None;
                    checked = true;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot ask the master yet");
                    pause(&mut stop, RETRY).await;
                    continue;
                }
            }
        }
        let step = async {
            if replica.is_none() {
                replica = Some(copy(db, data, state).await?);
            }
            let r = replica.as_mut().expect("a copy");
            // Ask for what follows what is received here (the ask is the
            // acknowledgement), and apply what was received while it is on
            // its way.
            let mut ask = {
                let db = db.clone();
                let args = StandbyChangesArgs {
                    after: r.received(),
                    wait_ms: WAIT.as_millis() as u64,
                };
                AbortOnDrop(tokio::spawn(async move {
                    db.run(Op::StandbyChanges(args)).await
                }))
            };
            let applied = r.apply_received();
            let answer = match (&mut ask.0).await {
                Ok(answer) => answer?,
                Err(e) => {
                    return Err(Step::Local(NodeError::Config(format!(
                        "the standby's call stopped: {e}"
                    ))))
                }
            };
            applied.map_err(Step::Replica)?;
            r.receive(changesets_in(&answer).map_err(Step::Replica)?)
                .map_err(Step::Replica)?;
            let master_seq = answer["master_seq"].as_u64().unwrap_or(0);
            let next = StandbyState::Following {
                seq: r.received(),
                master_seq,
            };
            state.send_if_modified(|s| {
                if *s == next {
                    false
                } else {
                    *s = next;
                    true
                }
            });
            Ok::<(), Step>(())
        };
        let outcome = tokio::select! {
            o = step => o,
            _ = stop.changed() => continue,
        };
        match outcome {
            Ok(()) => {}
            Err(Step::Replica(e)) => {
                tracing::warn!(error = %e, "the copy needs a fresh snapshot");
                replica = None;
            }
            Err(Step::Api(e)) if is_snapshot_needed(&e) => {
                tracing::info!(reason = %e.message, "the master asks for a fresh snapshot");
                replica = None;
            }
            Err(Step::Api(e)) if e.code == ErrorCode::Forbidden => {
                state.send_replace(StandbyState::Refused {
                    message: e.message.clone(),
                });
                pause(&mut stop, RETRY * 5).await;
            }
            Err(Step::Api(e)) => {
                tracing::debug!(error = %e, "standby call failed; trying again");
                if !matches!(*state.borrow(), StandbyState::Copying { .. }) {
                    state.send_replace(StandbyState::Connecting);
                }
                pause(&mut stop, RETRY).await;
            }
            Err(Step::Local(e)) => break Err(e),
        }
    }
}

/// What a copy says of its office: (site_id, epoch, fenced).
fn history_of(r: &Replica) -> (String, u64, bool) {
    let epoch = super::promote::parse_epoch(r.meta(super::promote::EPOCH_KEY).ok().flatten());
    let site = r.meta("site_id").ok().flatten().unwrap_or_default();
    let fenced = r
        .meta(super::fence::FENCED_KEY)
        .ok()
        .flatten()
        .is_some_and(|e| !e.is_empty());
    (site, epoch, fenced)
}

/// Whether a copy with `history` (see [`history_of`]) copies the master
/// `db` reaches: the same office (`site_id`) at the same epoch, and never
/// fenced (a former master's file).
async fn same_history(
    db: &RemoteDb,
    history: Option<(String, u64, bool)>,
) -> std::result::Result<bool, ApiError> {
    let Some((site, epoch, fenced)) = history else {
        return Ok(true);
    };
    let hello = db
        .run(Op::Hello(outpost_api::protocol::HelloArgs::default()))
        .await?;
    Ok(!fenced
        && hello["epoch"].as_u64().unwrap_or(0) == epoch
        && hello["site_id"].as_str() == Some(site.as_str()))
}

enum Step {
    Api(ApiError),
    Replica(StoreError),
    Local(NodeError),
}

impl From<ApiError> for Step {
    fn from(e: ApiError) -> Step {
        Step::Api(e)
    }
}

fn is_snapshot_needed(e: &ApiError) -> bool {
    e.details
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        == Some("snapshot_needed")
}

async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
}

/// Applies every changeset of a `standby.changes` answer, in order, in
/// one transaction.
/// Aborts the task when dropped (the follow loop stopped while its ask was
/// on its way).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The changesets of a `standby.changes` answer, decoded.
fn changesets_in(answer: &Value) -> std::result::Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let list = answer["changes"].as_array().cloned().unwrap_or_default();
    let mut batch = Vec::with_capacity(list.len());
    for c in list {
        let seq = c["seq"].as_u64().unwrap_or(0);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c["data"].as_str().unwrap_or_default())
            .map_err(|e| StoreError::ReplicaDiverged {
                seq,
                reason: format!("the changeset is not base64: {e}"),
            })?;
        batch.push((seq, bytes));
    }
    Ok(batch)
}

/// Fetches a fresh snapshot into `data/outpost.sqlite` and opens it.
async fn copy(
    db: &RemoteDb,
    data: &Path,
    state: &watch::Sender<StandbyState>,
) -> std::result::Result<Replica, Step> {
    let begin = db.run(Op::StandbyBegin).await?;
    let total = begin["bytes"].as_u64().unwrap_or(0);
    let seq = begin["seq"].as_u64().unwrap_or(0);
    state.send_replace(StandbyState::Copying { done: 0, total });
    let incoming = data.join(format!("{DB_FILE}.incoming"));
    let mut file = std::fs::File::create(&incoming).map_err(local)?;
    let mut done = 0u64;
    while done < total {
        let piece = db
            .run(Op::StandbyChunk(StandbyChunkArgs {
                offset: done,
                len: MAX_CHUNK,
            }))
            .await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(piece["data"].as_str().unwrap_or_default())
            .map_err(|e| {
                Step::Api(ApiError::bad_request(format!(
                    "a piece of the copy is damaged: {e}"
                )))
            })?;
        if bytes.is_empty() {
            return Err(Step::Api(ApiError::new(
                ErrorCode::Unavailable,
                "the master sent an empty piece of the copy",
            )));
        }
        std::io::Write::write_all(&mut file, &bytes).map_err(local)?;
        done += bytes.len() as u64;
        state.send_replace(StandbyState::Copying { done, total });
    }
    file.sync_all().map_err(local)?;
    drop(file);
    let checked = rusqlite_check(&incoming);
    if let Err(problem) = checked {
        return Err(Step::Api(ApiError::new(
            ErrorCode::Unavailable,
            format!("the copy fetched from the master failed its check: {problem}"),
        )));
    }
    let path = data.join(DB_FILE);
    if path.exists() {
        keep_strays(data, &path, &incoming).map_err(Step::Replica)?;
    }
    // What the copy being replaced received belongs to it.
    let _ = std::fs::remove_file(outpost_store::repl::pending::pending_path(&path));
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("{DB_FILE}{ext}")));
    }
    std::fs::rename(&incoming, &path).map_err(local)?;
    let replica = Replica::open(&path).map_err(Step::Replica)?;
    if replica.seq() != seq {
        return Err(Step::Replica(StoreError::ReplicaGap {
            have: replica.seq(),
            got: seq,
        }));
    }
    tracing::info!(seq, bytes = total, "copy of the office database fetched");
    Ok(replica)
}

/// How the lists of stray writes are named in a data folder.
pub const STRAY_LIST_PREFIX: &str = "stray-writes-";

/// A list of stray writes kept in a data folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StrayList {
    /// The list's full path (one change per line, JSON).
    pub path: String,
    /// The changes in it.
    pub changes: u64,
    /// The database kept aside beside it, when it is still there.
    pub database: Option<String>,
}

/// The lists of stray writes in `data`, oldest first: the writes a former
/// master here took that never reached the office.
pub fn stray_lists(data: &Path) -> Vec<StrayList> {
    let Ok(entries) = std::fs::read_dir(data) else {
        return Vec::new();
    };
    let mut lists: Vec<StrayList> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let stamp = name
                .strip_prefix(STRAY_LIST_PREFIX)?
                .strip_suffix(".jsonl")?
                .to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            let database = data.join(format!("{DB_FILE}.stray-{stamp}"));
            Some(StrayList {
                path: e.path().display().to_string(),
                changes: text.lines().filter(|l| !l.trim().is_empty()).count() as u64,
                database: database.is_file().then(|| database.display().to_string()),
            })
        })
        .collect();
    lists.sort_by(|a, b| a.path.cmp(&b.path));
    lists
}

/// Before a fresh copy replaces the database here: the changes only this
/// one holds (a former master's writes that never reached the standby that
/// was promoted) are listed in `stray-writes-STAMP.jsonl`, and the whole
/// database is kept aside as `outpost.sqlite.stray-STAMP`.
fn keep_strays(data: &Path, old: &Path, new: &Path) -> std::result::Result<(), StoreError> {
    // Fold the old file's WAL in first: it is read, then kept as one file.
    if let Ok(c) = outpost_store::backup::open_read_write(old) {
        let _ = c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    let strays = outpost_store::repl::stray_changes(old, new)?;
    if strays.is_empty() {
        return Ok(());
    }
    let stamp = outpost_store::values::now_utc().replace([':', '-', '.'], "");
    let aside = data.join(format!("{DB_FILE}.stray-{stamp}"));
    std::fs::copy(old, &aside)?;
    let list = data.join(format!("{STRAY_LIST_PREFIX}{stamp}.jsonl"));
    let mut text = String::new();
    for c in &strays {
        text.push_str(&serde_json::to_string(c).unwrap_or_default());
        text.push('\n');
    }
    std::fs::write(&list, text)?;
    tracing::warn!(
        count = strays.len(),
        list = %list.display(),
        kept = %aside.display(),
        "this database held writes the office's master does not have: listed and kept aside, not merged"
    );
    Ok(())
}

fn rusqlite_check(path: &Path) -> std::result::Result<(), String> {
    let conn = outpost_store::backup::open_read_only(path).map_err(|e| e.to_string())?;
    integrity_check(&conn, "quick_check")
}

fn local(e: std::io::Error) -> Step {
    Step::Local(NodeError::Io(e))
}
