//! One module per command.

mod db;
mod master;

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Cli, Command, DataArg};
use crate::output::CliError;

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Master { data, name } => master::run(data_dir(&data)?, name),
        Command::Db { data, op } => db::run(data_dir(&data)?, op),
    }
}

/// `--data`, else `OUTPOST_DATA` (both via clap), else the platform's data
/// folder (XDG on Linux: `$XDG_DATA_HOME/outpost`, `~/.local/share/outpost`).
fn data_dir(arg: &DataArg) -> anyhow::Result<PathBuf> {
    match &arg.data {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("outpost"))
            .context("no data folder: pass --data DIR or set OUTPOST_DATA"),
    }
}

/// Logs to stderr; `RUST_LOG=outpost=debug` tells the story of each call.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
