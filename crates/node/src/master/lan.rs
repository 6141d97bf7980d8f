//! The office's epoch on the LAN (issue 13, fencing). A master announces
//! its epoch over mDNS with its name and fingerprint. Announcements are not
//! authenticated, so nothing is fenced on one alone: a promoted standby
//! that sees the master it replaced announce an older epoch connects to it
//! as the paired device it was, over the pinned, encrypted channel, and
//! says the new epoch in its `hello`; the old master stops taking writes
//! and withdraws its announcement. A paired slave looking for the office by
//! name picks the master at the highest epoch among the fingerprints it
//! pins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_link::connect_master_in;
use outpost_link::discovery::{self, FoundMaster};
use tokio::sync::watch;

use super::Shared;
use crate::error::{NodeError, Result};

/// How often a replaced master is told again, while it has not taken it.
const TELL_AGAIN: Duration = Duration::from_secs(5);
/// How long to keep telling it.
const TELL_FOR: Duration = Duration::from_secs(120);

/// The other PCs of this office that may announce themselves as its
/// master: the master this PC followed as a standby (and that master's
/// roster, from `slave.json`), and this master's own standby.
pub(super) fn office_fingerprints(
    data: &std::path::Path,
    standby: Option<String>,
    own: &str,
) -> Vec<String> {
    let mut all: Vec<String> = crate::slave::load_paired(data)
        .map(|p| p.accepted())
        .unwrap_or_default();
    all.extend(standby);
    all.retain(|f| f != own);
    all.dedup();
    all
}

/// At start: another master announcing this office's name is refused,
/// unless it is a PC of this office at another epoch (the master a
/// promoted standby replaced, or the standby promoted in this one's
/// place): the epochs settle which of the two takes writes.
pub(super) fn name_check(
    others: &[FoundMaster],
    name: &str,
    own: &str,
    epoch: u64,
    office: &[String],
) -> Result<()> {
    for other in others {
        if !other.name.eq_ignore_ascii_case(name) || other.fingerprint == own {
            continue;
        }
        if office.contains(&other.fingerprint) && other.epoch != epoch {
            tracing::warn!(
                their_epoch = other.epoch,
                epoch,
                fingerprint = %other.fingerprint,
                "another PC of this office announces itself as its master; the higher epoch is the office's master"
            );
            continue;
        }
        return Err(NodeError::DuplicateName {
            name: name.to_string(),
            fingerprint: other.fingerprint.clone(),
        });
    }
    Ok(())
}

impl Shared {
    /// This master's announcement, no longer held here (dropping it says
    /// goodbye over mDNS and waits up to half a second for the daemon).
    pub(super) fn take_announcement(&self) -> Option<discovery::Announcement> {
        self.announcement
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Announces this master on the interface of `ip` too (it listens
    /// there now); loopback is never announced.
    pub(super) fn announce_address(&self, ip: std::net::IpAddr) {
        if ip.is_loopback() {
            return;
        }
        let held = self.announcement.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Err(e)) = held.as_ref().map(|a| a.add_address(ip)) {
            tracing::warn!(%ip, error = %e, "cannot announce the master at a new address");
        }
    }

    /// Stops announcing this master on the LAN (it was replaced).
    pub(crate) fn withdraw_announcement(&self) {
        if let Some(a) = self.take_announcement() {
            std::thread::spawn(move || drop(a));
            tracing::info!("no longer announced on the LAN");
        }
    }
}

/// Watches the LAN for a master of this office at an older epoch, and
/// tells each one found that it was replaced.
pub(super) async fn watch(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut lan = match discovery::Watch::start() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the LAN for a replaced master");
            return;
        }
    };
    let own = shared.identity.fingerprint().to_string();
    let mut told: HashMap<String, Instant> = HashMap::new();
    // What each PC announced, its addresses gathered across announcements
    // (a PC's addresses can arrive one resolution at a time).
    let seen: Seen = Arc::default();
    loop {
        let found = tokio::select! {
            f = lan.next() => match f {
                Some(f) => f,
                None => return,
            },
            _ = stop.changed() => return,
        };
        let found = {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            let entry = seen
                .entry(found.fingerprint.clone())
                .or_insert_with(|| found.clone());
            for a in &found.addrs {
                if !entry.addrs.contains(a) {
                    entry.addrs.push(*a);
                }
            }
            entry.epoch = found.epoch;
            entry.port = found.port;
            entry.clone()
        };
        if found.fingerprint == own
            || !found.name.eq_ignore_ascii_case(&shared.config.name)
            || shared.fenced.load(std::sync::atomic::Ordering::SeqCst) > 0
        {
            continue;
        }
        let epoch = shared.epoch;
        if found.epoch > epoch {
            tracing::warn!(
                their_epoch = found.epoch,
                epoch,
                fingerprint = %found.fingerprint,
                "a PC announces this office at a higher epoch; if a standby was promoted, it will tell this master over the paired channel"
            );
            continue;
        }
        if found.epoch == epoch {
            continue;
        }
        let data = shared.config.data.clone();
        let standby = crate::standby::standby_device(shared.db.store())
            .ok()
            .flatten();
        let office = office_fingerprints(&data, standby, &own);
        if !office.contains(&found.fingerprint) {
            continue;
        }
        if told
            .get(&found.fingerprint)
            .is_some_and(|at| at.elapsed() < TELL_FOR)
        {
            continue;
        }
        told.insert(found.fingerprint.clone(), Instant::now());
        tokio::spawn(keep_telling(
            shared.clone(),
            found,
            seen.clone(),
            stop.clone(),
        ));
    }
}

