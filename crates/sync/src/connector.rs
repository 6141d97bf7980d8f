//! What every upstream connector offers the sync worker, and how its
//! failures are classified so the worker knows what to do next.

use async_trait::async_trait;
use serde_json::{Map, Value};

/// What the worker does about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The link or the server is down or busy: back off and try again.
    Retryable,
    /// The session expired or was refused: log in again (once), then stop
    /// and tell a person if the credentials are wrong.
    Auth,
    /// The remote record changed since we read it: apply the conflict policy.
    Conflict,
    /// The remote refused the data (validation): park the entry with the
    /// message; it must not block the others.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyncError {
    pub class: ErrorClass,
    pub message: String,
}

impl SyncError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> SyncError {
        SyncError {
            class,
            message: message.into(),
        }
    }
}

/// Where a pull stopped: the last record's modification stamp and id, in
/// the remote's own terms (opaque to the worker, stored as text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The remote's stamp as it sorts (Tryton: `YYYY-MM-DD HH:MM:SS.ffffff`).
    pub stamp: Option<String>,
    /// The last record's id (ties between equal stamps).
    pub id: String,
}

/// A record as the remote has it, with its values in Outpost's field names.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRecord {
    /// The remote's id as text (Tryton's integer ids, Frappe's names).
    pub id: String,
    /// The remote's modification stamp (for the cursor).
    pub stamp: String,
    /// The remote's optimistic-lock token (Tryton's `_timestamp`), sent back
    /// with a write so a stale write fails as a conflict.
    pub version: Option<String>,
    pub active: bool,
    pub values: Map<String, Value>,
}

/// One page of remote changes, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<RemoteRecord>,
    /// The cursor after this page (the same as given when it is empty).
    pub next: Cursor,
}

impl Page {
    /// The page of `records` read after `from`: its cursor is the last
    /// record's stamp and id.
    pub fn after(records: Vec<RemoteRecord>, from: &Cursor) -> Page {
        let next = records
            .last()
            .map(|r| Cursor {
                stamp: Some(r.stamp.clone()),
                id: r.id.clone(),
            })
            .unwrap_or_else(|| from.clone());
        Page { records, next }
    }
}

/// A forwarded query's operator, lower case, if the remote takes it.
pub fn query_op(op: &str, allowed: &[&str]) -> Result<String, SyncError> {
    let op = op.to_ascii_lowercase();
    if allowed.contains(&op.as_str()) {
        return Ok(op);
    }
    Err(SyncError::new(
        ErrorClass::Rejected,
        format!(
            "the head office cannot be asked with the operator {op:?}; use one of {}",
            allowed.join(" ")
        ),
    ))
}

/// Bytes a connector sent and received on the uplink since it was made:
/// request and response bodies as they crossed (compressed) plus their
/// HTTP headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
}

/// One change to make on an existing remote record.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWrite {
    pub id: String,
    /// The version read with the record: a stale write fails as a conflict.
    pub version: Option<String>,
    /// Outpost field names; empty with `deactivate`.
    pub values: Map<String, Value>,
    /// Deactivate the remote record (the office deleted it).
    pub deactivate: bool,
    /// Activate the remote record again first (it was deactivated there
    /// and the office kept its own version).
    pub reactivate: bool,
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// Records of `doctype` changed after `after` (deactivated ones too),
    /// at most `limit`, oldest first.
    async fn pull(&self, doctype: &str, after: &Cursor, limit: u32) -> Result<Page, SyncError>;

    /// Creates `records` (Outpost field names) in one call, all or none;
    /// returns their remote ids in order.
    async fn create(
        &self,
        doctype: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<String>, SyncError>;

    /// Changes remote records in one call, all or none; one stale version
    /// fails the call with [`ErrorClass::Conflict`].
    async fn write(&self, doctype: &str, writes: &[RemoteWrite]) -> Result<(), SyncError>;

    /// The remote records with these ids (active or not; missing ones are
    /// left out).
    async fn read(&self, doctype: &str, ids: &[String]) -> Result<Vec<RemoteRecord>, SyncError>;

    /// The version tokens of these records (missing ones left out): what
    /// a push reads back after writing, without the values it just sent.
    async fn versions(
        &self,
        doctype: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Option<String>)>, SyncError> {
        Ok(self
            .read(doctype, ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r.version))
            .collect())
    }

    /// What a push of documents reads back: each record's version token and
    /// its rows' remote ids and sequence (`values[table]` rows with `id`
    /// and `sequence` only), not the values it just sent.
    async fn rows(&self, doctype: &str, ids: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        self.read(doctype, ids).await
    }

    /// The remote records whose key field (e.g. `code`) is one of `keys`,
    /// active or not: how a push whose answer was lost is found before a
    /// retry.
    async fn lookup(&self, doctype: &str, keys: &[String]) -> Result<Vec<RemoteRecord>, SyncError>;

    /// Every remote id of `doctype`, active or not (to notice deletions,
    /// which leave no trace in a pull).
    async fn ids(&self, doctype: &str) -> Result<Vec<String>, SyncError>;

    /// Runs a query on the remote for records the office does not keep:
    /// `filters` in the JSON filter form (`[["field", "op", value], ...]`,
    /// ANDed, Outpost field names), at most `limit` rows.
    async fn query(
        &self,
        doctype: &str,
        filters: &[(String, String, Value)],
        limit: u32,
    ) -> Result<Vec<RemoteRecord>, SyncError>;

    /// Runs the head office's workflow on documents the office confirmed
    /// or cancelled; records already there (or past it) are left alone, so
    /// asking twice does no harm. A refusal is [`ErrorClass::Rejected`]
    /// with the head office's words.
    async fn transition(
        &self,
        doctype: &str,
        ids: &[String],
        to: crate::config::Transition,
    ) -> Result<(), SyncError> {
        let _ = (ids, to);
        Err(SyncError::new(
            ErrorClass::Rejected,
            format!("this head office has no workflow for {doctype}"),
        ))
    }

    /// Signs in and says what the head office has (version, company, the
    /// mapped models): "Test connection" in Settings. See [`crate::probe`].
    async fn probe(&self) -> Result<crate::probe::Probe, SyncError> {
        Err(SyncError::new(
            ErrorClass::Rejected,
            "this head office cannot be tested from Outpost",
        ))
    }

    /// Bytes on the uplink so far.
    fn traffic(&self) -> Traffic;

    /// Most new records one `create` call takes.
    fn max_batch(&self) -> usize {
        usize::MAX
    }
}
