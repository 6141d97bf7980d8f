//! The people's administration over the wire: `users.list`, `users.add`,
//! `users.passwd`, `users.disable`, `users.enable`, `users.role` and
//! `roles.list`. The caller's right to each was checked before
//! ([`Auth::check`]), except `users.passwd` of one's own password, which
//! needs the current one instead.

use outpost_api::protocol::{Secret, UserPasswdArgs};
use outpost_api::roles::{AdminRight, Need};
use outpost_api::{ApiError, ErrorCode, Op};
use outpost_store::{Store, StoreError, User};
use serde_json::{json, Value};

use super::{hash_password, internal, verify, Auth, SignedIn};

/// The longest idle lock taken: a day.
const MAX_IDLE_LOCK: u32 = 24 * 60;

fn store_error(e: StoreError) -> ApiError {
    outpost_api::error::from_store(e)
}

impl Auth {
    /// Runs `f` on the store off the async runtime (writes wait for the
    /// store's writer thread).
    pub(crate) async fn on_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(internal)?
            .map_err(store_error)
    }

    async fn hash(&self, password: &Secret) -> Result<outpost_store::PasswordHash, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(internal)?;
        let text = password.0.clone();
        tokio::task::spawn_blocking(move || hash_password(&text))
            .await
            .map_err(internal)?
            .map_err(ApiError::bad_request)
    }

    fn known_role(&self, role: &str) -> Result<(), ApiError> {
        self.with_roles(|roles, _| {
            if roles.contains_key(role) {
                Ok(())
            } else {
                Err(ApiError::bad_request(format!(
                    "there is no role called \"{role}\"; roles: {}",
                    roles.keys().cloned().collect::<Vec<_>>().join(", ")
                )))
            }
        })
    }

    /// Whether `user` is the last enabled user who may administer users
    /// (who must not be disabled or demoted: nobody could undo it).
    async fn last_admin(&self, user: &str) -> Result<bool, ApiError> {
        let users = self.on_store(|s| s.users()).await?;
        let admins: Vec<&User> = users
            .iter()
            .filter(|u| !u.disabled)
            .filter(|u| {
                self.with_roles(|roles, _| {
                    roles
                        .get(&u.role)
                        .is_some_and(|r| r.admin.contains(&AdminRight::Users))
                })
            })
            .collect();
        Ok(admins.len() == 1 && admins[0].name.eq_ignore_ascii_case(user))
    }

    /// Answers one of the people's ops for `signed` (its right checked).
    pub async fn people_call(&self, signed: Option<&SignedIn>, op: &Op) -> Result<Value, ApiError> {
        self.people(signed, op, false).await
    }

    /// The same for the data folder's owner (`outpost users` beside the
    /// master: whoever may open the folder administers its people).
    pub async fn owner_call(&self, op: &Op) -> Result<Value, ApiError> {
        self.people(None, op, true).await
    }

    async fn people(
        &self,
        signed: Option<&SignedIn>,
        op: &Op,
        owner: bool,
    ) -> Result<Value, ApiError> {
        match op {
            Op::RolesList => {
                Ok(self.with_roles(|roles, problem| json!({"roles": roles, "problem": problem})))
            }
            Op::UsersList => Ok(json!(self.on_store(|s| s.users()).await?)),
            Op::UsersAdd(a) => {
                self.known_role(&a.role)?;
                outpost_store::users::check_user_name(&a.name).map_err(store_error)?;
                let hash = self.hash(&a.password).await?;
                let (name, role) = (a.name.clone(), a.role.clone());
                let user = self
                    .on_store(move |s| s.add_user(&name, &role, &hash))
                    .await?;
                self.refresh();
                tracing::info!(user = %user.name, role = %user.role, "user added");
                Ok(json!(user))
            }
            Op::UsersPasswd(a) => self.passwd(signed, a, owner).await,
            Op::UsersDisable(a) | Op::UsersEnable(a) => {
                let disable = matches!(op, Op::UsersDisable(_));
                if disable && self.last_admin(&a.name).await? {
                    return Err(ApiError::bad_request(format!(
                        "{} is the last user who may administer users; give that right to someone else first",
                        a.name
                    )));
                }
                let name = a.name.clone();
                let user = self
                    .on_store(move |s| s.set_disabled(&name, disable))
                    .await?;
                tracing::info!(user = %user.name, disabled = disable, "user changed");
                Ok(json!(user))
            }
            Op::UsersRole(a) => {
                self.known_role(&a.role)?;
                let demoted = self.with_roles(|roles, _| {
                    !roles
                        .get(&a.role)
                        .is_some_and(|r| r.admin.contains(&AdminRight::Users))
                });
                if demoted && self.last_admin(&a.name).await? {
                    return Err(ApiError::bad_request(format!(
                        "{} is the last user who may administer users; give that right to someone else first",
                        a.name
                    )));
                }
                let (name, role) = (a.name.clone(), a.role.clone());
                let user = self.on_store(move |s| s.set_role(&name, &role)).await?;
                tracing::info!(user = %user.name, role = %user.role, "user's role changed");
                Ok(json!(user))
            }
            Op::IdleLock(a) => {
                if a.minutes > MAX_IDLE_LOCK {
                    return Err(ApiError::bad_request(format!(
                        "the idle lock is at most {MAX_IDLE_LOCK} minutes (a day); 0 turns it off"
                    )));
                }
                let value = a.minutes.to_string();
                self.on_store(move |s| s.set_meta(super::IDLE_LOCK_KEY, &value))
                    .await?;
                tracing::info!(minutes = a.minutes, "idle lock set");
                Ok(json!({"idle_lock_minutes": a.minutes}))
            }
            other => Err(ApiError::bad_request(format!(
                "'{}' is not one of the people's ops",
                other.name()
            ))),
        }
    }

    /// A new password: a user administrator sets anyone's; anyone sets
    /// their own with the current one. Every sign-in of that user ends.
    async fn passwd(
        &self,
        signed: Option<&SignedIn>,
        a: &UserPasswdArgs,
        owner: bool,
    ) -> Result<Value, ApiError> {
        let own = signed.is_some_and(|s| s.user.eq_ignore_ascii_case(&a.name));
        // Nobody signed in passes the check only in an office without
        // users: then only the folder's owner sets passwords.
        let admin = owner
            || (signed.is_some() && self.check(signed, &Need::Admin(AdminRight::Users)).is_ok());
        if !admin {
            if !own {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "only a user administrator sets another person's password",
                ));
            }
            let Some(current) = &a.current else {
                return Err(ApiError::bad_request(
                    "give your current password to set a new one",
                ));
            };
            let name = a.name.clone();
            let found = self.on_store(move |s| s.user_secret(&name)).await?;
            let ok = match found {
                Some((_, hash)) => {
                    let _permit = self.hashing.acquire().await.map_err(internal)?;
                    let text = current.0.clone();
                    tokio::task::spawn_blocking(move || verify(&text, &hash))
                        .await
                        .map_err(internal)?
                }
                None => false,
            };
            if !ok {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the current password is wrong",
                ));
            }
        }
        let hash = self.hash(&a.password).await?;
        let name = a.name.clone();
        // Changing one's own password ends one's other sign-ins, not this one.
        let keep = signed.filter(|_| own).map(|s| s.token_hash.clone());
        let user = self
            .on_store(move |s| s.set_password_keeping(&name, &hash, keep.as_deref()))
            .await?;
        tracing::info!(user = %user.name, "password changed");
        Ok(json!(user))
    }
}
