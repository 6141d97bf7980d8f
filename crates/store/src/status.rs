//! The upstream sync as a person sees it: [`SyncStatus`], read by
//! `outpost sync status`, the `sync.status` op and the desktop app's Master
//! screen, and [`LinkState`], the state of the link to the head office.
//!
//! The worker (`outpost-sync`) keeps the link state in `_sync_state` as
//! [`LinkState::word`], so another process (`outpost sync status` beside a
//! running master) reads the same state. The state is an enum and the words a
//! person reads are a separate [`SyncStatus::hint`]: a program looks at
//! `link`, never at a sentence.
//!
//! With the `ts` feature these types also derive `ts_rs::TS`, from which
//! `ui/src/lib/generated/` is made (see `docs/desktop-api.md`).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Store;
use crate::upstream::Conflict;

/// The state of the link to the head office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// This data folder has never run a worker with an upstream file.
    NotConfigured,
    /// Configured, but no worker is syncing now (the master is not running,
    /// or runs without `--upstream`), or the worker is shutting down.
    Stopped,
    /// The worker runs and has not finished its first cycle yet.
    Starting,
    /// The last cycle reached the head office and finished.
    Up,
    /// The head office could not be reached (or timed out); the worker
    /// tries again with backoff.
    Down,
    /// The head office refused the user or password.
    Refused,
    /// The head office answered, but the cycle failed in a way retrying
    /// soon will not fix (a refused request, a bad mapping ...).
    Error,
}

impl LinkState {
    pub const ALL: [LinkState; 7] = [
        LinkState::NotConfigured,
        LinkState::Stopped,
        LinkState::Starting,
        LinkState::Up,
        LinkState::Down,
        LinkState::Refused,
        LinkState::Error,
    ];

    /// The state as stored and serialised (`up`, `not_configured` ...).
    pub fn word(self) -> &'static str {
        match self {
            LinkState::NotConfigured => "not_configured",
            LinkState::Stopped => "stopped",
            LinkState::Starting => "starting",
            LinkState::Up => "up",
            LinkState::Down => "down",
            LinkState::Refused => "refused",
            LinkState::Error => "error",
        }
    }

    /// The state [`word`](LinkState::word) names; `None` for any other text.
    pub fn from_word(word: &str) -> Option<LinkState> {
        LinkState::ALL.into_iter().find(|s| s.word() == word)
    }
}

/// Bytes on the uplink (request and response bodies as sent and received).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncBytes {
    /// Since midnight UTC.
    pub sent_today: u64,
    pub received_today: u64,
    pub sent_total: u64,
    pub received_total: u64,
}

/// What `outpost sync status` and the `sync.status` op show. Times are UTC,
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    /// An upstream is configured (a worker was started at least once).
    pub configured: bool,
    /// A worker is syncing this data folder now.
    pub running: bool,
    /// `tryton` or `erpnext`.
    pub kind: Option<String>,
    pub url: Option<String>,
    pub link: LinkState,
    /// Words for a person beside the state ("check user and password");
    /// never read by a program.
    pub hint: Option<String>,
    pub last_success: Option<String>,
    pub last_attempt: Option<String>,
    pub last_error: Option<String>,
    /// When the worker tries again after a failure (only while it runs).
    pub next_attempt: Option<String>,
    /// Outbox entries waiting to go up (including one being sent).
    pub outbox_pending: u64,
    /// Outbox entries the head office refused, waiting for a person.
    pub parked: u64,
    /// Open conflicts.
    pub conflicts: u64,
    /// The open conflicts with both versions, newest first, at most
    /// [`OPEN_CONFLICTS_SHOWN`].
    pub open_conflicts: Vec<Conflict>,
    pub bytes: SyncBytes,
    /// Per synced doctype (in the order they sync): what waits, what the
    /// head office refused, and how many records it has.
    pub doctypes: Vec<DoctypeSync>,
}

