//! Exported files waiting to be fetched: made by `export`, handed out by
//! `export.chunk` to the device (and person) that asked, removed once the
//! last chunk is read or after [`KEEP_FOR`]. At most [`MAX_WAITING`] wait
//! at once, so a stranger or a loop cannot fill the master's disk.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use outpost_store::import::PARENT_KEY;
use outpost_store::{Doctype, FieldType, Schema, StoreError};
use serde_json::{json, Value};

use super::file::SheetWriter;
use crate::error::from_store;
use crate::local::{query_spec, LocalDb};
use crate::protocol::{ApiError, ErrorCode, ExportArgs, ExportChunkArgs, QueryArgs};

/// Most rows one export writes (an XLSX sheet holds 1,048,576).
pub const MAX_EXPORT_ROWS: u64 = 1_000_000;
/// Longest one export's read may run (a normal read stops at 10 s).
pub const EXPORT_READ_LIMIT: Duration = Duration::from_secs(300);
/// Largest chunk one `export.chunk` answers (base64 makes it 4/3 larger,
/// well under the 8 MiB message limit).
pub const MAX_CHUNK: u64 = 1024 * 1024;
/// Exports that may wait to be fetched at once.
pub const MAX_WAITING: usize = 8;
/// How long an export waits to be fetched.
pub const KEEP_FOR: Duration = Duration::from_secs(600);

struct Waiting {
    file: tempfile::NamedTempFile,
    bytes: u64,
    device: String,
    user: Option<String>,
    made: Instant,
}

/// The exports of one store.
#[derive(Default)]
pub struct Exports {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl Exports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) async fn export(db: &LocalDb, a: &ExportArgs) -> Result<Value, ApiError> {
    {
        let mut waiting = db.exports().lock();
        waiting.retain(|_, w| w.made.elapsed() < KEEP_FOR);
        if waiting.len() >= MAX_WAITING {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "{MAX_WAITING} exports are waiting to be fetched; try again in a few minutes"
                ),
            ));
        }
    }
    let schema = db.store().schema();
    let dt = schema.get(&a.doctype).map_err(from_store)?.clone();
    let lines = match &a.table {
        Some(t) => Some(lines_of(&schema, &dt, t)?),
        None => None,
    };
    let fields: Vec<String> = match (&lines, &a.fields) {
        (Some(child), _) => std::iter::once(PARENT_KEY.to_string())
            .chain(
                child
                    .fields
                    .iter()
                    .filter(|f| f.ty != FieldType::Table)
                    .map(|f| f.name.clone()),
            )
            .collect(),
        (None, Some(f)) if !f.is_empty() => f.clone(),
        (None, _) => std::iter::once("name".to_string())
            .chain(
                dt.fields
                    .iter()
                    .filter(|f| f.ty != FieldType::Table)
                    .map(|f| f.name.clone()),
            )
            .collect(),
    };
    let spec = query_spec(&QueryArgs {
        doctype: a.doctype.clone(),
        query: a.query.clone(),
        filters: a.filters.clone(),
        fields: lines.is_none().then(|| fields.clone()),
        sort: a.sort.clone(),
        ..Default::default()
    })?;
    let file = tempfile::Builder::new()
        .prefix("outpost-export-")
        .suffix(&format!(".{}", a.format.extension()))
        .tempfile()
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot make a temporary file for the export: {e}"),
            )
        })?;
    let path = file.path().to_path_buf();
    let format = a.format;
    let doctype = a.doctype.clone();
    let table = a.table.clone();
    let rows = db
        .read(move |store| {
            let sheet_error = |e: super::file::SheetError| StoreError::BadRequest(e.to_string());
            let mut out = SheetWriter::create(format, &path, &fields).map_err(sheet_error)?;
            let mut cells = Vec::with_capacity(fields.len());
            let mut seen = 0u64;
            let mut count = || {
                seen += 1;
                if seen > MAX_EXPORT_ROWS {
                    return Err(StoreError::BadRequest(format!(
                        "the query matches more than the {MAX_EXPORT_ROWS} rows one export holds; narrow the filter"
                    )));
                }
                Ok(())
            };
            let n = match &table {
                None => store.query_each(&doctype, &spec, EXPORT_READ_LIMIT, |mut row| {
                    count()?;
                    cells.clear();
                    cells.extend(fields.iter().map(|f| row.remove(f).unwrap_or(Value::Null)));
                    out.row(&cells).map_err(sheet_error)
                }),
                Some(t) => store.query_lines_each(
                    &doctype,
                    &spec,
                    t,
                    EXPORT_READ_LIMIT,
                    |parent, mut line| {
                        count()?;
                        cells.clear();
                        cells.push(Value::String(parent.to_string()));
                        cells.extend(
                            fields[1..].iter().map(|f| line.remove(f).unwrap_or(Value::Null)),
                        );
                        out.row(&cells).map_err(sheet_error)
                    },
                ),
            }?;
            out.finish().map_err(sheet_error)?;
            Ok(n)
        })
        .await?;
    let bytes = file.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    let id = uuid::Uuid::now_v7().to_string();
    tracing::info!(rows, bytes, format = format.extension(), "export made");
    db.exports().lock().insert(
        id.clone(),
        Waiting {
            file,
            bytes,
            device: db.device().to_string(),
            user: db.user().map(str::to_string),
            made: Instant::now(),
        },
    );
    Ok(json!({
        "id": id,
        "rows": rows,
        "bytes": bytes,
        "file_name": match &a.table {
            Some(t) => format!("{} {t}.{}", a.doctype, a.format.extension()),
            None => format!("{}.{}", a.doctype, a.format.extension()),
        },
        "content_type": a.format.content_type(),
    }))
}

/// The child doctype of table field `table` of `dt`.
fn lines_of(schema: &Schema, dt: &Doctype, table: &str) -> Result<Doctype, ApiError> {
    dt.field(table)
        .filter(|f| f.ty == FieldType::Table)
        .and_then(|f| f.table.as_deref())
        .and_then(|child| schema.get(child).ok())
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("{} has no table field '{table}'", dt.name)))
}

pub(super) async fn chunk(db: &LocalDb, a: &ExportChunkArgs) -> Result<Value, ApiError> {
    let gone = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!(
                "export {} is not waiting here (it was fetched, it is older than {} minutes, or another device made it); export again",
                a.id,
                KEEP_FOR.as_secs() / 60
            ),
        )
    };
    let len = a.len.min(MAX_CHUNK);
    let mut file = {
        let waiting = db.exports().lock();
        let w = waiting.get(&a.id).ok_or_else(gone)?;
        if w.device != db.device() || w.user.as_deref() != db.user() {
            return Err(gone());
        }
        if a.offset > w.bytes {
            return Err(ApiError::bad_request(format!(
                "offset {} is past the end of the export ({} bytes)",
                a.offset, w.bytes
            )));
        }
        w.file.reopen().map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("cannot read the export: {e}"))
        })?
    };
    let offset = a.offset;
    let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        file.take(len).read_to_end(&mut buf)?;
        Ok(buf)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("reading the export stopped: {e}"),
        )
    })?
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot read the export: {e}")))?;
    let end = offset + data.len() as u64;
    let done = {
        let mut waiting = db.exports().lock();
        let done = waiting.get(&a.id).is_some_and(|w| end >= w.bytes);
        if done {
            waiting.remove(&a.id);
        }
        done
    };
    Ok(json!({
        "data": base64::engine::general_purpose::STANDARD.encode(&data),
        "offset": offset,
        "done": done,
    }))
}
