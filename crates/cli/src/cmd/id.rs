//! `outpost id`: this PC's device id.

use std::path::PathBuf;

use anyhow::Context;
use outpost_link::Identity;

use crate::output::CliError;

pub fn run(dir: PathBuf) -> Result<(), CliError> {
    let id = Identity::load_or_create(&dir)
        .with_context(|| format!("cannot read or make the identity in {}", dir.display()))?;
    println!("{}", id.fingerprint());
    Ok(())
}
