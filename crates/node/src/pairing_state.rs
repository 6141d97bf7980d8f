//! The master's pairing code: kept in the office database (`_meta`) so the
//! running master and `outpost pair` (another process) share it. A code is
//! good for several PCs until it expires; too many wrong tries retire it.

use outpost_link::pairing::{code_proof, constant_time_eq, new_code, PairingUrl};
use outpost_store::Store;

/// Minutes a fresh pairing code stays valid, unless configured.
pub const DEFAULT_CODE_MINUTES: u64 = 10;
/// Wrong codes tolerated before the current code is retired.
pub const MAX_WRONG_CODES: u32 = 20;

const KEY_CODE: &str = "pairing_code";
const KEY_EXPIRES: &str = "pairing_expires";
const KEY_URL: &str = "pairing_url";
const KEY_WRONG: &str = "pairing_wrong";

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
    store.set_meta(KEY_WRONG, "0")?;
    Ok((code, expires))
}

/// Wrong codes tried against the current code (kept in the database, so a
/// new code from `outpost pair` starts again from zero).
pub fn wrong_count(store: &Store) -> outpost_store::Result<u32> {
    Ok(store
        .meta(KEY_WRONG)?
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Counts one more wrong code; returns the new count.
pub fn record_wrong(store: &Store) -> outpost_store::Result<u32> {
    let n = wrong_count(store)? + 1;
    store.set_meta(KEY_WRONG, &n.to_string())?;
    Ok(n)
}

/// Revokes a device and retires the current code: the code on the master's
/// screen may still be valid, and the revoked PC could pair again with it
/// at once. Every way of revoking (CLI, window) goes through here.
pub fn revoke(store: &Store, id: &str) -> outpost_store::Result<outpost_store::devices::Device> {
    let device = store.revoke_device(id)?;
    retire(store)?;
    Ok(device)
}

/// Retires the current code (too many wrong tries, a revocation).
pub fn retire(store: &Store) -> outpost_store::Result<()> {
    store.set_meta(KEY_EXPIRES, "0")
}

/// Why a code was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Ok,
    Wrong,
    Expired,
}

/// Checks a slave's proof of the code (see `code_proof`) against the
/// current code, for this slave and this master.
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
    if code.is_empty() || !constant_time_eq(&code_proof(&code, slave_fp, master_fp), proof) {
        return Ok(CodeCheck::Wrong);
    }
    if now_secs() >= expires {
        return Ok(CodeCheck::Expired);
    }
    Ok(CodeCheck::Ok)
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
