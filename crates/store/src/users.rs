//! The office's people (issue 14): who may sign in, with which role, and
//! their open sign-ins. Kept in the office database, so they travel to the
//! standby with everything else and `outpost users` in another process
//! sees and changes the list the running master enforces.
//!
//! The store keeps password hashes as the caller made them (argon2id PHC
//! strings, made in `outpost-node`); it never sees a password, and a hash
//! never leaves [`Store::user_secret`] (no `Debug`, no `Serialize` holds it).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::values::now_utc;

/// A person who may sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub created: String,
    /// When the password, role or state last changed.
    pub changed: String,
}

/// A password hash, kept out of logs and `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// An open sign-in: a token (kept hashed) bound to one device, until it
/// expires or the user signs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub user: String,
    pub device: String,
    /// Unix seconds.
    pub expires: u64,
}

const COLS: &str = "name, role, disabled, created, changed";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: r.get(0)?,
        role: r.get(1)?,
        disabled: r.get::<_, i64>(2)? != 0,
        created: r.get(3)?,
        changed: r.get(4)?,
    })
}

/// A user name: 1 to 64 characters, no control characters, no outer spaces.
pub fn check_user_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(StoreError::BadRequest(format!(
            "a user name is 1 to 64 characters without line breaks or outer spaces; got {:?}",
            name.chars().take(70).collect::<String>()
        )));
    }
    Ok(())
}

