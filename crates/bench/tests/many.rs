//! 200 devices on one master (issue 16): 200 Rust slaves, each its own
//! identity, paired, signed in and subscribed, in four processes of
//! `outpost-bench-many` against a real `outpost master`. Every one of them
//! must get the live event of a write made through the CLI and answer a
//! `get` of it, and 50 of them calling at once must all be answered, as
//! fast as they can and then at a steady pace; none may lose its master on
//! the way.
//! Nothing here checks time: the benchmark prints the numbers
//! (BENCHMARKS.md).

use std::process::Command;

#[test]
fn two_hundred_slaves_each_get_the_live_event_and_answer() {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost-bench-many"))
        .args(["--slaves", "200", "--procs", "4", "--callers", "50"])
        .args(["--seconds", "3", "--idle", "2"])
        .env_remove("RUST_LOG")
        .output()
        .expect("outpost-bench-many runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = text.lines().last().unwrap_or_default();
    let summary: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|_| panic!("no summary line in:\n{text}"));
    assert_eq!(summary["ready"], 200, "{text}");
    assert_eq!(summary["events"], 200, "{text}");
    assert_eq!(summary["answered"], 200, "{text}");
    assert_eq!(summary["link_changes"], 0, "{text}");
    assert!(summary["calls"].as_u64().unwrap_or(0) >= 50, "{text}");
    assert!(summary["paced_calls"].as_u64().unwrap_or(0) >= 50, "{text}");
    assert!(
        summary["rss_mb_idle"].as_f64().unwrap_or(0.0) > 0.0,
        "{text}"
    );
}
