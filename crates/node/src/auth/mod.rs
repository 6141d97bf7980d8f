//! Signing in (issue 14): people, their passwords (argon2id, hashed behind
//! a small semaphore so a flood of sign-ins cannot take every core), their
//! sign-ins (a token bound to the device, kept hashed, that resumes the
//! sign-in on a reconnect until it expires), and their roles (built-in and
//! the site's `roles.json`).
//!
//! A master starts only on an office with users (the CLI and the desktop
//! app make the first manager first; `MasterConfig::without_users`): every
//! call but `hello` and the sign-in itself needs a signed-in person whose
//! role allows it ([`Auth::check`]). Only in-process tests and benchmarks
//! open an office without users, where every paired device may do
//! everything.

mod people;
mod throttle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use outpost_api::protocol::Secret;
pub use outpost_api::roles::SignInAnswer;
use outpost_api::roles::{self, Need, Role};
use outpost_api::{ApiError, ErrorCode};
use outpost_store::{PasswordHash, SignIn, Store};
use serde::Serialize;
use sha2::Digest;
use tokio::sync::Semaphore;

use throttle::Throttle;

/// The site's roles, in the data folder.
pub const ROLES_FILE: &str = "roles.json";
/// How long a sign-in lasts before its person signs in again.
pub const SIGN_IN_FOR: Duration = Duration::from_secs(12 * 3600);
/// The shortest password taken.
pub const MIN_PASSWORD: usize = 8;
/// The `_meta` key of the site's idle lock (minutes; absent or 0: never).
pub const IDLE_LOCK_KEY: &str = "idle_lock_minutes";
/// Password hashes computed at once at most.
const HASHING: usize = 2;
/// How often the roles file is looked at for changes.
const ROLES_CHECK: Duration = Duration::from_secs(1);

/// A person signed in on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedIn {
    pub user: String,
    pub role: String,
    /// The hash of the sign-in's token (its key in the office database).
    #[serde(skip)]
    pub token_hash: String,
}

struct RolesCache {
    roles: BTreeMap<String, Role>,
    /// What is wrong with `roles.json` (its roles are then left out).
    problem: Option<String>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

/// The master's sign-in service.
pub struct Auth {
    store: Store,
    data: PathBuf,
    roles: RwLock<RolesCache>,
    hashing: Semaphore,
    throttle: Throttle,
    /// Whether the office has users (then everyone signs in).
    required: AtomicBool,
    /// Queries sent on to head office today, per user: (day, count).
    upstream_spent: std::sync::Mutex<std::collections::HashMap<String, (u64, u32)>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn token_hash(token: &str) -> String {
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("the sign-in service failed: {e}"),
    )
}

fn unauthorized(message: impl Into<String>, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
        .with_details(serde_json::json!({ "reason": reason }))
}

/// Hashes a password with argon2id and a fresh salt (slow on purpose).
pub fn hash_password(password: &str) -> Result<PasswordHash, String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| e.to_string())
}

/// argon2's working memory (19 MiB with the default parameters), made
/// once and reused, so one sign-in is checked at a time. Allocated afresh
/// for each check, the allocator kept a copy per blocking thread, and a
/// master grew by some 17 MB for each device signing in at the same time
/// (`outpost-bench-many`, issue 16).
static WORKING_MEMORY: std::sync::Mutex<Vec<argon2::Block>> = std::sync::Mutex::new(Vec::new());

/// Whether `password` is the one `hash` was made from (what argon2's
/// `verify_password` does, in [`WORKING_MEMORY`]).
fn verify(password: &str, hash: &PasswordHash) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(h) = argon2::PasswordHash::new(&hash.0) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let (Ok(salt), Ok(params), Ok(algorithm)) = (
        salt.decode_b64(&mut salt_bytes),
        argon2::Params::try_from(&h),
        argon2::Algorithm::try_from(h.algorithm),
    ) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let mut memory = WORKING_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    memory.resize(blocks, argon2::Block::new());
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && bool::from(out.ct_eq(expected.as_bytes()))
}

/// A hash nobody's password matches, checked for unknown users so that a
/// wrong name takes as long as a wrong password.
fn decoy() -> &'static PasswordHash {
    static DECOY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never anyone's").expect("hashes"))
}

impl Auth {
    pub fn new(store: Store, data: &Path) -> Arc<Auth> {
        let auth = Auth {
            store,
            data: data.to_path_buf(),
            roles: RwLock::new(RolesCache {
                roles: roles::built_in(),
                problem: None,
                modified: None,
                checked: None,
            }),
            hashing: Semaphore::new(HASHING),
            throttle: Throttle::default(),
            required: AtomicBool::new(false),
            upstream_spent: Default::default(),
        };
        auth.refresh();
        Arc::new(auth)
    }

