//! One module per command.

mod backup;
mod db;
mod devices;
mod id;
mod master;
mod masters;
mod pair;
mod report;
mod sheets;
mod standby;
mod sync;
mod users;

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Cli, Command, DataArg};
use crate::output::CliError;

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Master {
            data,
            name,
            office_address,
            listen,
            port,
            code_minutes,
            no_mdns,
            ice_server,
            upstream,
            ui,
            packages,
            backup,
            durability,
            standby_away,
            first_manager,
        } => {
            let dir = data_dir(&data)?;
            let again = format!("outpost master --name {}", users::shell_word(&name));
            // Without the flag, an office without users is refused by
            // `Master::start`, after the folder's lock and health checks.
            if first_manager.admin_password_file.is_some() {
                users::first_manager(&dir, &first_manager, &again)?;
            }
            let mut config = outpost_node::MasterConfig::new(dir, name);
            config.listen = listen_on(listen);
            // The shell does not turn "\n" into a line break; the flag's
            // help says to write it so.
            config.address = office_address.map(|a| a.replace("\\n", "\n"));
            config.port = port;
            config.code_minutes = code_minutes;
            config.announce = !no_mdns;
            config.rtc.ice_servers = ice_server;
            config.ui = master::web_ui(ui)?;
            config.packages = packages;
            config.backup = backup.schedule();
            config.writes = durability.policy(standby_away);
            master::run(config, upstream, &again)
        }
        Command::Db {
            data,
            connect,
            code,
            timeout,
            ice_server,
            sign_in,
            op,
        } => match connect {
            None => db::run(data_dir(&data)?, op),
            Some(target) => db::run_remote(
                data_dir(&data)?,
                db::Remote {
                    target,
                    code,
                    timeout: std::time::Duration::from_secs(timeout),
                    ice_servers: ice_server,
                    credentials: match sign_in.user {
                        None => None,
                        Some(user) => Some(outpost_node::slave::Credentials {
                            user,
                            password: users::password(sign_in.password_file.as_deref())?
                                .ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "--user needs a password: --password-file FILE, or OUTPOST_PASSWORD"
                                    )
                                })?,
                        }),
                    },
                },
                op,
            ),
        },
        Command::Users { data, action } => users::run(data_dir(&data)?, action),
        Command::Id { data } => id::run(data_dir(&data)?),
        Command::Pair { data, minutes } => pair::run(data_dir(&data)?, minutes),
        Command::Devices { data, action } => devices::run(data_dir(&data)?, action),
        Command::Sync { data, action } => sync::run(data_dir(&DataArg { data })?, action),
        Command::Standby {
            data,
            connect,
            code,
            ice_server,
        } => standby::run(data_dir(&data)?, connect, code, ice_server),
        Command::Promote {
            data,
            name,
            listen,
            port,
            no_mdns,
            upstream,
            ui,
            first_manager,
        } => {
            let dir = data_dir(&data)?;
            // A standby copies the office's users. The copy of an office
            // without any (made before every office had a manager) is
            // refused before the promotion changes anything.
            let copy = dir.join(outpost_store::DB_FILE).is_file();
            if copy && first_manager.admin_password_file.is_none() {
                users::first_manager(&dir, &first_manager, "outpost promote")?;
            }
            let promoted = outpost_node::standby::promote(&dir).map_err(|e| {
                anyhow::anyhow!("cannot promote the standby in {}: {e}", dir.display())
            })?;
            println!(
                "Promoted: this PC is now the master of \"{}\" (epoch {}, at change {}).",
                promoted.office, promoted.epoch, promoted.seq
            );
            users::first_manager(&dir, &first_manager, "outpost promote")?;
            let mut config = outpost_node::MasterConfig::new(dir, name.unwrap_or(promoted.office));
            config.listen = listen_on(listen);
            config.port = port;
            config.announce = !no_mdns;
            config.ui = master::web_ui(ui)?;
            master::run(config, upstream, "outpost promote")
        }
        Command::Backup {
            data,
            to,
            with_identity,
        } => backup::backup(data_dir(&data)?, to, with_identity),
        Command::Restore { data, from } => backup::restore(data_dir(&data)?, from),
        Command::Masters { wait, office } => {
            let wait = std::time::Duration::from_secs(wait);
            match office {
                Some(name) => masters::office(&name, wait),
                None => masters::run(wait),
            }
        }
    }
}

/// `--listen` as given; none: the LAN interfaces.
fn listen_on(addrs: Vec<std::net::IpAddr>) -> outpost_node::Listen {
    if addrs.is_empty() {
        outpost_node::Listen::Lan
    } else {
        outpost_node::Listen::Addrs(addrs)
    }
}

/// `--data`, else `OUTPOST_DATA` (both via clap), else the platform's data
/// folder (XDG on Linux: `$XDG_DATA_HOME/outpost`, `~/.local/share/outpost`).
fn data_dir(arg: &DataArg) -> anyhow::Result<PathBuf> {
    match &arg.data {
        Some(d) => Ok(d.clone()),
        None => outpost_node::default_data_dir()
            .context("no data folder: pass --data DIR or set OUTPOST_DATA"),
    }
}

/// Logs to stderr; `RUST_LOG=outpost=debug` tells the story of each call.
pub fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},{}", outpost_link::QUIET_LOG_FILTER))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The office database of a master's data folder, for the commands that
/// manage a master (pair, devices); refuses a folder with no database
/// rather than making an empty one.
fn open_master_store(dir: &std::path::Path) -> anyhow::Result<outpost_store::Store> {
    if !dir.join(outpost_store::DB_FILE).exists() {
        anyhow::bail!(
            "{} holds no office database; run this on the master, with its data folder",
            dir.display()
        );
    }
    outpost_store::Store::open(dir).context("cannot open the office database")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
