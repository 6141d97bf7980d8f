//! Spreadsheets in and out (issue 15): the `import`, `export` and
//! `export.chunk` ops as `LocalDb` runs them on the master.
//!
//! - Import: the file travels in the request (at most [`MAX_IMPORT_BYTES`]),
//!   is read here, its columns mapped to fields ([`columns`]), and all its
//!   rows are stored by one write of the writer thread (one transaction,
//!   [`outpost_store::import`]). A dry run answers the same report and
//!   stores nothing: the preview a person checks before choosing.
//! - Export: the master streams the rows of one query statement (one
//!   snapshot, however many rows) into a temporary file ([`file`]), then
//!   hands it out in chunks to the device that asked ([`exports`]).

pub mod columns;
pub mod exports;
pub mod file;

use base64::Engine as _;
use outpost_store::import::{ImportJob, ImportMode, ImportRow, RowError};
use outpost_store::{StoreError, Write};
use serde::Serialize;
use serde_json::Value;

use crate::error::from_store;
use crate::local::LocalDb;
use crate::protocol::{ApiError, ErrorCode, ExportArgs, ExportChunkArgs, ImportArgs, Request};
pub use file::{SheetError, SheetFormat};

/// Largest file an import takes (it travels inside one request, whose
/// limit is 8 MiB once in base64).
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;
/// Most rows one import takes: one transaction holds the writer.
pub const MAX_IMPORT_ROWS: usize = 50_000;
/// Rows of the file the import's answer shows as its preview.
pub const PREVIEW_ROWS: usize = 10;
/// Row errors an answer lists (the count says how many there were).
pub const MAX_LISTED_ERRORS: usize = 200;

/// What an import did, or (a dry run) would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportReport {
    /// The file's header row.
    pub headers: Vec<String>,
    /// The field each column fills (`null`: skipped): as given, or guessed
    /// from the headers.
    pub columns: Vec<Option<String>>,
    /// The first rows of the file, as read.
    pub preview: Vec<Vec<Value>>,
    /// Data rows in the file (the header not counted).
    pub rows: u32,
    /// Rows stored; in a dry run, rows that would be.
    pub imported: u32,
    /// How many rows are bad (all of them, even past the listed ones).
    pub error_count: u32,
    /// The bad rows, by row number in the file (the header is row 1).
    pub errors: Vec<RowError>,
    /// Whether anything was stored.
    pub applied: bool,
}

impl From<SheetError> for ApiError {
    fn from(e: SheetError) -> ApiError {
        let code = match e {
            SheetError::TooManyRows { .. } => ErrorCode::TooLarge,
            SheetError::Write(_) => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

impl LocalDb {
    pub(crate) async fn import(&self, req: &Request, a: &ImportArgs) -> Result<Value, ApiError> {
        let schema = self.store().schema();
        let dt = schema.get(&a.doctype).map_err(from_store)?.clone();
        if dt.child {
            return Err(ApiError::bad_request(format!(
                "{} is a child table: import its rows into the parent's table (for example doctype Sale, table lines), each row naming its parent",
                dt.name
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.file.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("the file is not valid base64: {e}")))?;
        if bytes.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "the file is {} bytes, more than {MAX_IMPORT_BYTES}; split it into smaller files",
                    bytes.len()
                ),
            ));
        }
        let format = a.format;
        let sheet =
            tokio::task::spawn_blocking(move || file::read(format, &bytes, MAX_IMPORT_ROWS))
                .await
                .map_err(|e| {
                    ApiError::new(
                        ErrorCode::Internal,
                        format!("reading the file stopped: {e}"),
                    )
                })??;
        let targets = columns::targets(&schema, &dt, a.table.as_deref())?;
        let mapping = match &a.columns {
            Some(c) => c.clone(),
            None => columns::guess(&sheet.headers, &targets),
        };
        let mut report = ImportReport {
            headers: sheet.headers.clone(),
            columns: mapping.clone(),
            preview: sheet.rows.iter().take(PREVIEW_ROWS).cloned().collect(),
            rows: 0,
            imported: 0,
            error_count: 0,
            errors: Vec::new(),
            applied: false,
        };
        if let Err(e) = columns::check(&mapping, &sheet.headers, &targets) {
            if a.dry_run {
                // The preview still shows the file, so the mapping can be made.
                report.errors.push(RowError {
                    row: 1,
                    field: None,
                    message: e.message,
                });
                report.error_count = 1;
                return Ok(serde_json::to_value(report).unwrap_or(Value::Null));
            }
            return Err(e);
        }
        let mut errors = Vec::new();
        let mut rows = Vec::with_capacity(sheet.rows.len());
        for (i, cells) in sheet.rows.iter().enumerate() {
            if cells.iter().all(Value::is_null) {
                continue;
            }
            report.rows += 1;
            let row = i as u32 + 2;
            match columns::record(cells, &mapping, &targets) {
                Ok(record) => rows.push(ImportRow { row, record }),
                Err((field, message)) => errors.push(RowError {
                    row,
                    field,
                    message,
                }),
            }
        }
        let stop = a.mode == ImportMode::AllOrNothing && !errors.is_empty();
        let job = ImportJob {
            doctype: dt.name.clone(),
            table: a.table.clone(),
            rows,
            mode: a.mode,
            dry_run: a.dry_run || stop,
        };
        let outcome = self.write_store(req, Write::Import(Box::new(job))).await;
        match outcome {
            Ok(v) => {
                report.imported = v["imported"].as_u64().unwrap_or(0) as u32;
                let stored: Vec<RowError> =
                    serde_json::from_value(v["errors"].clone()).unwrap_or_default();
                errors.extend(stored);
                report.applied = true;
            }
            Err(StoreError::ImportStopped(out)) => {
                report.imported = if a.dry_run { out.imported } else { 0 };
                errors.extend(out.errors);
            }
            Err(e) => return Err(from_store(e)),
        }
        errors.sort_by_key(|e| e.row);
        report.error_count = errors.len() as u32;
        errors.truncate(MAX_LISTED_ERRORS);
        report.errors = errors;
        if !a.dry_run && !report.applied {
            let listed: Vec<String> = report
                .errors
                .iter()
                .take(5)
                .map(|e| format!("row {}: {}", e.row, e.message))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} of {} rows are not valid, so nothing was imported (all or nothing): {}{}",
                report.error_count,
                report.rows,
                listed.join("; "),
                if report.error_count > 5 { "; ..." } else { "" }
            ))
            .with_details(serde_json::json!({"reason": "import_stopped", "report": report})));
        }
        Ok(serde_json::to_value(report).unwrap_or(Value::Null))
    }

    pub(crate) async fn export(&self, a: &ExportArgs) -> Result<Value, ApiError> {
        exports::export(self, a).await
    }

    pub(crate) async fn export_chunk(&self, a: &ExportChunkArgs) -> Result<Value, ApiError> {
        exports::chunk(self, a).await
    }
}
