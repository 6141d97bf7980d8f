//! An impostor slave: `outpost-impostor DIR CLAIMED_DEVICE_ID URL`. It has
//! its own identity (in DIR) but says hello as CLAIMED_DEVICE_ID (a device
//! the master approved), so its answer carries the wrong fingerprint.
//! Prints `REFUSED <code> <message>` (exit 6) or `CONNECTED` (exit 0).

use outpost_link::{connect_master_as, Identity, LinkError, PairingUrl, RtcOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, claimed, url] = &args[..] else {
        eprintln!("usage: outpost-impostor DIR CLAIMED_DEVICE_ID URL");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let code = rt.block_on(async {
        let me = Identity::load_or_create(std::path::Path::new(dir)).expect("identity");
        let url = PairingUrl::parse(url).expect("url");
        let r = connect_master_as(
            &url.authority(),
            &me,
            claimed,
            &RtcOptions::default(),
            &url.fingerprint,
            "Impostor",
            url.code.as_deref(),
        )
        .await;
        match r {
            Ok(_) => {
                println!("CONNECTED");
                0
            }
            Err(LinkError::Refused { code, message }) => {
                println!("REFUSED {code} {message}");
                6
            }
            Err(e) => {
                println!("FAILED {e}");
                1
            }
        }
    });
    std::process::exit(code);
}
