//! A real Tryton server for the sync tests: `trytond` 8.x from PyPI (in
//! `.venv`, installed by `scripts/setup`, or `OUTPOST_TRYTON_VENV`) on
//! SQLite, with the party and product modules and one company (prices need
//! one).
//!
//! Making a database takes about 8 s, so one is made per venv and machine
//! (under a lock) and each server starts on a copy of it (under 1 s).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::free_port;

pub fn venv() -> PathBuf {
    let v = std::env::var_os("OUTPOST_TRYTON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    assert!(
        v.join("bin/trytond").exists(),
        "no trytond in {}: run scripts/setup (it installs trytond from PyPI into .venv)",
        v.display()
    );
    v
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_conf(dir: &Path, port: u16) -> PathBuf {
    let conf = dir.join("trytond.conf");
    std::fs::write(
        &conf,
        format!(
            "[database]\nuri = sqlite://\npath = {}\n[web]\nlisten = 127.0.0.1:{port}\n",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// A running `trytond` on its own copy of the template database `hq`.
pub struct Trytond {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    session: Mutex<Option<String>>,
}

impl Drop for Trytond {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The template database, made once per venv (several test processes may
/// ask at once: a lock file orders them).
fn template() -> PathBuf {
    let venv = venv();
    let tag: u64 = venv
        .to_string_lossy()
        .bytes()
        .fold(1469598103934665603, |h, b| {
            (h ^ b as u64).wrapping_mul(1099511628211)
        });
    let dir = std::env::temp_dir().join(format!("outpost-tryton-template-sale-{tag:x}"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("hq.sqlite");
    let lock = std::fs::File::create(dir.join("lock")).unwrap();
    lock.lock().unwrap();
    if dir.join("ready").exists() {
        return db;
    }
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = write_conf(work.path(), port);
    std::fs::write(work.path().join("hq.sqlite"), b"").unwrap();
    std::fs::write(work.path().join("pass"), b"admin\n").unwrap();
    run(
        Command::new(venv.join("bin/trytond-admin"))
            .args(["-c", conf.to_str().unwrap(), "-d", "hq", "--all"])
            .args(["--email", "admin@example.com"])
            .args(["-u", "party", "product", "sale", "--activate-dependencies"])
            .env("TRYTONPASSFILE", work.path().join("pass")),
        "trytond-admin",
    );
    let mut t = Trytond::serve(work, port);
    // Prices are kept per company: a currency and the head office's company.
    let cur = t.rpc(
        "model.currency.currency.create",
        json!([[{"name": "Euro", "code": "EUR", "symbol": "€"}], {}]),
    );
    let party = t.rpc(
        "model.party.party.create",
        json!([[{"name": "Head Office", "code": "HQ"}], {}]),
    );
    let company = t.rpc(
        "model.company.company.create",
        json!([[{"party": party[0], "currency": cur[0]}], {}]),
    );
    // The sync user works for that company (and so can see it).
    t.rpc(
        "model.res.user.write",
        json!([[1], {"companies": [["add", [company[0]]]]}, {}]),
    );
    t.rpc(
        "model.res.user.write",
        json!([[1], {"company": company[0]}, {}]),
    );
    t.stop();
    // A consistent copy, with whatever the server left in its journal.
    let _ = std::fs::remove_file(&db);
    run(
        Command::new(venv.join("bin/python"))
            .arg("-c")
            .arg("import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('VACUUM INTO ?', (sys.argv[2],))")
            .arg(t.dir.path().join("hq.sqlite"))
            .arg(&db),
        "copying the template database",
    );
    std::fs::write(dir.join("ready"), b"").unwrap();
    db
}

impl Trytond {
    /// A fresh server on a copy of the template, on a free port.
    pub fn start() -> Trytond {
        let db = template();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&db, dir.path().join("hq.sqlite")).unwrap();
        Trytond::serve(dir, free_port())
    }

    fn serve(dir: tempfile::TempDir, port: u16) -> Trytond {
        let conf = write_conf(dir.path(), port);
        let log = std::fs::File::create(dir.path().join("trytond.log")).unwrap();
        let child = Command::new(venv().join("bin/trytond"))
            .args(["-c", conf.to_str().unwrap(), "-d", "hq"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start trytond");
        let t = Trytond {
            child: Some(child),
            port,
            dir,
            session: Mutex::new(None),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "trytond did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        t
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// An upstream file for this server (`extra` is appended: doctype
    /// tables and other keys).
    pub fn upstream_toml(&self, url: Option<&str>, extra: &str) -> String {
        format!(
            "kind = \"tryton\"\nurl = \"{}\"\ndatabase = \"hq\"\nuser = \"admin\"\npassword = \"admin\"\n{extra}",
            url.map(str::to_string).unwrap_or_else(|| self.url())
        )
    }

    /// One JSON-RPC call as admin, straight to the server (not through any
    /// proxy): how the tests act as the head office. Panics on an error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        match self.try_rpc(method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let auth = {
            let mut s = self.session.lock().unwrap();
            if s.is_none() {
                let r = self.post(
                    "common.db.login",
                    json!(["admin", {"password": "admin"}, "en"]),
                    None,
                );
                let r = r["result"].clone();
                let raw = format!("admin:{}:{}", r[0], r[1].as_str().unwrap());
                *s = Some(format!(
                    "Session {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ));
            }
            s.clone().unwrap()
        };
        let r = self.post(method, params, Some(&auth));
        match r.get("error").filter(|e| !e.is_null()) {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"].clone()),
        }
    }

    /// A plain HTTP/1.0 POST (the server closes every connection anyway).
    fn post(&self, method: &str, params: Value, auth: Option<&str>) -> Value {
        let body = json!({"id": 1, "method": method, "params": params}).to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "POST /hq/rpc/ HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        let body = &resp[split + 4..];
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{method}: {head}"
        );
        // (Without Accept-Encoding the body is plain, whatever the header
        // says; large answers come chunked.)
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_vec()
        };
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{method}: {e}: {head}"))
    }

    /// `search_read` of everything of `model`, active or not.
    pub fn all(&self, model: &str, fields: &[&str]) -> Vec<Value> {
        let v = self.rpc(
            &format!("model.{model}.search_read"),
            json!([[], 0, null, [["id", "ASC"]], fields, {"active_test": false, "company": 1}]),
        );
        v.as_array().cloned().unwrap_or_default()
    }
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}
