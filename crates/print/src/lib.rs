//! Print formats: a record's document (an A4 invoice, an 80 mm receipt
//! ...) as PDF, made by the typst document engine on the master.
//!
//! - [`Printer`] holds what every print shares: typst's standard library,
//!   the fonts found on this PC ([`fonts`]), the built-in templates
//!   (`src/builtin/DOCTYPE/FORMAT.typ`) and the site's folder of its own
//!   (`DATA/print/DOCTYPE/FORMAT.typ`, which wins over a built-in of the
//!   same name).
//! - [`world`] is typst's view of one print: the template, the record's
//!   data as `data.json` beside it, and the template's folder.
//! - [`PrintError`] says what went wrong; a template that does not compile
//!   is reported with its file, line and column.
//!
//! The engine lives in this crate alone so that a change anywhere else in
//! the workspace never rebuilds it. `render` is synchronous and takes tens
//! of milliseconds: callers run it off the async runtime.

pub mod error;
pub mod fonts;
pub mod world;

use std::path::{Path, PathBuf};

use typst::diag::SourceDiagnostic;
use typst::foundations::Bytes;
use typst::syntax::Source;
use typst::text::FontBook;
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, WorldExt};
use typst_layout::PagedDocument;

pub use error::PrintError;
use fonts::{Fonts, SYSTEM_FONT_DIRS};
use world::{file_id, PrintWorld};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Shipped with Outpost.
    BuiltIn,
    /// The site's own file.
    Site(PathBuf),
}

/// Renders print formats to PDF. Made once per process and shared.
pub struct Printer {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Fonts,
    /// `DATA/print`, where the site's templates live.
    site: PathBuf,
}

impl Printer {
    /// A printer for the data folder `data`: fonts from `DATA/print/fonts`
    /// then the Debian font packages'. Fails when no font is found at all.
    pub fn new(data: &Path) -> Result<Printer, PrintError> {
        let site = data.join(SITE_DIR);
        let site_fonts = site.join("fonts");
        let mut dirs = vec![site_fonts.clone()];
        dirs.extend(SYSTEM_FONT_DIRS.iter().map(PathBuf::from));
        let fonts = Fonts::search(&dirs);
        if fonts.is_empty() {
            return Err(PrintError::NoFonts {
                searched: dirs,
                site_fonts,
            });
        }
        Ok(Printer {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(fonts.book.clone()),
            fonts,
            site,
        })
    }

    /// The formats `doctype` can be printed in (see [`formats`]).
    pub fn formats(&self, doctype: &str) -> Vec<String> {
        formats_in(&self.site, doctype)
    }

    /// Which template prints `doctype` in `format`, and its text.
    pub fn template(
        &self,
        doctype: &str,
        format: &str,
    ) -> Result<(TemplateSource, String), PrintError> {
        check_doctype(doctype)?;
        check_format(format)?;
        let path = self.site.join(doctype).join(format!("{format}.typ"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((TemplateSource::Site(path), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(PrintError::Read { path, source }),
        }
        BUILTIN
            .iter()
            .find(|(d, f, _)| *d == doctype && *f == format)
            .map(|(_, _, text)| (TemplateSource::BuiltIn, text.to_string()))
            .ok_or_else(|| PrintError::UnknownFormat {
                doctype: doctype.to_string(),
                format: format.to_string(),
                available: self.formats(doctype),
            })
    }

    /// The PDF of `doctype` in `format`, with `data` (JSON) as the
    /// template's `data.json`.
    pub fn render(&self, doctype: &str, format: &str, data: &[u8]) -> Result<Vec<u8>, PrintError> {
        let (source, text) = self.template(doctype, format)?;
        let (label, root) = match &source {
            TemplateSource::BuiltIn => (format!("built-in {doctype}/{format}.typ"), None),
            TemplateSource::Site(path) => (
                path.display().to_string(),
                path.parent().map(Path::to_path_buf),
            ),
        };
        let world = PrintWorld {
            library: &self.library,
            book: &self.book,
            fonts: &self.fonts,
            main: Source::new(file_id(&format!("/{format}.typ")), text),
            data: Bytes::new(data.to_vec()),
            root,
        };
        let compiled = typst::compile::<PagedDocument>(&world).output;
        // typst memoises across compiles; keep only what recent prints used.
        typst::comemo::evict(10);
        let document = compiled.map_err(|errors| located(&world, &label, &errors))?;
        typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|errors| {
            PrintError::Pdf {
                file: label.clone(),
                message: errors
                    .iter()
                    .map(|e| e.message.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
    }
}

/// The formats `doctype` can be printed in with the data folder `data`:
/// the site's and the built-ins, sorted, each once. A site file whose name
/// starts with `_` is a part other templates import, not a format. Needs
/// no fonts (cheap: a folder listing).
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

/// The first error, at its file, line and column (1-based).
fn located(world: &PrintWorld, label: &str, errors: &[SourceDiagnostic]) -> PrintError {
    use typst::World;
    let Some(first) = errors.first() else {
        return PrintError::Template {
            file: label.to_string(),
            line: 0,
            column: 0,
            message: "typst reported a failure without a message".into(),
        };
    };
    let mut message = first.message.to_string();
    for hint in &first.hints {
        message.push_str(&format!(" (hint: {})", hint.v));
    }
    // An error inside a file the template includes is reported there.
    let (file, line, column) = match first.span.id() {
        Some(id) => {
            let at = world
                .source(id)
                .ok()
                .zip(world.range(first.span))
                .and_then(|(src, range)| src.lines().byte_to_line_column(range.start));
            let file = if id == world.main() {
                label.to_string()
            } else {
                match &world.root {
                    Some(root) => root
                        .join(id.get().vpath().get_with_slash().trim_start_matches('/'))
                        .display()
                        .to_string(),
                    None => id.get().vpath().get_with_slash().to_string(),
                }
            };
            let (l, c) = at.map_or((0, 0), |(l, c)| (l + 1, c + 1));
            (file, l, c)
        }
        None => (label.to_string(), 0, 0),
    };
    PrintError::Template {
        file,
        line,
        column,
        message,
    }
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
