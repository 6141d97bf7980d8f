//! The command line itself: help, usage errors. (Behaviour of each op is
//! tested end to end in the workspace's `tests/` crate; this file also makes
//! `cargo test` build the `outpost` binary those tests run.)

use std::process::Command;

fn outpost(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .env_remove("OUTPOST_DATA")
        .output()
        .expect("run outpost")
}

#[test]
fn help_lists_the_commands() {
    let out = outpost(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["master", "db"] {
        assert!(text.contains(cmd), "help lacks {cmd}: {text}");
    }
}

#[test]
fn db_without_an_op_is_a_usage_error() {
    let out = outpost(&["db", "--data", "/nonexistent-outpost-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn master_needs_a_name() {
    let out = outpost(&["master", "--data", "/nonexistent-outpost-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
}
