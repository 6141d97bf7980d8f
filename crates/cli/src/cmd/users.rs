//! `outpost users`: the people who sign in on this master (issue 14),
//! changed in the office database beside the running master, which applies
//! a change within a second (a disabled user's sessions end).

use std::path::{Path, PathBuf};

use outpost_api::protocol::{Secret, UserAddArgs, UserNameArgs, UserPasswdArgs, UserRoleArgs};
use outpost_api::Op;
use outpost_node::auth::Auth;

use crate::cli::UsersAction;
use crate::output::{print_json, CliError};

/// A password from `file` (its first line), else `OUTPOST_PASSWORD`.
pub fn password(file: Option<&Path>) -> Result<Option<Secret>, CliError> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the password file {}: {e}", f.display()))?;
        let line = text.lines().next().unwrap_or_default().to_string();
        if line.is_empty() {
            return Err(anyhow::anyhow!("the password file {} is empty", f.display()).into());
        }
        return Ok(Some(Secret(line)));
    }
    Ok(std::env::var("OUTPOST_PASSWORD").ok().map(Secret))
}

fn needed(file: Option<&Path>) -> Result<Secret, CliError> {
    password(file)?.ok_or_else(|| {
        anyhow::anyhow!("give the password in a file (--password-file FILE) or in OUTPOST_PASSWORD")
            .into()
    })
}

pub fn run(dir: PathBuf, action: Option<UsersAction>) -> Result<(), CliError> {
    let store = super::open_master_store(&dir)?;
    let auth = Auth::new(store.clone(), &dir);
    let op = match action.unwrap_or(UsersAction::List) {
        UsersAction::List => Op::UsersList,
        UsersAction::Roles => Op::RolesList,
        UsersAction::Add {
            name,
            role,
            password_file,
        } => Op::UsersAdd(UserAddArgs {
            name,
            role,
            password: needed(password_file.as_deref())?,
        }),
        UsersAction::Passwd {
            name,
            password_file,
        } => Op::UsersPasswd(UserPasswdArgs {
            name,
            password: needed(password_file.as_deref())?,
            current: None,
        }),
        UsersAction::Disable { name } => Op::UsersDisable(UserNameArgs { name }),
        UsersAction::Enable { name } => Op::UsersEnable(UserNameArgs { name }),
        UsersAction::Role { name, role } => Op::UsersRole(UserRoleArgs { name, role }),
    };
    let rt = super::runtime()?;
    let result = rt.block_on(auth.owner_call(&op));
    store.close();
    let value = result?;
    match value.as_array() {
        Some(list) => list.iter().for_each(print_json),
        None => print_json(&value),
    }
    Ok(())
}

/// On a master's first start without users: the first manager, named
/// `user`, with the password in `file`.
pub fn first_manager(dir: &Path, user: &str, file: &Path) -> Result<(), CliError> {
    let store = outpost_store::Store::open(dir)
        .map_err(|e| anyhow::anyhow!("cannot open the office database: {e}"))?;
    let result = (|| {
        if store.has_users().map_err(anyhow::Error::from)? {
            return Ok(());
        }
        let auth = Auth::new(store.clone(), dir);
        let op = Op::UsersAdd(UserAddArgs {
            name: user.to_string(),
            role: "Manager".into(),
            password: needed(Some(file))?,
        });
        super::runtime()?.block_on(auth.owner_call(&op))?;
        eprintln!("made the first manager, \"{user}\": everyone now signs in on this master");
        Ok(())
    })();
    store.close();
    result
}
