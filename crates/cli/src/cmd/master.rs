//! `outpost master`: the headless master. Opens the office database, listens
//! for slaves (signaling WebSocket, WebRTC data channels), announces itself
//! on the LAN, prints the pairing URL and its QR code, and shuts down
//! cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use outpost_link::pairing::{display_code, qr_terminal, PairingUrl};
use outpost_link::web::WebRoot;
use outpost_node::{pairing_state, Master, MasterConfig, NodeError};
use outpost_sync::{Sync, UpstreamConfig};

use crate::output::CliError;

/// Runs the master until Ctrl-C or SIGTERM. `again`: the command that
/// started it, for the message when its office has no users.
pub fn run(config: MasterConfig, upstream: Option<PathBuf>, again: &str) -> Result<(), CliError> {
    super::init_tracing(
        "outpost=info,outpost_store=info,outpost_api=info,outpost_node=info,outpost_link=info,outpost_sync=info,warn",
    );
    let dir = config.data.clone();
    // Read before anything starts: a broken file stops here, with its line.
    let upstream = upstream
        .map(|p| UpstreamConfig::load(&p))
        .transpose()
        .map_err(anyhow::Error::from)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let master = match Master::start(config).await {
            Ok(m) => m,
            Err(NodeError::NoUsers { data }) => return Err(super::users::no_users(&data, again).into()),
            Err(e) => {
                return Err(anyhow::Error::from(e)
                    .context(format!("cannot start the master with data folder {}", dir.display()))
                    .into())
            }
        };
        let sync = match upstream {
            None => None,
            Some(cfg) => {
                let url = cfg.url.clone();
                let sync = Arc::new(
                    Sync::start(master.store().clone(), cfg)
                        .map_err(|e| anyhow::anyhow!("cannot start the upstream sync: {e}"))?,
                );
                master.db().set_upstream(Some(sync.clone()));
                sync.set_barrier(Some(master.standby_barrier()));
                println!("Syncing with the head office at {url} (`outpost sync status` tells how it goes).");
                Some(sync)
            }
        };
        tracing::info!(
            data = %dir.display(),
            outbox_pending = master.store().outbox_pending().unwrap_or(0),
            "master ready"
        );
        println!(
            "Outpost master \"{}\" is running.",
            master.pairing_url().name
        );
        println!("Data folder: {}", dir.display());
        println!("Device id:   {}", master.fingerprint());
        print_pairing(master.pairing_url(), master.code_expires());
        if let Some(browser) = master.browser_url() {
            say(&format!(
                "Browser address (any PC, tablet or phone on the LAN): {browser}"
            ));
        }
        if let Some(phone) = master.pairing_url().code.as_deref().and_then(|c| master.phone_url(c)) {
            say("A phone or tablet: point its camera at this code (it opens the page with the pairing code filled in):");
            match qr_terminal(&phone) {
                Ok(qr) => say(&qr),
                Err(e) => eprintln!("(no QR code: {e})"),
            }
            say(&format!("Phone address: {phone}"));
        }
        let packages = master.packages();
        say(&format!(
            "Install Outpost on another PC: {} ({} in {})",
            master.install_url(),
            match packages.len() {
                0 => "no packages yet; put Outpost's .deb".to_string(),
                1 => "1 package".to_string(),
                n => format!("{n} packages"),
            },
            master.packages_dir().display()
        ));
        if let Some(office) = master.office_url() {
            say(&format!(
                "Browser address by the office's name (follows the office to its standby after a failover; on devices that resolve .local names): {office}"
            ));
        }
        match &master.backup_status().schedule {
            Some(b) => say(&format!(
                "Backups: every {} min to {} (keeps the newest {} and one a day for {} days).",
                b.every.as_secs().div_ceil(60),
                b.dir.display(),
                b.keep,
                b.dailies
            )),
            None => say("Backups: none scheduled (--backup-dir DIR sets them; `outpost backup` takes one by hand)."),
        }
        eprintln!("Ctrl-C stops the master.");
        shutdown_signal().await;
        tracing::info!("shutting down: closing slaves, finishing queued writes");
        master.db().set_upstream(None);
        if let Some(sync) = sync.and_then(Arc::into_inner) {
            sync.stop().await;
        }
        master.shutdown().await;
        tracing::info!("stopped cleanly");
        Ok::<(), CliError>(())
    })
}

/// The web UI the master serves: the folder given (it must hold
/// `index.html`), else the one built into this program.
pub fn web_ui(given: Option<PathBuf>) -> anyhow::Result<Option<WebRoot>> {
    match given {
        Some(dir) => {
            if !outpost_link::web::is_web_ui(&dir) {
                anyhow::bail!(
                    "{} holds no index.html: give the built web UI's folder (npm --prefix ui run build makes ui/dist)",
                    dir.display()
                );
            }
            Ok(Some(WebRoot::Folder(dir.canonicalize()?)))
        }
        None => Ok(outpost_webui::built()),
    }
}

/// The pairing URL, its QR code and the code in words.
pub fn print_pairing(url: &PairingUrl, expires: u64) {
    let code = url.code.as_deref().map(display_code).unwrap_or_default();
    say(&format!(
        "Pairing URL (the code is valid {} minutes; `outpost pair` makes a new one):",
        pairing_state::minutes_left(expires)
    ));
    say(&url.to_string());
    match qr_terminal(&url.to_string()) {
        Ok(qr) => say(&qr),
        Err(e) => eprintln!("(no QR code: {e})"),
    }
    say(&format!("Pairing code: {code}"));
}

/// Prints a line for the person at the console. A closed stdout (the
/// terminal went away, a pipe was closed) must not stop a running master.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// Ctrl-C, or SIGTERM (what `systemctl stop` and `kill` send).
pub(super) async fn shutdown_signal() {
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
