//! Updates from the master (issue 17). A slave whose master runs a newer
//! Outpost shows so, with the master's install page. "Install the update"
//! downloads the master's package over the LAN, checks its SHA-256 against
//! the one the master gave over the pinned, encrypted channel (the `hello`
//! answer), and hands the checked file to the system's installer. Nothing
//! comes from the internet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_link::install::Package;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::AppError;

/// The largest package this PC downloads.
pub const MAX_PACKAGE: u64 = 512 << 20;
/// How long a download may take in all.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// A newer Outpost on the master, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpdateView {
    /// The master's version.
    pub version: String,
    /// This PC's.
    pub current: String,
    /// The master's install page.
    pub url: String,
}

impl From<outpost_node::version::Update> for UpdateView {
    fn from(u: outpost_node::version::Update) -> UpdateView {
        UpdateView {
            version: u.version,
            current: u.current,
            url: u.url,
        }
    }
}

/// A package downloaded, checked, and handed to the installer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpdateStarted {
    /// Where the package was saved.
    pub path: String,
    /// Its SHA-256, as the master gave it and as the file has it.
    pub sha256: String,
    pub version: String,
    /// The installer that was started, as a command line.
    pub installer: String,
}

/// Debian's name for this machine's architecture.
pub fn deb_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        other => other,
    }
}

/// The package of `version` for this machine among the master's.
pub fn pick<'a>(packages: &'a [Package], version: &str) -> Option<&'a Package> {
    packages
        .iter()
        .find(|p| p.version == version && (p.arch == deb_arch() || p.arch == "all"))
}

/// Downloads `package` from the install page at `page` into `folder`,
/// hashing as it writes; the file is kept only if its size and SHA-256 are
/// the ones the master gave.
pub async fn download(page: &str, package: &Package, folder: &Path) -> Result<PathBuf, AppError> {
    let fail = |why: String| AppError::Update(format!("cannot download {}: {why}", package.file));
    if package.size > MAX_PACKAGE {
        return Err(fail(format!("it is over {} MiB", MAX_PACKAGE >> 20)));
    }
    // The same TLS settings as the head-office client (ring); the master
    // answers plain HTTP on the LAN, and the hash is what is trusted.
    let tls = outpost_sync::http::tls_config(&[]).map_err(fail)?;
    let client = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let url = format!(
        "{}{}",
        page.trim_end_matches('/').to_string() + "/",
        package.file
    );
    let mut resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("the master answered {}", resp.status())));
    }
    std::fs::create_dir_all(folder)?;
    let done = folder.join(&package.file);
    let part = folder.join(format!("{}.part", package.file));
    let mut out = tokio::fs::File::create(&part).await?;
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let written: Result<(), AppError> = async {
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            got += chunk.len() as u64;
            if got > package.size {
                return Err(fail(format!(
                    "the master sent more than the {} bytes it listed",
                    package.size
                )));
            }
            hash.update(&chunk);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(())
    }
    .await;
    let sha = outpost_link::code::hex(&hash.finalize());
    let checked = written.and_then(|()| {
        if got != package.size {
            Err(fail(format!("got {got} of its {} bytes", package.size)))
        } else if sha != package.sha256 {
            Err(AppError::Update(format!(
                "{} does not have the SHA-256 the master gave ({}, the file has {sha}): it was not installed",
                package.file, package.sha256
            )))
        } else {
            Ok(())
        }
    });
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &done)?;
    Ok(done)
}

/// The system's installer for a checked package: `OUTPOST_INSTALLER`
/// (a program given the file's path) when set, else `pkexec apt install`,
/// which asks for an administrator's password.
pub fn installer(file: &Path) -> (String, Vec<String>) {
    let file = file.display().to_string();
    match std::env::var("OUTPOST_INSTALLER") {
        Ok(program) if !program.trim().is_empty() => (program, vec![file]),
        _ => (
            "pkexec".into(),
            vec!["apt".into(), "install".into(), "-y".into(), file],
        ),
    }
}

/// Starts the installer on `file`; an installer that cannot be started is
/// an error that says how to install by hand.
pub fn start_installer(file: &Path) -> Result<String, AppError> {
    let (program, args) = installer(file);
    let line = std::iter::once(program.clone())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    std::process::Command::new(&program)
        .args(&args)
        .spawn()
        .map_err(|e| {
            AppError::Update(format!(
                "the package was downloaded and checked ({}), but the installer could not be started ({program}: {e}); install it by hand: sudo apt install {}",
                file.display(),
                file.display()
            ))
        })?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(version: &str, arch: &str) -> Package {
        Package {
            file: format!("Outpost_{version}_{arch}.deb"),
            name: "Outpost".into(),
            version: version.into(),
            arch: arch.into(),
            size: 1,
            sha256: "00".repeat(32),
        }
    }

    /// A master's web port with one package on its shelf; its address.
    async fn master_with(dir: &Path) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shelf = std::sync::Arc::new(outpost_link::install::Shelf::new(dir));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let info = outpost_link::web::WebInfo::new("Depot", &"ab".repeat(32));
                tokio::spawn(outpost_link::web::serve(
                    stream,
                    None,
                    info,
                    Some(shelf.clone()),
                ));
            }
        });
        format!("http://{addr}/install/")
    }

    /// The download is kept only when it has the SHA-256 the master gave
    /// over the channel: a package changed on the way (or on the shelf) is
    /// refused and deleted.
    #[tokio::test]
    async fn a_download_is_kept_only_with_the_hash_the_master_gave() {
        let shelf = tempfile::tempdir().unwrap();
        let file = format!("Outpost_0.2.0_{}.deb", deb_arch());
        std::fs::write(shelf.path().join(&file), b"the package").unwrap();
        let page = master_with(shelf.path()).await;
        let listed = outpost_link::install::Shelf::new(shelf.path()).list();
        let good = listed[0].clone();
        let into = tempfile::tempdir().unwrap();
        let got = download(&page, &good, into.path()).await.unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), b"the package");

        let mut forged = good.clone();
        forged.sha256 = "0".repeat(64);
        let elsewhere = tempfile::tempdir().unwrap();
        let err = download(&page, &forged, elsewhere.path())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("does not have the SHA-256 the master gave"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "nothing is kept"
        );

        let mut shorter = good.clone();
        shorter.size = 3;
        let err = download(&page, &shorter, elsewhere.path())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("more than the 3 bytes it listed"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_package_for_this_machine_and_version_is_picked() {
        let list = [
            package("0.2.0", "riscv-none"),
            package("0.1.0", deb_arch()),
            package("0.2.0", deb_arch()),
        ];
        assert_eq!(pick(&list, "0.2.0").unwrap().file, list[2].file);
        assert!(pick(&list, "0.3.0").is_none());
    }
}