/// One synced doctype's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoctypeSync {
    pub doctype: String,
    /// Records with changes not yet at the head office.
    pub pending: u64,
    /// Records whose latest change the head office refused.
    pub parked: u64,
    /// Records the head office has (linked).
    pub sent: u64,
}

/// Where one record stands with the head office, for lists and forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RecordSyncState {
    /// Its latest change waits to be sent (or for what it links to).
    Waiting,
    /// The head office has it as it is here.
    Sent,
    /// The head office refused its latest change (`message` says why).
    Parked,
    /// Changed on both sides; a person chooses (Master screen).
    Conflict,
    /// Not synced: its doctype does not go up, or no upstream is set.
    NotSynced,
}

/// One record's standing with the head office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordSync {
    pub name: String,
    pub state: RecordSyncState,
    /// The head office's words for a parked record.
    pub message: Option<String>,
    /// Its id at the head office, once it has it.
    pub remote_id: Option<String>,
}

/// Most records one `sync.records` call asks about.
pub const RECORDS_ASKED_MAX: usize = 1000;

/// The doctypes the worker syncs, as it wrote them when it started.
pub(crate) fn synced_doctypes(store: &Store) -> Vec<String> {
    store
        .sync_state("doctypes")
        .ok()
        .flatten()
        .map(|t| {
            t.split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Each named record's standing (in the order asked).
pub(crate) fn records(store: &Store, doctype: &str, names: &[String]) -> Result<Vec<RecordSync>> {
    if names.len() > RECORDS_ASKED_MAX {
        return Err(crate::error::StoreError::BadRequest(format!(
            "ask about at most {RECORDS_ASKED_MAX} records at once, not {}",
            names.len()
        )));
    }
    let synced =
        store.sync_state("kind")?.is_some() && synced_doctypes(store).iter().any(|d| d == doctype);
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if !synced {
            out.push(RecordSync {
                name: name.clone(),
                state: RecordSyncState::NotSynced,
                message: None,
                remote_id: None,
            });
            continue;
        }
        let remote_id = store.sync_link(doctype, name)?.map(|l| l.remote_id);
        let (state, message) = if store.sync_open_conflict(doctype, name)? {
            (RecordSyncState::Conflict, None)
        } else if store.outbox_waiting(doctype, name)? {
            (RecordSyncState::Waiting, None)
        } else if let Some(m) = store.outbox_parked_reason(doctype, name)? {
            (RecordSyncState::Parked, Some(m))
        } else if remote_id.is_some() {
            (RecordSyncState::Sent, None)
        } else {
            (RecordSyncState::NotSynced, None)
        };
        out.push(RecordSync {
            name: name.clone(),
            state,
            message,
            remote_id,
        });
    }
    Ok(out)
}

/// How many open conflicts [`SyncStatus::open_conflicts`] carries: the
/// Master screen lists them; more than a screenful is for `outpost sync
/// conflicts`.
pub const OPEN_CONFLICTS_SHOWN: usize = 100;

impl SyncStatus {
    /// No upstream, nothing counted: what a PC that is not (yet) a master
    /// shows.
    pub fn not_configured() -> SyncStatus {
        SyncStatus {
            configured: false,
            running: false,
            kind: None,
            url: None,
            link: LinkState::NotConfigured,
            hint: None,
            last_success: None,
            last_attempt: None,
            last_error: None,
            next_attempt: None,
            outbox_pending: 0,
            parked: 0,
            conflicts: 0,
            open_conflicts: vec![],
            bytes: SyncBytes::default(),
            doctypes: vec![],
        }
    }
}

/// Reads the status from the worker's state, the outbox and the conflicts
/// (the body of [`Store::sync_status`]).
pub(crate) fn read(store: &Store) -> Result<SyncStatus> {
    let counts = store.sync_counts()?;
    let synced = synced_doctypes(store);
    let doctypes = synced
        .iter()
        .map(|d| store.sync_doctype_counts(d))
        .collect::<Result<Vec<_>>>()?;
    let state = |k: &str| store.sync_state(k).ok().flatten().filter(|v| !v.is_empty());
    let running = store.sync_running();
    let configured = state("kind").is_some();
    let (link, hint) = if !configured {
        (LinkState::NotConfigured, None)
    } else if !running {
        (LinkState::Stopped, Some("no master is syncing".to_string()))
    } else {
        match state("link") {
            None => (LinkState::Starting, None),
            Some(word) => match LinkState::from_word(&word) {
                Some(LinkState::Refused) => {
                    (LinkState::Refused, Some("check user and password".into()))
                }
                Some(link) => (link, None),
                // Written by another version of Outpost: say what it wrote.
                None => (LinkState::Error, Some(word)),
            },
        }
    };
    Ok(SyncStatus {
        configured,
        running,
        kind: state("kind"),
        url: state("url"),
        link,
        hint,
        last_success: state("last_success"),
        last_attempt: state("last_attempt"),
        last_error: state("last_error"),
        next_attempt: state("next_attempt").filter(|_| running),
        // Only what goes up counts (a doctype the file does not sync keeps
        // its outbox for the day it does).
        outbox_pending: if synced.is_empty() {
            counts.pending
        } else {
            store.outbox_pending_in(&synced)?
        },
        parked: counts.parked,
        conflicts: counts.conflicts,
        open_conflicts: store
            .sync_conflicts(false)?
            .into_iter()
            .take(OPEN_CONFLICTS_SHOWN)
            .collect(),
        bytes: SyncBytes {
            sent_today: counts.sent_today,
            received_today: counts.received_today,
            sent_total: counts.sent_total,
            received_total: counts.received_total,
        },
        doctypes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_state_reads_back_from_its_word_and_serialises_as_it() {
        for s in LinkState::ALL {
            assert_eq!(LinkState::from_word(s.word()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.word());
        }
        assert_eq!(
            LinkState::from_word("refused (check user and password)"),
            None
        );
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn a_folder_without_upstream_is_not_configured_with_nothing_counted() {
        let (_dir, store) = store();
        let s = store.sync_status().unwrap();
        assert_eq!(s, SyncStatus::not_configured());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["link"], "not_configured");
        assert_eq!(v["hint"], serde_json::Value::Null);
        assert_eq!(v["bytes"]["sent_total"], 0);
    }

    #[test]
    fn a_configured_folder_without_a_worker_is_stopped_whatever_was_written() {
        let (_dir, store) = store();
        store
            .set_sync_state(&[("kind", "tryton"), ("link", LinkState::Up.word())])
            .unwrap();
        let s = store.sync_status().unwrap();
        assert!(s.configured && !s.running);
        assert_eq!(s.link, LinkState::Stopped);
        assert_eq!(s.hint.as_deref(), Some("no master is syncing"));
        assert_eq!(s.kind.as_deref(), Some("tryton"));
    }

    #[test]
    fn the_running_worker_s_word_is_the_link_with_its_hint() {
        let (_dir, store) = store();
        let _lock = store.try_sync_lock().unwrap().expect("the lock is free");
        store.set_sync_state(&[("kind", "erpnext")]).unwrap();
        assert_eq!(store.sync_status().unwrap().link, LinkState::Starting);
        store
            .set_sync_state(&[("link", LinkState::Refused.word())])
            .unwrap();
        let s = store.sync_status().unwrap();
        assert_eq!(s.link, LinkState::Refused);
        assert_eq!(s.hint.as_deref(), Some("check user and password"));
        store
            .set_sync_state(&[("link", "refused (check user and password)")])
            .unwrap();
        let s = store.sync_status().unwrap();
        assert_eq!(s.link, LinkState::Error);
        assert_eq!(s.hint.as_deref(), Some("refused (check user and password)"));
    }

    #[test]
    fn a_status_reads_back_from_its_json() {
        let s = SyncStatus::not_configured();
        let back: SyncStatus = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
