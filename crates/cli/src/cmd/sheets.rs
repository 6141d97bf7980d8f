//! `outpost db import` and `outpost db export` with CSV and XLSX files
//! (issue 15): the file is read and made on the master (the `import` and
//! `export` ops); this side only carries its bytes.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use outpost_api::protocol::{ExportArgs, ExportChunkArgs, ImportArgs, ImportMode};
use outpost_api::sheets::{SheetFormat, MAX_IMPORT_BYTES};
use outpost_api::{ApiError, Db, ErrorCode, Op};
use serde_json::json;

use crate::output::{print_json, CliError};

/// Bytes asked per `export.chunk`.
const CHUNK: u64 = 1024 * 1024;

/// The format named by `--format`, else by the file's extension; `None`
/// for JSON lines.
pub fn format_of(flag: Option<&str>, file: Option<&Path>) -> Result<Option<SheetFormat>, CliError> {
    Ok(match flag {
        Some("csv") => Some(SheetFormat::Csv),
        Some("xlsx") => Some(SheetFormat::Xlsx),
        Some(_) => None,
        None => file.and_then(SheetFormat::of_path),
    })
}

pub struct ImportOpts {
    pub doctype: String,
    pub table: Option<String>,
    pub format: SheetFormat,
    pub good_rows: bool,
    pub dry_run: bool,
}

/// Sends the file in one `import` call; prints the report. Bad rows make
/// the command fail, naming each row, unless `--good-rows` kept the rest.
pub async fn import(db: &dyn Db, o: ImportOpts, file: &Path) -> Result<(), CliError> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "{} is {} bytes; one import takes at most {MAX_IMPORT_BYTES}: split it into smaller files",
                file.display(),
                bytes.len()
            ),
        )
        .into());
    }
    let args = ImportArgs {
        doctype: o.doctype,
        table: o.table,
        format: o.format,
        file: base64::engine::general_purpose::STANDARD.encode(&bytes),
        columns: None,
        mode: if o.good_rows {
            ImportMode::GoodRows
        } else {
            ImportMode::AllOrNothing
        },
        dry_run: o.dry_run,
    };
    let mut report = db.run(Op::Import(args)).await?;
    if let Some(m) = report.as_object_mut() {
        m.remove("preview");
    }
    print_json(&report);
    if o.dry_run && report["error_count"].as_u64().unwrap_or(0) > 0 {
        let rows: Vec<String> = report["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("row {}: {}", e["row"], e["message"].as_str().unwrap_or("")))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{} rows are not valid: {}",
            report["error_count"],
            rows.join("; ")
        ))
        .into());
    }
    Ok(())
}

/// Has the master write the file, then fetches it in chunks into `out`
/// (or stdout).
pub async fn export(db: &dyn Db, args: ExportArgs, out: Option<&Path>) -> Result<(), CliError> {
    if args.format == SheetFormat::Xlsx && out.is_none() {
        return Err(
            ApiError::bad_request("an XLSX export needs a file to go to: --out FILE.xlsx").into(),
        );
    }
    let made = db.run(Op::Export(args)).await?;
    let id = made["id"].as_str().unwrap_or_default().to_string();
    let mut sink: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut offset = 0u64;
    loop {
        let part = db
            .run(Op::ExportChunk(ExportChunkArgs {
                id: id.clone(),
                offset,
                len: CHUNK,
            }))
            .await?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(part["data"].as_str().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("the master sent a bad chunk: {e}")))?;
        sink.write_all(&data).context("cannot write the export")?;
        offset += data.len() as u64;
        if part["done"].as_bool() == Some(true) {
            break;
        }
        if data.is_empty() {
            return Err(anyhow::anyhow!("the export ended early at byte {offset}").into());
        }
    }
    sink.flush().context("cannot write the export")?;
    drop(sink);
    if out.is_some() {
        print_json(
            &json!({"rows": made["rows"], "bytes": offset, "file": out.map(|p| p.display().to_string())}),
        );
    }
    Ok(())
}
