//! The people of an office started from the window (issue 14): the first
//! manager, made when "This PC is the master" is turned on for an office
//! database without users, before its master starts (as `outpost master
//! --admin-password-file` does).

use std::path::Path;

use outpost_api::protocol::{Secret, UserAddArgs};
use outpost_api::Op;
use outpost_node::auth::{Auth, MIN_PASSWORD};
use outpost_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The first manager, from "Make this PC the master" (the password typed
/// twice; the window checks they match).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct FirstManager {
    pub name: String,
    pub password: Secret,
}

/// Checks the form before anything is opened: the refusal names the field.
pub fn check(manager: &FirstManager) -> Result<(), AppError> {
    outpost_store::users::check_user_name(&manager.name).map_err(|e| AppError::Field {
        field: "manager_name",
        message: e.to_string(),
    })?;
    if manager.password.0.chars().count() < MIN_PASSWORD {
        return Err(AppError::Field {
            field: "manager_password",
            message: format!(
                "the password is too short: use at least {MIN_PASSWORD} characters (a few words are easy to remember)"
            ),
        });
    }
    Ok(())
}

/// The refusal of "Make this PC the master" without a first manager, for
/// an office that has no users: the window asks for one.
pub fn needed() -> AppError {
    AppError::Field {
        field: "manager_password",
        message: format!(
            "every office has a manager who signs in: give the first manager's name and a password of at least {MIN_PASSWORD} characters"
        ),
    }
}

/// Whether the office database in `data` has users (no database yet: no).
pub fn has_users(store: Option<&Store>, data: &Path) -> Result<bool, AppError> {
    if let Some(store) = store {
        return Ok(store.has_users()?);
    }
    if !data.join(outpost_store::DB_FILE).exists() {
        return Ok(false);
    }
    let store = Store::open(data)?;
    let result = store.has_users();
    store.close();
    Ok(result?)
}

/// Makes `manager` a Manager in the office database in `data` (on `store`
/// when its master runs). An office that has users already is refused:
/// its managers add people from the Users section.
pub async fn make_first(
    store: Option<&Store>,
    data: &Path,
    manager: &FirstManager,
) -> Result<(), AppError> {
    check(manager)?;
    let opened = match store {
        Some(s) => s.clone(),
        None => Store::open(data)?,
    };
    let result = async {
        if opened.has_users()? {
            return Err(AppError::BadInput(
                "this office already has users: sign in as one of its managers, who adds people in the Users section of the Master screen".into(),
            ));
        }
        let op = Op::UsersAdd(UserAddArgs {
            name: manager.name.clone(),
            role: "Manager".into(),
            password: manager.password.clone(),
        });
        Auth::new(opened.clone(), data).owner_call(&op).await?;
        tracing::info!(user = %manager.name, "the first manager was made from the window");
        Ok(())
    }
    .await;
    if store.is_none() {
        opened.close();
    }
    result
}