/// What each PC announced on the LAN, by fingerprint.
type Seen = Arc<std::sync::Mutex<HashMap<String, FoundMaster>>>;

/// Tells `old` it was replaced until it says it took it (it may still be
/// starting), for [`TELL_FOR`] at most, at the addresses it announced by
/// then.
async fn keep_telling(
    shared: Arc<Shared>,
    mut old: FoundMaster,
    seen: Seen,
    mut stop: watch::Receiver<bool>,
) {
    let until = Instant::now() + TELL_FOR;
    while Instant::now() < until && !*stop.borrow() {
        if let Some(now) = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&old.fingerprint)
        {
            old = now.clone();
        }
        match tell(&shared, &old).await {
            Ok(()) => {
                tracing::warn!(
                    fingerprint = %old.fingerprint,
                    epoch = shared.epoch,
                    "told the master this PC replaced that it takes no more writes"
                );
                return;
            }
            Err(why) => {
                tracing::info!(fingerprint = %old.fingerprint, "cannot tell the replaced master yet: {why}")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TELL_AGAIN) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Connects to `old` as the paired device this PC was (pinning its
/// fingerprint), at each address it announced (IPv4 first; an IPv6
/// link-local address names no interface, and is skipped), and says this
/// master's epoch in a `hello`.
async fn tell(shared: &Shared, old: &FoundMaster) -> std::result::Result<(), String> {
    let mut addrs: Vec<std::net::SocketAddr> = old
        .addrs
        .iter()
        .filter(
            |ip| !matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80),
        )
        .map(|ip| std::net::SocketAddr::new(*ip, old.port))
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    if addrs.is_empty() {
        return Err("it announced no address this PC can reach".into());
    }
    let mut last = String::new();
    for addr in addrs {
        match tell_at(shared, old, &addr.to_string()).await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
    }
    Err(last)
}

async fn tell_at(
    shared: &Shared,
    old: &FoundMaster,
    addr: &str,
) -> std::result::Result<(), String> {
    let (channel, _) = connect_master_in(
        addr,
        &shared.identity,
        &shared.config.rtc,
        std::slice::from_ref(&old.fingerprint),
        &crate::slave::default_device_name(),
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    let outpost_link::Channel { tx, mut rx } = channel;
    let answer = crate::slave::say_hello(&tx, &mut rx, shared.epoch).await;
    tx.close().await;
    let v = answer?;
    let fenced = v["fenced_by"].as_u64().unwrap_or(0);
    if fenced >= shared.epoch {
        Ok(())
    } else {
        Err(format!(
            "it answered at epoch {} without taking epoch {}",
            v["epoch"].as_u64().unwrap_or(0),
            shared.epoch
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, fp: &str, epoch: u64) -> FoundMaster {
        FoundMaster {
            name: name.into(),
            fingerprint: fp.into(),
            addrs: vec![],
            port: 1,
            epoch,
        }
    }

    #[test]
    fn the_name_check_lets_the_office_s_other_epoch_through_and_nobody_else() {
        let office = vec!["SB".to_string()];
        // The promoted standby, announced at a higher epoch: the old
        // master starts (and is told it was replaced).
        assert!(name_check(&[m("Depot", "SB", 1)], "depot", "OLD", 0, &office).is_ok());
        // Itself, and other names, never count.
        assert!(name_check(
            &[m("Depot", "OLD", 0), m("Camp", "X", 0)],
            "Depot",
            "OLD",
            0,
            &office
        )
        .is_ok());
        // A stranger with the name, or the office's PC at the same epoch
        // (two masters of one history): refused.
        for other in [m("Depot", "X", 3), m("Depot", "SB", 0)] {
            let e = name_check(&[other], "Depot", "OLD", 0, &office).unwrap_err();
            assert!(matches!(e, NodeError::DuplicateName { .. }), "{e}");
        }
    }

    #[test]
    fn the_office_is_the_followed_master_s_roster_and_the_standby_not_itself() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            office_fingerprints(dir.path(), Some("SB".into()), "ME"),
            vec!["SB"]
        );
        let paired = crate::slave::PairedMaster {
            name: "Depot".into(),
            fingerprint: "OLD".into(),
            addr: "10.0.0.1:7000".into(),
            roster: vec!["OLD".into(), "ME".into()],
            epoch: 0,
        };
        std::fs::write(
            dir.path().join(crate::slave::SLAVE_FILE),
            serde_json::to_vec(&paired).unwrap(),
        )
        .unwrap();
        assert_eq!(office_fingerprints(dir.path(), None, "ME"), vec!["OLD"]);
    }
}
