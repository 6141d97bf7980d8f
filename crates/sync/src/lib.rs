//! Upstream sync (DESIGN.md section 6): the master's link to the
//! head-office ERP. This crate knows nothing of WebRTC.
//!
//! - [`config`]: the upstream file (`outpost master --upstream FILE`): which
//!   ERP, where, who, and how each Outpost doctype maps to a remote model.
//!   Built-in mappings cover the starter doctypes.
//! - [`connector`]: the [`Connector`] trait every upstream implements (pull
//!   a page after a cursor, push a batch, look a record up by its key) and
//!   the error classes the worker acts on (retry, log in again, conflict,
//!   park).
//! - [`tryton`]: the Tryton connector over JSON-RPC (`docs/tryton-rpc.md`
//!   holds what was measured against a real `trytond`).
//! - [`erpnext`]: the ERPNext/Frappe connector over its REST API, tested
//!   against written HTTP exchanges (no Frappe server runs here).
//! - [`file_mode`]: a warning when the upstream file (which may hold the
//!   head office's password) can be read by other users of the PC.
//! - [`probe`]: "Test connection": sign in with a configuration and say
//!   what the head office has (version, company, the mapped models) or
//!   what failed, without syncing.
//! - [`worker`]: the worker on the master: push the outbox in batches, pull
//!   pages into the store, notice remote deletions, settle conflicts by
//!   policy, back off when the uplink is down.

pub mod config;
pub mod connector;
pub mod erpnext;
pub mod file_mode;
pub mod http;
pub mod probe;
pub mod tryton;
pub mod upstream_query;
pub mod worker;

pub use config::{DoctypeMap, Kind, UpstreamConfig, BUILTIN_MODELS};
pub use connector::{
    Connector, Cursor, ErrorClass, Page, RemoteRecord, RemoteWrite, SyncError, Traffic,
};
pub use probe::{probe, ModelProbe, Probe};
pub use worker::{request_now, request_served, Barrier, Sync, UPSTREAM_DEVICE};
