//! The master's pairing code, as the office database keeps it (`_meta`), so
//! the running master and `outpost pair` (another process) share it.
//!
//! The database holds only the code's key and its expiry
//! (`pairing_key` = `EXPIRES:HEX`, see [`PairingKey`]), never the code: the
//! key is derived from the code salted with the master's fingerprint, and
//! both proofs of a pairing are made with it. The code itself is shown by
//! whoever made it (the master's console or window, or `outpost pair`) and
//! kept only in that process's memory.
//!
//! A code is good for several PCs until it expires; a PC that tries too
//! many wrong codes is stopped by the master (per device and address, in
//! `master::admit`), not the code for everyone.

use outpost_link::pairing::{new_code, CodeKeys, PairingKey, PairingUrl};
use outpost_store::Store;

/// Minutes a fresh pairing code stays valid, unless configured.
pub const DEFAULT_CODE_MINUTES: u64 = 10;
/// The longest a pairing code may be made to last (a day): a code is for
/// pairing the PCs in front of someone, not a standing password.
pub const MAX_CODE_MINUTES: u64 = 24 * 60;

/// The current code's key and expiry, in one row (read and written whole).
const KEY_PAIRING: &str = "pairing_key";
/// Where versions before the key kept the code in plain text, and its
/// expiry: removed when a code is made.
const OLD_KEYS: [&str; 2] = ["pairing_code", "pairing_expires"];
const KEY_URL: &str = "pairing_url";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A code this process made: the code (for showing, never stored), its
/// expiry (seconds since the epoch) and which stored code it is
/// ([`code_tag`]). Its `Debug` hides the code.
#[derive(Clone)]
pub struct MadeCode {
    pub code: String,
    pub expires: u64,
    tag: String,
}

impl std::fmt::Debug for MadeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MadeCode")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl MadeCode {
    /// Whether this is still the office's current code (no newer one was
    /// made, by `outpost pair` or here, and none was retired since).
    pub fn is_current(&self, store: &Store) -> outpost_store::Result<bool> {
        Ok(code_tag(store)? == self.tag)
    }
}

/// The stored key and expiry (none: no code was ever made, or the row is
/// not one this version wrote).
fn stored(store: &Store) -> outpost_store::Result<Option<(u64, PairingKey)>> {
    Ok(store.meta(KEY_PAIRING)?.and_then(|v| parse(&v)))
}

fn parse(value: &str) -> Option<(u64, PairingKey)> {
    let (expires, key) = value.split_once(':')?;
    Some((expires.parse().ok()?, PairingKey::from_hex(key)?))
}

fn tag_of(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Makes a new code for the master at `master_fp`, valid for `minutes`,
/// and stores its key (a deliberately slow hash: call it off the async
/// runtime). The code is in the answer only.
pub fn renew(store: &Store, master_fp: &str, minutes: u64) -> outpost_store::Result<MadeCode> {
    let code = new_code();
    let expires = now_secs() + minutes * 60;
    let value = format!(
        "{expires}:{}",
        PairingKey::derive(&code, master_fp).to_hex()
    );
    store.set_meta(KEY_PAIRING, &value)?;
    for old in OLD_KEYS {
        store.delete_meta(old)?;
    }
    Ok(MadeCode {
        code,
        expires,
        tag: tag_of(&value),
    })
}

/// Whether `minutes` is a lifetime a code may be given (0: the code has
/// expired at once, so PCs pair only with codes from `outpost pair`); the
/// reason when not.
pub fn check_code_minutes(minutes: u64) -> Result<(), String> {
    if minutes <= MAX_CODE_MINUTES {
        Ok(())
    } else {
        Err(format!(
            "a pairing code lasts at most {MAX_CODE_MINUTES} minutes (a day), not {minutes}"
        ))
    }
}

/// Which code is current, as a tag that changes with every new code
/// (here or from `outpost pair`) and with its retirement, and reveals
/// nothing of it: the master's counts of tries are for one code, and a
/// window shows the code it made only while it is current.
pub fn code_tag(store: &Store) -> outpost_store::Result<String> {
    Ok(tag_of(&store.meta(KEY_PAIRING)?.unwrap_or_default()))
}

/// Revokes a device and retires the current code: the code on the master's
/// screen may still be valid, and the revoked PC could pair again with it
/// at once. Every way of revoking (CLI, window) goes through here.
pub fn revoke(store: &Store, id: &str) -> outpost_store::Result<outpost_store::devices::Device> {
    let device = store.revoke_device(id)?;
    retire(store)?;
    Ok(device)
}

/// Retires the current code (a revocation): its key stays, expired.
pub fn retire(store: &Store) -> outpost_store::Result<()> {
    match stored(store)? {
        Some((_, key)) => store.set_meta(KEY_PAIRING, &format!("0:{}", key.to_hex())),
        None => Ok(()),
    }
}

/// What a slave's proof of the code came to.
#[derive(PartialEq, Eq)]
pub enum CodeCheck {
    /// The right code: the master's own proof goes back with its offer.
    Ok {
        master_proof: String,
    },
    Wrong,
    Expired,
}

impl std::fmt::Debug for CodeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeCheck::Ok { .. } => "Ok",
            CodeCheck::Wrong => "Wrong",
            CodeCheck::Expired => "Expired",
        })
    }
}

