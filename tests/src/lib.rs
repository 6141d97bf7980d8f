//! End-to-end tests for Outpost: real processes on real SQLite files.
//!
//! Parts:
//! - this library: helpers to find and run the `outpost` binary the
//!   workspace built, with a data folder per test.
//! - `src/bin/kill_writer.rs`: a writer process that prints each write the
//!   database acknowledged, for the kill -9 durability test.
//! - `src/bin/slave_writer.rs`: a slave process writing through a master,
//!   for the master-kill test.
//! - `src/bin/impostor.rs`: a slave that claims another device's id.
//! - [`proxy`]: a TCP proxy that delays, rate-limits, cuts or blackholes a
//!   link, for tests over a hostile uplink.
//! - [`trytond`]: a real Tryton server (from PyPI) for the sync tests.
//! - [`tls`]: a TLS front (a test CA and its certificates) before a plain
//!   backend, for the HTTPS tests.
//! - `tests/`: the tests themselves (`cli.rs`, `kill.rs`, `network.rs`,
//!   `lan.rs`); `tests/desktop/` drives the desktop window (JavaScript).

pub mod lan;
pub mod proxy;
pub mod tls;
pub mod trytond;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A pairing URL with its host replaced by `host` (an IPv6 host, as a
/// master may name its unique-local address, is bracketed in the URL).
pub fn url_at(url: &str, host: &str) -> String {
    let mut u = outpost_link::PairingUrl::parse(url).expect("a pairing URL");
    u.host = host.to_string();
    u.to_string()
}

/// The `outpost` binary built by `cargo test --workspace` (the cli crate's
/// own integration test makes cargo build it), next to this test binary.
pub fn outpost_bin() -> PathBuf {
    if let Ok(p) = std::env::var("OUTPOST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target dir");
    let bin = dir.join(format!("outpost{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p outpost-cli` (or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// Another binary of this workspace, next to `outpost` (e.g. the test
/// crate's own `outpost-slave-writer`).
pub fn sibling_bin(name: &str) -> PathBuf {
    let bin = outpost_bin().with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Every office the tests start has a first manager (a master refuses an
/// office without users): this one, made by [`MasterProc::start`] with
/// [`first_manager_args`].
pub const MANAGER: &str = "manager";
pub const MANAGER_PASSWORD: &str = "the e2e manager's password";

/// How the tests' slaves sign in: the variables `outpost db --connect`
/// reads (an explicit `--user` or `--password-file` wins over them).
pub const SIGN_IN: [(&str, &str); 2] = [
    ("OUTPOST_USER", MANAGER),
    ("OUTPOST_PASSWORD", MANAGER_PASSWORD),
];

/// `--admin-password-file FILE` for `outpost master`: makes [`MANAGER`] on
/// an office without users (ignored once it has some). Every test process
/// shares one file (its content is the same constant), so runs leave one
/// file behind, not one a process: each writes its own copy, owner-only,
/// then renames it over the shared one, so a master never reads half a file.
pub fn first_manager_args() -> [&'static str; 2] {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        use std::io::Write;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let dir = std::env::temp_dir();
        // One file a user: /tmp's sticky bit keeps another user's file
        // from being renamed over.
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .expect("this process's user");
        let path = dir.join(format!("outpost-e2e-manager-password-{uid}"));
        let mine = dir.join(format!(
            "outpost-e2e-manager-password-{uid}.{}",
            std::process::id()
        ));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&mine)
            .expect("the manager's password file");
        f.write_all(format!("{MANAGER_PASSWORD}\n").as_bytes())
            .expect("the manager's password file");
        std::fs::rename(&mine, &path).expect("the manager's password file");
        path.to_str().expect("a UTF-8 temp path").to_string()
    });
    ["--admin-password-file", file]
}

/// Runs `outpost db --data DIR <args>` and returns its output.
pub fn db(data: &Path, args: &[&str]) -> Output {
    Command::new(outpost_bin())
        .arg("db")
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("OUTPOST_DATA")
        .env_remove("RUST_LOG")
        .output()
        .expect("run outpost")
}

/// Stdout of a successful call, as JSON values (one per line).
pub fn ok_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "outpost failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The one JSON value a successful call printed.
pub fn ok_one(out: &Output) -> serde_json::Value {
    let mut lines = ok_lines(out);
    assert_eq!(lines.len(), 1, "expected one line of output");
    lines.remove(0)
}

/// Exit code and stderr of a failed call.
pub fn failed(out: &Output) -> (i32, String) {
    assert!(
        !out.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A port nobody listens on, for a server the test starts next (bound,
/// then released). Taken below the kernel's ephemeral range
/// (`ip_local_port_range`), where outgoing connections get their local
/// ports: a port the kernel hands out for port 0 can be taken by one of
/// them (another test's client, in the same process or not) before the
/// server meant for it binds it, which then fails with "address in use".
/// Never the same port twice in one process, as the kernel's choice was
/// not: two taken back to back are both free until their servers bind
/// them. (tests/desktop/webdriver.mjs picks its ports the same way.)
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let (low, high) = (20_000u32, u32::from(ephemeral_low()));
    let span = high.saturating_sub(low).max(1);
    // A start of its own for each process (tests in other processes pick
    // from the same range), then the ports after it in turn.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for i in 0..span.min(5_000) {
        let port = (low + seed.wrapping_add(i) % span) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port between {low} and {high}");
}

/// The first port of the kernel's ephemeral range (32768 if unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .filter(|&p: &u16| p > 20_001)
        .unwrap_or(32_768)
}

/// A running `outpost master` process on loopback.
pub struct MasterProc {
    child: std::process::Child,
    pub data: PathBuf,
    pub port: u16,
    /// The pairing URL it printed (with its code).
    pub url: String,
    /// Its device id.
    pub fingerprint: String,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl MasterProc {
    /// Starts a master named `name` on `port` (no mDNS), its office's first
    /// manager [`MANAGER`] unless `extra` names another password file, and
    /// waits until it prints its pairing URL.
    pub fn start(data: &Path, name: &str, port: u16, extra: &[&str]) -> MasterProc {
        MasterProc::start_env(data, name, port, extra, &[])
    }

    /// The same with extra environment variables. Its log (stderr) goes to
    /// `DATA/master.log`, appended across restarts.
    pub fn start_env(
        data: &Path,
        name: &str,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> MasterProc {
        let mut args: Vec<String> = ["master", "--name", name].map(String::from).to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        if !extra.contains(&"--admin-password-file") {
            args.extend(first_manager_args().map(String::from));
        }
        MasterProc::spawn(data, port, &args, env)
    }

    /// Starts `outpost ARGS --listen 127.0.0.1 --no-mdns --port PORT --data
    /// DATA` (`master ...`, or `promote`) and waits until it prints its
    /// pairing URL.
    pub fn spawn(data: &Path, port: u16, args: &[String], env: &[(&str, &str)]) -> MasterProc {
        use std::io::BufRead;
        std::fs::create_dir_all(data).expect("data folder");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("master.log"))
            .expect("master.log");
        let mut child = Command::new(outpost_bin())
            .args(args)
            .args(["--listen", "127.0.0.1", "--no-mdns"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--data")
            .arg(data)
            .env_remove("OUTPOST_DATA")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start outpost master");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut url = None;
        let mut fingerprint = None;
        while url.is_none() {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the master prints its pairing URL");
            if let Some(fp) = line.strip_prefix("Device id:") {
                fingerprint = Some(fp.trim().to_string());
            }
            if line.starts_with("outpost://") {
                url = Some(line);
            }
        }
        MasterProc {
            child,
            data: data.to_path_buf(),
            port,
            url: url.expect("url"),
            fingerprint: fingerprint.expect("device id line"),
            stdout: rx,
        }
    }

    /// The URL without its pairing code.
    pub fn url_without_code(&self) -> String {
        self.url
            .split("&code=")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// Its process id (for `/proc/PID`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// What it logged so far (all runs on this data folder).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("master.log")).unwrap_or_default()
    }

    /// Lines printed after start-up.
    pub fn more_output(&self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }
}

impl Drop for MasterProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `party_name` of every live Party in the database of `data` (read
/// with the CLI), in no particular order.
pub fn party_names(data: &Path) -> Vec<String> {
    ok_lines(&db(
        data,
        &[
            "query",
            "Party",
            "--fields",
            "party_name",
            "--limit",
            "10000",
        ],
    ))
    .iter()
    .map(|r| r["party_name"].as_str().unwrap_or_default().to_string())
    .collect()
}

/// Runs `outpost db --data DIR --connect TARGET <args>` (a slave call),
/// signed in as [`MANAGER`].
pub fn remote(slave_dir: &Path, target: &str, args: &[&str]) -> Output {
    Command::new(outpost_bin())
        .arg("db")
        .arg("--data")
        .arg(slave_dir)
        .arg("--connect")
        .arg(target)
        .args(["--timeout", "20"])
        .args(args)
        .env_remove("OUTPOST_DATA")
        .env_remove("RUST_LOG")
        .envs(SIGN_IN)
        .output()
        .expect("run outpost")
}

/// Sends `signal` (`STOP`, `CONT`, `TERM` ...) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}

/// Runs any `outpost` command.
pub fn outpost(args: &[&str]) -> Output {
    Command::new(outpost_bin())
        .args(args)
        .env_remove("OUTPOST_DATA")
        .env_remove("RUST_LOG")
        .output()
        .expect("run outpost")
}

/// A slave process (`outpost-slave-writer`) inserting Parties through the
/// master one after another, and a thread collecting what it acknowledged.
pub struct SlaveWriter {
    pub child: std::process::Child,
    pub acks: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    pub errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// It said `PAUSED` (and not `RESUMED` since).
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
    dir: PathBuf,
}

impl SlaveWriter {
    pub fn start(dir: &std::path::Path, url: &str, prefix: &str) -> SlaveWriter {
        let mut child = Command::new(sibling_bin("outpost-slave-writer"))
            .arg(dir)
            .arg(url)
            .arg(prefix)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let acks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let paused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, e, p) = (acks.clone(), errors.clone(), paused.clone());
        std::thread::spawn(move || {
            use std::sync::atomic::Ordering::SeqCst;
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                let parts: Vec<&str> = line.splitn(3, ' ').collect();
                match parts.as_slice() {
                    ["ACK", name, pn] => a.lock().unwrap().push((name.to_string(), pn.to_string())),
                    ["PAUSED"] => p.store(true, SeqCst),
                    ["RESUMED"] => p.store(false, SeqCst),
                    _ => e.lock().unwrap().push(line),
                }
            }
        });
        SlaveWriter {
            child,
            acks,
            errors,
            paused,
            dir: dir.to_path_buf(),
        }
    }

    /// Pauses the writer between two writes and waits until it says so:
    /// then no write of its is in flight, every one it sent is
    /// acknowledged (and in `acked`), and its channel stays open.
    pub fn pause(&self) {
        std::fs::write(self.dir.join("pause"), b"").expect("pause file");
        self.wait_until("paused", |w| {
            w.paused.load(std::sync::atomic::Ordering::SeqCst)
        });
    }

    pub fn count(&self) -> usize {
        self.acks.lock().unwrap().len()
    }

    pub fn wait_for(&self, n: usize) {
        self.wait_until(&format!("at {n} acks"), |w| w.count() >= n);
    }

    /// Waits (at most a minute) until `done`; fails at once on an error
    /// the writer printed.
    fn wait_until(&self, what: &str, done: impl Fn(&SlaveWriter) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !done(self) {
            assert!(
                self.errors.lock().unwrap().is_empty(),
                "{:?}",
                self.errors.lock().unwrap()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the writer is not {what}: stuck at {} acks",
                self.count()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Every (name, party_name) acknowledged so far.
    pub fn acked(&self) -> Vec<(String, String)> {
        self.acks.lock().unwrap().clone()
    }

    /// Kills the writer (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SlaveWriter {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `outpost standby` running, with its printed lines.
pub struct StandbyProc {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl StandbyProc {
    pub fn start(data: &Path, target: &str) -> StandbyProc {
        let mut cmd = std::process::Command::new(outpost_bin());
        cmd.args([
            "standby",
            "--data",
            data.to_str().unwrap(),
            "--connect",
            target,
        ])
        .env_remove("OUTPOST_DATA")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null());
        StandbyProc::spawn(cmd)
    }

    /// Any long-running `outpost` command whose printed lines are read the
    /// same way (its stderr as `cmd` sets it).
    pub fn spawn(mut cmd: std::process::Command) -> StandbyProc {
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StandbyProc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a printed line containing `text`.
    pub fn wait_line(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("the standby never said \"{text}\"; it said {:?}", self.seen),
            }
        }
    }
}

impl Drop for StandbyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for p in ports {
            assert!((20_000..ephemeral_low()).contains(&p), "{p}");
            std::net::TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }
}
