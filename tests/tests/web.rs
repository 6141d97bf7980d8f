//! The master's port serves the web UI's files to browsers, beside the
//! signaling socket (from a folder, or built into the binary): right types
//! and caching, nothing outside the UI folder
//! (path traversal tried many ways), garbage refused, and slaves still pair
//! on the same port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use outpost_e2e::{ok_one, remote, MasterProc};

/// One raw HTTP exchange (no client library: they normalise `..` away).
fn http(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

fn get(port: u16, path: &str, extra: &str) -> (String, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"),
    )
}

/// The port in a pairing URL (`outpost://host:port/?...`).
fn port_of(url: &str) -> u16 {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a port in the pairing URL")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn the_master_serves_the_web_ui_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let ui = root.path().join("dist");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(
        ui.join("index.html"),
        "<!doctype html><title>Outpost UI marker</title>",
    )
    .unwrap();
    std::fs::write(ui.join("assets/app-3f2a.js"), "console.log('outpost')").unwrap();
    std::fs::write(ui.join("assets/app-3f2a.css"), "body{}").unwrap();
    // A secret beside the UI folder, and one further up.
    std::fs::write(root.path().join("secret.txt"), "TOP-SECRET-1").unwrap();
    let data = root.path().join("data");
    let master = MasterProc::start(&data, "Web depot", 0, &["--ui", ui.to_str().unwrap()]);
    let port = port_of(&master.url);
    // Printed after the pairing URL and its QR code.
    let mut printed = String::new();
    for _ in 0..50 {
        printed.push_str(&master.more_output().join("\n"));
        if printed.contains("Browser address") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        printed.contains(&format!(
            "Browser address (any PC, tablet or phone on the LAN): http://127.0.0.1:{port}/"
        )),
        "{printed}"
    );

    // The page, with its type and no long caching.
    let (head, body) = get(port, "/", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("Outpost UI marker"));
    assert_eq!(header(&head, "content-type"), Some("text/html"));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
    let modified = header(&head, "last-modified").unwrap().to_string();
    let (again, _) = get(
        port,
        "/index.html",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");

    // Hashed assets: their types, cached for good.
    let (head, body) = get(port, "/assets/app-3f2a.js", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "console.log('outpost')");
    assert_eq!(header(&head, "content-type"), Some("text/javascript"));
    assert_eq!(
        header(&head, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let (head, _) = get(port, "/assets/app-3f2a.css", "");
    assert_eq!(header(&head, "content-type"), Some("text/css"));

    // Nothing outside the folder, however the path is written.
    for path in [
        "/../secret.txt",
        "/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/assets/..\\..\\secret.txt",
        "//secret.txt",
        "/./../secret.txt",
        "/%252e%252e/secret.txt",
        "/index.html/../../secret.txt",
        &format!("/{}", root.path().join("secret.txt").display()),
        "/etc/passwd",
    ] {
        let (head, body) = get(port, path, "");
        assert!(!body.contains("TOP-SECRET"), "{path} leaked: {head}");
        assert!(!body.contains("root:"), "{path} leaked /etc/passwd");
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert!((400..500).contains(&status), "{path}: {head}");
    }
    let (head, body) = get(port, "/nope.html", "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(body.contains("not part of the web UI"), "{body}");
    let (head, _) = http(
        port,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    // Garbage is refused; the master stays up.
    for i in 0..50u8 {
        let junk: Vec<u8> = (0..300u32).map(|b| (b as u8).wrapping_mul(i | 1)).collect();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&junk);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }

    // Which master served the page: the page pins this fingerprint.
    let (head, body) = get(port, "/outpost.json", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(header(&head, "cache-control"), Some("no-store"));
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"office": "Web depot", "fingerprint": master.fingerprint, "signal": "/signal"})
    );
    let (head, _) = http(
        port,
        "POST /outpost.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");

    // The same port still pairs a slave and serves its calls.
    let slave = tempfile::tempdir().unwrap();
    let n = ok_one(&remote(slave.path(), &master.url, &["count", "Party"]));
    assert_eq!(n, 0);
}

/// A master started anywhere (here: out of the source tree, no `--ui`)
/// serves the web UI built into its binary: the same page `ui/dist` held
/// when it was built, its assets with their types and cached for good, a
/// page the browser has already answered with 304.
#[test]
fn a_master_serves_the_web_ui_built_into_it() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    let page = std::fs::read_to_string(dist.join("index.html"))
        .expect("ui/dist/index.html: npm --prefix ui run build before cargo test");
    let data = tempfile::tempdir().unwrap();
    let master = MasterProc::start(data.path(), "Bare depot", 0, &[]);
    let port = port_of(&master.url);
    let (head, body) = get(port, "/", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, page);
    assert_eq!(header(&head, "content-type"), Some("text/html"));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    assert!(header(&head, "content-security-policy").is_some());
    let etag = header(&head, "etag").expect("an ETag").to_string();
    let (again, body) = get(port, "/", &format!("If-None-Match: {etag}\r\n"));
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    assert_eq!(body, "");

    let script = page
        .split('"')
        .find_map(|p| {
            p.strip_prefix('.')
                .filter(|p| p.starts_with("/assets/") && p.ends_with(".js"))
        })
        .expect("the page loads a script from ./assets/");
    let (head, body) = get(port, script, "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        body,
        std::fs::read_to_string(dist.join(&script[1..])).unwrap()
    );
    assert_eq!(header(&head, "content-type"), Some("text/javascript"));
    assert_eq!(
        header(&head, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let (head, body) = get(port, "/../Cargo.toml", "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(body.contains("not part of the web UI"), "{body}");
    let (info, _) = get(port, "/outpost.json", "");
    assert!(info.starts_with("HTTP/1.1 200"), "{info}");

    // `--ui DIR` with no page in it is refused, in words.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(outpost_e2e::outpost_bin())
        .args([
            "master",
            "--name",
            "Bare depot",
            "--no-mdns",
            "--port",
            "0",
            "--data",
        ])
        .arg(data.path().join("other"))
        .arg("--ui")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds no index.html"), "{said}");
}
