//! What the benchmarks share.

use std::time::Duration;

/// The `p` quantile (0..=1) of durations sorted ascending (zero if none).
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
