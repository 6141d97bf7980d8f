//! Where a master listens, on a LAN of network namespaces (see
//! `outpost_e2e::lan`; needs root, skips with words where namespaces cannot
//! be made). The master's PC has a private LAN address and a public-looking
//! one (198.51.100.0/24, a documentation range: neither private nor
//! link-local, as a satellite modem's address would be), both on its cable,
//! and the other PC can reach both.
//!
//! By default the master listens on the private address and loopback
//! only: a slave is refused at the public address (connection refused: no
//! socket there) and pairs at the private one; mDNS gives only the private
//! address; a LAN address that comes after the start is listened on. With
//! `--listen` the public address is served because it was asked for.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use outpost_e2e::lan::{text, Killed, Lan};
use outpost_e2e::url_at;

const PUBLIC_NET: &str = "198.51.100";
const PORT: &str = "7355";

/// `outpost master --name NAME ARGS...` on PC 0; the master and its pairing
/// URL.
fn start_master(lan: &Lan, data: &Path, args: &[&str]) -> (Killed, String) {
    let mut child = lan
        .cmd(0)
        .args(["master", "--name", "Listen depot", "--data"])
        .arg(data)
        .args(outpost_e2e::first_manager_args())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let master = Killed(child);
    let url = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("outpost://"))
        .expect("the master prints its pairing URL");
    std::thread::spawn(move || lines.for_each(drop));
    (master, url)
}

/// `outpost db --connect URL count Party` from PC 1, as a new slave.
fn count_from_pc1(lan: &Lan, url: &str, timeout: &str) -> Output {
    lan.cmd(1)
        .args(["db", "--connect", url, "--timeout", timeout, "--data"])
        .arg(tempfile::tempdir().unwrap().path())
        .args(["count", "Party"])
        .output()
        .unwrap()
}

#[test]
fn by_default_a_master_listens_on_the_lan_addresses_only() {
    let lan = match Lan::make(5, 2) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
            return;
        }
    };
    let public = format!("{PUBLIC_NET}.7");
    lan.add_address(0, &format!("{public}/24"));
    lan.add_address(1, &format!("{PUBLIC_NET}.8/24"));
    let m = tempfile::tempdir().unwrap();
    let (master, url) = start_master(&lan, m.path(), &[]);
    let private = lan.ip(0);
    assert!(
        url.starts_with(&format!("outpost://{private}:{PORT}/")),
        "the pairing URL names the LAN address: {url}"
    );

    // Sockets on loopback and the private address, none on the public one
    // or on every interface.
    let listening = lan.listening(0);
    for want in [format!("127.0.0.1:{PORT}"), format!("{private}:{PORT}")] {
        assert!(listening.contains(&want), "{want} in {listening:?}");
    }
    for never in [
        format!("{public}:{PORT}"),
        format!("0.0.0.0:{PORT}"),
        format!("*:{PORT}"),
        format!("[::]:{PORT}"),
    ] {
        assert!(!listening.contains(&never), "{never} in {listening:?}");
    }

    // The public address refuses the connection; the private one pairs.
    let o = count_from_pc1(&lan, &url_at(&url, &public), "3");
    let (_, err) = text(&o);
    assert!(!o.status.success(), "served at the public address: {err}");
    assert!(err.contains("refused"), "{err}");
    let o = count_from_pc1(&lan, &url, "20");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), "0", "{err}");

    // mDNS gives the private address, not the public one.
    let o = lan
        .cmd(1)
        .args(["masters", "--wait", "3"])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    let found: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["name"] == "Listen depot")
        .unwrap_or_else(|| panic!("the master is announced: {out}{err}"));
    let addrs: Vec<&str> = found["addrs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(addrs.contains(&private.as_str()), "{found}");
    assert!(!addrs.contains(&public.as_str()), "{found}");

    // A LAN address the PC gets after the start is listened on.
    let later_net = format!("10.99.{}", private.split('.').nth(2).unwrap());
    let later = format!("{later_net}.1");
    lan.add_address(0, &format!("{later}/24"));
    lan.add_address(1, &format!("{later_net}.2/24"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lan.listening(0).contains(&format!("{later}:{PORT}")) {
        assert!(
            Instant::now() < deadline,
            "{later} not listened on: {:?}",
            lan.listening(0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = count_from_pc1(&lan, &url_at(&url, &later), "20");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), "0", "{err}");
    drop(master);

    // Asked for with --listen, the public address is served.
    let (_master, url) = start_master(&lan, m.path(), &["--listen", &public, "--no-mdns"]);
    assert!(
        url.starts_with(&format!("outpost://{public}:{PORT}/")),
        "{url}"
    );
    assert_eq!(lan.listening(0), vec![format!("{public}:{PORT}")]);
    let o = count_from_pc1(&lan, &url, "20");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), "0", "{err}");
}
