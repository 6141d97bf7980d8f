//! Where a slave finds its master and which fingerprints it pins: the
//! paired master it remembers (`slave.json`: name, fingerprint, last
//! address, and the office's roster), a pairing URL, or a name on the LAN.

use std::path::Path;
use std::time::Duration;

use outpost_link::{discovery, LinkError};
use serde::{Deserialize, Serialize};

use super::{Inner, Target, BROWSE, SLAVE_FILE};

/// What a slave remembers about its master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedMaster {
    pub name: String,
    pub fingerprint: String,
    /// `host:port` it was last reached at.
    pub addr: String,
    /// The office's roster: every PC that may answer as its master (the
    /// master and its standby), learned from the master's `hello` over the
    /// encrypted channel; pinned like the master itself.
    #[serde(default)]
    pub roster: Vec<String>,
    /// The office's epoch (raised by each promotion of a standby).
    #[serde(default)]
    pub epoch: u64,
}

impl PairedMaster {
    /// Every fingerprint this slave accepts as its master.
    pub fn accepted(&self) -> Vec<String> {
        let mut all = vec![self.fingerprint.clone()];
        for f in &self.roster {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        all
    }
}

pub fn load_paired(dir: &Path) -> Option<PairedMaster> {
    let text = std::fs::read_to_string(dir.join(SLAVE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

pub(super) fn save_paired(dir: &Path, m: &PairedMaster) -> std::io::Result<()> {
    let tmp = dir.join(format!("{SLAVE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(m).unwrap_or_default())?;
    std::fs::rename(tmp, dir.join(SLAVE_FILE))
}

/// Forgets the paired master (the desktop's "forget").
pub fn forget(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(SLAVE_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The first announced address of `found` that accepts a connection (a PC
/// may announce several: LAN, VPN, container bridges).
async fn reachable(found: &discovery::FoundMaster) -> std::result::Result<String, LinkError> {
    let mut addrs: Vec<std::net::SocketAddr> = found
        .addrs
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, found.port))
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    for a in &addrs {
        let probe = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a));
        if matches!(probe.await, Ok(Ok(_))) {
            return Ok(a.to_string());
        }
    }
    Err(LinkError::Unreachable {
        addr: addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        message: format!(
            "the master \"{}\" is announced but does not answer",
            found.name
        ),
    })
}

/// Where to dial, and which fingerprint to pin. `skip_cached`: the last
/// address answered with a refusal (perhaps another office's master now
/// sits there), so look the name up on the LAN instead.
pub(super) async fn resolve(
    inner: &Inner,
    skip_cached: bool,
) -> std::result::Result<(String, Vec<String>, Option<String>), LinkError> {
    let paired = load_paired(&inner.config.data);
    match &inner.config.target {
        Target::Url(u) => {
            // A URL names its master's fingerprint; a paired master with
            // another fingerprint is another office.
            let code = u.code.clone().or_else(|| inner.config.code.clone());
            // The URL's master first; its office's roster, once learned, too.
            let fps = match paired.filter(|p| p.accepted().contains(&u.fingerprint)) {
                Some(p) => {
                    let mut all = vec![u.fingerprint.clone()];
                    all.extend(p.accepted().into_iter().filter(|f| *f != u.fingerprint));
                    all
                }
                None => vec![u.fingerprint.clone()],
            };
            Ok((u.authority(), fps, code))
        }
        Target::Name(name) => {
            if let Some(p) = paired.filter(|p| p.name.eq_ignore_ascii_case(name)) {
                // Known master: try its last address first, then look it up.
                let probe = tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::net::TcpStream::connect(&p.addr),
                );
                let accepted = p.accepted();
                if !skip_cached && matches!(probe.await, Ok(Ok(_))) {
                    return Ok((p.addr, accepted, inner.config.code.clone()));
                }
                let found = discovery::find_by_name(name, BROWSE).await?;
                if !accepted.contains(&found.fingerprint) {
                    return Err(LinkError::FingerprintMismatch {
                        who: format!("the master called \"{name}\" on the LAN"),
                        got: found.fingerprint,
                        expected: accepted.join(" or "),
                    });
                }
                let addr = reachable(&found).await?;
                return Ok((addr, accepted, inner.config.code.clone()));
            }
            let found = discovery::find_by_name(name, BROWSE).await?;
            let addr = reachable(&found).await?;
            Ok((addr, vec![found.fingerprint], inner.config.code.clone()))
        }
    }
}

/// Remembers the roster and epoch a master's `hello` answer carries (the
/// master itself must be in it; an older epoch never replaces a newer).
pub(super) fn learn_roster(dir: &Path, hello: &serde_json::Value) {
    let Some(mut paired) = load_paired(dir) else {
        return;
    };
    let roster: Vec<String> = hello["roster"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let epoch = hello["epoch"].as_u64().unwrap_or(0);
    if roster.is_empty() || !roster.contains(&paired.fingerprint) || epoch < paired.epoch {
        return;
    }
    if paired.roster != roster || paired.epoch != epoch {
        tracing::info!(
            ?roster,
            epoch,
            "the office's roster learned from the master"
        );
        paired.roster = roster;
        paired.epoch = epoch;
        let _ = save_paired(dir, &paired);
    }
}
