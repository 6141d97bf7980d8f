//! `outpost users`: the people who sign in on this master (issue 14),
//! changed in the office database beside the running master, which applies
//! a change within a second (a disabled user's sessions end).

use std::path::{Path, PathBuf};

use outpost_api::protocol::{Secret, UserAddArgs, UserNameArgs, UserPasswdArgs, UserRoleArgs};
use outpost_api::Op;
use outpost_node::auth::Auth;

use crate::cli::{FirstManagerFlags, UsersAction};
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

/// Before a master starts on `dir`: an office without users gets its
/// first manager from `flags`, or is refused with what to do (a master
/// never runs an office where nobody signs in). `again` is the command
/// that starts it, for the message (`outpost master --name "Kashgar depot"`).
pub fn first_manager(dir: &Path, flags: &FirstManagerFlags, again: &str) -> Result<(), CliError> {
    outpost_link::identity::private_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot make the data folder {}: {e}", dir.display()))?;
    let store = outpost_store::Store::open(dir)
        .map_err(|e| anyhow::anyhow!("cannot open the office database: {e}"))?;
    let result = (|| {
        if store.has_users().map_err(anyhow::Error::from)? {
            return Ok(());
        }
        let Some(file) = &flags.admin_password_file else {
            return Err(no_users(dir, again).into());
        };
        let auth = Auth::new(store.clone(), dir);
        let op = Op::UsersAdd(UserAddArgs {
            name: flags.admin_user.clone(),
            role: "Manager".into(),
            password: needed(Some(file))?,
        });
        super::runtime()?.block_on(auth.owner_call(&op))?;
        eprintln!(
            "made the first manager, \"{}\": everyone signs in on this master",
            flags.admin_user
        );
        Ok(())
    })();
    store.close();
    result
}

/// What to do about an office without users: make its first manager.
pub fn no_users(dir: &Path, again: &str) -> anyhow::Error {
    let data = shell_word(&dir.display().to_string());
    anyhow::anyhow!(
        "the office in {} has no users yet, and everyone signs in on a master: make its first manager, either\n  \
         - when starting: {again} --data {data} --admin-password-file FILE [--admin-user NAME]\n    \
         (the password on the first line of FILE, at least 8 characters; the name is \"manager\" unless --admin-user says another)\n  \
         - or first: outpost users --data {data} add NAME --role Manager --password-file FILE\n    \
         then start it again as before",
        dir.display()
    )
}

/// `word` quoted for a POSIX shell when it needs to be.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
