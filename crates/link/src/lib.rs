//! The link layer: how a slave and its master find each other, trust each
//! other and talk, without knowing anything of SQL or doctypes.
//!
//! Parts:
//! - [`identity`]: the device's persistent DTLS certificate; its SHA-256
//!   fingerprint is the device id; SDP fingerprint pinning.
//! - [`pairing`]: pairing URLs (`outpost://HOST:PORT/?name=&fp=&code=`),
//!   QR codes for the terminal.
//! - [`code`]: short typeable pairing codes, and the proofs of a code that
//!   slave and master trade (each proves to the other it saw the code).
//! - [`signal`]: the signaling messages (hello, offer, answer, candidate,
//!   refused).
//! - [`socket`]: the signaling WebSocket, server and client side.
//! - [`peer`]: a tuned WebRTC peer connection and [`Channel`], the `db`
//!   data channel as a pipe of whole messages.
//! - `runtime`: tokio for the WebRTC stack, with large UDP buffers.
//! - [`framing`]: chunking messages into frames within the peer's limit.
//! - [`handshake`]: master and slave sides of bringing up a channel with
//!   both fingerprints pinned.
//! - [`origin`]: which `Host` and `Origin` the master's port answers (the
//!   LAN's, not a DNS-rebinding page's).
//! - [`discovery`]: announcing and finding masters on the LAN over mDNS.

pub mod channel;
pub mod code;
pub mod discovery;
pub mod error;
pub mod framing;
pub mod handshake;
pub mod identity;
pub mod install;
pub mod origin;
pub mod pairing;
pub mod peer;
mod runtime;
pub mod signal;
pub mod socket;
pub mod web;

pub use error::{LinkError, Result};

/// A log filter that keeps the WebRTC and mDNS crates to real errors: they
/// warn about routine ICE/DTLS events (a check before candidates arrive, a
/// server name default). Every program that logs appends it.
pub const QUIET_LOG_FILTER: &str =
    "rtc_ice=error,rtc_dtls=error,rtc_sctp=error,rtc=error,webrtc=error,mdns_sd=error";
pub use channel::{Channel, ChannelReceiver, ChannelSender, Company};
pub use handshake::{
    accept_slave, connect_master, connect_master_again, connect_master_as, connect_master_in,
    Admission, MasterInfo, SlaveHello, Versions,
};
pub use identity::Identity;
pub use pairing::PairingUrl;
pub use peer::RtcOptions;
pub use socket::SignalSocket;
