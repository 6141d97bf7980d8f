//! The office database: everything Outpost keeps, in one SQLite file.
//!
//! Parts:
//! - [`doctype`]: schemas (typed fields, required/unique/indexed/in_list,
//!   title field, computed fields) and the starter ERP set.
//! - [`migrate`]: brings tables in line with the doctypes at open and refuses
//!   changes that would lose data.
//! - [`values`]: field values between JSON and SQLite, strictly typed.
//! - [`record`]: reading records and validating and applying writes, each
//!   with its change-log (and outbox) entry in the same transaction.
//! - [`import`]: many rows from a spreadsheet in one transaction, each
//!   checked on its own, all-or-nothing or good rows only.
//! - [`query`]: the jIO-style text language and JSON filters, one AST, and
//!   the compiler to parameterised SQL over the doctype's own columns.
//! - [`backup`]: consistent backups (`VACUUM INTO`, checked), restore,
//!   the data folder's instance lock and the log of backups.
//! - [`devices`]: the devices a master knows (approved, revoked) and the
//!   small settings it shares with its helper commands.
//! - [`upstream`]: the sync worker's bookkeeping (links to remote records,
//!   cursors, conflicts, link state and byte counts) and the pulled-page
//!   write that moves a cursor in the transaction that applies the page.
//! - [`report`]: reports counted and added up in SQL (grouped by a field,
//!   a date by day, week or month; a child doctype joined to its parent),
//!   and the built-in reports as data.
//! - [`status`]: [`SyncStatus`], the sync as `outpost sync status` and the
//!   Master screen show it, with the [`LinkState`] enum and a separate hint
//!   in words.
//! - [`compact`]: what is kept only for a while (old change-log rows,
//!   tombstones the head office has, settled conflicts, request ids) and
//!   its removal in small batches from the writer thread.
//! - [`repl`]: replication to a standby master: snapshots, each write
//!   group's changeset from SQLite's session extension, numbered, and the
//!   standby's [`Replica`] that applies them in order.
//! - [`store`]: the [`Store`] handle: WAL with `synchronous=FULL`, opened
//!   with its three parts: `read` (the reader pool and the record, query and
//!   count reads), `writer` (the group-commit writer thread and idempotent
//!   request ids) and `feed` (the change feed tailing the change log).
//!
//! The store knows nothing of the network, async runtimes or UI: writers
//! get a callback when their write is durable, listeners get committed
//! changes.
//!
//! Feature `ts`: the serde types the UI reads also derive `ts_rs::TS`; the
//! TypeScript in `ui/src/lib/generated/` is made from them (a test in
//! `outpost-app` checks it is up to date).

pub mod backup;
pub mod compact;
pub mod devices;
pub mod doctype;
pub mod error;
mod feed;
pub mod history;
pub mod import;
pub mod migrate;
pub mod query;
mod read;
pub mod record;
pub mod repl;
pub mod report;
pub mod status;
pub mod store;
pub mod upstream;
pub mod users;
pub mod values;
pub mod write;
mod writer;

pub use compact::Compacted;
pub use devices::Device;
pub use doctype::{Doctype, Field, FieldType, Schema};
pub use error::{FieldProblem, Result, StoreError};
pub use feed::Change;
pub use history::{FieldChange, HistoryEntry};
pub use query::{QueryError, QuerySpec, SortKey};
pub use read::{DEFAULT_READ_DEADLINE, READERS};
pub use record::WriteCtx;
pub use repl::{Changeset, ReplEvent, Replica, SnapshotInfo};
pub use status::{DoctypeSync, LinkState, RecordSync, RecordSyncState, SyncBytes, SyncStatus};
pub use store::{Store, WriteOutcome, DB_FILE, DOCTYPES_DIR};
pub use upstream::{
    ChangeOp, Conflict, ConflictState, Keep, Link, OutboxEntry, OutboxState, Parked, Policy,
    PulledPage, PulledRecord, SyncCounts, Synced,
};
pub use users::{PasswordHash, SignIn, User};
pub use write::Write;
