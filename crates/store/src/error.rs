//! Typed errors of the store. Each says, in words a clerk can act on, what was
//! wrong; the api layer maps them to protocol error codes.

use serde_json::Value;

/// Why a field value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// The value has the wrong type for the field (text in an int field ...).
    WrongType,
    /// A required field is missing or empty.
    Missing,
    /// The record names a field the doctype does not have.
    Unknown,
    /// A link names a record that does not exist (or was deleted).
    BrokenLink,
    /// Another live record already holds this value of a unique field.
    Duplicate,
    /// A select value that is not one of the options.
    NotAnOption,
    /// The field cannot be written (a computed or system field).
    ReadOnly,
}

impl FieldProblem {
    /// Short machine-readable tag carried in error details.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldProblem::WrongType => "wrong_type",
            FieldProblem::Missing => "missing",
            FieldProblem::Unknown => "unknown_field",
            FieldProblem::BrokenLink => "broken_link",
            FieldProblem::Duplicate => "duplicate",
            FieldProblem::NotAnOption => "not_an_option",
            FieldProblem::ReadOnly => "read_only",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field value was refused; `message` names the field and says why.
    #[error("{message}")]
    Field {
        doctype: String,
        field: String,
        problem: FieldProblem,
        message: String,
    },

    /// The caller asked for something malformed (bad name, bad argument).
    #[error("{0}")]
    BadRequest(String),

    #[error("{doctype} {name} does not exist")]
    NotFound { doctype: String, name: String },

    /// The record exists only as a tombstone.
    #[error("{doctype} {name} was deleted")]
    Deleted { doctype: String, name: String },

    #[error("there is no doctype called '{0}'")]
    UnknownDoctype(String),

    /// `update`/`delete` carried a revision that is no longer current.
    #[error("{doctype} {name} was changed by {modified_by} meanwhile (you edited revision {yours}, it is now at revision {current_rev}); reload it and apply your change again")]
    Conflict {
        doctype: String,
        name: String,
        yours: i64,
        current_rev: i64,
        modified_by: String,
        /// The record as it is now, so the caller can show both versions.
        current: Box<Value>,
    },

    /// The record is still used by others, so deleting it would break links.
    #[error("{doctype} {name} is still used by {used_by_doctype} {used_by_name} (field {field}); change or delete that first")]
    InUse {
        doctype: String,
        name: String,
        used_by_doctype: String,
        used_by_name: String,
        field: String,
    },

    /// A query could not be read or refers to something that is not there.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),

    /// A schema change would lose data or is otherwise not allowed.
    #[error("schema change refused: {0}")]
    Migration(String),

    /// A doctype definition file is malformed.
    #[error("doctype definition {source_name}: {message}")]
    Definition {
        source_name: String,
        message: String,
    },

    /// The same request id was used before for a different call.
    #[error("request id {0} was already used for a different call; use a new id for a new call")]
    RequestIdReused(String),

    /// The database file is locked by another process for too long.
    #[error("the office database is busy ({0}); try again in a moment")]
    Busy(String),

    /// The transaction of a batch of writes could not be committed; none of
    /// its writes is stored.
    #[error("the office database could not save this change: {0}")]
    CommitFailed(String),

    /// A read ran longer than the store's read deadline and was stopped,
    /// so that it gives its reader back to the others.
    #[error("the query took longer than {} and was stopped; narrow the filter (a shorter date range, a field that is indexed) or ask for fewer rows, and try again", seconds(.limit))]
    TooSlow { limit: std::time::Duration },

    /// An import was checked and rolled back: a dry run, or an
    /// all-or-nothing import with bad rows (the outcome lists them).
    #[error("{} of the rows are not valid; nothing was imported", .0.errors.len())]
    ImportStopped(Box<crate::import::ImportOutcome>),

    /// The store is shutting down and takes no more writes.
    #[error("the office database is closing; try again in a moment")]
    Closed,

    /// The database file failed its check at open (or is not a database).
    #[error("the office database {} is damaged ({problem}); {advice}", path.display())]
    Damaged {
        path: std::path::PathBuf,
        problem: String,
        /// What to do: names the newest good backup when one is known.
        advice: String,
    },

    /// A file given to restore from is not a usable backup.
    #[error("{} is not a usable Outpost backup: {problem}", path.display())]
    BadBackup {
        path: std::path::PathBuf,
        problem: String,
    },

    /// A backup could not be written where it was to go.
    #[error("cannot write the backup to {}: {problem}; plug in the drive, or choose another folder", path.display())]
    BackupTarget {
        path: std::path::PathBuf,
        problem: String,
    },

    /// Another master (or a restore) holds the data folder.
    #[error("a master is already running on the data folder {} ({holder}); stop it first, or use another folder", dir.display())]
    FolderInUse {
        dir: std::path::PathBuf,
        holder: String,
    },

    /// The master no longer holds the changesets a standby asked for (they
    /// fell out of its in-memory log, the master restarted after a schema
    /// change, or another process wrote the file): the standby must start
    /// again from a snapshot.
    #[error("the master no longer holds the changes after number {after} (it can send those after {floor}); the standby needs a fresh copy of the office database")]
    SnapshotNeeded { after: u64, floor: u64 },

    /// A standby was sent a changeset whose number does not follow its own:
    /// changes were missed (or sent twice). Nothing was applied.
    #[error("the standby's copy is at change {have} and was sent change {got}; it needs the changes in order, or a fresh copy of the office database")]
    ReplicaGap { have: u64, got: u64 },

    /// A changeset did not apply cleanly on the standby: its copy differs
    /// from the master's (or the changeset is damaged). Nothing of it was
    /// applied; the standby takes no more changesets until it is made
    /// again from a snapshot.
    #[error("the standby's copy of the office database no longer matches the master's (change {seq}: {reason}); make the standby again from a fresh copy")]
    ReplicaDiverged { seq: u64, reason: String },

    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("cannot open the data folder: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub(crate) fn field(
        doctype: &str,
        field: &str,
        problem: FieldProblem,
        message: impl Into<String>,
    ) -> Self {
        StoreError::Field {
            doctype: doctype.to_string(),
            field: field.to_string(),
            problem,
            message: message.into(),
        }
    }
}

/// A deadline as a clerk reads it: "10 s", "1.5 s", "250 ms".
fn seconds(d: &std::time::Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", (d.as_millis() as f64 / 100.0).round() / 10.0)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
