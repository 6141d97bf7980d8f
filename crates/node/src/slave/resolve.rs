//! Where a slave finds its master and which fingerprints it pins: the
//! paired master it remembers (`slave.json`: name, fingerprint, last
//! address, and the office's roster), a pairing URL, or a name on the LAN;
//! and, once connected, whether it is still the office's master (its epoch).

use std::path::Path;
use std::time::Duration;

use outpost_link::{discovery, LinkError};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use outpost_api::protocol::decode_incoming;
use outpost_api::{Incoming, Op, Request};
use outpost_link::{connect_master_again, connect_master_in, Channel, ChannelSender, MasterInfo};

use super::{Inner, Target, BROWSE, SLAVE_FILE};

/// How long the first `hello` after connecting may take.
const HELLO_WAIT: Duration = Duration::from_secs(10);

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

/// Writes `slave.json` atomically. The temporary file is this writer's
/// own: a desktop standby has two connections to its master on one folder
/// (its slave and its standby copy), and each remembers the master.
pub(super) fn save_paired(dir: &Path, m: &PairedMaster) -> std::io::Result<()> {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{SLAVE_FILE}.{}-{n}.tmp", std::process::id()));
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

/// One master to try: where it listens and the fingerprints to pin.
pub(super) struct Dial {
    addr: String,
    accepted: Vec<String>,
}

/// Connects to the master: resolves where to dial, then tries each place
/// in turn (only a name looked up on the LAN by a slave pairing by code
/// gives several: every PC announcing the name, of which only the real
/// master can prove the code). The channel, what the master said of
/// itself, and its address. A PC that could not prove the code is
/// refused in words even when the real master is found after it.
pub(super) async fn dial(
    inner: &Inner,
    refused_before: bool,
    connected_once: bool,
) -> std::result::Result<(Channel, MasterInfo, String), LinkError> {
    let (dials, code) = resolve(inner, refused_before).await?;
    // The pairing code is for the first connection only: once paired, a
    // reconnect must not quietly pair again (a revoked PC stays revoked).
    let code = if connected_once { None } else { code };
    let mut rogue = None;
    let mut last = None;
    // Already paired with a master of the office: the code (if any) may
    // re-pair a revoked device, and that master need not prove it.
    let paired = load_paired(&inner.config.data).map(|p| p.accepted());
    for d in dials {
        let known = paired
            .as_ref()
            .is_some_and(|fps| d.accepted.iter().any(|f| fps.contains(f)));
        let (rtc, me, name) = (
            &inner.config.rtc,
            &inner.identity,
            &inner.config.device_name,
        );
        let tried = match code.as_deref() {
            Some(c) if known => connect_master_again(&d.addr, me, rtc, &d.accepted, name, c).await,
            c => connect_master_in(&d.addr, me, rtc, &d.accepted, name, c).await,
        };
        match tried {
            Ok((channel, info)) => return Ok((channel, info, d.addr)),
            Err(e @ LinkError::NotTheOffice { .. }) => {
                tracing::warn!("{e}");
                rogue.get_or_insert(e);
            }
            Err(e) => {
                tracing::debug!(addr = %d.addr, error = %e, "not connected");
                last = Some(e);
            }
        }
    }
    Err(rogue
        .or(last)
        .unwrap_or_else(|| LinkError::Discovery("no master to connect to was found".into())))
}

/// Where to dial, and which fingerprints to pin; and the pairing code.
/// `skip_cached`: the last address answered with a refusal (perhaps
/// another office's master now sits there), so look the name up on the
/// LAN instead.
async fn resolve(
    inner: &Inner,
    skip_cached: bool,
) -> std::result::Result<(Vec<Dial>, Option<String>), LinkError> {
    let paired = load_paired(&inner.config.data);
    let one = |addr: String, accepted: Vec<String>| vec![Dial { addr, accepted }];
    let code = inner.config.code.clone();
    match &inner.config.target {
        Target::Url(u) => {
            // A URL names its master's fingerprint; a paired master with
            // another fingerprint is another office.
            let code = u.code.clone().or(code);
            // The URL's master first; its office's roster, once learned, too.
            let fps = match paired.filter(|p| p.accepted().contains(&u.fingerprint)) {
                Some(p) => {
                    let mut all = vec![u.fingerprint.clone()];
                    all.extend(p.accepted().into_iter().filter(|f| *f != u.fingerprint));
                    all
                }
                None => vec![u.fingerprint.clone()],
            };
            Ok((one(u.authority(), fps), code))
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
                    return Ok((one(p.addr, accepted), code));
                }
                // The office's current master: a promoted standby announces
                // a higher epoch than the master it replaced.
                let found = discovery::find_office(name, &accepted, BROWSE).await?;
                let addr = reachable(&found).await?;
                return Ok((one(addr, accepted), code));
            }
            if code.is_none() {
                let found = discovery::find_by_name(name, BROWSE).await?;
                let addr = reachable(&found).await?;
                return Ok((one(addr, vec![found.fingerprint]), code));
            }
            // Pairing by code: every PC announcing the name is a candidate
            // until it proves the code.
            let mut dials = Vec::new();
            let mut unreached = None;
            for found in discovery::find_all_by_name(name, BROWSE).await? {
                match reachable(&found).await {
                    Ok(addr) => dials.push(Dial {
                        addr,
                        accepted: vec![found.fingerprint],
                    }),
                    Err(e) => unreached = Some(e),
                }
            }
            match unreached {
                Some(e) if dials.is_empty() => Err(e),
                _ => Ok((dials, code)),
            }
        }
    }
}

