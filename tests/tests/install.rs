//! Installs and updates over the LAN (issue 17): the master serves the
//! packages it carries at `/install/`, a new PC on another host (network
//! namespace) gets the `.deb` from there and checks it, a slave whose
//! protocol the master does not speak is refused in words that say where
//! the right package is, and an older but compatible one works and is told
//! of the update.
//!
//! The package is the real `.deb` when `OUTPOST_DEB` names it
//! (`scripts/test` runs this file again after building it); otherwise a
//! small package made here with `dpkg-deb --build`, named and versioned as
//! Outpost's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use outpost_e2e::lan::{text, Killed, Lan};
use outpost_e2e::MasterProc;
use outpost_link::signal::Signal;
use outpost_link::SignalSocket;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The package the master carries: `OUTPOST_DEB`, or one built here.
fn package(dir: &Path) -> PathBuf {
    if let Some(deb) = std::env::var_os("OUTPOST_DEB").filter(|d| !d.is_empty()) {
        let deb = PathBuf::from(deb);
        let to = dir.join(deb.file_name().unwrap());
        std::fs::copy(&deb, &to).expect("copy OUTPOST_DEB");
        return to;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/doc/outpost")).unwrap();
    std::fs::write(
        root.path().join("DEBIAN/control"),
        format!(
            "Package: outpost\nVersion: {VERSION}\nArchitecture: amd64\nMaintainer: Outpost tests <tests@outpost.invalid>\nDescription: LAN-first ERP client (a stand-in package for this test)\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.path().join("usr/share/doc/outpost/README"),
        "Outpost\n",
    )
    .unwrap();
    let to = dir.join(format!("Outpost_{VERSION}_amd64.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(root.path())
        .arg(&to)
        .output()
        .expect("dpkg-deb runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    to
}

fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Reads the master's output until a line starting with `prefix`.
fn line_starting(lines: &mut impl Iterator<Item = String>, prefix: &str) -> String {
    lines
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("the master prints no \"{prefix}\" line"))
}

#[test]
fn a_new_pc_on_the_lan_gets_the_package_from_the_master_and_checks_it() {
    let lan = match Lan::make(6, 2) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
            return;
        }
    };
    let shelf = tempfile::tempdir().unwrap();
    let deb = package(shelf.path());
    let file = deb.file_name().unwrap().to_str().unwrap().to_string();
    let sha = sha256sum(&deb);
    std::fs::write(shelf.path().join("notes.txt"), "not a package").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = lan
        .cmd(0)
        .args(["master", "--name", "Install depot", "--no-mdns", "--data"])
        .arg(data.path())
        .args(outpost_e2e::first_manager_args())
        .arg("--packages")
        .arg(shelf.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    let _master = Killed(child);
    let page = format!("http://{}:7355/install/", lan.ip(0));
    let said = line_starting(&mut lines, "Install Outpost on another PC:");
    assert!(
        said.contains(&format!("{page} (1 package in ")),
        "the master names its install page and what it carries: {said}"
    );
    std::thread::spawn(move || lines.for_each(drop));

    // The new PC (no Outpost, no internet) reads the list from the
    // master's address...
    let pc = |args: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &lan.hosts[1]])
            .args(args)
            .output()
            .unwrap();
        let (o, e) = text(&out);
        assert!(out.status.success(), "{args:?}: {o}{e}");
        o
    };
    let listed: serde_json::Value =
        serde_json::from_str(&pc(&["curl", "-fsS", &format!("{page}packages.json")])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "only the package is listed: {listed:?}");
    assert_eq!(listed[0]["file"], file.as_str());
    assert_eq!(listed[0]["version"], VERSION);
    assert_eq!(listed[0]["sha256"], sha.as_str());
    assert_eq!(listed[0]["size"], std::fs::metadata(&deb).unwrap().len());
    let html = pc(&["curl", "-fsS", &page]);
    assert!(html.contains("Install Outpost on another PC"), "{html}");
    assert!(html.contains(&sha), "the page shows the SHA-256");

    // ...and runs the page's one-line command up to the install itself
    // (download, then check the SHA-256), in a folder of its own.
    let command = html
        .split("<pre class=\"cmd\">")
        .nth(1)
        .and_then(|c| c.split("</pre>").next())
        .expect("the page shows an install command")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    assert!(
        command.contains(&format!("http://{}:7355/install/{file}", lan.ip(0))),
        "{command}"
    );
    let (fetch, install) = command
        .split_once(" && sudo apt install ")
        .expect("the command ends with apt install");
    assert_eq!(install, format!("./{file}"));
    let new_pc = tempfile::tempdir().unwrap();
    let script = format!("cd {} && {fetch}", new_pc.path().display());
    let checked = pc(&["sh", "-c", &script]);
    assert!(
        checked.contains(&format!("{file}: OK")),
        "sha256sum -c: {checked}"
    );
    let got = new_pc.path().join(&file);
    assert_eq!(sha256sum(&got), sha);
    let info = Command::new("dpkg-deb")
        .arg("--info")
        .arg(&got)
        .output()
        .unwrap();
    let (info, _) = text(&info);
    assert!(info.contains(" Package: outpost\n"), "{info}");
    assert!(info.contains(&format!(" Version: {VERSION}\n")), "{info}");

    // Nothing but the packages: other files and paths are not served.
    for path in ["notes.txt", "..%2fnotes.txt", "../Cargo.toml"] {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.hosts[1],
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(format!("{page}{path}"))
            .output()
            .unwrap();
        let (code, _) = text(&out);
        assert!(code == "404" || code == "400", "{path}: {code}");
    }
}

