//! The vendored webrtc driver's `RecvSet` (vendor/README.md), compiled here
//! with its unit tests: cargo runs no tests of a patched dependency.

#[path = "../../../vendor/webrtc/src/peer_connection/recv_set.rs"]
mod recv_set;
