//! `outpost-bench-slave`: the Rust slave's side of the browser benchmark
//! (`tests/browser/bench.mjs` runs it against the same `outpost master` as
//! Chromium, in the same run). Pairs with the master by its pairing URL,
//! then measures the connect time of the paired slave (start to first
//! answer) and the `get` round trip, and prints them as one JSON line.
//!
//! Usage: `outpost-bench-slave URL DOCTYPE NAME [ROUNDS] [CONNECTS]`, signed
//! in as `OUTPOST_USER` with `OUTPOST_PASSWORD` (every office has users, so
//! a connect includes the sign-in). Not a test: nothing here asserts.

use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, Secret};
use outpost_api::{Db, Op};
use outpost_node::slave::Credentials;
use outpost_node::{RemoteDb, SlaveConfig, Target};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

use outpost_bench::pct;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, doctype, name, rest @ ..] = args.as_slice() else {
        eprintln!("usage: outpost-bench-slave URL DOCTYPE NAME [ROUNDS] [CONNECTS]");
        std::process::exit(2);
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(2000);
    let connects: usize = rest.get(1).and_then(|r| r.parse().ok()).unwrap_or(20);
    let url = outpost_link::PairingUrl::parse(url).expect("a pairing URL");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |url: &outpost_link::PairingUrl| SlaveConfig {
        data: dir.path().to_path_buf(),
        target: Target::Url(url.clone()),
        code: None,
        device_name: "bench (Rust slave)".into(),
        call_timeout: Duration::from_secs(60),
        rtc: Default::default(),
    };
    let credentials = match (
        std::env::var("OUTPOST_USER"),
        std::env::var("OUTPOST_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => Some(Credentials {
            user,
            password: Secret(password),
        }),
        _ => None,
    };
    let start = |url: &outpost_link::PairingUrl| {
        RemoteDb::start_as(config(url), credentials.clone()).expect("slave")
    };
    let get = || {
        Op::Get(GetArgs {
            doctype: doctype.clone(),
            name: name.clone(),
        })
    };
    // Pair once (the URL carries the code).
    let s = start(&url);
    s.run(get()).await.expect("get");
    s.close().await;
    let mut paired = url.clone();
    paired.code = None;

    let mut connect = Vec::new();
    for _ in 0..connects {
        let t = Instant::now();
        let s = start(&paired);
        s.run(get()).await.expect("get");
        connect.push(t.elapsed());
        s.close().await;
    }
    connect.sort();

    let s = start(&paired);
    for _ in 0..200 {
        s.run(get()).await.expect("get");
    }
    let mut rtt = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        s.run(get()).await.expect("get");
        rtt.push(t.elapsed());
    }
    rtt.sort();
    s.close().await;
    println!(
        "{}",
        serde_json::json!({
            "connect_ms_median": ms(pct(&connect, 0.5)),
            "get_ms_p50": ms(pct(&rtt, 0.5)),
            "get_ms_p99": ms(pct(&rtt, 0.99)),
            "rounds": rounds,
            "connects": connects,
        })
    );
}
