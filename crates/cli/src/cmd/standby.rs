//! `outpost standby`: this PC keeps a live copy of the office database as
//! its standby master, and says how far it is.

use std::path::PathBuf;

use outpost_node::standby::{self, StandbyConfig, StandbyState};
use outpost_node::Target;
use tokio::sync::watch;

use crate::output::CliError;

pub fn run(
    data: PathBuf,
    connect: String,
    code: Option<String>,
    ice_servers: Vec<String>,
) -> Result<(), CliError> {
    super::init_tracing("outpost=info,outpost_node=info,outpost_store=warn,warn");
    let target = Target::parse(&connect).map_err(anyhow::Error::from)?;
    let rtc = outpost_link::RtcOptions {
        ice_servers,
        ..Default::default()
    };
    let config = StandbyConfig {
        data: data.clone(),
        target,
        code,
        device_name: format!("standby ({})", outpost_node::slave::default_device_name()),
        rtc,
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let (state_tx, mut state) = watch::channel(StandbyState::Connecting);
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(standby::follow(config, state_tx, stop));
        println!("Standby: data folder {}", data.display());
        let mut last_line = String::new();
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        // One listener for the whole run: a listener made afresh on each
        // turn of the loop misses a SIGTERM sent between two turns (as
        // `outpost promote` sends it), and the standby would not stop.
        let shutdown = super::master::shutdown_signal();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                _ = &mut shutdown => {
                    let _ = stop_tx.send(true);
                    break task.await;
                }
                _ = state.changed() => {}
                _ = ticker.tick() => {}
            }
            if task.is_finished() {
                break task.await;
            }
            let line = describe(&state.borrow());
            if line != last_line {
                println!("{line}");
                last_line = line;
            }
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!("the standby stopped: {e}")),
            Err(e) => Err(anyhow::anyhow!("the standby stopped: {e}")),
        }
    })?;
    Ok(())
}

fn describe(s: &StandbyState) -> String {
    match s {
        StandbyState::Connecting => "Connecting to the master ...".into(),
        StandbyState::Copying { done, total } => format!(
            "Copying the office database: {} of {} KB",
            done / 1024,
            total / 1024
        ),
        StandbyState::Following { seq, master_seq } => {
            if seq >= master_seq {
                format!("Following: at change {seq}, up to date")
            } else {
                format!("Following: at change {seq} of {master_seq}")
            }
        }
        StandbyState::Refused { message } => format!("The master refuses: {message}"),
    }
}