/// Remembers the roster and epoch a master's `hello` answer carries (the
/// master itself must be in it; an older epoch never replaces a newer).
/// Called at each connection, and by the desktop app, which asks now and
/// then to learn that its master made it the standby.
pub fn learn_roster(dir: &Path, hello: &serde_json::Value) {
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

/// Sends `op` on a fresh channel, before anything else, and waits for its
/// answer (`Err`: none came).
pub(crate) async fn ask(
    tx: &ChannelSender,
    rx: &mut outpost_link::ChannelReceiver,
    op: Op,
) -> std::result::Result<std::result::Result<serde_json::Value, outpost_api::ApiError>, String> {
    let name = op.name();
    let req = Request::new(op);
    tx.send(req.encode().as_bytes())
        .await
        .map_err(|e| format!("the master did not take the {name}: {e}"))?;
    let answer = tokio::time::timeout(HELLO_WAIT, async {
        while let Some(msg) = rx.recv().await {
            let Ok(bytes) = msg else { continue };
            if let Ok(Incoming::Response(resp)) = decode_incoming(&bytes) {
                if resp.id.as_ref() == Some(&req.id) {
                    return Some(resp);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| format!("the master did not answer the {name}"))?;
    Ok(answer.result)
}

/// Says `hello` on a fresh channel with the office's epoch as `epoch`
/// knows it, and waits for the master's answer (nothing else is sent
/// before it).
pub(crate) async fn say_hello(
    tx: &ChannelSender,
    rx: &mut outpost_link::ChannelReceiver,
    epoch: u64,
) -> std::result::Result<serde_json::Value, String> {
    let hello = Op::Hello(outpost_api::protocol::HelloArgs {
        epoch: Some(epoch),
        ..Default::default()
    });
    ask(tx, rx, hello)
        .await?
        .map_err(|e| format!("the master refused the hello: {e}"))
}

/// Says `hello` with the epoch this slave knows, before any other call,
/// and waits for the answer: it carries the office's roster and epoch
/// (remembered in `slave.json`, so that a promoted standby is accepted). A
/// master with an older epoch than this slave knows was replaced: `Err`,
/// and no call is sent to it (its `hello` told it so: it stops taking
/// writes).
pub(super) async fn hello_first(
    inner: &Arc<Inner>,
    tx: &ChannelSender,
    rx: &mut outpost_link::ChannelReceiver,
) -> std::result::Result<(), String> {
    let known = load_paired(&inner.config.data)
        .map(|p| p.epoch)
        .unwrap_or(0);
    let v = say_hello(tx, rx, known).await?;
    let epoch = v["epoch"].as_u64().unwrap_or(0);
    if epoch < known {
        return Err(format!(
            "this master is out of date: the office's epoch is {known} and it is at {epoch} (a standby was promoted in its place); looking for the current master"
        ));
    }
    learn_roster(&inner.config.data, &v);
    Ok(())
}
