//! `outpost sync`: the running master's sync with the head-office ERP. It
//! talks to the master through the office database (the worker's state,
//! the outbox, the conflicts) and the data folder's sync lock, so it works
//! while the master runs and never starts a second worker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use outpost_api::{ApiError, ErrorCode};
use outpost_store::{Keep, LinkState, Store, SyncStatus};
use serde_json::Value;

use crate::cli::SyncAction;
use crate::output::{print_json, CliError};

pub fn run(dir: PathBuf, action: SyncAction) -> Result<(), CliError> {
    let store = super::open_master_store(&dir)?;
    let out = match action {
        SyncAction::Now { timeout } => now(&store, &dir, Duration::from_secs(timeout)),
        SyncAction::Status { json } => {
            let status = store.sync_status().context("cannot read the sync state")?;
            if json {
                print_json(&serde_json::to_value(&status).unwrap_or(Value::Null));
            } else {
                print_status(&status);
            }
            Ok(())
        }
        SyncAction::Conflicts { all } => {
            for c in store
                .sync_conflicts(all)
                .context("cannot read the conflicts")?
            {
                print_json(&serde_json::to_value(c).unwrap_or(Value::Null));
            }
            Ok(())
        }
        SyncAction::Resolve { id, keep } => {
            let keep = if keep == "local" {
                Keep::Local
            } else {
                Keep::Remote
            };
            let c = store
                .sync_resolve(id, keep)
                .map_err(outpost_api::error::from_store)?;
            // The office's version goes up at the next cycle: start it.
            let _ = outpost_sync::request_now(&store);
            print_json(&serde_json::to_value(c).unwrap_or(Value::Null));
            Ok(())
        }
        SyncAction::Parked => {
            for p in store.outbox_parked().context("cannot read the outbox")? {
                print_json(&serde_json::to_value(p).unwrap_or(Value::Null));
            }
            Ok(())
        }
    };
    store.close();
    out
}

fn now(store: &Store, dir: &std::path::Path, timeout: Duration) -> Result<(), CliError> {
    if store.sync_state("kind").ok().flatten().is_none() || !store.sync_running() {
        return Err(CliError::Api {
            error: ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "no master is syncing {}: start it with `outpost master --upstream FILE`",
                    dir.display()
                ),
            ),
            query: None,
        });
    }
    let token = outpost_sync::request_now(store).context("cannot ask the master")?;
    let started = Instant::now();
    loop {
        if outpost_sync::request_served(store, &token) {
            break;
        }
        if started.elapsed() > timeout {
            return Err(anyhow!(
                "the master did not finish a sync within {} s; `outpost sync status` shows where it is",
                timeout.as_secs()
            )
            .into());
        }
        if !store.sync_running() {
            return Err(anyhow!("the master stopped before the sync ended").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = store.sync_status().context("cannot read the sync state")?;
    print_status(&status);
    if status.link != LinkState::Up {
        return Err(CliError::Api {
            error: ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the sync did not complete: {}",
                    status
                        .last_error
                        .as_deref()
                        .unwrap_or("see the master's log")
                ),
            ),
            query: None,
        });
    }
    Ok(())
}

fn kib(b: u64) -> String {
    if b < 10 * 1024 {
        format!("{b} B")
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The link state in words: "up", "refused (check user and password)".
fn link_words(s: &SyncStatus) -> String {
    let words = match s.link {
        LinkState::NotConfigured => "no upstream configured",
        LinkState::Stopped => "stopped",
        LinkState::Starting => "starting",
        LinkState::Up => "up",
        LinkState::Down => "down",
        LinkState::Refused => "refused",
        LinkState::Error => "error",
    };
    match &s.hint {
        Some(hint) => format!("{words} ({hint})"),
        None => words.to_string(),
    }
}

fn print_status(s: &SyncStatus) {
    let or_never = |v: &Option<String>| v.clone().unwrap_or_else(|| "never".into());
    println!("link:            {}", link_words(s));
    if let Some(url) = &s.url {
        println!("head office:     {} ({})", url, or_never(&s.kind));
    }
    println!("last success:    {}", or_never(&s.last_success));
    if let Some(e) = &s.last_error {
        println!("last error:      {e}");
    }
    if let Some(n) = &s.next_attempt {
        println!("next attempt:    {n}");
    }
    println!("pending:         {}", s.outbox_pending);
    println!("parked:          {}", s.parked);
    println!("conflicts:       {}", s.conflicts);
    for d in &s.doctypes {
        println!(
            "  {:<15}{} at the head office, {} waiting, {} parked",
            format!("{}:", d.doctype),
            d.sent,
            d.pending,
            d.parked
        );
    }
    let b = &s.bytes;
    println!(
        "bytes today:     {} sent, {} received",
        kib(b.sent_today),
        kib(b.received_today)
    );
    println!(
        "bytes in total:  {} sent, {} received",
        kib(b.sent_total),
        kib(b.received_total)
    );
}
