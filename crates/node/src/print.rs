//! The master's document engine for the `print` op: the engine program
//! (`outpost-print`, typst) behind the api's [`Render`], through
//! `outpost_print`'s [`PrintWorker`]. The program starts at the first
//! print, not at start (a master that never prints pays nothing), and
//! indexes the fonts then; a PC without fonts answers each print with what
//! to install. Prints go to it one at a time.

use std::path::PathBuf;
use std::sync::Arc;

use outpost_api::print::{Render, Rendered};
use outpost_api::protocol::TemplateKind;
use outpost_api::{ApiError, ErrorCode};
use outpost_print::{PrintError, PrintWorker, TemplateSource};

/// Renders prints for the data folder `data` (its `print/` folder holds
/// the site's templates).
pub struct PrintEngine {
    data: PathBuf,
    worker: PrintWorker,
}

impl PrintEngine {
    pub fn new(data: PathBuf) -> Arc<PrintEngine> {
        Arc::new(PrintEngine {
            worker: PrintWorker::new(data.clone()),
            data,
        })
    }
}

impl Render for PrintEngine {
    fn render(&self, doctype: &str, format: &str, data: &[u8]) -> Result<Rendered, ApiError> {
        let started = std::time::Instant::now();
        let printed = self.worker.render(doctype, format, data).map_err(to_api)?;
        tracing::debug!(
            doctype,
            format,
            bytes = printed.pdf.len(),
            ms = started.elapsed().as_millis() as u64,
            "printed"
        );
        Ok(Rendered {
            pdf: printed.pdf,
            template: match printed.template {
                TemplateSource::BuiltIn => TemplateKind::BuiltIn,
                TemplateSource::Site(_) => TemplateKind::Site,
            },
        })
    }

    fn formats(&self, doctype: &str) -> Vec<String> {
        outpost_print::formats(&self.data, doctype)
    }
}

/// A print failure as the protocol says it: a template error is the
/// site's to fix (`bad_request`, with its file and line in the details).
fn to_api(e: PrintError) -> ApiError {
    let message = e.to_string();
    match e {
        PrintError::Template {
            file, line, column, ..
        } => ApiError::bad_request(format!("the print template does not work: {message}"))
            .with_details(serde_json::json!({
                "reason": "template", "file": file, "line": line, "column": column
            })),
        PrintError::UnknownFormat {
            doctype, available, ..
        } => ApiError::new(ErrorCode::NotFound, message).with_details(serde_json::json!({
            "reason": "unknown_format", "doctype": doctype, "available": available
        })),
        PrintError::BadFormatName(_) | PrintError::BadDoctypeName(_) => {
            ApiError::bad_request(message)
        }
        PrintError::NoFonts { .. } | PrintError::Engine(_) => {
            ApiError::new(ErrorCode::Unavailable, message)
        }
        PrintError::TooSlow { file, seconds } => ApiError::new(ErrorCode::Unavailable, message)
            .with_details(serde_json::json!({
                "reason": "too_slow", "file": file, "seconds": seconds
            })),
        PrintError::Read { .. } | PrintError::Pdf { .. } => {
            ApiError::new(ErrorCode::Internal, message)
        }
    }
}