impl Store {
    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {COLS} FROM _users ORDER BY name"))?;
            let rows = stmt.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Whether anyone can sign in at all (an office without users yet
    /// works as before: every paired device may do everything).
    pub fn has_users(&self) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM _users LIMIT 1")?
                .exists([])?)
        })
    }

    /// The user called `name` (case-insensitive).
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {COLS} FROM _users WHERE name = ?"))?
                    .query_row([name], row)
                    .optional()?,
            )
        })
    }

    /// The user and the password hash to check a sign-in against.
    pub fn user_secret(&self, name: &str) -> Result<Option<(User, PasswordHash)>> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {COLS}, hash FROM _users WHERE name = ?"))?
                    .query_row([name], |r| Ok((row(r)?, PasswordHash(r.get(5)?))))
                    .optional()?,
            )
        })
    }

    /// Adds a user; a name taken (in any case) is refused.
    pub fn add_user(&self, name: &str, role: &str, hash: &PasswordHash) -> Result<User> {
        check_user_name(name)?;
        let now = now_utc();
        let (n, role, hash) = (name.to_string(), role.to_string(), hash.0.clone());
        let added = self.with_admin(move |c| {
            Ok(c.execute(
                "INSERT INTO _users (name, role, hash, disabled, created, changed)
                 VALUES (?1, ?2, ?3, 0, ?4, ?4) ON CONFLICT(name) DO NOTHING",
                params![n, role, hash, now],
            )?)
        })?;
        if added == 0 {
            return Err(StoreError::BadRequest(format!(
                "there is already a user called \"{name}\""
            )));
        }
        self.must_user(name)
    }

    /// Sets a user's password; their open sign-ins end.
    pub fn set_password(&self, name: &str, hash: &PasswordHash) -> Result<User> {
        self.set_password_keeping(name, hash, None)
    }

    /// Sets a user's password and ends their sign-ins but the one whose
    /// token hashes to `keep` (a person changing their own password stays
    /// signed in where they did it).
    pub fn set_password_keeping(
        &self,
        name: &str,
        hash: &PasswordHash,
        keep: Option<&str>,
    ) -> Result<User> {
        let hash = hash.0.clone();
        let keep = keep.unwrap_or_default().to_string();
        self.change_user(name, move |c, n, now| {
            c.execute(
                "UPDATE _users SET hash = ?, changed = ? WHERE name = ?",
                params![hash, now, n],
            )?;
            c.execute(
                "DELETE FROM _signins WHERE user = ? AND token != ?",
                params![n, keep],
            )?;
            Ok(())
        })
    }

    /// Sets a user's role.
    pub fn set_role(&self, name: &str, role: &str) -> Result<User> {
        let role = role.to_string();
        self.change_user(name, move |c, n, now| {
            c.execute(
                "UPDATE _users SET role = ?, changed = ? WHERE name = ?",
                params![role, now, n],
            )?;
            Ok(())
        })
    }

    /// Disables (or enables again) a user; a disabled user's sign-ins end.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<User> {
        self.change_user(name, move |c, n, now| {
            c.execute(
                "UPDATE _users SET disabled = ?, changed = ? WHERE name = ?",
                params![disabled as i64, now, n],
            )?;
            if disabled {
                c.execute("DELETE FROM _signins WHERE user = ?", [n])?;
            }
            Ok(())
        })
    }

    fn change_user(
        &self,
        name: &str,
        f: impl FnOnce(&rusqlite::Connection, &str, &str) -> Result<()> + Send + 'static,
    ) -> Result<User> {
        let user = self.must_user(name)?;
        let now = now_utc();
        let n = user.name.clone();
        self.with_admin(move |c| f(c, &n, &now))?;
        self.must_user(&user.name)
    }

    fn must_user(&self, name: &str) -> Result<User> {
        self.user(name)?
            .ok_or_else(|| StoreError::BadRequest(format!("there is no user called \"{name}\"")))
    }

    /// Keeps a sign-in: `token_hash` (never the token) bound to `device`.
    pub fn add_signin(&self, token_hash: &str, s: &SignIn) -> Result<()> {
        let (t, s) = (token_hash.to_string(), s.clone());
        self.with_admin(move |c| {
            // Expired sign-ins go as new ones come.
            c.execute(
                "DELETE FROM _signins WHERE expires < unixepoch()",
                [],
            )?;
            c.execute(
                "INSERT OR REPLACE INTO _signins (token, user, device, expires) VALUES (?, ?, ?, ?)",
                params![t, s.user, s.device, s.expires as i64],
            )?;
            Ok(())
        })
    }

    /// The sign-in a token hash stands for, if it is still kept.
    pub fn signin(&self, token_hash: &str) -> Result<Option<SignIn>> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached("SELECT user, device, expires FROM _signins WHERE token = ?")?
                    .query_row([token_hash], |r| {
                        Ok(SignIn {
                            user: r.get(0)?,
                            device: r.get(1)?,
                            expires: r.get::<_, i64>(2)?.max(0) as u64,
                        })
                    })
                    .optional()?,
            )
        })
    }

    /// Every kept sign-in's expiry (Unix seconds), by token hash: one read
    /// for the master's periodic check of all open channels.
    pub fn signin_expiries(&self) -> Result<std::collections::HashMap<String, u64>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT token, expires FROM _signins")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Ends a sign-in (signing out).
    pub fn end_signin(&self, token_hash: &str) -> Result<()> {
        let t = token_hash.to_string();
        self.with_admin(move |c| {
            c.execute("DELETE FROM _signins WHERE token = ?", [t])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> PasswordHash {
        PasswordHash(s.into())
    }

    #[test]
    fn users_are_added_changed_disabled_and_their_sign_ins_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.has_users().unwrap());
        store
            .add_user("Amina", "Manager", &h("$argon2id$a"))
            .unwrap();
        assert!(store.has_users().unwrap());
        let e = store.add_user("amina", "Clerk", &h("x")).unwrap_err();
        assert!(e.to_string().contains("already a user"), "{e}");
        assert!(store.add_user(" padded", "Clerk", &h("x")).is_err());
        let (u, hash) = store.user_secret("AMINA").unwrap().unwrap();
        assert_eq!((u.name.as_str(), hash.0.as_str()), ("Amina", "$argon2id$a"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");

        let s = SignIn {
            user: "Amina".into(),
            device: "dev".into(),
            expires: u64::MAX / 4,
        };
        store.add_signin("t1", &s).unwrap();
        assert_eq!(store.signin("t1").unwrap(), Some(s.clone()));
        store.set_password("amina", &h("$argon2id$b")).unwrap();
        assert_eq!(
            store.signin("t1").unwrap(),
            None,
            "a new password ends sign-ins"
        );
        store.add_signin("t2", &s).unwrap();
        let u = store.set_disabled("Amina", true).unwrap();
        assert!(u.disabled);
        assert_eq!(store.signin("t2").unwrap(), None);
        assert_eq!(store.set_role("Amina", "Clerk").unwrap().role, "Clerk");
        assert!(store.set_role("Nobody", "Clerk").is_err());
    }
}
