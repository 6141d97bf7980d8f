//! The fonts typst may use: the site's own (`DATA/print/fonts`) and a few
//! system folders of the Debian font packages the `.deb` depends on. None
//! are embedded in the binary (a font set would cost megabytes of the
//! installed size). Each file is read once at start to learn its faces;
//! a face's bytes are loaded the first time a document uses it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use typst::foundations::Bytes;
use typst::text::{Font, FontBook, FontInfo};

/// Where Debian's font packages put the faces we look for first:
/// fonts-dejavu-core and fonts-liberation2 (fonts-liberation as a fallback).
pub const SYSTEM_FONT_DIRS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/liberation",
];

/// A font file holding more faces than this is skipped (a whole CJK
/// collection would hold memory for nothing).
const MAX_FONT_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// At most this many font files are indexed (a folder of thousands would
/// slow every start).
const MAX_FONT_FILES: usize = 400;

/// One face: where it is, and its bytes once loaded.
struct Slot {
    path: PathBuf,
    index: u32,
    font: OnceLock<Option<Font>>,
}

/// The fonts found, and typst's book of them.
pub struct Fonts {
    pub book: FontBook,
    slots: Vec<Slot>,
}

impl Fonts {
    /// Indexes the faces in `dirs` (in order: the first family found for a
    /// name wins). Empty when none are found.
    pub fn search(dirs: &[PathBuf]) -> Fonts {
        let mut fonts = Fonts {
            book: FontBook::new(),
            slots: Vec::new(),
        };
        let mut files = Vec::new();
        for dir in dirs {
            collect(dir, &mut files, 0);
        }
        files.truncate(MAX_FONT_FILES);
        for path in files {
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            for (index, info) in FontInfo::iter(&data).enumerate() {
                fonts.book.push(info);
                fonts.slots.push(Slot {
                    path: path.clone(),
                    index: index as u32,
                    font: OnceLock::new(),
                });
            }
        }
        fonts
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The face at `index` of the book, read from disk the first time.
    pub fn font(&self, index: usize) -> Option<Font> {
        let slot = self.slots.get(index)?;
        slot.font
            .get_or_init(|| {
                let data = std::fs::read(&slot.path).ok()?;
                Font::new(Bytes::new(data), slot.index)
            })
            .clone()
    }
}

/// Font files under `dir`, sorted so the same folder gives the same book.
fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() && depth < 2 {
            collect(&path, out, depth + 1);
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let is_font = matches!(ext.as_deref(), Some("ttf" | "otf" | "ttc" | "otc"));
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_FONT_FILE_BYTES);
        if is_font && small {
            out.push(path);
        }
    }
}
