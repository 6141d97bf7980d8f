//! `outpost devices`: the devices paired with this master; `revoke ID`.

use std::path::PathBuf;

use serde_json::json;

use crate::cli::DevicesAction;
use crate::output::{print_json, CliError};

pub fn run(dir: PathBuf, action: Option<DevicesAction>) -> Result<(), CliError> {
    let store = super::open_master_store(&dir)?;
    let result = match action {
        None => store.devices().map(|list| {
            for d in list {
                print_json(&json!(d));
            }
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
