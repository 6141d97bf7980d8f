//! `print`: a record's document in one of its print formats, as PDF
//! (docs/print.md).

use serde::{Deserialize, Serialize};

/// Which record, in which format (`invoice`, `receipt`, or a site's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct PrintArgs {
    pub doctype: String,
    pub name: String,
    pub format: String,
}

/// Whose template printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// Shipped with Outpost.
    BuiltIn,
    /// The site's own file in the master's data folder.
    Site,
}

/// The answer: the PDF, base64 (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PrintAnswer {
    pub pdf_base64: String,
    /// The PDF's size in bytes (before base64).
    pub bytes: u64,
    /// A file name to save it under, e.g. `Sale-invoice-SO-0042.pdf`.
    pub file_name: String,
    pub template: TemplateKind,
}
