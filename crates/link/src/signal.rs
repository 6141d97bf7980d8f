//! Signaling messages: JSON text frames on the master's WebSocket
//! (`ws://HOST:PORT/signal`). The socket only introduces the peers; every DB
//! call travels on the encrypted data channel, and both ends pin the other's
//! certificate fingerprint, so a plain WebSocket on the LAN is enough.
//!
//! ```text
//! slave  -> master  {"t":"hello","v":1,"device":FP,"name":"Front desk","proof":"<hex>"}
//! master -> slave   {"t":"offer","master":"Kashgar depot","sdp":"...","proof":"<hex>"}  or {"t":"refused",...}
//! slave  -> master  {"t":"answer","sdp":"..."}
//! both              {"t":"candidate","candidate":"candidate:...","mid":"0"}
//! master -> slave   {"t":"refused","code":"forbidden","message":"..."}     at any point
//! ```

use serde::{Deserialize, Serialize};

/// Signaling protocol version.
pub const SIGNAL_VERSION: u32 = 1;
/// Path of the signaling WebSocket on the master's port.
pub const SIGNAL_PATH: &str = "/signal";
/// Largest signaling frame accepted (an SDP is a few KiB).
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Signal {
    /// First message from a slave: who it is, and on first contact a proof
    /// that it knows the pairing code (never the code itself: the socket is
    /// plain text on the LAN). See `pairing::code_proof`.
    Hello {
        v: u32,
        /// The slave's certificate fingerprint (its device id).
        device: String,
        /// A name for the device that people recognise ("Front desk PC").
        #[serde(default)]
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<String>,
        /// Which Outpost the slave runs (its app version, e.g. "0.1.0"),
        /// and the DB protocol it speaks. Absent from slaves older than
        /// this field (they speak protocol 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
        /// How often the slave checks the connection itself (an ICE
        /// keepalive the master answers), in milliseconds: the master then
        /// sends none of its own, which is what keeps an idle master quiet
        /// with hundreds of devices. Absent from browsers and older slaves:
        /// the master keeps those connections alive itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keepalive_ms: Option<u64>,
        /// The slave reads batch frames on the data channel
        /// (`framing`): the master may send several answers as one. Absent
        /// from browsers and older slaves.
        #[serde(default, skip_serializing_if = "is_false")]
        batches: bool,
    },
    Offer {
        /// The office name.
        master: String,
        sdp: String,
        /// On first contact, the master's proof that it knows the pairing
        /// code too (`code::CodeKeys::master_proof`); a slave pairing by
        /// code refuses an offer without it. Absent on reconnects (and
        /// from masters older than the proof: older slaves ignore it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<String>,
        /// Which Outpost the master runs, and its DB protocol: a slave
        /// older than the master hears that an update is available.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
        /// The master reads batch frames: the slave may send several calls
        /// as one. Absent from older masters.
        #[serde(default, skip_serializing_if = "is_false")]
        batches: bool,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
    },
    /// The master will not connect this device; the socket closes after it.
    Refused {
        /// `unauthorized` (unknown device, no or wrong code), `forbidden`
        /// (revoked), `bad_request`, `unavailable`.
        code: String,
        message: String,
    },
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Signal {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Signal, String> {
        if text.len() > MAX_SIGNAL_BYTES {
            return Err(format!(
                "signaling message of {} bytes is over the {MAX_SIGNAL_BYTES}-byte limit",
                text.len()
            ));
        }
        serde_json::from_str(text).map_err(|e| format!("not a signaling message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_their_tag() {
        let m = Signal::Hello {
            v: 1,
            device: "ab".into(),
            name: "Desk".into(),
            proof: Some("ab12".into()),
            app: Some("0.1.0".into()),
            protocol: Some(1),
            keepalive_ms: Some(4000),
            batches: true,
        };
        let text = m.encode();
        assert!(text.contains(r#""keepalive_ms":4000"#), "{text}");
        assert!(text.contains(r#""batches":true"#), "{text}");
        assert!(text.starts_with(r#"{"t":"hello""#), "{text}");
        assert_eq!(Signal::decode(&text).unwrap(), m);
        assert!(Signal::decode("{\"t\":\"nonsense\"}").is_err());
        // An offer's proof is optional both ways: older masters send none.
        let old = Signal::decode(r#"{"t":"offer","master":"M","sdp":"v=0"}"#).unwrap();
        assert_eq!(
            old,
            Signal::Offer {
                master: "M".into(),
                sdp: "v=0".into(),
                proof: None,
                app: None,
                protocol: None,
                batches: false,
            }
        );
        let with = Signal::Offer {
            master: "M".into(),
            sdp: "v=0".into(),
            proof: Some("ab".into()),
            app: Some("0.2.0".into()),
            protocol: Some(1),
            batches: true,
        };
        assert_eq!(Signal::decode(&with.encode()).unwrap(), with);
        assert!(Signal::decode("garbage").is_err());
    }
}
