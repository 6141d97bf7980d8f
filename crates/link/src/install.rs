//! The packages a master carries for the office's other PCs (issue 17): a
//! folder of `.deb` files (`outpost master --packages DIR`), listed at
//! [`INSTALL_PATH`] with each one's version, size and SHA-256 and a
//! one-line install command, and downloadable from there. Nothing comes
//! from the internet: a new PC on the LAN gets Outpost from its master.
//!
//! Only files whose names look like a Debian package (`NAME_VERSION_ARCH.deb`,
//! letters, digits and `._+~-`) are listed and served; nothing else in the
//! folder, and nothing outside it, can be read. Hashes are kept while a
//! file's size and modification time stay the same.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where the list is served (an HTML page; `packages.json` beside it).
pub const INSTALL_PATH: &str = "/install/";
/// The list as JSON, for scripts and the desktop app.
pub const PACKAGES_JSON: &str = "packages.json";

/// One package on the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Its file name, as served under [`INSTALL_PATH`].
    pub file: String,
    /// The package's name, version and architecture, from its file name.
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
}

/// The master's packages folder.
#[derive(Debug)]
pub struct Shelf {
    dir: PathBuf,
    /// Hashes already made: file name → (size, modified, package).
    seen: Mutex<HashMap<String, (u64, SystemTime, Package)>>,
}

impl Shelf {
    pub fn new(dir: impl Into<PathBuf>) -> Shelf {
        Shelf {
            dir: dir.into(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The packages in the folder now, by name then version (blocking: it
    /// reads the folder, and hashes files it has not seen). A folder that
    /// does not exist holds none.
    pub fn list(&self) -> Vec<Package> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(file) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some((name, version, arch)) = parse_name(&file) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let (size, modified) = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            let known = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&file)
                .filter(|(s, m, _)| *s == size && *m == modified)
                .map(|(_, _, p)| p.clone());
            let package = match known {
                Some(p) => p,
                None => {
                    let Ok(sha256) = sha256_of(&entry.path()) else {
                        continue;
                    };
                    let p = Package {
                        file: file.clone(),
                        name,
                        version,
                        arch,
                        size,
                        sha256,
                    };
                    self.seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(file, (size, modified, p.clone()));
                    p
                }
            };
            out.push(package);
        }
        out.sort_by(|a, b| (&a.name, &a.version, &a.file).cmp(&(&b.name, &b.version, &b.file)));
        out
    }

    /// The path of a listed package, by its file name; `None` for any
    /// other name.
    pub fn path_of(&self, file: &str) -> Option<PathBuf> {
        parse_name(file)?;
        let path = self.dir.join(file);
        path.is_file().then_some(path)
    }
}

/// `NAME_VERSION_ARCH.deb` → (name, version, arch); `None` for any other
/// name (no path separators, no leading dot, a safe set of characters).
pub fn parse_name(file: &str) -> Option<(String, String, String)> {
    let stem = file.strip_suffix(".deb")?;
    let safe = |c: char| c.is_ascii_alphanumeric() || "._+~-".contains(c);
    if file.len() > 200 || file.starts_with('.') || !stem.chars().all(|c| safe(c) || c == '_') {
        return None;
    }
    let mut parts = stem.split('_');
    let (name, version, arch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name.is_empty() || version.is_empty() || arch.is_empty() {
        return None;
    }
    Some((name.to_string(), version.to_string(), arch.to_string()))
}

/// SHA-256 of a file, in lowercase hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(crate::code::hex(&hash.finalize()))
}

/// The one-line terminal command that installs `p` from the master at
/// `host` (`host:port`): download, check the SHA-256, install.
pub fn install_command(host: &str, p: &Package) -> String {
    format!(
        "curl -fO http://{host}{INSTALL_PATH}{file} && echo '{sha}  {file}' | sha256sum -c && sudo apt install ./{file}",
        file = p.file,
        sha = p.sha256
    )
}

/// The install page: what this master carries, for a person at a new PC.
pub fn page(office: &str, host: &str, packages: &[Package]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut rows = String::new();
    for p in packages {
        rows.push_str(&format!(
            "<section class=\"pkg\" data-file=\"{file}\"><h2><a href=\"{file}\" download>{file}</a></h2>\
             <dl><dt>Version</dt><dd class=\"version\">{version}</dd>\
             <dt>Size</dt><dd>{mib:.1} MiB ({size} bytes)</dd>\
             <dt>SHA-256</dt><dd><code class=\"sha\">{sha}</code></dd></dl>\
             <p>In a terminal on the new PC:</p><pre class=\"cmd\">{cmd}</pre></section>\n",
            file = esc(&p.file),
            version = esc(&p.version),
            mib = p.size as f64 / (1024.0 * 1024.0),
            size = p.size,
            sha = esc(&p.sha256),
            cmd = esc(&install_command(host, p)),
        ));
    }
    if packages.is_empty() {
        rows.push_str(
            "<p class=\"none\">This master carries no packages yet. Whoever runs it puts Outpost's <code>.deb</code> in its packages folder (<code>outpost master --packages DIR</code>).</p>\n",
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Install Outpost from {office}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1f2937}}\
         .pkg{{border:1px solid #d1d5db;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}}dt{{font-weight:600}}dd{{margin:0 0 .4rem}}\
         pre{{background:#f3f4f6;padding:.6rem;white-space:pre-wrap;word-break:break-all}}code{{word-break:break-all}}</style></head>\
         <body><h1>Install Outpost on another PC</h1>\
         <p>These packages come from the master <strong>{office}</strong> on this network; nothing is downloaded from the internet. \
         Check the SHA-256 before installing (the command below does). Then open Outpost on the new PC and connect it to this master.</p>\n\
         {rows}<p><a href=\"{json}\">{json}</a> lists the same as JSON.</p></body></html>\n",
        office = esc(office),
        json = PACKAGES_JSON,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debian_package_names_are_on_the_shelf() {
        assert_eq!(
            parse_name("Outpost_0.1.0_amd64.deb"),
            Some(("Outpost".into(), "0.1.0".into(), "amd64".into()))
        );
        for bad in [
            "Outpost.deb",
            "../Outpost_0.1.0_amd64.deb",
            "a/b_1_amd64.deb",
            ".hidden_1_amd64.deb",
            "Outpost_0.1.0_amd64.tar",
            "x_1_2_3.deb",
            "x__amd64.deb",
            "x_1 2_amd64.deb",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_shelf_lists_packages_with_their_hash_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Outpost_0.2.0_amd64.deb"), b"pkg").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let shelf = Shelf::new(dir.path());
        let list = shelf.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].version, "0.2.0");
        assert_eq!(list[0].size, 3);
        // sha256("pkg"), as sha256sum says.
        assert_eq!(
            list[0].sha256,
            "e0ce1a7f3f76d7bfda0ffdae6e0226aa63b3009c4c4a770c321876aecad0a6c1"
        );
        assert!(shelf.path_of("Outpost_0.2.0_amd64.deb").is_some());
        assert!(shelf.path_of("notes.txt").is_none());
        assert!(shelf.path_of("../etc/passwd").is_none());
        // A changed file is hashed again.
        std::fs::write(dir.path().join("Outpost_0.2.0_amd64.deb"), b"pkg, changed").unwrap();
        assert_ne!(shelf.list()[0].sha256, list[0].sha256);
        assert!(Shelf::new(dir.path().join("none")).list().is_empty());
    }
}
