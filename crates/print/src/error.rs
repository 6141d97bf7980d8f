//! What can go wrong when printing, each case with what to do about it.

use std::path::PathBuf;

/// A failed print.
#[derive(Debug, thiserror::Error)]
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
    #[error("cannot read the print template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
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
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        "it has none: add a typst template under the data folder's print/ folder (docs/print.md)"
            .to_string()
    } else {
        format!("available: {}", available.join(", "))
    }
}
