//! What the window reads: serde types, named as in `docs/desktop-api.md`.

use outpost_link::identity::short_fingerprint;
use outpost_store::SyncStatus;
use serde::Serialize;

use crate::settings::Role;
use crate::standby::StandbyHere;

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkView {
    /// Neither master nor slave.
    Idle,
    Connecting,
    Connected {
        master: String,
    },
    Reconnecting {
        reason: String,
    },
    Refused {
        code: String,
        message: String,
    },
    /// Master mode is on but could not start (port taken, name in use ...).
    Failed {
        message: String,
    },
    /// Master mode is on, but the office has no users yet: the window asks
    /// for its first manager, then the master starts.
    NoManager,
}

/// The master a slave is paired with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PairedView {
    pub name: String,
    pub fingerprint: String,
    pub short: String,
    pub addr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Status {
    pub role: Role,
    pub device_id: String,
    pub device_short: String,
    /// The master's office name (its own on the master; the paired one's on
    /// a slave).
    pub office_name: Option<String>,
    pub master: Option<PairedView>,
    pub link: LinkView,
    pub devices_connected: usize,
    /// The master's signaling socket, `host:port`.
    pub listen: Option<String>,
    pub data_dir: String,
    /// This PC as the office's standby (a slave the master made its
    /// standby keeps a copy of the office database); `None`: it is not.
    pub standby: Option<StandbyHere>,
    /// On a slave: the newer Outpost its master carries, when it runs one.
    pub update: Option<crate::update::UpdateView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Pairing {
    /// The master's pairing URL, with the code when there is one to show.
    pub url: String,
    /// Grouped for reading aloud: `ABCD-2345`. `None`: this master has no
    /// code to show (the current one was made by `outpost pair`, which
    /// alone shows it, or was retired by a revocation); "New code" makes
    /// one here.
    pub code: Option<String>,
    /// When the code expires (seconds since the epoch; 0 without a code).
    pub expires: u64,
    pub minutes_left: u64,
    pub qr_svg: String,
    /// `http://HOST:PORT/` when the master serves the web UI to browsers.
    pub browser_url: Option<String>,
    /// `http://outpost-OFFICE.local:PORT/`: the same, by the office's LAN
    /// name, when the master announces it (follows a failover).
    pub office_url: Option<String>,
    /// What a phone's camera opens to pair: the browser address with the
    /// code and the master's fingerprint in its fragment (with a code and
    /// a web UI only), and its QR code.
    pub phone_url: Option<String>,
    pub phone_qr_svg: Option<String>,
    /// `http://HOST:PORT/install/`: the packages this master carries for
    /// the office's other PCs.
    pub install_url: String,
    /// How many packages it carries, and the folder they are taken from.
    pub packages: usize,
    pub packages_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DeviceView {
    pub fingerprint: String,
    pub short: String,
    pub name: String,
    pub first_seen: String,
    pub last_seen: String,
    pub state: String,
    pub connected: bool,
    /// It is the office's standby master (it keeps a full copy).
    pub standby: bool,
}

impl DeviceView {
    /// `standby`: the office's standby device, if it has one.
    pub fn new(d: outpost_store::Device, connected: bool, standby: Option<&str>) -> DeviceView {
        DeviceView {
            standby: standby == Some(d.fingerprint.as_str()),
            short: short_fingerprint(&d.fingerprint),
            fingerprint: d.fingerprint,
            name: d.name,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            state: d.state,
            connected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FoundMasterView {
    pub name: String,
    pub fingerprint: String,
    pub short: String,
    pub addr: String,
}

/// The head-office sync as the Master screen reads it: the store's
/// [`SyncStatus`] and, on a desktop master, the upstream file Settings hold
/// and why its worker could not start (both `null` on a slave, which asks
/// its master).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SyncView {
    #[serde(flatten)]
    pub status: SyncStatus,
    pub upstream_file: Option<String>,
    pub upstream_error: Option<String>,
}

/// A pairing URL read from a photo or screenshot of its QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DecodedQr {
    pub url: String,
}
