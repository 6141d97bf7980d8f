//! Typed errors of the link layer, each in words a clerk can act on.

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("bad pairing address: {0}")]
    BadUrl(String),

    #[error("cannot keep this PC's identity: {0}")]
    Identity(String),

    /// The peer presented a certificate other than the one pinned.
    #[error("{who} is not the one expected: its certificate fingerprint is {got}, expected {expected}; refusing to connect (if the master PC was reinstalled, pair again with its new pairing URL)")]
    FingerprintMismatch {
        who: String,
        got: String,
        expected: String,
    },

    /// The master refused this device (unknown, wrong code, revoked ...).
    #[error("{message}")]
    Refused { code: String, message: String },

    /// A PC answered a pairing by code without proving it knows the code:
    /// whatever name it announces, it is not the office's master.
    #[error("refused the PC answering as \"{name}\" at {addr}: {why}. It is not the office's master (another PC on the LAN may be using the office's name); nothing was saved. Pair with the pairing URL or QR code shown on the master, or check the code on the master's screen")]
    NotTheOffice {
        name: String,
        addr: String,
        why: String,
    },

    #[error("cannot reach the master at {addr}: {message}")]
    Unreachable { addr: String, message: String },

    #[error("signaling failed: {0}")]
    Signaling(String),

    #[error("WebRTC failed: {0}")]
    Rtc(String),

    #[error("timed out {0}")]
    Timeout(String),

    #[error("bad frame on the data channel: {0}")]
    Frame(String),

    #[error("a message of {size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    #[error("the connection is closed")]
    Closed,

    #[error("LAN discovery failed: {0}")]
    Discovery(String),

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl LinkError {
    pub(crate) fn rtc(e: impl std::fmt::Display) -> LinkError {
        LinkError::Rtc(e.to_string())
    }
}

pub type Result<T, E = LinkError> = std::result::Result<T, E>;
