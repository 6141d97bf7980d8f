//! The replication log: the recent changesets in memory, by number, for the
//! node to pull and send to its standby; and a wake-up for those waiting.
//!
//! The writer only appends and rings: it never waits for a reader, so a
//! slow or absent standby cannot slow the office down. What falls out of
//! the ring (by count or bytes) is served by a snapshot instead.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Changeset, ReplEvent};
use crate::error::{Result, StoreError};

/// Most changesets the ring keeps: a standby more than this many write
/// groups behind is cheaper to copy afresh than to replay.
pub const RING_CHANGESETS: usize = 4096;
/// Most bytes of changesets the ring keeps (bulk imports make big ones).
pub const RING_BYTES: usize = 64 << 20;

type Listener = Box<dyn Fn(ReplEvent) + Send + Sync>;

/// The ring of recent changesets. Shared by the writer (which appends) and
/// the [`crate::Store`] handles (which read).
pub struct ReplLog {
    state: Mutex<State>,
    cv: Condvar,
    listeners: Mutex<Vec<Listener>>,
}

struct State {
    ring: VecDeque<Changeset>,
    bytes: usize,
    /// The lowest number a reader may continue from: changesets after it
    /// are all in the ring (or not yet made).
    floor: u64,
    /// The number of the last committed write group.
    last: u64,
    /// How many times the file changed in a way no changeset carries.
    resyncs: u64,
}

impl ReplLog {
    /// A log whose readers may continue from `seq` (the file's number at
    /// open).
    pub(crate) fn new(seq: u64) -> ReplLog {
        ReplLog {
            state: Mutex::new(State {
                ring: VecDeque::new(),
                bytes: 0,
                floor: seq,
                last: seq,
                resyncs: 0,
            }),
            cv: Condvar::new(),
            listeners: Mutex::new(Vec::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the changeset of a committed write group.
    pub(crate) fn push(&self, seq: u64, bytes: Vec<u8>) {
        {
            let mut s = self.state();
            if seq != s.last + 1 {
                // Cannot happen while this process is the only writer of
                // repl_seq; if it does, say so instead of serving a gap.
                tracing::warn!(seq, last = s.last, "replication number jumped");
                restart(&mut s, seq);
            } else {
                s.bytes += bytes.len();
                s.ring.push_back(Changeset {
                    seq,
                    bytes: Arc::from(bytes),
                });
                s.last = seq;
                while s.ring.len() > RING_CHANGESETS || s.bytes > RING_BYTES {
                    let Some(old) = s.ring.pop_front() else { break };
                    s.bytes -= old.bytes.len();
                    s.floor = old.seq;
                }
            }
        }
        self.cv.notify_all();
        self.tell(ReplEvent::Committed { seq });
    }

    /// Write group `seq` committed without a changeset a standby could use
    /// (another process wrote the file before it, or capture is off):
    /// readers behind it need a snapshot. `resync` counts it as a resync
    /// and tells listeners.
    pub(crate) fn restart_at(&self, seq: u64, resync: bool) {
        {
            let mut s = self.state();
            restart(&mut s, seq);
            if resync {
                s.resyncs += 1;
            }
        }
        self.cv.notify_all();
        if resync {
            self.tell(ReplEvent::Resync { seq });
        }
    }

    fn tell(&self, ev: ReplEvent) {
        for l in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            l(ev);
        }
    }

    pub(crate) fn listen(&self, f: Listener) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// The number of the last committed write group this log knows.
    pub fn last_seq(&self) -> u64 {
        self.state().last
    }

    /// How many times the file changed in a way no changeset carries.
    pub fn resyncs(&self) -> u64 {
        self.state().resyncs
    }

    /// Up to `max` changesets after `after`, oldest first; empty when none
    /// is newer. [`StoreError::SnapshotNeeded`] when some of those are no
    /// longer (or were never) in the log.
    pub fn after(&self, after: u64, max: usize) -> Result<Vec<Changeset>> {
        let s = self.state();
        if after < s.floor {
            return Err(StoreError::SnapshotNeeded {
                after,
                floor: s.floor,
            });
        }
        Ok(s.ring
            .iter()
            .filter(|c| c.seq > after)
            .take(max)
            .cloned()
            .collect())
    }

    /// Waits until something after `after` is committed (or a resync makes
    /// `after` useless), at most `timeout`. True if so.
    pub fn wait_after(&self, after: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.state();
        loop {
            if s.last > after || after < s.floor {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn restart(s: &mut State, seq: u64) {
    s.ring.clear();
    s.bytes = 0;
    s.floor = seq;
    s.last = seq;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_continue_from_the_floor_and_get_changesets_in_order() {
        let log = ReplLog::new(5);
        assert!(log.after(5, 10).unwrap().is_empty());
        log.push(6, vec![1]);
        log.push(7, vec![2, 2]);
        let got: Vec<u64> = log.after(5, 10).unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(got, vec![6, 7]);
        assert_eq!(log.after(6, 10).unwrap()[0].bytes.as_ref(), &[2, 2]);
        assert_eq!(log.after(5, 1).unwrap().len(), 1);
        assert!(matches!(
            log.after(4, 10),
            Err(StoreError::SnapshotNeeded { after: 4, floor: 5 })
        ));
    }

    #[test]
    fn a_resync_sends_every_reader_behind_it_to_a_snapshot() {
        let log = ReplLog::new(0);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        log.listen(Box::new(move |ev| h.lock().unwrap().push(ev)));
        log.push(1, vec![1]);
        log.restart_at(3, true);
        assert!(matches!(
            log.after(1, 10),
            Err(StoreError::SnapshotNeeded { floor: 3, .. })
        ));
        assert!(log.after(3, 10).unwrap().is_empty());
        assert_eq!(log.resyncs(), 1);
        assert_eq!(
            *heard.lock().unwrap(),
            vec![
                ReplEvent::Committed { seq: 1 },
                ReplEvent::Resync { seq: 3 }
            ]
        );
    }

    #[test]
    fn the_ring_drops_its_oldest_changesets_beyond_its_bounds() {
        let log = ReplLog::new(0);
        for seq in 1..=(RING_CHANGESETS as u64 + 2) {
            log.push(seq, vec![0]);
        }
        assert!(log.after(1, 1).is_err());
        assert_eq!(log.after(2, 1).unwrap()[0].seq, 3);
        log.push(RING_CHANGESETS as u64 + 3, vec![0; RING_BYTES]);
        // One changeset over the byte bound empties the ring before it.
        let last = log.last_seq();
        assert!(log.after(last - 2, 1).is_err());
    }

    #[test]
    fn a_waiter_wakes_when_a_changeset_arrives() {
        let log = Arc::new(ReplLog::new(0));
        assert!(!log.wait_after(0, Duration::from_millis(10)));
        let l = log.clone();
        let t = std::thread::spawn(move || l.wait_after(0, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        log.push(1, vec![1]);
        assert!(t.join().unwrap());
    }
}