/// Says a signaling hello as a slave of another protocol would; the
/// master's refusal (code and words).
async fn hello_as(addr: &str, protocol: u32, app: &str) -> (String, String) {
    let mut ws = SignalSocket::connect(addr, Duration::from_secs(5))
        .await
        .unwrap();
    ws.send(&Signal::Hello {
        v: 1,
        device: "ab".repeat(32),
        name: "Old PC".into(),
        proof: None,
        app: Some(app.into()),
        protocol: Some(protocol),
        keepalive_ms: None,
        batches: false,
    })
    .await
    .unwrap();
    loop {
        match ws
            .recv_within(Duration::from_secs(10), "the master's answer")
            .await
        {
            Ok(Some(Signal::Refused { code, message })) => return (code, message),
            Ok(Some(_)) => continue,
            other => panic!("no refusal: {other:?}"),
        }
    }
}

#[test]
fn an_older_protocol_is_refused_with_where_to_get_outpost_and_an_older_app_hears_of_the_update() {
    let data = tempfile::tempdir().unwrap();
    let shelf = data.path().join("packages");
    std::fs::create_dir_all(&shelf).unwrap();
    package(&shelf);
    let master = MasterProc::start(data.path(), "Version depot", 0, &[]);
    let authority = master
        .url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let install = format!("http://{authority}/install/");

    // An Outpost speaking protocol 0 (older than this master speaks).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (code, words) = rt.block_on(hello_as(&authority, 0, "0.0.9"));
    assert_eq!(code, "version");
    assert!(
        words.contains("this PC runs Outpost 0.0.9, which speaks protocol 0"),
        "{words}"
    );
    assert!(
        words.contains(&format!("runs Outpost {VERSION} and speaks protocol 1")),
        "{words}"
    );
    assert!(
        words.contains(&format!(
            "Install Outpost {VERSION} on this PC from the master's install page: {install}"
        )),
        "{words}"
    );
    // And one newer than the master: the master is the one to update.
    let (code, words) = rt.block_on(hello_as(&authority, 2, "9.0.0"));
    assert_eq!(code, "version");
    assert!(words.contains("Update the master first"), "{words}");

    // An older Outpost of the same protocol works, and is told.
    let pc = tempfile::tempdir().unwrap();
    let out = Command::new(outpost_e2e::outpost_bin())
        .args(["db", "--connect", &master.url, "--data"])
        .arg(pc.path())
        .args(["count", "Party"])
        .envs(outpost_e2e::SIGN_IN)
        .env("OUTPOST_APP_VERSION", "0.0.1")
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(
        e.contains(&format!(
            "An update is available from the master: Outpost {VERSION} (this PC has 0.0.1). Get it at {install}"
        )),
        "{e}"
    );
    // The same version is not told anything.
    let out = Command::new(outpost_e2e::outpost_bin())
        .args(["db", "--connect", &master.url, "--data"])
        .arg(pc.path())
        .args(["count", "Party"])
        .envs(outpost_e2e::SIGN_IN)
        .env_remove("OUTPOST_APP_VERSION")
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(!e.contains("update"), "{e}");
}
