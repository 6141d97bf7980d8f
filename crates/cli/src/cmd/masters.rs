//! `outpost masters`: masters announced on the LAN (mDNS).

use std::time::Duration;

use outpost_link::discovery;
use serde_json::json;

use crate::output::{print_json, CliError};

pub fn run(wait: Duration) -> Result<(), CliError> {
    super::init_tracing("warn");
    let rt = super::runtime()?;
    let found = rt
        .block_on(discovery::browse(wait))
        .map_err(anyhow::Error::from)?;
    if found.is_empty() {
        eprintln!("no master found on the LAN (listened {} s)", wait.as_secs());
    }
    for m in found {
        print_json(&json!({
            "name": m.name,
            "fingerprint": m.fingerprint,
            "short": outpost_link::identity::short_fingerprint(&m.fingerprint),
            "addrs": m.addrs,
            "port": m.port,
        }));
    }
    Ok(())
}
