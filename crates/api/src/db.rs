//! The `Db` interface: what the UI and the CLI call, whether the database is
//! in this process (`LocalDb`) or on the master across a data channel
//! (`RemoteDb`, in the node layer).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::protocol::{ApiError, Event, Op, Request, Response};

/// Which doctypes a subscriber wants events for. `None` = not subscribed.
pub type SubscriptionFilter = Arc<RwLock<Option<Option<Vec<String>>>>>;

#[async_trait]
pub trait Db: Send + Sync {
    /// Runs one request. Errors travel inside the response.
    async fn call(&self, req: Request) -> Response;

    /// Change events for this handle, after a `subscribe` call.
    fn events(&self) -> EventStream;

    /// Runs `op` under a fresh request id and returns its result.
    async fn run(&self, op: Op) -> Result<Value, ApiError> {
        self.call(Request::new(op)).await.result
    }
}

/// The head-office ERP, for queries on records the office does not keep
/// (`query` with `upstream: true`). The sync worker provides it on a master
/// with an upstream.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Rows of `doctype` matching `filter` at the head office, at most
    /// `limit`; `unavailable` when the uplink is down.
    async fn query(
        &self,
        doctype: &str,
        filter: &outpost_store::query::Expr,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError>;
}

/// A stream of change events filtered by the handle's subscription.
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
    filter: SubscriptionFilter,
}

impl EventStream {
    pub fn new(rx: broadcast::Receiver<Event>, filter: SubscriptionFilter) -> EventStream {
        EventStream { rx, filter }
    }

    /// The next event this handle subscribed to; `None` once the source is
    /// gone. A subscriber that falls behind gets `Event::Lagged`.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => {
                    if self.wants(&ev) {
                        return Some(ev);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(Event::Lagged { missed })
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn wants(&self, ev: &Event) -> bool {
        let filter = self.filter.read().unwrap_or_else(|e| e.into_inner());
        match (&*filter, ev) {
            (None, _) | (_, Event::Replaced {}) => false,
            (Some(None), _) => true,
            (Some(Some(doctypes)), Event::Changed { doctype, .. }) => doctypes.contains(doctype),
            (Some(Some(_)), Event::Lagged { .. }) => true,
        }
    }
}