/// Checks a slave's proof of the code (see `CodeKeys`) against the
/// current code's key, for this slave and this master (two HMACs: the
/// slow part was done when the code was made).
pub fn check(
    store: &Store,
    proof: &str,
    slave_fp: &str,
    master_fp: &str,
) -> outpost_store::Result<CodeCheck> {
    let Some((expires, key)) = stored(store)? else {
        return Ok(CodeCheck::Wrong);
    };
    let keys = CodeKeys::from_key(key, slave_fp, master_fp);
    if !keys.is_slave_proof(proof) {
        return Ok(CodeCheck::Wrong);
    }
    if now_secs() >= expires {
        return Ok(CodeCheck::Expired);
    }
    Ok(CodeCheck::Ok {
        master_proof: keys.master_proof(),
    })
}

/// The pairing URL without a code, as the running master stored it.
pub fn stored_url(store: &Store) -> outpost_store::Result<Option<PairingUrl>> {
    Ok(store
        .meta(KEY_URL)?
        .and_then(|u| PairingUrl::parse(&u).ok()))
}

pub fn store_url(store: &Store, url: &PairingUrl) -> outpost_store::Result<()> {
    let mut u = url.clone();
    u.code = None;
    store.set_meta(KEY_URL, &u.to_string())
}

/// Minutes left before `expires` (0 when past).
pub fn minutes_left(expires: u64) -> u64 {
    expires.saturating_sub(now_secs()).div_ceil(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_lasts_at_most_a_day() {
        assert!(check_code_minutes(0).is_ok());
        assert!(check_code_minutes(10).is_ok());
        assert!(check_code_minutes(MAX_CODE_MINUTES).is_ok());
        let e = check_code_minutes(MAX_CODE_MINUTES + 1).unwrap_err();
        assert!(e.contains("at most 1440 minutes"), "{e}");
        assert!(check_code_minutes(u64::MAX).is_err());
    }

    #[test]
    fn the_database_keeps_the_code_s_key_and_the_maker_knows_it_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (slave, master) = ("aa".repeat(32), "bb".repeat(32));
        // What a version before the key left behind goes with the first code.
        store.set_meta("pairing_code", "K01011XZ").unwrap();
        store.set_meta("pairing_expires", "99").unwrap();
        let made = renew(&store, &master, 10).unwrap();
        for old in OLD_KEYS {
            assert_eq!(store.meta(old).unwrap(), None, "{old}");
        }
        let row = store.meta(KEY_PAIRING).unwrap().unwrap();
        assert!(!row.to_uppercase().contains(&made.code), "{row}");
        assert!(!format!("{made:?}").contains(&made.code));
        assert!(made.is_current(&store).unwrap());
        // The slave's proof of the code checks against the key alone.
        let proof = outpost_link::pairing::code_proof(&made.code, &slave, &master);
        let Ok(CodeCheck::Ok { master_proof }) = check(&store, &proof, &slave, &master) else {
            panic!("the right code is accepted");
        };
        assert!(CodeKeys::derive(&made.code, &slave, &master).is_master_proof(&master_proof));
        let wrong = outpost_link::pairing::code_proof("ABCD2345", &slave, &master);
        assert_eq!(
            check(&store, &wrong, &slave, &master).unwrap(),
            CodeCheck::Wrong
        );
        // Retired (a revocation): expired, and no longer the one to show.
        retire(&store).unwrap();
        assert_eq!(
            check(&store, &proof, &slave, &master).unwrap(),
            CodeCheck::Expired
        );
        assert!(!made.is_current(&store).unwrap());
        // Another code (`outpost pair`): the old one is not current either.
        let next = renew(&store, &master, 10).unwrap();
        assert!(next.is_current(&store).unwrap());
        assert_ne!(next.code, made.code);
        assert_eq!(
            check(&store, &proof, &slave, &master).unwrap(),
            CodeCheck::Wrong
        );
        store.close();
    }
}
