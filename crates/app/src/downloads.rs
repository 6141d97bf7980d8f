//! Files the desktop window saves into the Downloads folder: the master's
//! PDFs (Save as PDF and Print, docs/print.md) and spreadsheet exports
//! (docs/sheets.md). The window's WebKitGTK shows no PDF itself, its print
//! dialog prints the page, not a document, and it has no download bar; so
//! the window hands the bytes to the desktop: they are written under a free
//! name in Downloads, and (Print) the PDF opens in the system's PDF viewer,
//! whose Print… is the system print dialog.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;

use crate::error::AppError;

/// Largest PDF taken from the window (the master's own limit is 4 MiB).
const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;
/// Largest export taken from the window (a million rows of a wide doctype).
const MAX_SHEET_BYTES: usize = 512 * 1024 * 1024;

/// Where a file went.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SavedFile {
    pub path: String,
    /// Whether the system's viewer was started on it.
    pub opened: bool,
}

/// Writes `pdf_base64` as `file_name` in `folder` (a free name: `x.pdf`,
/// `x (2).pdf` ...), and opens it in the system's viewer when `open`.
pub fn save_pdf(
    folder: &Path,
    file_name: &str,
    pdf_base64: &str,
    open: bool,
) -> Result<SavedFile, AppError> {
    let pdf = decode(pdf_base64, "PDF")?;
    if pdf.len() > MAX_PDF_BYTES || !pdf.starts_with(b"%PDF-") {
        return Err(AppError::BadInput(
            "that is not a PDF of at most 8 MiB".to_string(),
        ));
    }
    let path = write_free(folder, file_name, "pdf", &pdf)?;
    let opened = open && open_in_viewer(&path);
    Ok(SavedFile {
        path: path.display().to_string(),
        opened,
    })
}

/// Writes an export (`data_base64`, a CSV or an XLSX as `file_name`
/// says) in `folder` under a free name.
pub fn save_sheet(
    folder: &Path,
    file_name: &str,
    data_base64: &str,
) -> Result<SavedFile, AppError> {
    let ext = match file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
    {
        Some(e) if e == "csv" || e == "xlsx" => e,
        _ => {
            return Err(AppError::BadInput(format!(
                "“{file_name}” is not a .csv or .xlsx file name"
            )))
        }
    };
    let data = decode(data_base64, "export")?;
    if data.len() > MAX_SHEET_BYTES || (ext == "xlsx" && !data.starts_with(b"PK")) {
        return Err(AppError::BadInput(format!(
            "that is not a {} of at most 512 MiB",
            ext.to_uppercase()
        )));
    }
    let path = write_free(folder, file_name, &ext, &data)?;
    Ok(SavedFile {
        path: path.display().to_string(),
        opened: false,
    })
}

fn decode(text: &str, what: &str) -> Result<Vec<u8>, AppError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| AppError::BadInput(format!("the {what} is not valid base64: {e}")))
}

fn write_free(
    folder: &Path,
    file_name: &str,
    ext: &str,
    bytes: &[u8],
) -> Result<PathBuf, AppError> {
    std::fs::create_dir_all(folder)?;
    let path = free_name(folder, file_name, ext);
    std::fs::write(&path, bytes)?;
    tracing::info!(path = %path.display(), bytes = bytes.len(), "file saved");
    Ok(path)
}

/// The folder files are saved in: the desktop's Downloads folder, else home.
pub fn folder() -> PathBuf {
    dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
}

fn free_name(folder: &Path, file_name: &str, ext: &str) -> PathBuf {
    // Only a file name: nothing from the window chooses the folder.
    let fallback = format!("outpost.{ext}");
    let base = Path::new(file_name)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .unwrap_or(&fallback);
    let suffix = format!(".{ext}");
    let stem = base
        .len()
        .checked_sub(suffix.len())
        .filter(|&at| base.is_char_boundary(at) && base[at..].eq_ignore_ascii_case(&suffix))
        .map_or(base, |at| &base[..at]);
    let mut path = folder.join(format!("{stem}{suffix}"));
    let mut n = 2;
    while path.exists() {
        path = folder.join(format!("{stem} ({n}){suffix}"));
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
        let a = save_pdf(dir.path(), "Sale-invoice-SO-1.pdf", &pdf, false).unwrap();
        let b = save_pdf(dir.path(), "../../Sale-invoice-SO-1.pdf", &pdf, false).unwrap();
        assert!(a.path.ends_with("Sale-invoice-SO-1.pdf"), "{}", a.path);
        assert!(b.path.ends_with("Sale-invoice-SO-1 (2).pdf"), "{}", b.path);
        assert!(Path::new(&b.path).starts_with(dir.path()));
        let junk = base64::engine::general_purpose::STANDARD.encode(b"<html>");
        assert!(save_pdf(dir.path(), "x.pdf", &junk, false).is_err());
        assert!(save_pdf(dir.path(), "x.pdf", "not base64!", false).is_err());
    }

    #[test]
    fn an_export_is_saved_as_csv_or_xlsx_only() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let csv = save_sheet(dir.path(), "Sale lines.csv", &b64(b"parent,product\n")).unwrap();
        let again = save_sheet(dir.path(), "Sale lines.CSV", &b64(b"parent\n")).unwrap();
        assert!(csv.path.ends_with("Sale lines.csv"), "{}", csv.path);
        assert!(again.path.ends_with("Sale lines (2).csv"), "{}", again.path);
        let xlsx = save_sheet(dir.path(), "/etc/Party.xlsx", &b64(b"PK\x03\x04")).unwrap();
        assert!(
            Path::new(&xlsx.path).starts_with(dir.path()),
            "{}",
            xlsx.path
        );
        let e = save_sheet(dir.path(), "Party.exe", &b64(b"MZ")).unwrap_err();
        assert!(e.to_string().contains(".csv or .xlsx"), "{e}");
        assert!(save_sheet(dir.path(), "Party.xlsx", &b64(b"<html>")).is_err());
    }
}
