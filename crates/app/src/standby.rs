//! The standby master (issue 13) as the Master screen shows it: which
//! paired PC keeps a full copy of the office database, how far behind it
//! is, and whether a standby was promoted in this master's place.

use serde::Serialize;

use outpost_link::identity::short_fingerprint;

/// The Master screen's standby line and its fenced banner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StandbyView {
    /// The office's standby; `None`: it has none.
    pub standby: Option<StandbyDeviceView>,
    /// The higher epoch this master met: a standby was promoted in its
    /// place, and it takes no writes.
    pub fenced: Option<u64>,
}

/// The standby device and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StandbyDeviceView {
    pub fingerprint: String,
    pub short: String,
    /// Its name as it paired (its fingerprint's short form when the
    /// device list no longer holds it).
    pub name: String,
    /// It called within the last few seconds; `false`: it is away.
    pub connected: bool,
    /// Everything up to this change is on its disk.
    pub acked_seq: u64,
    /// The master's last change.
    pub master_seq: u64,
    /// Changes it does not hold yet.
    pub lag_changes: u64,
    /// Age of the oldest change it does not hold yet.
    pub lag_seconds: f64,
    /// When this was read (Unix seconds).
    pub at: u64,
}

impl StandbyDeviceView {
    /// `name`: the device's name from the master's device list, if there.
    pub fn new(s: outpost_node::standby::StandbyStatus, name: Option<String>) -> StandbyDeviceView {
        let short = short_fingerprint(&s.device);
        StandbyDeviceView {
            name: name.unwrap_or_else(|| short.clone()),
            short,
            fingerprint: s.device,
            connected: s.connected,
            acked_seq: s.acked_seq,
            master_seq: s.master_seq,
            lag_changes: s.lag_changes,
            lag_seconds: s.lag_seconds,
            at: s.at,
        }
    }
}
