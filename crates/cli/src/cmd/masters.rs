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

/// `outpost masters --office NAME`: the addresses the office's LAN name
/// resolves to over mDNS now (the promoted standby's after a failover).
pub fn office(name: &str, wait: Duration) -> Result<(), CliError> {
    super::init_tracing("warn");
    let rt = super::runtime()?;
    let addrs = rt
        .block_on(discovery::resolve_office(name, wait))
        .map_err(anyhow::Error::from)?;
    let host = format!("{}.local", discovery::office_host(name));
    if addrs.is_empty() {
        return Err(anyhow::anyhow!(
            "nobody answers for {host} on the LAN (listened {} s): is the office's master running and announced?",
            wait.as_secs()
        )
        .into());
    }
    print_json(&json!({"name": host, "addrs": addrs}));
    Ok(())
}
