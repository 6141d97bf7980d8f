//! `outpost`: the headless shell over Outpost's core.
//!
//! - `outpost master`: a long-running headless master (the office database).
//! - `outpost db <op>`: one DB call against a data folder, printed as JSON.
//!
//! Exit codes: 0 ok, 1 internal, 2 usage, 3 bad request, 4 not found,
//! 5 conflict, 6 refused (unauthorized/forbidden), 7 unavailable.
//!
//! A library as well as the `outpost` binary: the desktop app's binary
//! carries the same commands (`outpost-desktop --cli ...`, which is what
//! the installed `/usr/bin/outpost` runs), so a package ships one program.

mod cli;
mod cmd;
mod output;

use std::ffi::OsString;

use clap::Parser;

/// Runs the command line `args` (the program's name first) and exits the
/// process with its exit code.
pub fn main_with(args: impl IntoIterator<Item = OsString>) -> ! {
    let cli = cli::Cli::parse_from(args);
    let code = match cmd::run(cli) {
        Ok(()) => 0,
        Err(e) => output::report(&e),
    };
    std::process::exit(code);
}
