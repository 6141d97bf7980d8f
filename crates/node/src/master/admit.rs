//! Who may connect, and what a device not yet trusted may cost the master.
//!
//! Approved devices connect; revoked ones are refused; unknown ones need
//! the current pairing code, proved (never sent) in their hello, and get
//! the master's own proof of the code back with the offer.
//!
//! Before a device is trusted: each address may hold [`MAX_PER_ADDRESS`]
//! connections at once, [`MAX_HANDSHAKES_PER_ADDRESS`] of them in their
//! handshake (a flood from one PC leaves the master's other slots, and the
//! handshakes every address shares, to everyone else); wrong codes are counted per device and per
//! address against the current code, so one PC that guesses is stopped
//! without retiring the code for the others. Checking a proof costs two
//! HMACs: the code's slow hash was run once, when the code was made (the
//! master keeps only its key, see `pairing_state`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use outpost_link::{Admission, SlaveHello};
use outpost_store::Store;

use super::Shared;
use crate::pairing_state::{self, CodeCheck};

/// Connections one address may have open before it is trusted (a browser
/// loading the UI opens several at once).
pub(super) const MAX_PER_ADDRESS: usize = 16;
/// Handshakes one address may have in progress at once (of the master's
/// 32): a PC connects once, a browser once per tab.
pub(super) const MAX_HANDSHAKES_PER_ADDRESS: usize = 4;
/// Pairing codes one device may try against the current code.
pub(super) const MAX_TRIES_PER_DEVICE: u32 = 5;
/// Pairing codes one address may try against the current code (a PC can
/// make itself new device ids at will).
pub(super) const MAX_TRIES_PER_ADDRESS: u32 = 10;

/// The master's gates for devices not yet trusted; one per master.
pub(super) struct Gates {
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    handshaking: Arc<Mutex<HashMap<IpAddr, usize>>>,
    tries: Mutex<Tries>,
}

/// A connection counted against its address until dropped.
pub(super) struct AddressSlot {
    ip: IpAddr,
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.ip.is_loopback() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// One of `max` slots of `ip` in `map` (loopback: always).
fn take_slot(
    map: &Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
    max: usize,
) -> Option<AddressSlot> {
    let ip = canonical(ip);
    if !ip.is_loopback() {
        let mut counts = map.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
    }
    Some(AddressSlot {
        ip,
        map: map.clone(),
    })
}

/// Codes tried against the current code, by device and by address.
#[derive(Default)]
struct Tries {
    /// Which code the counts are for (a digest of its key and expiry): a
    /// new code, here or from `outpost pair`, starts them again.
    code: String,
    by_device: HashMap<String, u32>,
    by_address: HashMap<IpAddr, u32>,
}

impl Gates {
    pub(super) fn new() -> Gates {
        Gates {
            per_address: Arc::new(Mutex::new(HashMap::new())),
            handshaking: Arc::new(Mutex::new(HashMap::new())),
            tries: Mutex::new(Tries::default()),
        }
    }

    /// A slot for one more connection from `ip`; `None` when it has
    /// [`MAX_PER_ADDRESS`] open already. This PC itself (loopback) is not
    /// limited per address: it is one user's own PC, where the desktop
    /// and the tools talk to the master; it still shares the master's
    /// overall limits.
    pub(super) fn enter(&self, ip: IpAddr) -> Option<AddressSlot> {
        take_slot(&self.per_address, ip, MAX_PER_ADDRESS)
    }

    /// A slot for one more handshake from `ip`; `None` when it has
    /// [`MAX_HANDSHAKES_PER_ADDRESS`] in progress already (loopback: as
    /// [`Gates::enter`]).
    pub(super) fn handshake(&self, ip: IpAddr) -> Option<AddressSlot> {
        take_slot(&self.handshaking, ip, MAX_HANDSHAKES_PER_ADDRESS)
    }

