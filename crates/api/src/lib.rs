//! The DB call protocol and the `Db` interface every shell calls.
//!
//! Parts:
//! - [`protocol`]: the versioned envelope (requests, responses, events),
//!   ops with typed arguments, error codes, and decoding that gives each
//!   kind of bad input its own error.
//! - [`db`]: the [`Db`] trait and [`EventStream`]: the one interface a
//!   master (`LocalDb`) and a slave (`RemoteDb`, node layer) both expose.
//! - [`local`]: [`LocalDb`], which runs calls on the store in this process.
//! - [`error`]: store errors mapped to protocol error codes.
//! - [`roles`]: what a signed-in person may do, checked per op.
//! - [`sheets`]: spreadsheets in and out: the `import` and `export` ops,
//!   CSV and XLSX files read and written.
//! - [`print`]: the `print` op's data and the [`print::Render`] engine
//!   it hands it to (typst, in `outpost-print`, plugged in by the node).
//!
//! This crate knows nothing of how bytes travel.
//!
//! Feature `ts`: the protocol types also derive `ts_rs::TS`; the TypeScript
//! in `ui/src/lib/generated/` is made from them (a test in `outpost-app`
//! checks it is up to date).

pub mod db;
pub mod error;
pub mod local;
pub mod print;
pub mod protocol;
pub mod roles;
pub mod sheets;

pub use db::{Db, EventStream, Upstream};
pub use local::LocalDb;
pub use protocol::{
    decode_incoming, decode_request, incoming_head, ApiError, ErrorCode, Event, Incoming,
    IncomingHead, Op, Request, RequestId, Response, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
