//! The master PC's own window as a person signed in on the office (issue
//! 14): its DB calls pass the master's gate through a [`LocalSession`]
//! (sign-in, role checks, history under its person), and it is shown only
//! the changes its person may read.

use std::sync::Arc;

use async_trait::async_trait;
use outpost_api::db::EventStream;
use outpost_api::protocol::SubscribeArgs;
use outpost_api::roles::AdminRight;
use outpost_api::{Db, Event, LocalDb, Op, Request, Response};
use outpost_node::LocalSession;
use tokio::sync::broadcast;

use super::AppEvent;
use crate::error::AppError;

/// The label the master's window writes under (`modified_by`, history).
pub(super) const MASTER_WINDOW: &str = "master-window";

/// The window's `Db` on the master: every call through its session.
pub(super) struct WindowDb {
    pub(super) session: Arc<LocalSession>,
    /// The office database as the window, for change events only (they
    /// are filtered by the session's person before the window sees them).
    pub(super) raw: LocalDb,
}

#[async_trait]
impl Db for WindowDb {
    async fn call(&self, req: Request) -> Response {
        self.session.call(req).await
    }

    fn events(&self) -> EventStream {
        self.raw.events()
    }
}

impl WindowDb {
    /// Whether the window's person may do `right` (an office without
    /// users: anyone).
    pub(super) fn admin(&self, right: AdminRight) -> Result<(), AppError> {
        self.session.check_admin(right).map_err(AppError::from)
    }
}

/// Forwards the office's changes to the window, each only when the
/// window's person may read its doctype (nobody signed in in an office
/// with users: none).
pub(super) async fn forward_master_changes(db: Arc<WindowDb>, tx: broadcast::Sender<AppEvent>) {
    let mut events = db.raw.events();
    if let Err(e) = db.raw.run(Op::Subscribe(SubscribeArgs::default())).await {
        tracing::warn!(
            "the window cannot follow the office's changes: {}",
            e.message
        );
        return;
    }
    while let Some(ev) = events.recv().await {
        let shown = match &ev {
            Event::Changed { doctype, .. } => db.session.may_see(doctype),
            Event::Lagged { .. } => true,
            Event::Replaced {} => false,
        };
        if shown {
            let _ = tx.send(AppEvent::Db(ev));
        }
    }
}

impl super::App {
    /// Refuses, in an office with users, what the master window's person
    /// may not administer (`forbidden` naming the right; `unauthorized`
    /// when nobody is signed in). Outside master mode there is nothing here
    /// to administer, and the command refuses for its own reason.
    pub(super) async fn admin(&self, right: AdminRight) -> Result<(), AppError> {
        match &*self.inner.mode.lock().await {
            super::Mode::Master { db, .. } => db.admin(right),
            _ => Ok(()),
        }
    }
}
