//! The master's document engine for the `print` op: `outpost-print`'s
//! typst [`Printer`] behind the api's [`Render`]. The fonts are indexed at
//! the first print, not at start (a master that never prints pays
//! nothing); a PC without fonts answers each print with what to install.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use outpost_api::print::{Render, Rendered};
use outpost_api::protocol::TemplateKind;
use outpost_api::{ApiError, ErrorCode};
use outpost_print::{PrintError, Printer, TemplateSource};

/// Renders prints for the data folder `data` (its `print/` folder holds
/// the site's templates).
pub struct PrintEngine {
    data: PathBuf,
    printer: OnceLock<Result<Printer, String>>,
}

impl PrintEngine {
    pub fn new(data: PathBuf) -> Arc<PrintEngine> {
        Arc::new(PrintEngine {
            data,
            printer: OnceLock::new(),
        })
    }

    fn printer(&self) -> Result<&Printer, ApiError> {
        self.printer
            .get_or_init(|| Printer::new(&self.data).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| ApiError::new(ErrorCode::Unavailable, message.clone()))
    }
}

impl Render for PrintEngine {
    fn render(&self, doctype: &str, format: &str, data: &[u8]) -> Result<Rendered, ApiError> {
        let printer = self.printer()?;
        let started = std::time::Instant::now();
        let source = printer.template(doctype, format).map_err(to_api)?.0;
        let pdf = printer.render(doctype, format, data).map_err(to_api)?;
        tracing::debug!(
            doctype,
            format,
            bytes = pdf.len(),
            ms = started.elapsed().as_millis() as u64,
            "printed"
        );
        Ok(Rendered {
            pdf,
            template: match source {
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
        PrintError::NoFonts { .. } => ApiError::new(ErrorCode::Unavailable, message),
        PrintError::Read { .. } | PrintError::Pdf { .. } => {
            ApiError::new(ErrorCode::Internal, message)
        }
    }
}
