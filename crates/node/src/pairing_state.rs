//! The master's pairing code: kept in the office database (`_meta`) so the
//! running master and `outpost pair` (another process) share it. A code is
//! good for several PCs until it expires; a PC that tries too many wrong
//! codes is stopped by the master (per device and address, in
//! `master::admit`), not the code for everyone.

use outpost_link::pairing::{new_code, CodeKeys, PairingUrl};
use outpost_store::Store;

/// Minutes a fresh pairing code stays valid, unless configured.
pub const DEFAULT_CODE_MINUTES: u64 = 10;
/// The longest a pairing code may be made to last (a day): a code is for
/// pairing the PCs in front of someone, not a standing password.
pub const MAX_CODE_MINUTES: u64 = 24 * 60;

const KEY_CODE: &str = "pairing_code";
const KEY_EXPIRES: &str = "pairing_expires";
const KEY_URL: &str = "pairing_url";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Makes a new code valid for `minutes`, stores it and returns it with its
/// expiry (seconds since the epoch).
pub fn renew(store: &Store, minutes: u64) -> outpost_store::Result<(String, u64)> {
    let code = new_code();
    let expires = now_secs() + minutes * 60;
    store.set_meta(KEY_CODE, &code)?;
    store.set_meta(KEY_EXPIRES, &expires.to_string())?;
    Ok((code, expires))
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
/// (here or from `outpost pair`) and does not reveal it: the master's
/// counts of tries are for one code.
pub fn code_tag(store: &Store) -> outpost_store::Result<String> {
    use sha2::Digest;
    let code = store.meta(KEY_CODE)?.unwrap_or_default();
    let expires = store.meta(KEY_EXPIRES)?.unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("{expires}:{code}").as_bytes());
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// Revokes a device and retires the current code: the code on the master's
/// screen may still be valid, and the revoked PC could pair again with it
/// at once. Every way of revoking (CLI, window) goes through here.
pub fn revoke(store: &Store, id: &str) -> outpost_store::Result<outpost_store::devices::Device> {
    let device = store.revoke_device(id)?;
    retire(store)?;
    Ok(device)
}

/// Retires the current code (a revocation).
pub fn retire(store: &Store) -> outpost_store::Result<()> {
    store.set_meta(KEY_EXPIRES, "0")
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
/// current code, for this slave and this master (a deliberately slow hash:
/// the caller runs it off the runtime, a few at a time).
pub fn check(
    store: &Store,
    proof: &str,
    slave_fp: &str,
    master_fp: &str,
) -> outpost_store::Result<CodeCheck> {
    let code = store.meta(KEY_CODE)?.unwrap_or_default();
    let expires: u64 = store
        .meta(KEY_EXPIRES)?
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    if code.is_empty() {
        return Ok(CodeCheck::Wrong);
    }
    let keys = CodeKeys::derive(&code, slave_fp, master_fp);
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

/// The current code and its expiry, if any.
pub fn current(store: &Store) -> outpost_store::Result<Option<(String, u64)>> {
    let code = store.meta(KEY_CODE)?;
    let expires = store.meta(KEY_EXPIRES)?.and_then(|e| e.parse().ok());
    Ok(code.zip(expires))
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
}
