//! The `print` op on the master: gathers the record, what it links to (a
//! sale's party, each line's product) and the office's name and address
//! into the JSON a template reads as `data.json`, and hands it to the
//! document engine behind [`Render`] (crate `outpost-print`, plugged in by
//! the node layer so this crate stays free of it). Runs on a read thread,
//! never on the async runtime.

use std::collections::BTreeMap;

use base64::Engine as _;
use outpost_store::{FieldType, Store, StoreError};
use serde_json::{json, Map, Value};

use crate::error::from_store;
use crate::protocol::{ApiError, ErrorCode, PrintAnswer, PrintArgs, TemplateKind};

/// Most child rows (all tables together) a printed record may have: a
/// bigger document is a report, not a print.
pub const MAX_PRINT_ROWS: usize = 5_000;
/// Most records a print may link to (each is read for its title).
pub const MAX_PRINT_LINKS: usize = 5_000;
/// Largest PDF answered: base64 makes it a third bigger, and the answer
/// must stay under the protocol's message limit.
pub const MAX_PDF_BYTES: usize = 4 * 1024 * 1024;
/// The `_meta` key holding the office's name (the master writes it).
pub const OFFICE_NAME_KEY: &str = "master_name";
/// The `_meta` key holding the office's postal address (several lines).
pub const OFFICE_ADDRESS_KEY: &str = "office_address";
/// Longest office address taken.
pub const MAX_OFFICE_ADDRESS: usize = 500;

/// The document engine.
pub trait Render: Send + Sync {
    /// The PDF of `doctype` in `format`, from `data` (the template's
    /// `data.json`). Called on a blocking thread.
    fn render(&self, doctype: &str, format: &str, data: &[u8]) -> Result<Rendered, ApiError>;

    /// The formats `doctype` prints in; cheap (no document is made).
    fn formats(&self, doctype: &str) -> Vec<String>;
}

/// A rendered document.
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub template: TemplateKind,
}

/// Checks an office address before it is stored.
pub fn check_office_address(address: &str) -> Result<String, ApiError> {
    let address = address.trim();
    if address.chars().count() > MAX_OFFICE_ADDRESS {
        return Err(ApiError::bad_request(format!(
            "the office address is {} characters; keep it under {MAX_OFFICE_ADDRESS}",
            address.chars().count()
        )));
    }
    Ok(address.replace("\r\n", "\n"))
}

/// Runs one `print` on `store` with `engine`.
pub fn print(store: &Store, engine: &dyn Render, args: &PrintArgs) -> Result<Value, ApiError> {
    let data = print_data(store, args)?;
    let bytes = serde_json::to_vec(&data).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("the print data could not be written: {e}"),
        )
    })?;
    let rendered = engine.render(&args.doctype, &args.format, &bytes)?;
    if rendered.pdf.len() > MAX_PDF_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "the PDF of {} {} is {} KiB, more than the limit of {} KiB; make the template smaller (fewer or smaller images)",
                args.doctype,
                args.name,
                rendered.pdf.len() / 1024,
                MAX_PDF_BYTES / 1024
            ),
        ));
    }
    let label = data["record"]["number"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(&args.name);
    let answer = PrintAnswer {
        pdf_base64: base64::engine::general_purpose::STANDARD.encode(&rendered.pdf),
        bytes: rendered.pdf.len() as u64,
        file_name: file_name(&format!("{}-{}-{label}", args.doctype, args.format)),
        template: rendered.template,
    };
    Ok(json!(answer))
}

/// What a template reads: `doctype`, `format`, `office` (`name`,
/// `address`), `record` (as `get` returns it), `links` (each linked
/// record's name to its `doctype`, `title` and `record`) and `printed`
/// (today, UTC, `YYYY-MM-DD`).
pub fn print_data(store: &Store, args: &PrintArgs) -> Result<Value, ApiError> {
    let schema = store.schema();
    let dt = schema.get(&args.doctype).map_err(from_store)?;
    if dt.child {
        return Err(ApiError::bad_request(format!(
            "{} rows are printed with the record they belong to, not on their own",
            args.doctype
        )));
    }
    let record = store.get(&args.doctype, &args.name).map_err(from_store)?;

    // Every link of the record and of its child rows: name -> doctype.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    let mut rows = 0usize;
    for field in &dt.fields {
        match (field.ty, &field.link, &field.table) {
            (FieldType::Link, Some(target), _) => {
                if let Some(name) = record[&field.name].as_str() {
                    wanted.insert(name.to_string(), target.clone());
                }
            }
            (FieldType::Table, _, Some(child)) => {
                let child = schema.get(child).map_err(from_store)?;
                let list = record[&field.name]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                rows += list.len();
                for row in list {
                    for f in child.fields.iter().filter(|f| f.ty == FieldType::Link) {
                        if let (Some(name), Some(target)) = (row[&f.name].as_str(), &f.link) {
                            wanted.insert(name.to_string(), target.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if rows > MAX_PRINT_ROWS || wanted.len() > MAX_PRINT_LINKS {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "{} {} has {rows} rows linking {} records; a print takes at most {MAX_PRINT_ROWS} rows and {MAX_PRINT_LINKS} links (export it as a sheet instead)",
                args.doctype,
                args.name,
                wanted.len()
            ),
        ));
    }

    let mut links = Map::new();
    for (name, target) in wanted {
        let linked = match store.get(&target, &name) {
            Ok(r) => r,
            // A link to a record deleted since: the template shows the name.
            Err(StoreError::NotFound { .. } | StoreError::Deleted { .. }) => continue,
            Err(e) => return Err(from_store(e)),
        };
        let title = schema
            .get(&target)
            .ok()
            .and_then(|t| t.title_field.as_ref())
            .and_then(|f| linked[f].as_str())
            .unwrap_or(&name)
            .to_string();
        links.insert(
            name,
            json!({"doctype": target, "title": title, "record": linked}),
        );
    }

    let meta = |key: &str| store.meta(key).map_err(from_store);
    let today = time::OffsetDateTime::now_utc().date();
    Ok(json!({
        "doctype": args.doctype,
        "format": args.format,
        "office": {
            "name": meta(OFFICE_NAME_KEY)?.unwrap_or_default(),
            "address": meta(OFFICE_ADDRESS_KEY)?.unwrap_or_default(),
        },
        "record": record,
        "links": links,
        "printed": format!("{:04}-{:02}-{:02}", today.year(), today.month() as u8, today.day()),
    }))
}

/// `text` as a file name anyone's file manager takes.
fn file_name(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    out.push_str(".pdf");
    out
}