    /// Whether everyone must sign in (the office has users).
    pub fn required(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    /// Looks again whether the office has users (another process may have
    /// added the first).
    pub fn refresh(&self) {
        if let Ok(has) = self.store.has_users() {
            self.required.store(has, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the current roles (reading `roles.json` again when it
    /// changed).
    pub fn with_roles<T>(&self, f: impl FnOnce(&BTreeMap<String, Role>, Option<&str>) -> T) -> T {
        let stale = self
            .roles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .checked
            .is_none_or(|c| c.elapsed() >= ROLES_CHECK);
        if stale {
            self.reload_roles();
        }
        let cache = self.roles.read().unwrap_or_else(|e| e.into_inner());
        f(&cache.roles, cache.problem.as_deref())
    }

    fn reload_roles(&self) {
        let path = self.data.join(ROLES_FILE);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut cache = self.roles.write().unwrap_or_else(|e| e.into_inner());
        cache.checked = Some(Instant::now());
        if modified == cache.modified {
            return;
        }
        cache.modified = modified;
        let (roles, problem) = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (roles::built_in(), None),
            Err(e) => (
                roles::built_in(),
                Some(format!("cannot read {}: {e}", path.display())),
            ),
            Ok(text) => match roles::with_site_roles(&text) {
                Ok(r) => (r, None),
                Err(e) => (roles::built_in(), Some(e)),
            },
        };
        if let Some(p) = &problem {
            tracing::warn!("{p}; only the built-in roles apply");
        }
        cache.roles = roles;
        cache.problem = problem;
    }

    /// Whether `signed` (or nobody) may do what `need` says.
    pub fn check(&self, signed: Option<&SignedIn>, need: &Need) -> Result<(), ApiError> {
        if !self.required() {
            return Ok(());
        }
        let Some(s) = signed else {
            return Err(unauthorized(
                "sign in first: this office's master asks who is working",
                "sign_in_needed",
            ));
        };
        self.with_roles(|roles, _| match roles.get(&s.role) {
            Some(role) => role.check(&s.role, need),
            None => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "the role {} of {} is not defined (any more); ask a manager",
                    s.role, s.user
                ),
            )),
        })
    }

    /// For a role that writes or deletes only its own records of a
    /// doctype: whether `signed` made the record `name` (the person signed
    /// in when it was inserted, from its history).
    pub async fn check_owner(
        &self,
        signed: Option<&SignedIn>,
        need: &Need<'_>,
        name: &str,
    ) -> Result<(), ApiError> {
        let Some(s) = signed.filter(|_| self.required()) else {
            return Ok(());
        };
        let Some(doctype) = self.with_roles(|roles, _| {
            roles
                .get(&s.role)
                .and_then(|r| r.owns_only(need))
                .map(str::to_string)
        }) else {
            return Ok(());
        };
        let (d, n) = (doctype.clone(), name.to_string());
        let owner = self.on_store(move |st| st.record_owner(&d, &n)).await?;
        if owner
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(&s.user))
        {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "the role {} changes only the {doctype} records its person made; {name} was made by {}",
                s.role,
                owner.as_deref().unwrap_or("nobody signed in")
            ),
        )
        .with_details(serde_json::json!({"reason": "forbidden", "missing": format!("change others' {doctype}"), "role": s.role})))
    }

    /// Counts a query `signed` sends on to head office against its role's
    /// daily budget (kept in memory: a restart of the master starts the
    /// day's count afresh); refused once the budget is spent.
    pub fn spend_upstream(&self, signed: Option<&SignedIn>) -> Result<(), ApiError> {
        let Some(s) = signed.filter(|_| self.required()) else {
            return Ok(());
        };
        let budget = self.with_roles(|roles, _| {
            roles
                .get(&s.role)
                .map(|r| r.upstream_queries_per_day)
                .unwrap_or(0)
        });
        let today = unix_now() / 86_400;
        let mut spent = self
            .upstream_spent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = spent.entry(s.user.to_lowercase()).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        if entry.1 >= budget {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{} has sent the {budget} queries to head office the role {} allows a day; the uplink budget is spent until tomorrow (ask a manager)",
                    s.user, s.role
                ),
            )
            .with_details(serde_json::json!({"reason": "upstream_budget", "budget": budget})));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether `signed` may read `doctype` (for change events).
    pub fn can_read(&self, signed: Option<&SignedIn>, doctype: &str) -> bool {
        self.check(signed, &Need::Read(doctype)).is_ok()
    }

    /// Checks `user`'s `password` from `device` and opens a sign-in.
    pub async fn sign_in(
        &self,
        device: &str,
        user: &str,
        password: &Secret,
    ) -> Result<(SignedIn, SignInAnswer), ApiError> {
        if let Some(wait) = self.throttle.wait(user, device) {
            return Err(unauthorized(
                format!(
                    "too many wrong passwords from this device: try again in {} s",
                    wait.as_secs().max(1)
                ),
                "slowed",
            ));
        }
        let name = user.to_string();
        let found = self.on_store(move |s| s.user_secret(&name)).await?;
        let permit = self.hashing.acquire().await.map_err(internal)?;
        let password_text = password.0.clone();
        let hash = found
            .as_ref()
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| decoy().clone());
        let right = tokio::task::spawn_blocking(move || verify(&password_text, &hash))
            .await
            .map_err(internal)?;
        drop(permit);
        let Some((found, _)) = found.filter(|_| right) else {
            self.throttle.failed(user, device);
            tracing::info!(device, "a sign-in with a wrong user name or password");
            return Err(unauthorized(
                "wrong user name or password",
                "wrong_password",
            ));
        };
        self.throttle.succeeded(user, device);
        if found.disabled {
            return Err(unauthorized(
                format!("{} is disabled on this master; ask a manager", found.name),
                "disabled",
            ));
        }
        let token = new_token();
        let signed = SignedIn {
            user: found.name.clone(),
            role: found.role.clone(),
            token_hash: token_hash(&token),
        };
        let expires = unix_now() + SIGN_IN_FOR.as_secs();
        let (key, kept) = (
            signed.token_hash.clone(),
            SignIn {
                user: found.name.clone(),
                device: device.to_string(),
                expires,
            },
        );
        self.on_store(move |s| s.add_signin(&key, &kept)).await?;
        tracing::info!(user = %found.name, role = %found.role, device, "signed in");
        let rights = self.rights_of(&found.role)?;
        Ok((
            signed,
            SignInAnswer {
                user: found.name,
                role: found.role,
                rights,
                token,
                expires,
                idle_lock_minutes: self.idle_lock().await,
            },
        ))
    }

    /// The site's idle lock in minutes (0: never; unreadable counts as 0).
    pub async fn idle_lock(&self) -> u32 {
        self.on_store(|s| s.meta(IDLE_LOCK_KEY))
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn rights_of(&self, role: &str) -> Result<Role, ApiError> {
        self.with_roles(|roles, _| roles.get(role).cloned())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Forbidden,
                    format!("the role {role} is not defined (any more); ask a manager"),
                )
            })
    }

    /// The sign-in `token` stands for, from the device it was made on.
    pub async fn resume(
        &self,
        device: &str,
        token: &Secret,
    ) -> Result<(SignedIn, SignInAnswer), ApiError> {
        let hash = token_hash(&token.0);
        let expired = || {
            unauthorized(
                "this sign-in has ended (it expired, or the password or the user changed); sign in again",
                "sign_in_ended",
            )
        };
        let key = hash.clone();
        let s = self
            .on_store(move |s| s.signin(&key))
            .await?
            .ok_or_else(expired)?;
        if s.device != device || s.expires < unix_now() {
            return Err(expired());
        }
        let name = s.user.clone();
        let user = self
            .on_store(move |s| s.user(&name))
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(expired)?;
        let rights = self.rights_of(&user.role)?;
        Ok((
            SignedIn {
                user: user.name.clone(),
                role: user.role.clone(),
                token_hash: hash,
            },
            SignInAnswer {
                user: user.name,
                role: user.role,
                rights,
                token: token.0.clone(),
                expires: s.expires,
                idle_lock_minutes: self.idle_lock().await,
            },
        ))
    }

    /// Ends a sign-in.
    pub async fn sign_out(&self, signed: &SignedIn) {
        let key = signed.token_hash.clone();
        if let Err(e) = self.on_store(move |s| s.end_signin(&key)).await {
            tracing::warn!(error = %e, "cannot end the sign-in");
        }
        tracing::info!(user = %signed.user, "signed out");
    }

    /// [`Auth::still_valid`] for many sign-ins at once, in two reads
    /// whatever their number (the master checks every open channel twice a
    /// second; one read per sign-in cost 200 devices 800 queries a second).
    /// A read that fails keeps everyone as they were.
    pub fn still_valid_all(&self, signed: &[&SignedIn]) -> Vec<Option<String>> {
        let (Ok(expiries), Ok(users)) = (self.store.signin_expiries(), self.store.users()) else {
            return signed.iter().map(|s| Some(s.role.clone())).collect();
        };
        let now = unix_now();
        signed
            .iter()
            .map(|s| {
                let expires = expiries.get(&s.token_hash)?;
                if *expires < now {
                    return None;
                }
                // As `Store::user` finds them: names are `COLLATE NOCASE`.
                let user = users
                    .iter()
                    .find(|u| u.name.eq_ignore_ascii_case(&s.user))?;
                (!user.disabled).then(|| user.role.clone())
            })
            .collect()
    }

    /// Whether `signed` still stands: its user is there, enabled, and its
    /// sign-in is kept. The role it has now, or `None`. (Blocking: reads
    /// the office database.)
    pub fn still_valid(&self, signed: &SignedIn) -> Option<String> {
        let kept = self.store.signin(&signed.token_hash).ok().flatten()?;
        if kept.expires < unix_now() {
            return None;
        }
        let user = self.store.user(&signed.user).ok().flatten()?;
        (!user.disabled).then_some(user.role)
    }
}

#[cfg(test)]
mod tests;
