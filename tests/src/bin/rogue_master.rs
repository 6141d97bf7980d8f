//! A rogue master: `outpost-rogue-master NAME DIR PORT`. It announces NAME
//! over mDNS as a real master does (its own identity, from DIR), skips the
//! start-up name check a real master makes, and admits every slave that
//! says hello, sending an offer with a made-up proof of the pairing code:
//! it never saw the code. Prints `LISTENING <port>`, then `HELLO <device>`
//! for each slave that came to it. Runs until killed.

use std::time::Duration;

use outpost_link::{accept_slave, discovery, Admission, Identity, RtcOptions, SignalSocket};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, dir, port] = &args[..] else {
        eprintln!("usage: outpost-rogue-master NAME DIR PORT");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port number");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let me = Identity::load_or_create(std::path::Path::new(dir)).expect("identity");
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let _announced =
            discovery::announce(name, me.fingerprint(), 0, port, None).expect("announce");
        println!("LISTENING {port}");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (me, name) = (me.clone(), name.clone());
            tokio::spawn(async move {
                let Ok(ws) = SignalSocket::accept(stream, Duration::from_secs(5)).await else {
                    return;
                };
                let _ = accept_slave(ws, &me, &RtcOptions::default(), &name, |hello| async move {
                    println!("HELLO {}", hello.device);
                    Admission::Paired {
                        master_proof: "5a".repeat(32),
                    }
                })
                .await;
            });
        }
    });
}
