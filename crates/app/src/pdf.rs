//! Save as PDF and Print in the desktop window (docs/print.md). The
//! window's WebKitGTK shows no PDF itself, and its print dialog prints the
//! page, not a document; so the window hands the master's PDF to the
//! desktop: Save as PDF writes it to the Downloads folder, and Print writes
//! it there too and opens it in the system's PDF viewer, whose Print… is
//! the system print dialog.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;

use crate::error::AppError;

/// Largest PDF taken from the window (the master's own limit is 4 MiB).
const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;

/// Where a PDF went.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SavedPdf {
    pub path: String,
    /// Whether the system's PDF viewer was started on it.
    pub opened: bool,
}

/// Writes `pdf_base64` as `file_name` in `folder` (a free name: `x.pdf`,
/// `x (2).pdf` ...), and opens it in the system's viewer when `open`.
pub fn save(
    folder: &Path,
    file_name: &str,
    pdf_base64: &str,
    open: bool,
) -> Result<SavedPdf, AppError> {
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(pdf_base64)
        .map_err(|e| AppError::BadInput(format!("the PDF is not valid base64: {e}")))?;
    if pdf.len() > MAX_PDF_BYTES || !pdf.starts_with(b"%PDF-") {
        return Err(AppError::BadInput(
            "that is not a PDF of at most 8 MiB".to_string(),
        ));
    }
    std::fs::create_dir_all(folder)?;
    let path = free_name(folder, file_name);
    std::fs::write(&path, &pdf)?;
    tracing::info!(path = %path.display(), bytes = pdf.len(), "PDF saved");
    let opened = open && open_in_viewer(&path);
    Ok(SavedPdf {
        path: path.display().to_string(),
        opened,
    })
}

/// The folder PDFs are saved in: the desktop's Downloads folder, else home.
pub fn downloads() -> PathBuf {
    dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
}

fn free_name(folder: &Path, file_name: &str) -> PathBuf {
    // Only a file name: nothing from the window chooses the folder.
    let base = Path::new(file_name)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .unwrap_or("outpost.pdf");
    let stem = base.strip_suffix(".pdf").unwrap_or(base);
    let mut path = folder.join(format!("{stem}.pdf"));
    let mut n = 2;
    while path.exists() {
        path = folder.join(format!("{stem} ({n}).pdf"));
        n += 1;
    }
    path
}

/// Starts the desktop's PDF viewer on `path` (`xdg-open`); `false` when
/// there is none (the file stays saved and the window says where).
fn open_in_viewer(path: &Path) -> bool {
    match std::process::Command::new("xdg-open").arg(path).spawn() {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "no PDF viewer could be started");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_is_saved_under_a_free_name_and_junk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7 test");
        let a = save(dir.path(), "Sale-invoice-SO-1.pdf", &pdf, false).unwrap();
        let b = save(dir.path(), "../../Sale-invoice-SO-1.pdf", &pdf, false).unwrap();
        assert!(a.path.ends_with("Sale-invoice-SO-1.pdf"), "{}", a.path);
        assert!(b.path.ends_with("Sale-invoice-SO-1 (2).pdf"), "{}", b.path);
        assert!(Path::new(&b.path).starts_with(dir.path()));
        let junk = base64::engine::general_purpose::STANDARD.encode(b"<html>");
        assert!(save(dir.path(), "x.pdf", &junk, false).is_err());
        assert!(save(dir.path(), "x.pdf", "not base64!", false).is_err());
    }
}
