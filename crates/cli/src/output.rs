//! Printing results (JSON on stdout) and errors (words on stderr).

use outpost_api::{ApiError, ErrorCode};
use serde_json::Value;

/// An error on its way to the user.
#[derive(Debug)]
pub enum CliError {
    /// The database refused or failed a call.
    Api {
        error: ApiError,
        /// The text query, to point at a syntax error.
        query: Option<String>,
    },
    /// Anything else (unreadable file, bad argument ...).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

impl From<ApiError> for CliError {
    fn from(error: ApiError) -> Self {
        CliError::Api { error, query: None }
    }
}

/// Prints one JSON value on its own line. A closed stdout (`| head`) ends
/// the command quietly instead of panicking.
pub fn print_json(v: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Writes the error to stderr and returns the exit code.
pub fn report(e: &CliError) -> i32 {
    match e {
        CliError::Other(e) => {
            eprintln!("error: {e:#}");
            1
        }
        CliError::Api { error, query } => {
            eprintln!("error: {}", error.message);
            let details = error.details.as_ref();
            if let (Some(q), Some(pos)) = (
                query,
                details
                    .filter(|d| d["reason"] == "syntax" && d["path"] == "")
                    .and_then(|d| d["position"].as_u64()),
            ) {
                eprintln!("  {q}");
                eprintln!("  {}^", " ".repeat(pos.saturating_sub(1) as usize));
            }
            if let Some(current) = details.and_then(|d| d.get("current")) {
                eprintln!("current record: {current}");
            }
            match error.code {
                ErrorCode::BadRequest | ErrorCode::TooLarge => 3,
                ErrorCode::NotFound => 4,
                ErrorCode::Conflict => 5,
                ErrorCode::Unauthorized | ErrorCode::Forbidden => 6,
                ErrorCode::Unavailable => 7,
                ErrorCode::Internal => 1,
            }
        }
    }
}
