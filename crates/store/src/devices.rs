//! Devices the master knows: every slave that paired, with when it was
//! first and last seen, and whether it is approved or revoked. Kept in the
//! office database so `outpost devices` in another process sees and changes
//! the same list the running master enforces.
//!
//! Also the small key/value settings (`_meta`) the master shares with its
//! helper commands (pairing code, listening address).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::values::now_utc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// SHA-256 fingerprint of the device's certificate: its id.
    pub fingerprint: String,
    pub name: String,
    pub first_seen: String,
    pub last_seen: String,
    /// `approved` or `revoked`.
    pub state: String,
    /// When `state` last changed.
    pub changed: String,
}

impl Device {
    pub fn is_approved(&self) -> bool {
        self.state == "approved"
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        fingerprint: r.get(0)?,
        name: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        state: r.get(4)?,
        changed: r.get(5)?,
    })
}

const COLS: &str = "fingerprint, name, first_seen, last_seen, state, changed";

impl Store {
    pub fn device(&self, fingerprint: &str) -> Result<Option<Device>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLS} FROM _devices WHERE fingerprint = ?"
            ))?
            .query_row([fingerprint], row)
            .optional()?)
        })
    }

    /// Every device, most recently seen first.
    pub fn devices(&self) -> Result<Vec<Device>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLS} FROM _devices ORDER BY last_seen DESC"
            ))?;
            let rows = stmt.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The fingerprints of the devices that are not approved (revoked):
    /// what a master polls for, so that it costs little with many devices.
    pub fn unapproved_devices(&self) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut stmt =
                c.prepare_cached("SELECT fingerprint FROM _devices WHERE state <> 'approved'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Records a device as approved (first pairing, or pairing again after
    /// a revocation).
    pub fn approve_device(&self, fingerprint: &str, name: &str) -> Result<Device> {
        let now = now_utc();
        let (fp, name) = (fingerprint.to_string(), name.to_string());
        self.with_admin(move |c| {
            c.execute(
                "INSERT INTO _devices (fingerprint, name, first_seen, last_seen, state, changed)
                 VALUES (?1, ?2, ?3, ?3, 'approved', ?3)
                 ON CONFLICT(fingerprint) DO UPDATE SET name = ?2, last_seen = ?3,
                   state = 'approved', changed = ?3",
                params![fp, name, now],
            )?;
            Ok(())
        })?;
        self.device(fingerprint)?
            .ok_or_else(|| StoreError::BadRequest("the device vanished".into()))
    }

    /// Notes that an approved device is connected now.
    pub fn touch_device(&self, fingerprint: &str) -> Result<()> {
        let now = now_utc();
        let fingerprint = fingerprint.to_string();
        self.with_admin(move |c| {
            c.execute(
                "UPDATE _devices SET last_seen = ? WHERE fingerprint = ?",
                params![now, fingerprint],
            )?;
            Ok(())
        })
    }

    /// Revokes the device whose fingerprint is `id` or starts with it (at
    /// least 8 hex digits, and only one device may match).
    /// The device whose id is `id` or starts with it (at least 8
    /// characters; `:` separators and case ignored).
    pub fn find_device(&self, id: &str) -> Result<Device> {
        let id = id.trim().to_ascii_lowercase().replace(':', "");
        if id.len() < 8 {
            return Err(StoreError::BadRequest(
                "give at least the first 8 characters of the device id".into(),
            ));
        }
        let matches: Vec<Device> = self
            .devices()?
            .into_iter()
            .filter(|d| d.fingerprint.starts_with(&id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(StoreError::NotFound {
                doctype: "device".into(),
                name: id,
            }),
            _ => Err(StoreError::BadRequest(format!(
                "{} devices start with {id}; give more of the id",
                matches.len()
            ))),
        }
    }

    pub fn revoke_device(&self, id: &str) -> Result<Device> {
        let device = self.find_device(id)?;
        let now = now_utc();
        let fingerprint = device.fingerprint.clone();
        self.with_admin(move |c| {
            c.execute(
                "UPDATE _devices SET state = 'revoked', changed = ? WHERE fingerprint = ?",
                params![now, fingerprint],
            )?;
            Ok(())
        })?;
        tracing::info!(device = %device.fingerprint, name = %device.name, "device revoked");
        self.device(&device.fingerprint)?
            .ok_or_else(|| StoreError::BadRequest("the device vanished".into()))
    }

    /// A setting shared between the master and its helper commands.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT value FROM _meta WHERE key = ?")?
                .query_row([key], |r| r.get(0))
                .optional()?)
        })
    }

    /// Sets a setting. `repl_seq` is the store's own (each write group
    /// raises it, see [`crate::repl`]) and is refused.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        if key == crate::repl::REPL_SEQ_KEY {
            return Err(StoreError::BadRequest(format!(
                "{key} is kept by the office database itself and cannot be set"
            )));
        }
        let (key, value) = (key.to_string(), value.to_string());
        self.with_admin(move |c| {
            c.execute(
                "INSERT INTO _meta (key, value) VALUES (?, ?)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    /// Removes a setting (none: nothing to do).
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        if key == crate::repl::REPL_SEQ_KEY {
            return Err(StoreError::BadRequest(format!(
                "{key} is kept by the office database itself and cannot be removed"
            )));
        }
        let key = key.to_string();
        self.with_admin(move |c| {
            c.execute("DELETE FROM _meta WHERE key = ?", [key])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    const FP_A: &str = "aaaaaaaa11111111aaaaaaaa11111111aaaaaaaa11111111aaaaaaaa11111111";
    const FP_B: &str = "aaaaaaaa22222222aaaaaaaa22222222aaaaaaaa22222222aaaaaaaa22222222";

    #[test]
    fn devices_are_approved_listed_and_revoked_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.device(FP_A).unwrap(), None);
        let a = store.approve_device(FP_A, "Front desk").unwrap();
        assert!(a.is_approved());
        store.approve_device(FP_B, "Store room").unwrap();
        assert_eq!(store.devices().unwrap().len(), 2);
        // Ambiguous and too-short prefixes are refused.
        assert!(store.revoke_device("aaaaaaaa").is_err());
        assert!(store.revoke_device("aaaa").is_err());
        let r = store.revoke_device("AAAAAAAA2222").unwrap();
        assert_eq!(r.fingerprint, FP_B);
        assert!(!store.device(FP_B).unwrap().unwrap().is_approved());
        assert!(store.device(FP_A).unwrap().unwrap().is_approved());
        // Pairing again approves again.
        assert!(store
            .approve_device(FP_B, "Store room")
            .unwrap()
            .is_approved());
    }

    #[test]
    fn settings_are_shared_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.meta("pairing_code").unwrap(), None);
        store.set_meta("pairing_code", "X").unwrap();
        let other = Store::open(dir.path()).unwrap();
        assert_eq!(other.meta("pairing_code").unwrap().as_deref(), Some("X"));
    }
}
