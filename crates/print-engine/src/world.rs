//! typst's view of one print: the template as the main file, the record's
//! data as `/data.json` beside it, the fonts, and (for a site template)
//! the other files of its folder, such as a logo. Nothing outside that
//! folder can be read, and there are no packages: a print never waits on
//! the network.

use std::path::PathBuf;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

use crate::fonts::Fonts;

/// The data file a template reads with `json("data.json")`.
pub const DATA_FILE: &str = "/data.json";

pub struct PrintWorld<'a> {
    pub library: &'a LazyHash<Library>,
    pub book: &'a LazyHash<FontBook>,
    pub fonts: &'a Fonts,
    pub main: Source,
    pub data: Bytes,
    /// The site template's folder; `None` for a built-in.
    pub root: Option<PathBuf>,
}

/// The file id of `path` (absolute within the template's folder).
pub fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("print world paths are plain absolute paths");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

impl PrintWorld<'_> {
    fn site_file(&self, id: FileId) -> FileResult<Vec<u8>> {
        if let VirtualRoot::Package(spec) = id.get().root() {
            return Err(FileError::Other(Some(
                format!("packages ({spec}) are not available to print templates: copy what you need into the template's folder").into(),
            )));
        }
        let Some(root) = &self.root else {
            return Err(FileError::NotFound(
                id.get().vpath().get_with_slash().into(),
            ));
        };
        let path = id.get().vpath().realize(root).map_err(FileError::Realize)?;
        std::fs::read(&path).map_err(|e| FileError::from_io(e, &path))
    }
}

impl World for PrintWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        let bytes = self.site_file(id)?;
        let text = String::from_utf8(bytes).map_err(|_| FileError::InvalidUtf8)?;
        Ok(Source::new(id, text))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        if id == file_id(DATA_FILE) {
            return Ok(self.data.clone());
        }
        self.site_file(id).map(Bytes::new)
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.font(index)
    }

    fn today(&self, offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        let hours = offset.map_or(0, |d| (d.seconds() / 3600.0) as i64);
        let now = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
        Datetime::from_ymd(now.year(), now.month() as u8, now.day())
    }
}
