//! "Test connection": sign in to a head office with an upstream
//! configuration, without syncing anything, and say what is there — the
//! server's version, the company the sync works for, and for each mapped
//! doctype whether its remote model exists — or exactly what failed
//! (unreachable, certificate, wrong user or password, no such database).
//!
//! Settings uses it before saving a head office, so a clerk learns that
//! the password is wrong or the sale module is not active at the head
//! office now, not from the sync's state an hour later.

use serde::Serialize;

use crate::config::{Kind, UpstreamConfig};
use crate::connector::SyncError;

/// What a head office answered to a test connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Probe {
    /// The ERP's name as people know it: `Tryton`, `ERPNext`.
    pub server: String,
    /// The server's version (`8.2`), when it says.
    pub version: Option<String>,
    /// The user the sync signs in as (Tryton: the login; ERPNext: the
    /// user owning the API key, when it says).
    pub user: String,
    /// The company whose prices and documents the sync reads and writes
    /// (Tryton: the user's current company, or `company` of the file;
    /// ERPNext: the site's default company), when there is one.
    pub company: Option<String>,
    /// One per mapped doctype, by doctype name.
    pub models: Vec<ModelProbe>,
    /// Every model is there: the sync can start with this configuration.
    pub ok: bool,
}

/// Whether the head office has what one Outpost doctype syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelProbe {
    /// The Outpost doctype (`Sale`).
    pub doctype: String,
    /// Its remote model (`sale.sale`, `Customer`).
    pub model: String,
    /// The model (and its lines' model, for a document) exists there and
    /// the user may read it.
    pub present: bool,
    /// What is missing and what to do, when not present ("sale.sale is not
    /// installed at the head office: activate the sale module").
    pub problem: Option<String>,
}

impl Probe {
    /// A probe's `ok` from its models.
    pub(crate) fn new(
        server: &str,
        version: Option<String>,
        user: String,
        company: Option<String>,
        models: Vec<ModelProbe>,
    ) -> Probe {
        Probe {
            server: server.to_string(),
            version,
            user,
            company,
            ok: models.iter().all(|m| m.present),
            models,
        }
    }
}

/// Signs in to the head office `config` names and says what it found
/// there; nothing is written, no sync state changes. An error is what
/// stopped the test (the link, the certificate, the credentials, the
/// database), in words a person can act on.
pub async fn probe(config: &UpstreamConfig) -> Result<Probe, SyncError> {
    use crate::connector::Connector;
    match config.kind {
        Kind::Tryton => crate::tryton::Tryton::new(config.clone())?.probe().await,
        Kind::Erpnext => crate::erpnext::Erpnext::new(config.clone())?.probe().await,
    }
}
