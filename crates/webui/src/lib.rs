//! The web UI compiled into the program (`ui/dist` at build time), so an
//! `outpost master` installed anywhere serves it to browsers on the LAN
//! without a `--ui` folder, and the desktop app needs no copy on disk.

use std::sync::Arc;

use outpost_link::web::{WebFile, WebFiles, WebRoot};

#[derive(rust_embed::Embed)]
#[folder = "../../ui/dist"]
struct Dist;

struct Built;

impl WebFiles for Built {
    fn file(&self, path: &str) -> Option<WebFile> {
        let file = Dist::get(path)?;
        let hash: String = file.metadata.sha256_hash()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(WebFile {
            mime: file.metadata.mimetype().to_string(),
            hash,
            body: match file.data {
                std::borrow::Cow::Borrowed(b) => bytes::Bytes::from_static(b),
                std::borrow::Cow::Owned(v) => bytes::Bytes::from(v),
            },
        })
    }
}

/// The UI built into this program; `None` when it was compiled without one
/// (`ui/dist` not built).
pub fn built() -> Option<WebRoot> {
    Dist::get("index.html").map(|_| WebRoot::Built(Arc::new(Built)))
}

/// How many files it holds and their size in bytes (for a log line).
pub fn size() -> (usize, usize) {
    Dist::iter()
        .filter_map(|p| Dist::get(&p))
        .fold((0, 0), |(n, b), f| (n + 1, b + f.data.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built after `npm --prefix ui run build` (as scripts/test does): the
    /// page, with its type and a hash, and nothing that is not a file.
    #[test]
    fn the_built_ui_holds_the_page_and_only_its_files() {
        let Some(WebRoot::Built(files)) = built() else {
            panic!("compiled without ui/dist: run npm --prefix ui run build first");
        };
        let page = files.file("index.html").expect("index.html");
        assert_eq!(page.mime, "text/html");
        assert_eq!(page.hash.len(), 32);
        assert!(String::from_utf8_lossy(&page.body).contains("<script"));
        assert!(files.file("../Cargo.toml").is_none());
        assert!(files.file("assets").is_none());
    }
}
