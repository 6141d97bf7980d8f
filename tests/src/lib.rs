//! End-to-end tests for Outpost: real processes on real SQLite files.
//!
//! Parts:
//! - this library: helpers to find and run the `outpost` binary the
//!   workspace built, with a data folder per test.
//! - `src/bin/kill_writer.rs`: a writer process that prints each write the
//!   database acknowledged, for the kill -9 durability test.
//! - `tests/`: the tests themselves (`cli.rs`, `kill.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