    /// Counts one try of the code `code_tag` by `device` from `ip`, in one
    /// step with the check (concurrent tries cannot slip past the limit);
    /// `Err` with the refusal when either has tried too many. A try that
    /// turns out right is taken back ([`Gates::right_code`]): only wrong
    /// codes use up a PC's tries.
    fn try_code(&self, code_tag: &str, device: &str, ip: IpAddr) -> Result<(), Admission> {
        let ip = canonical(ip);
        let mut t = self.tries.lock().unwrap_or_else(|e| e.into_inner());
        if t.code != code_tag {
            *t = Tries {
                code: code_tag.to_string(),
                ..Tries::default()
            };
        }
        let by_device = t.by_device.get(device).copied().unwrap_or(0);
        let by_address = t.by_address.get(&ip).copied().unwrap_or(0);
        if by_device >= MAX_TRIES_PER_DEVICE || by_address >= MAX_TRIES_PER_ADDRESS {
            tracing::warn!(%ip, "too many pairing codes tried from one PC; refusing its tries until a new code is made");
            return Err(refuse(
                "unauthorized",
                "too many wrong pairing codes were tried from this PC; make a new code on the master and try again".into(),
            ));
        }
        *t.by_device.entry(device.to_string()).or_insert(0) += 1;
        *t.by_address.entry(ip).or_insert(0) += 1;
        Ok(())
    }
}

impl Gates {
    /// Takes back the try counted for a right code.
    fn right_code(&self, code_tag: &str, device: &str, ip: IpAddr) {
        let ip = canonical(ip);
        let mut t = self.tries.lock().unwrap_or_else(|e| e.into_inner());
        if t.code != code_tag {
            return;
        }
        if let Some(n) = t.by_device.get_mut(device) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = t.by_address.get_mut(&ip) {
            *n = n.saturating_sub(1);
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn refuse(code: &str, message: String) -> Admission {
    Admission::Refuse {
        code: code.to_string(),
        message,
    }
}

/// Decides whether a slave from `ip` may connect: an approved device
/// without a code is let in; one with a code has it checked (the master's
/// proof goes back when it is right, so a page that forgot its pairing
/// can pair again). Runs on a blocking
/// thread (store reads).
pub(super) fn admit(shared: &Shared, gates: &Gates, hello: &SlaveHello, ip: IpAddr) -> Admission {
    admit_inner(shared, gates, hello, ip).unwrap_or_else(|refusal| refusal)
}

fn admit_inner(
    shared: &Shared,
    gates: &Gates,
    hello: &SlaveHello,
    ip: IpAddr,
) -> Result<Admission, Admission> {
    let office = &shared.config.name;
    // Before anything else: a slave whose protocol this master does not
    // speak is told which versions, and where the right package is.
    if let Some(why) = crate::version::refusal(hello, office) {
        return Err(refuse(crate::version::REFUSED_VERSION, why));
    }
    let store = shared.db.store();
    let revoked_words = || {
        refuse(
            "forbidden",
            format!("this device's access to \"{office}\" was revoked; to use it again, pair it again with a new code from the master"),
        )
    };
    let device = store.device(&hello.device).map_err(|e| {
        refuse(
            "unavailable",
            format!("the master cannot check this device: {e}"),
        )
    })?;
    let (approved, revoked) = match device {
        Some(d) if d.is_approved() && hello.proof.is_none() => return Ok(Admission::Accept),
        Some(d) if d.is_approved() => (true, false),
        Some(_) if hello.proof.is_none() => return Err(revoked_words()),
        Some(_) => (false, true),
        None => (false, false),
    };
    let Some(proof) = &hello.proof else {
        return Err(refuse(
            "unauthorized",
            format!("this device is not paired with \"{office}\"; enter the pairing code shown on the master"),
        ));
    };
    let cannot = |e: outpost_store::StoreError| {
        refuse(
            "unavailable",
            format!("the master cannot check the code: {e}"),
        )
    };
    // Every try counts, a revoked device's too.
    let tag = pairing_state::code_tag(store).map_err(cannot)?;
    if let Err(refusal) = gates.try_code(&tag, &hello.device, ip) {
        // An approved device is let in without a code all the same.
        return if approved {
            Ok(Admission::Accept)
        } else {
            Err(refusal)
        };
    }
    let check = pairing_state::check(store, proof, &hello.device, shared.identity.fingerprint())
        .map_err(cannot)?;
    match check {
        CodeCheck::Ok { master_proof } => {
            gates.right_code(&tag, &hello.device, ip);
            Ok(Admission::Paired { master_proof })
        }
        // An approved device pairing again (a browser that forgot the
        // master) with a code that is not right: it needs no code.
        _ if approved => Ok(Admission::Accept),
        _ if revoked => Err(revoked_words()),
        CodeCheck::Expired => Err(refuse(
            "unauthorized",
            "the pairing code has expired; make a new one on the master (outpost pair, or the master screen)".into(),
        )),
        CodeCheck::Wrong => Err(refuse(
            "unauthorized",
            "wrong pairing code; check the code shown on the master".into(),
        )),
    }
}

/// Notes an admitted device in the database once its channel is up;
/// whether it may stay. Paired with the code (and DTLS proved it holds the
/// key): it is approved. Admitted as approved: it may have been revoked
/// while the channel came up, and a revocation is never undone here.
pub(super) fn record_arrival(store: &Store, by_code: bool, device: &str, name: &str) -> bool {
    if by_code {
        if let Err(e) = store.approve_device(device, name) {
            tracing::error!(error = %e, "cannot record the new device");
            return false;
        }
        return true;
    }
    let still = store.device(device).ok().flatten();
    if !still.is_some_and(|d| d.is_approved()) {
        tracing::info!(%device, "revoked during the handshake");
        return false;
    }
    let _ = store.touch_device(device);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_codes_count_per_device_and_address_and_stop_only_that_pc() {
        let g = Gates::new();
        let (attacker, other): (IpAddr, IpAddr) =
            ("10.0.0.66".parse().unwrap(), "10.0.0.7".parse().unwrap());
        for _ in 0..MAX_TRIES_PER_DEVICE {
            g.try_code("code1", "dev-a", attacker).unwrap();
        }
        // That device is stopped; the code still works for everyone else.
        assert!(g.try_code("code1", "dev-a", attacker).is_err());
        g.try_code("code1", "dev-b", other).unwrap();
        // New device ids from the same address: stopped by the address.
        for i in 0..(MAX_TRIES_PER_ADDRESS - MAX_TRIES_PER_DEVICE) {
            g.try_code("code1", &format!("fresh-{i}"), attacker)
                .unwrap();
        }
        let Err(Admission::Refuse { message, .. }) = g.try_code("code1", "fresh-x", attacker)
        else {
            panic!("the address is over its tries");
        };
        assert!(message.contains("from this PC"), "{message}");
        // The same address as IPv4-mapped IPv6 is the same address.
        let mapped: IpAddr = "::ffff:10.0.0.66".parse().unwrap();
        assert!(g.try_code("code1", "fresh-y", mapped).is_err());
        // And the honest PC goes on; right codes use up no tries.
        for _ in 0..(2 * MAX_TRIES_PER_ADDRESS) {
            g.try_code("code1", "dev-c", other).unwrap();
            g.right_code("code1", "dev-c", other);
        }
        // A new code starts the counts again.
        g.try_code("code2", "dev-a", attacker).unwrap();
    }

    #[test]
    fn concurrent_tries_cannot_slip_past_the_limit() {
        let g = Arc::new(Gates::new());
        let ip: IpAddr = "10.0.0.66".parse().unwrap();
        let passed: usize = (0..8)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .filter(|_| g.try_code("c", "dev", ip).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(passed, MAX_TRIES_PER_DEVICE as usize);
    }

    #[test]
    fn one_address_holds_at_most_its_share_of_connections() {
        let g = Gates::new();
        let ip: IpAddr = "10.0.0.66".parse().unwrap();
        let held: Vec<_> = (0..MAX_PER_ADDRESS).map(|_| g.enter(ip).unwrap()).collect();
        assert!(g.enter(ip).is_none());
        assert!(g.enter("10.0.0.7".parse().unwrap()).is_some());
        drop(held);
        assert!(g.enter(ip).is_some(), "slots are given back");
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        let mine: Vec<_> = (0..=MAX_PER_ADDRESS)
            .map(|_| g.enter(me).unwrap())
            .collect();
        assert_eq!(mine.len(), MAX_PER_ADDRESS + 1, "this PC is not limited");
    }

    #[test]
    fn one_address_has_at_most_a_few_handshakes_in_progress() {
        let g = Gates::new();
        let ip: IpAddr = "10.0.0.66".parse().unwrap();
        let held: Vec<_> = (0..MAX_HANDSHAKES_PER_ADDRESS)
            .map(|_| g.handshake(ip).unwrap())
            .collect();
        assert!(g.handshake(ip).is_none());
        // Its connections are counted apart, and other addresses go on.
        assert!(g.enter(ip).is_some());
        assert!(g.handshake("10.0.0.7".parse().unwrap()).is_some());
        drop(held);
        assert!(g.handshake(ip).is_some(), "slots are given back");
        let me: IpAddr = "::1".parse().unwrap();
        let mine: Vec<_> = (0..=MAX_HANDSHAKES_PER_ADDRESS)
            .map(|_| g.handshake(me).unwrap())
            .collect();
        assert_eq!(mine.len(), MAX_HANDSHAKES_PER_ADDRESS + 1);
    }
}
