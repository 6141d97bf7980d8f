//! The print engine: typst renders a template with a record's data to
//! PDF. It runs as its own program, `outpost-print` (`src/main.rs`), that
//! the master starts at its first print and talks to over pipes
//! (`outpost_print::worker`).
//!
//! - [`Printer`] holds what every print shares: typst's standard library,
//!   the fonts found on this PC ([`fonts`]), and where the site's
//!   templates are (`outpost_print::template` picks the template).
//! - [`world`] is typst's view of one print: the template, the record's
//!   data as `data.json` beside it, and the template's folder.
//!
//! `render` is synchronous and takes tens of milliseconds.

pub mod fonts;
pub mod world;

use std::path::{Path, PathBuf};

use outpost_print::{PrintError, TemplateSource, SITE_DIR};
use typst::diag::SourceDiagnostic;
use typst::foundations::Bytes;
use typst::syntax::Source;
use typst::text::FontBook;
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, WorldExt};
use typst_layout::PagedDocument;

use fonts::{Fonts, SYSTEM_FONT_DIRS};
use world::{file_id, PrintWorld};

/// Renders print formats to PDF. Made once per program and shared.
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

    /// Which template prints `doctype` in `format`, and its text.
    pub fn template(
        &self,
        doctype: &str,
        format: &str,
    ) -> Result<(TemplateSource, String), PrintError> {
        outpost_print::template(&self.site, doctype, format)
    }

    /// The PDF of `doctype` in `format`, with `data` (JSON) as the
    /// template's `data.json`, and the template that made it.
    pub fn render(
        &self,
        doctype: &str,
        format: &str,
        data: &[u8],
    ) -> Result<(TemplateSource, Vec<u8>), PrintError> {
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
        let pdf =
            typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|errors| {
                PrintError::Pdf {
                    file: label.clone(),
                    message: errors
                        .iter()
                        .map(|e| e.message.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                }
            })?;
        Ok((source, pdf))
    }
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
