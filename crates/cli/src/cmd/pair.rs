//! `outpost pair`: a new pairing code for the master whose data folder this
//! is. The running master reads the code's key from the office database,
//! so no restart is needed; the code itself is printed here only (the
//! database keeps no code, and the master's screen cannot show it).

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use outpost_node::pairing_state;

use crate::output::CliError;

pub fn run(dir: PathBuf, minutes: u64) -> Result<(), CliError> {
    let store = super::open_master_store(&dir)?;
    let mut url = pairing_state::stored_url(&store)
        .context("cannot read the master's address")?
        .ok_or_else(|| {
            anyhow!("this master has not been started yet; start it with `outpost master`")
        })?;
    let made = pairing_state::renew(&store, &url.fingerprint, minutes)
        .context("cannot store the new code")?;
    store.close();
    url.code = Some(made.code);
    super::master::print_pairing(&url, made.expires);
    Ok(())
}
