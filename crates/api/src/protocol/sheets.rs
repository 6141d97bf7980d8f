//! The arguments of the spreadsheet ops (issue 15): `import`, `export`,
//! `export.chunk`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::SortArg;
pub use crate::sheets::SheetFormat;
pub use outpost_store::import::ImportMode;

/// `import`: a CSV or XLSX file (base64) into `doctype`, or, with `table`,
/// into the lines of that table field (each row naming its parent in the
/// column mapped to `parent`). `columns` maps each column of the file to a
/// field (`null`: skip it); left out, it is guessed from the headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ImportArgs {
    pub doctype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub table: Option<String>,
    pub format: SheetFormat,
    /// The file's bytes in base64.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub columns: Option<Vec<Option<String>>>,
    pub mode: ImportMode,
    /// Check every row and store nothing (the preview).
    #[serde(default)]
    pub dry_run: bool,
}

/// `export`: every row of a query (the list's filter and sort, all pages)
/// into a file on the master; fetch it with `export.chunk`. With `table`,
/// the lines of that table field of the matching records instead, one row
/// per line with its parent's name first: the file a lines import takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    pub doctype: String,
    pub format: SheetFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub filters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sort: Option<SortArg>,
    /// Columns in order; left out: `name` and every field but tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub table: Option<String>,
}

/// `export.chunk`: up to `len` bytes (at most 1 MiB) of export `id` from
/// `offset`, in base64; the answer says when it was the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ExportChunkArgs {
    pub id: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub offset: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub len: u64,
}
