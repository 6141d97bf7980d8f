//! `outpost`: the headless shell over Outpost's core.
//!
//! - `outpost master`: a long-running headless master (the office database).
//! - `outpost db <op>`: one DB call against a data folder, printed as JSON.
//!
//! Exit codes: 0 ok, 1 internal, 2 usage, 3 bad request, 4 not found,
//! 5 conflict, 6 refused (unauthorized/forbidden), 7 unavailable.

mod cli;
mod cmd;
mod output;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match cmd::run(cli) {
        Ok(()) => 0,
        Err(e) => output::report(&e),
    };
    std::process::exit(code);
}
