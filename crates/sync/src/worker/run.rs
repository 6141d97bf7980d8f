//! The worker's loop: a cycle (push, pull, now and then reconcile), then a
//! wait for the timer, a local change, `sync now` or the stop; failures
//! back off with jitter.

use super::*;

pub(super) fn jitter(base: Duration) -> Duration {
    // Half to all of `base`: offices that lost the uplink together do not
    // all call back at the same second.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    base.mul_f64(frac)
}

impl Worker {
    pub(super) async fn run(
        mut self,
        now: Arc<Notify>,
        asked: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
        _lock: std::fs::File,
    ) {
        let mut failures: u32 = 0;
        let mut last_now: String;
        tracing::info!(kind = ?self.config.kind, url = %self.config.url, "upstream sync started");
        loop {
            let started = outpost_store::values::now_utc();
            self.set_state(vec![("last_attempt", started)]).await;
            // Every request made before this cycle began is served by it.
            let serving = self
                .on_store(|s| s.sync_state("now_requested"))
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            last_now = serving.clone();
            let result = tokio::select! {
                r = self.cycle() => r,
                _ = stop.changed() => break,
            };
            self.count_traffic().await;
            let wait = match result {
                Ok(()) => {
                    failures = 0;
                    let done = outpost_store::values::now_utc();
                    self.set_state(vec![
                        ("link", LinkState::Up.word().into()),
                        ("last_success", done),
                        ("last_error", String::new()),
                        ("next_attempt", String::new()),
                        ("served", serving.clone()),
                    ])
                    .await;
                    Duration::from_secs(self.config.interval_seconds.max(1))
                }
                Err(e) => {
                    failures += 1;
                    let (state, wait) = match e.class {
                        ErrorClass::Auth => (LinkState::Refused, AUTH_BACKOFF),
                        ErrorClass::Rejected => (LinkState::Error, MAX_BACKOFF),
                        _ => (
                            LinkState::Down,
                            jitter(Duration::from_secs(5 << failures.min(6)).min(MAX_BACKOFF)),
                        ),
                    };
                    tracing::warn!(error = %e, retry_in = ?wait, "upstream sync failed");
                    let next = time::OffsetDateTime::now_utc() + wait;
                    let next = next
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    self.set_state(vec![
                        ("link", state.word().into()),
                        ("last_error", e.message.clone()),
                        ("next_attempt", next),
                        ("served", serving.clone()),
                    ])
                    .await;
                    wait
                }
            };
            // Wait for the timer, a local change, `sync now`, or the stop.
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = now.notified() => {
                        // Let a burst of changes gather into one push.
                        tokio::time::sleep(DEBOUNCE).await;
                        break;
                    }
                    _ = asked.notified() => break,
                    _ = tokio::time::sleep(NOW_POLL) => {
                        let asked = self.on_store(|s| s.sync_state("now_requested")).await.ok().flatten().unwrap_or_default();
                        if asked != last_now {
                            break;
                        }
                    }
                    _ = stop.changed() => {
                        self.set_state(vec![("link", LinkState::Stopped.word().into())]).await;
                        tracing::info!("upstream sync stopped");
                        return;
                    }
                }
            }
        }
        self.set_state(vec![("link", LinkState::Stopped.word().into())])
            .await;
        tracing::info!("upstream sync stopped");
    }

    pub(super) async fn count_traffic(&mut self) {
        let t = self.connector.traffic();
        let sent = t.sent.saturating_sub(self.traffic.sent);
        let received = t.received.saturating_sub(self.traffic.received);
        if self
            .on_store(move |s| s.sync_add_bytes(sent, received))
            .await
            .is_ok()
        {
            self.traffic = t;
        }
    }

    /// Waits for the standby to hold everything written so far (when the
    /// master set a [`super::Barrier`]).
    pub(super) async fn standby_barrier(&self) {
        let barrier = self
            .barrier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(b) = barrier {
            let seq = self.store.repl_seq();
            if !b(seq).await {
                tracing::warn!(
                    seq,
                    "the standby did not confirm the outbox marks in time; pushing anyway"
                );
            }
        }
    }

    /// A test hook: `OUTPOST_SYNC_PAUSE=before_send|after_answer` stops the
    /// worker there for good, so a test can kill the process at that point.
    pub(super) async fn pause(&self, point: &str) {
        if self.pause_at.as_deref() == Some(point) {
            tracing::warn!(point, "sync paused here (OUTPOST_SYNC_PAUSE)");
            eprintln!("outpost-sync: paused at {point}");
            std::future::pending::<()>().await;
        }
    }

    pub(super) async fn cycle(&mut self) -> Result<(), SyncError> {
        let push = self.push().await;
        self.count_traffic().await;
        push?;
        let due = Duration::from_secs(self.config.reconcile_minutes * 60);
        let reconcile = self.last_reconcile.is_none_or(|t| t.elapsed() >= due);
        // An id set that could not be read fails the cycle once every
        // doctype is pulled; it is read again next cycle.
        let mut unreconciled = None;
        for doctype in self.order.clone() {
            if reconcile {
                // The remote id set is read while the pull runs: one round
                // trip less on a slow link (`pull_and_reconcile`).
                if let Some(e) = self.pull_and_reconcile(&doctype).await? {
                    tracing::warn!(doctype, error = %e, "could not read the head office's id list");
                    unreconciled.get_or_insert(e);
                }
            } else {
                self.pull(&doctype).await?;
            }
            self.count_traffic().await;
        }
        if let Some(e) = unreconciled {
            return Err(e);
        }
        if reconcile {
            self.last_reconcile = Some(Instant::now());
        }
        Ok(())
    }
}
