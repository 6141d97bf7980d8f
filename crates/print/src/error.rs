//! What can go wrong when printing, each case with what to do about it.
//! It crosses the engine program's pipe as JSON ([`crate::worker`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A failed print.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintError {
    /// No usable font on this PC: typst needs at least one.
    #[error(
        "no font found to print with (looked in {}); install the Debian package fonts-dejavu-core (or fonts-liberation2), or put .ttf/.otf files in {}",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        site_fonts.display()
    )]
    NoFonts {
        searched: Vec<PathBuf>,
        site_fonts: PathBuf,
    },
    /// The format's name could become a path: only plain names are taken.
    #[error("'{0}' is not a print format name; use letters, digits, '-' or '_' (at most 40), e.g. invoice")]
    BadFormatName(String),
    /// The doctype's name could become a path.
    #[error("'{0}' cannot name a folder of print formats")]
    BadDoctypeName(String),
    /// Neither the site nor the built-ins have this format.
    #[error(
        "{doctype} has no print format '{format}'; {}",
        available_list(available)
    )]
    UnknownFormat {
        doctype: String,
        format: String,
        available: Vec<String>,
    },
    /// The site's template could not be read.
    #[error("cannot read the print template {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The template does not compile: where, and what typst says.
    #[error("{file}:{line}:{column}: {message}")]
    Template {
        /// The template's path (a site file) or `built-in Sale/invoice.typ`.
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The document compiled but the PDF writer refused it.
    #[error("the PDF of {file} could not be written: {message}")]
    Pdf { file: String, message: String },
    /// The engine program could not be started, or stopped mid-print.
    #[error("the print engine failed: {0}")]
    Engine(String),
    /// The print ran past its time and the engine was stopped (a template
    /// that loops, most likely). The next print starts a new engine.
    #[error("the print of {file} took longer than {seconds} s and was stopped; if it is the site's template, look for a loop that never ends")]
    TooSlow { file: String, seconds: u64 },
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        "it has none: add a typst template under the data folder's print/ folder (docs/print.md)"
            .to_string()
    } else {
        format!("available: {}", available.join(", "))
    }
}
