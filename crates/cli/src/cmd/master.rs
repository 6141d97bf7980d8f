//! `outpost master`: the headless master. For now it opens the office
//! database, serves nothing over the network yet (the link layer comes with
//! the WebRTC issue), and shuts down cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use outpost_api::{Db, LocalDb, Op};
use outpost_store::Store;

use crate::output::CliError;

pub fn run(dir: PathBuf, name: String) -> Result<(), CliError> {
    super::init_tracing("outpost=info,outpost_store=info,outpost_api=info,info");
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(
            anyhow::anyhow!("the office name is empty; pass --name \"Kashgar depot\"").into(),
        );
    }
    let store = Store::open(&dir)
        .with_context(|| format!("cannot open the office database in {}", dir.display()))?;
    let db = LocalDb::new(store.clone(), "master");
    let rt = super::runtime()?;
    rt.block_on(async {
        let hello = db.run(Op::Hello(Default::default())).await?;
        tracing::info!(
            office = %name,
            data = %dir.display(),
            site_id = %hello["site_id"].as_str().unwrap_or_default(),
            doctypes = store.schema().doctypes.len(),
            outbox_pending = store.outbox_pending().unwrap_or(0),
            "master ready"
        );
        eprintln!(
            "Outpost master \"{name}\" is running on {}; Ctrl-C to stop.",
            dir.display()
        );
        shutdown_signal().await;
        Ok::<(), CliError>(())
    })?;
    tracing::info!("shutting down: finishing queued writes");
    store.close();
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `systemctl stop` and `kill` send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
