//! Print formats: a record's document (an A4 invoice, an 80 mm receipt
//! ...) as PDF, made by the typst document engine in a program of its own,
//! `outpost-print` (crate `outpost-print-engine`).
//!
//! This crate is what the master needs without the engine:
//! - which template prints a doctype in a format ([`template`]): the
//!   site's own (`DATA/print/DOCTYPE/FORMAT.typ`) wins over a built-in of
//!   the same name (`src/builtin/DOCTYPE/FORMAT.typ`);
//! - which formats a doctype has ([`formats`], a folder listing);
//! - [`PrintError`], what went wrong, each case with what to do;
//! - [`worker`]: the engine program's pipe protocol, and the
//!   [`PrintWorker`] that runs it, restarts it when it stops and stops a
//!   print that runs past its time.
//!
//! Why a program of its own: typst and what it pulls in are about a third
//! of the code and most of the read-only data of the desktop binary
//! (issue 17's size target), and a site template that loops, or an engine
//! that panics, then stops a print, never the master.

pub mod error;
pub mod worker;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::PrintError;
pub use worker::PrintWorker;

/// The site's folder of print templates, inside the data folder.
pub const SITE_DIR: &str = "print";
/// Longest format name taken.
const MAX_FORMAT_NAME: usize = 40;

/// The templates that ship with Outpost: (doctype, format, source).
const BUILTIN: &[(&str, &str, &str)] = &[
    ("Sale", "invoice", include_str!("builtin/Sale/invoice.typ")),
    ("Sale", "receipt", include_str!("builtin/Sale/receipt.typ")),
];

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// Shipped with Outpost.
    BuiltIn,
    /// The site's own file.
    Site(PathBuf),
}

/// Which template prints `doctype` in `format` with the site folder `site`
/// (`DATA/print`), and its text.
pub fn template(
    site: &Path,
    doctype: &str,
    format: &str,
) -> Result<(TemplateSource, String), PrintError> {
    check_doctype(doctype)?;
    check_format(format)?;
    let path = site.join(doctype).join(format!("{format}.typ"));
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok((TemplateSource::Site(path), text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(PrintError::Read {
                path,
                message: e.to_string(),
            })
        }
    }
    BUILTIN
        .iter()
        .find(|(d, f, _)| *d == doctype && *f == format)
        .map(|(_, _, text)| (TemplateSource::BuiltIn, text.to_string()))
        .ok_or_else(|| PrintError::UnknownFormat {
            doctype: doctype.to_string(),
            format: format.to_string(),
            available: formats_in(site, doctype),
        })
}

/// The formats `doctype` can be printed in with the data folder `data`:
/// the site's and the built-ins, sorted, each once. A site file whose name
/// starts with `_` is a part other templates import, not a format. Needs
/// no fonts and no engine (cheap: a folder listing).
pub fn formats(data: &Path, doctype: &str) -> Vec<String> {
    formats_in(&data.join(SITE_DIR), doctype)
}

fn formats_in(site: &Path, doctype: &str) -> Vec<String> {
    let mut out: Vec<String> = BUILTIN
        .iter()
        .filter(|(d, _, _)| *d == doctype)
        .map(|(_, f, _)| f.to_string())
        .collect();
    if check_doctype(doctype).is_ok() {
        if let Ok(entries) = std::fs::read_dir(site.join(doctype)) {
            for e in entries.flatten() {
                let path = e.path();
                let stem = path.file_stem().and_then(|s| s.to_str());
                let is_typ = path.extension().is_some_and(|x| x == "typ");
                if let (true, Some(stem)) = (is_typ, stem) {
                    if !stem.starts_with('_') && check_format(stem).is_ok() {
                        out.push(stem.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn check_format(format: &str) -> Result<(), PrintError> {
    let ok = !format.is_empty()
        && format.len() <= MAX_FORMAT_NAME
        && format
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PrintError::BadFormatName(format.chars().take(60).collect()))
    }
}

fn check_doctype(doctype: &str) -> Result<(), PrintError> {
    let ok =
        !doctype.is_empty() && !doctype.starts_with('.') && !doctype.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(PrintError::BadDoctypeName(
            doctype.chars().take(60).collect(),
        ))
    }
}
