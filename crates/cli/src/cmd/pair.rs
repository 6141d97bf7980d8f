//! `outpost pair`: a new pairing code for the master whose data folder this
//! is. The running master reads the code from the office database, so no
//! restart is needed.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use outpost_node::pairing_state;
use outpost_store::Store;

use crate::output::CliError;

pub fn run(dir: PathBuf, minutes: u64) -> Result<(), CliError> {
    if !dir.join(outpost_store::DB_FILE).exists() {
        return Err(anyhow!(
            "{} holds no office database; run this on the master, with its data folder",
            dir.display()
        )
        .into());
    }
    let store = Store::open(&dir).context("cannot open the office database")?;
    let mut url = pairing_state::stored_url(&store)
        .context("cannot read the master's address")?
        .ok_or_else(|| {
            anyhow!("this master has not been started yet; start it with `outpost master`")
        })?;
    let (code, expires) =
        pairing_state::renew(&store, minutes).context("cannot store the new code")?;
    store.close();
    url.code = Some(code);
    super::master::print_pairing(&url, expires);
    Ok(())
}
