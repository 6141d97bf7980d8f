//! Wrong passwords are slowed: per user on a device, and per device. After
//! a few wrong tries, each next one must wait twice as long as the last
//! (up to a minute); a try inside the wait is refused at once, without
//! hashing anything, and says how long to wait. Other users and other
//! devices are not slowed by one device's wrong tries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tries allowed before the waits start.
const FREE_TRIES: u32 = 3;
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Entries kept at most (the oldest go first).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
}

#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

fn keys(user: &str, device: &str) -> [String; 2] {
    [
        format!("u:{}\u{0}{device}", user.to_lowercase()),
        format!("d:{device}"),
    ]
}

impl Throttle {
    /// How long `user` on `device` must still wait before another try.
    pub(crate) fn wait(&self, user: &str, device: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys(user, device)
            .iter()
            .filter_map(|k| map.get(k))
            .filter(|f| f.until > now)
            .map(|f| f.until - now)
            .max()
    }

    /// A wrong try.
    pub(crate) fn failed(&self, user: &str, device: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| f.until)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        for k in keys(user, device) {
            let f = map.entry(k).or_insert(Failures {
                count: 0,
                until: now,
            });
            f.count = f.count.saturating_add(1);
            if f.count > FREE_TRIES {
                let doubling = (f.count - FREE_TRIES - 1).min(6);
                f.until = now + Duration::from_secs(1 << doubling).min(MAX_WAIT);
            }
        }
    }

    /// A right password: this user on this device starts afresh.
    pub(crate) fn succeeded(&self, user: &str, device: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&keys(user, device)[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_device_s_wrong_tries_slow_that_device_only() {
        let t = Throttle::default();
        for _ in 0..FREE_TRIES {
            assert_eq!(t.wait("amina", "dev1"), None);
            t.failed("amina", "dev1");
        }
        t.failed("amina", "dev1");
        assert!(t.wait("amina", "dev1").is_some());
        assert!(
            t.wait("AMINA", "dev1").is_some(),
            "names are not case-sensitive"
        );
        // Another user on that device waits too (the device is slowed) ...
        assert!(t.wait("bilal", "dev1").is_some());
        // ... but the same user on another device, and other devices, do not.
        assert_eq!(t.wait("amina", "dev2"), None);
        assert_eq!(t.wait("bilal", "dev2"), None);
        for _ in 0..20 {
            t.failed("amina", "dev1");
        }
        assert!(t.wait("amina", "dev1").unwrap() <= MAX_WAIT);
    }
}
