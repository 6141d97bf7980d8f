//! Fencing: one writer at a time. A master that meets a higher epoch than
//! its own (a slave that knows of a promotion says so in its `hello`) was
//! replaced by a promoted standby: it takes no more writes, remembers it
//! across restarts, and can rejoin as the new master's standby.

use std::sync::atomic::Ordering;

use outpost_api::{ApiError, ErrorCode};
use outpost_store::Store;

use crate::master::Shared;

/// `_meta` key of the higher epoch a fenced master met.
pub const FENCED_KEY: &str = "fenced_by_epoch";

/// The higher epoch this database's master met (0: none).
pub fn fenced_by(store: &Store) -> u64 {
    let fenced = super::promote::parse_epoch(store.meta(FENCED_KEY).ok().flatten());
    if fenced > super::promote::epoch(store) {
        fenced
    } else {
        0
    }
}

/// Stops this master taking writes: a standby was promoted to `epoch`.
pub(crate) async fn fence(shared: &Shared, epoch: u64) {
    let before = shared.fenced.fetch_max(epoch, Ordering::SeqCst);
    if before >= epoch {
        return;
    }
    tracing::error!(
        epoch,
        "a standby was promoted in this master's place (a slave knows epoch {epoch}): this PC takes no more writes; run it as the new master's standby (outpost standby --connect NAME)"
    );
    shared.withdraw_announcement();
    let store = shared.db.store().clone();
    let _ =
        tokio::task::spawn_blocking(move || store.set_meta(FENCED_KEY, &epoch.to_string())).await;
}

/// What a fenced master answers to a write.
pub fn refusal(epoch: u64) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!(
            "this PC is no longer the office's master: a standby was promoted in its place (epoch {epoch}); nothing was saved here. The office's PCs reach the new master by themselves; to bring this PC back, run it as the new master's standby (outpost standby --connect NAME)"
        ),
    )
    .with_details(serde_json::json!({"reason": "fenced", "epoch": epoch}))
}
