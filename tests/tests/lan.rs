//! Finding the master by name on a LAN: network namespaces joined by a
//! bridge (mDNS does not run on loopback, see `outpost_e2e::lan`), a master announcing in one,
//! slaves looking in the other. Needs root (`ip netns`); where namespaces
//! cannot be made the test says so and skips.

use std::process::Stdio;
use std::time::{Duration, Instant};

use outpost_e2e::lan::{text, Killed, Lan};

#[test]
fn a_slave_finds_the_master_by_name_across_a_lan_and_a_second_master_of_that_name_is_refused() {
    let lan = match Lan::make(0, 2) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why}); mDNS discovery is not tested");
            return;
        }
    };
    let (m, s, m2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut master = lan.cmd(0);
    // Listening on all interfaces, in a namespace with no default route
    // (a LAN without a gateway): the URL must still name the LAN address.
    master
        .args(["master", "--name", "LAN depot", "--data"])
        .arg(m.path())
        .args(outpost_e2e::first_manager_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = master.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let _master = Killed(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let mut url = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("outpost://") {
            url = line;
            break;
        }
    }
    // Keep reading what the master prints (QR code ...), as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        url.contains(&lan.ip(0)),
        "the URL names the LAN address: {url}"
    );
    let code = url.split("code=").nth(1).unwrap().to_string();

    // `outpost masters` in the other namespace lists it, with its address.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = lan
            .cmd(1)
            .args(["masters", "--wait", "2"])
            .output()
            .unwrap();
        let (out, _) = text(&o);
        if out.contains("LAN depot") {
            assert!(out.contains(&lan.ip(0)), "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the master was never found: {out}"
        );
    }

    // A slave connects by name with the typed code, then by name alone.
    let o = lan
        .cmd(1)
        .args(["db", "--connect", "LAN depot", "--code", &code, "--data"])
        .arg(s.path())
        .args(["insert", "Party", r#"{"party_name":"Across the LAN"}"#])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("Across the LAN"));
    let o = lan
        .cmd(1)
        .args(["db", "--connect", "LAN depot", "--data"])
        .arg(s.path())
        .args(["count", "Party"])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(out.trim(), "1", "{err}");

    // A name nobody announces is a clear error.
    let o = lan
        .cmd(1)
        .args([
            "db",
            "--connect",
            "Nowhere depot",
            "--timeout",
            "5",
            "--data",
        ])
        .arg(tempfile::tempdir().unwrap().path())
        .args(["count", "Party"])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("no master called \"Nowhere depot\""), "{err}");

    // A second master with the same name on the same LAN is refused.
    let o = lan
        .cmd(1)
        .args([
            "master",
            "--name",
            "LAN depot",
            "--listen",
            &lan.ip(1),
            "--data",
        ])
        .arg(m2.path())
        .args(outpost_e2e::first_manager_args())
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("another master called \"LAN depot\""), "{err}");
}
