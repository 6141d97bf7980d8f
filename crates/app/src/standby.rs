//! The standby master (issue 13) as the window shows it. On the master's
//! Master screen: which paired PC keeps a full copy of the office
//! database, how far behind it is, and whether a standby was promoted in
//! this master's place. On the standby PC itself: where its copy stands
//! ([`StandbyHere`], in the status bar) and whether the office made it the
//! standby at all ([`designated`]).

use serde::Serialize;

use outpost_link::identity::short_fingerprint;
use outpost_node::slave::PairedMaster;
use outpost_node::standby::{StandbyState, WriteMode, WritePolicy};

/// The Master screen's standby line and its fenced banner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StandbyView {
    /// The office's standby; `None`: it has none.
    pub standby: Option<StandbyDeviceView>,
    /// The higher epoch this master met: a standby was promoted in its
    /// place, and it takes no writes.
    pub fenced: Option<u64>,
    /// How writes are answered, as chosen.
    pub policy: WritePolicy,
    /// How they are answered now (the policy meeting the standby).
    pub writes: WriteMode,
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

/// This PC as the office's standby, as its status bar and its Standby
/// screen show it (`Status.standby`; `null` when this PC is not the
/// office's standby).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StandbyHere {
    /// Looking for the master, or waiting for it to answer.
    Connecting,
    /// Fetching the first copy of the office database: bytes so far of
    /// the total, and the whole percent done.
    Copying { done: u64, total: u64, percent: u8 },
    /// Holding every change up to `seq`; `behind`: the master's changes it
    /// does not hold yet.
    Following {
        seq: u64,
        master_seq: u64,
        behind: u64,
    },
    /// The master refuses this PC as its standby, in its words.
    Refused { message: String },
    /// Following stopped and will not resume by itself (the data folder is
    /// held by another program, the disk is full ...).
    Stopped { message: String },
}

impl From<&StandbyState> for StandbyHere {
    fn from(s: &StandbyState) -> StandbyHere {
        match s {
            StandbyState::Connecting => StandbyHere::Connecting,
            StandbyState::Copying { done, total } => StandbyHere::Copying {
                done: *done,
                total: *total,
                percent: percent(*done, *total),
            },
            StandbyState::Following { seq, master_seq } => StandbyHere::Following {
                seq: *seq,
                master_seq: *master_seq,
                behind: master_seq.saturating_sub(*seq),
            },
            StandbyState::Refused { message } => StandbyHere::Refused {
                message: message.clone(),
            },
        }
    }
}

/// `done` of `total` as a whole percent, never 100 before the end.
fn percent(done: u64, total: u64) -> u8 {
    if total == 0 {
        return 0;
    }
    if done >= total {
        return 100;
    }
    ((done as u128 * 100) / total as u128).min(99) as u8
}

/// Whether the office made this PC (`me`) its standby, by the roster the
/// paired master told it: the master and, after it, its standby. The
/// master's own id never counts (a PC paired with itself is no standby).
pub fn designated(paired: &PairedMaster, me: &str) -> bool {
    paired.fingerprint != me && paired.roster.iter().any(|f| f == me)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paired(master: &str, roster: &[&str]) -> PairedMaster {
        PairedMaster {
            name: "Kashgar depot".into(),
            fingerprint: master.into(),
            addr: "127.0.0.1:7355".into(),
            roster: roster.iter().map(|f| f.to_string()).collect(),
            epoch: 0,
        }
    }

    #[test]
    fn a_pc_is_the_standby_only_when_the_roster_names_it_after_another_master() {
        assert!(designated(&paired("aa", &["aa", "bb"]), "bb"));
        assert!(!designated(&paired("aa", &["aa"]), "bb"));
        assert!(!designated(&paired("aa", &[]), "bb"), "nothing learned yet");
        assert!(!designated(&paired("bb", &["bb"]), "bb"), "its own master");
    }

    #[test]
    fn copying_counts_whole_percents_and_reaches_100_only_at_the_end() {
        let copying = |done, total| match StandbyHere::from(&StandbyState::Copying { done, total })
        {
            StandbyHere::Copying { percent, .. } => percent,
            other => panic!("{other:?}"),
        };
        assert_eq!(copying(0, 0), 0);
        assert_eq!(copying(0, 1000), 0);
        assert_eq!(copying(400, 1000), 40);
        assert_eq!(copying(999_999, 1_000_000), 99);
        assert_eq!(copying(1000, 1000), 100);
        assert_eq!(copying(u64::MAX - 1, u64::MAX), 99, "no overflow");
    }

    #[test]
    fn following_says_how_many_changes_behind_and_never_below_zero() {
        let here = StandbyHere::from(&StandbyState::Following {
            seq: 90,
            master_seq: 93,
        });
        assert_eq!(
            here,
            StandbyHere::Following {
                seq: 90,
                master_seq: 93,
                behind: 3
            }
        );
        // The master's number read before the last batch was applied.
        let ahead = StandbyHere::from(&StandbyState::Following {
            seq: 95,
            master_seq: 93,
        });
        assert!(matches!(ahead, StandbyHere::Following { behind: 0, .. }));
        let refused = StandbyHere::from(&StandbyState::Refused {
            message: "this PC is not the office's standby".into(),
        });
        assert_eq!(
            serde_json::to_value(&refused).unwrap(),
            serde_json::json!({"state": "refused", "message": "this PC is not the office's standby"})
        );
    }
}
