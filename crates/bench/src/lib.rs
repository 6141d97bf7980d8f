//! What the benchmarks share.

use std::time::Duration;

/// The `p` quantile (0..=1) of durations sorted ascending (zero if none).
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Clock ticks a second in `/proc/PID/stat` (`USER_HZ` on Linux).
pub const TICKS_A_SECOND: f64 = 100.0;

/// CPU time a process has used (user + system, all its threads), in clock
/// ticks ([`TICKS_A_SECOND`]).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}
