//! `outpost devices`: the devices paired with this master (the standby
//! with its lag); `revoke ID`; `standby ID`.

use std::path::PathBuf;

use outpost_node::standby;
use serde_json::json;

use crate::cli::DevicesAction;
use crate::output::{print_json, CliError};

pub fn run(dir: PathBuf, action: Option<DevicesAction>) -> Result<(), CliError> {
    let store = super::open_master_store(&dir)?;
    let result = match action {
        None => store.devices().map(|list| {
            let standby = standby::standby_device(&store).ok().flatten();
            let lag = standby::StandbyStatus::load(&dir);
            for d in list {
                let mut v = json!(d);
                if standby.as_deref() == Some(d.fingerprint.as_str()) {
                    v["standby"] = json!(true);
                    if let Some(l) = lag.as_ref().filter(|l| l.device == d.fingerprint) {
                        v["standby_lag"] = json!({
                            "changes": l.lag_changes,
                            "seconds": (l.lag_seconds * 10.0).round() / 10.0,
                            "at_change": l.acked_seq,
                            "master_change": l.master_seq,
                            "following": l.connected,
                            "writes": l.writes,
                        });
                    }
                }
                print_json(&v);
            }
        }),
        Some(DevicesAction::Standby { id: Some(id), .. }) => {
            standby::make_standby(&store, &id).map(|d| {
                print_json(&json!(d));
                eprintln!(
                    "{} ({}) is now the office's standby: run `outpost standby --connect NAME` on it to keep a live copy",
                    d.name, d.fingerprint
                );
            })
        }
        Some(DevicesAction::Standby { id: None, .. }) => standby::clear_standby(&store).map(|()| {
            eprintln!("the office has no standby any more");
        }),
        Some(DevicesAction::Revoke { id }) => {
            outpost_node::pairing_state::revoke(&store, &id).map(|d| {
                print_json(&json!(d));
                eprintln!(
                    "revoked {} ({}); its connection closes within a second. The current pairing code is retired too: `outpost pair` makes a new one",
                    d.name, d.fingerprint
                );
            })
        }
    };
    store.close();
    result.map_err(|e| outpost_api::error::from_store(e).into())
}
