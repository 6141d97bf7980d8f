//! The standby master, measured (issue 13), all in one run on loopback:
//! real WebRTC between a master, eight slaves and a standby in this
//! process.
//!
//! 1. One slave, then eight slaves, write as fast as they can for a few seconds while the
//!    standby follows, once with the master in async mode and once in
//!    synchronous mode: write latency p50/p99 in each (and the ratio,
//!    sync ÷ async), writes per second, and the replication lag p50/p99
//!    (from a write group's commit on the master to the standby holding it).
//! 2. A database of `--records N` Parties (default 1,000,000): the time for
//!    a new standby to fetch it (MB/s), and a backup of it taken while two
//!    slaves write (MB/s, and the writes acknowledged meanwhile).
//!
//! `cargo run --release -p outpost-bench --bin outpost-bench-standby [-- --records N --seconds S]`

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_api::protocol::{InsertArgs, QueryArgs};
use outpost_api::{Db, Op};
use outpost_link::PairingUrl;
use outpost_node::standby::{self, Durability, StandbyConfig, StandbyState};
use outpost_node::{Master, MasterConfig, RemoteDb, SlaveConfig, Target, WithoutUsers};
use outpost_store::{ReplEvent, Store, Write, WriteCtx};
use serde_json::json;
use tokio::sync::watch;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start_master(dir: &Path, durability: Durability) -> Master {
    start_master_on(dir, durability, 0).await
}

async fn start_master_on(dir: &Path, durability: Durability, port: u16) -> Master {
    let mut config = MasterConfig::new(dir.to_path_buf(), "Bench depot");
    config.listen = std::net::IpAddr::from([127, 0, 0, 1]).into();
    config.port = port;
    config.announce = false;
    config.without_users = WithoutUsers::OpenForTests;
    config.writes.durability = durability;
    Master::start(config).await.expect("master")
}

fn slave(dir: &Path, url: &PairingUrl) -> RemoteDb {
    RemoteDb::start(SlaveConfig {
        data: dir.to_path_buf(),
        target: Target::Url(url.clone()),
        code: None,
        device_name: "bench".into(),
        call_timeout: Duration::from_secs(60),
        rtc: Default::default(),
    })
    .expect("slave")
}

/// A paired slave (the first call pairs it with the URL's code).
async fn paired(dir: &Path, url: &PairingUrl) -> RemoteDb {
    let s = slave(dir, url);
    s.run(Op::Count(QueryArgs {
        doctype: "Party".into(),
        ..Default::default()
    }))
    .await
    .expect("pair");
    s
}

struct Following {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<outpost_node::Result<()>>,
    /// (seq held, when) as the standby reported it.
    seen: Arc<Mutex<Vec<(u64, Instant)>>>,
}

/// Pairs `dir` with the master, makes it the standby, and starts following;
/// returns once it follows (and how long the copy took).
async fn standby_of(master: &Master, dir: &Path) -> (Following, Duration) {
    let url = master.pairing_url().clone();
    let s = paired(dir, &url).await;
    s.close().await;
    let id = outpost_link::Identity::load_or_create(dir).unwrap();
    standby::make_standby(master.store(), id.fingerprint()).expect("standby");
    let mut plain = url.clone();
    plain.code = None;
    let (state_tx, mut state) = watch::channel(StandbyState::Connecting);
    let (stop, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(standby::follow(
        StandbyConfig {
            data: dir.to_path_buf(),
            target: Target::Url(plain),
            code: None,
            device_name: "bench standby".into(),
            rtc: Default::default(),
        },
        state_tx,
        stop_rx,
    ));
    let seen = Arc::new(Mutex::new(Vec::new()));
    loop {
        state.changed().await.expect("standby runs");
        if matches!(*state.borrow(), StandbyState::Following { .. }) {
            break;
        }
    }
    let copied = started.elapsed();
    let log = seen.clone();
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            if let StandbyState::Following { seq, .. } = *state.borrow() {
                log.lock().unwrap().push((seq, Instant::now()));
            }
        }
    });
    (Following { stop, task, seen }, copied)
}

impl Following {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct WriteRun {
    latencies: Vec<Duration>,
    lags: Vec<Duration>,
    elapsed: Duration,
}

/// `writers` slaves writing as fast as they can for `seconds`, with a
/// standby.
async fn write_run(durability: Durability, writers: usize, seconds: u64) -> WriteRun {
    let m = tempfile::tempdir().unwrap();
    let master = start_master(m.path(), durability).await;
    let commits: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let c = commits.clone();
    master.store().on_changeset(move |ev| {
        if let ReplEvent::Committed { seq } = ev {
            c.lock().unwrap().insert(seq, Instant::now());
        }
    });
    let sb = tempfile::tempdir().unwrap();
    let (following, _) = standby_of(&master, sb.path()).await;
    let url = master.pairing_url().clone();
    let dirs: Vec<_> = (0..writers).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut slaves = Vec::new();
    for d in &dirs {
        slaves.push(paired(d.path(), &url).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, s) in slaves.iter().enumerate() {
        let (s, stop) = (s.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                s.run(Op::Insert(InsertArgs {
                    doctype: "Party".into(),
                    record: json!({"party_name": format!("s{i}-{n}"), "city": "Kashgar"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                }))
                .await
                .expect("insert");
                lat.push(t.elapsed());
                n += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    // Let the standby catch up, then match each commit with the first time
    // the standby said it held it.
    let last = master.store().repl_seq();
    let deadline = Instant::now() + Duration::from_secs(30);
    while following
        .seen
        .lock()
        .unwrap()
        .last()
        .is_none_or(|(s, _)| *s < last)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = following.seen.lock().unwrap().clone();
    let mut lags = Vec::new();
    for (seq, at) in commits.lock().unwrap().iter() {
        if let Some((_, held)) = seen.iter().find(|(s, _)| s >= seq) {
            lags.push(held.saturating_duration_since(*at));
        }
    }
    for s in &slaves {
        s.close().await;
    }
    following.stop().await;
    master.shutdown().await;
    latencies.sort();
    lags.sort();
    WriteRun {
        latencies,
        lags,
        elapsed,
    }
}

fn report(label: &str, r: &WriteRun) {
    println!(
        "{label}: {} writes in {:.1} s ({:.0}/s); write p50 {:.2} ms, p99 {:.2} ms; replication lag p50 {:.2} ms, p99 {:.2} ms ({} write groups)",
        r.latencies.len(),
        r.elapsed.as_secs_f64(),
        r.latencies.len() as f64 / r.elapsed.as_secs_f64(),
        ms(pct(&r.latencies, 0.5)),
        ms(pct(&r.latencies, 0.99)),
        ms(pct(&r.lags, 0.5)),
        ms(pct(&r.lags, 0.99)),
        r.lags.len()
    );
}

fn compare(label: &str, a: &WriteRun, s: &WriteRun) {
    println!(
        "{label}: sync ÷ async, same run: write p50 {:.2}x, p99 {:.2}x, writes/s {:.2}x (target p50 at most 1.5x)",
        ms(pct(&s.latencies, 0.5)) / ms(pct(&a.latencies, 0.5)),
        ms(pct(&s.latencies, 0.99)) / ms(pct(&a.latencies, 0.99)),
        (s.latencies.len() as f64 / s.elapsed.as_secs_f64())
            / (a.latencies.len() as f64 / a.elapsed.as_secs_f64())
    );
}

/// Fills a new office database with `n` Parties, 10,000 a transaction.
fn fill(dir: &Path, n: u64) {
    let store = Store::open(dir).unwrap();
    let mut i = 0;
    while i < n {
        let batch = (n - i).min(10_000);
        let records = (0..batch)
            .map(|k| {
                json!({"party_name": format!("Party {}", i + k), "city": "Kashgar", "phone": "+86 998 000 0000"})
                    .as_object()
                    .cloned()
                    .unwrap()
            })
            .collect();
        store
            .write(
                WriteCtx {
                    device: "bench".into(),
                    request_id: None,
                    user: None,
                    from_upstream: false,
                },
                Write::InsertMany {
                    doctype: "Party".into(),
                    records,
                },
            )
            .unwrap();
        i += batch;
    }
    store.close();
}

/// Failover: a synchronous master with a following standby and two
/// slaves; the master stops, the standby is promoted and serves on the same
/// address; the time from the promotion's start to each slave's first
/// answered call (its reconnection back-off included).
async fn failover() -> Vec<Duration> {
    let m = tempfile::tempdir().unwrap();
    let master = start_master(m.path(), Durability::Sync).await;
    let port = master.local_addr().port();
    let sb = tempfile::tempdir().unwrap();
    let (following, _) = standby_of(&master, sb.path()).await;
    let url = master.pairing_url().clone();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut slaves = Vec::new();
    for d in &dirs {
        slaves.push(paired(d.path(), &url).await);
    }
    // They learned the roster when they connected (the standby was made
    // before).
    for s in &slaves {
        s.run(Op::Insert(InsertArgs {
            doctype: "Party".into(),
            record: json!({"party_name": "before"})
                .as_object()
                .cloned()
                .unwrap(),
        }))
        .await
        .expect("insert");
    }
    master.shutdown().await;
    following.stop().await;
    let t0 = Instant::now();
    standby::promote(sb.path()).expect("promote");
    let promoted = start_master_on(sb.path(), Durability::Async, port).await;
    let mut times = Vec::new();
    for s in &slaves {
        let q = Op::Count(QueryArgs {
            doctype: "Party".into(),
            ..Default::default()
        });
        s.run(q).await.expect("answered by the promoted standby");
        times.push(t0.elapsed());
    }
    for s in &slaves {
        s.close().await;
    }
    promoted.shutdown().await;
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = arg("--seconds", 5);
    let records = arg("--records", 1_000_000);

    // Write latency: one slave writing back to back (each write waits for
    // the last), so the latency is the write's own path, not a queue.
    let a = write_run(Durability::Async, 1, seconds).await;
    report("one writer, async", &a);
    let s = write_run(Durability::Sync, 1, seconds).await;
    report("one writer, sync ", &s);
    compare("one writer", &a, &s);
    // Under load: eight slaves as fast as they can (the master, the eight
    // slaves and the standby share this process and the machine's cores).
    let a = write_run(Durability::Async, 8, seconds).await;
    report("eight writers, async", &a);
    let s = write_run(Durability::Sync, 8, seconds).await;
    report("eight writers, sync ", &s);
    compare("eight writers", &a, &s);

    let mut times = Vec::new();
    for _ in 0..5 {
        times.extend(failover().await);
    }
    times.sort();
    println!(
        "failover, promote to each slave's first answer (5 rounds, 2 slaves): p50 {:.0} ms, max {:.0} ms (target at most 2 s)",
        ms(pct(&times, 0.5)),
        ms(*times.last().unwrap())
    );

    let m = tempfile::tempdir().unwrap();
    let t = Instant::now();
    fill(m.path(), records);
    let size = std::fs::metadata(m.path().join("outpost.sqlite"))
        .unwrap()
        .len();
    println!(
        "filled {records} Parties in {:.1} s ({:.1} MB file)",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let master = start_master(m.path(), Durability::Async).await;
    let sb = tempfile::tempdir().unwrap();
    let (following, copied) = standby_of(&master, sb.path()).await;
    let copy = std::fs::metadata(sb.path().join("outpost.sqlite"))
        .unwrap()
        .len();
    println!(
        "new standby: {:.1} MB copied in {:.2} s ({:.1} MB/s, snapshot and chunks over the data channel included)",
        copy as f64 / 1e6,
        copied.as_secs_f64(),
        copy as f64 / 1e6 / copied.as_secs_f64()
    );
    following.stop().await;

    // A backup while two slaves write.
    let url = master.pairing_url().clone();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut slaves = Vec::new();
    for d in &dirs {
        slaves.push(paired(d.path(), &url).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, s) in slaves.iter().enumerate() {
        let (s, stop) = (s.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                s.run(Op::Insert(InsertArgs {
                    doctype: "Party".into(),
                    record: json!({"party_name": format!("b{i}-{n}")})
                        .as_object()
                        .cloned()
                        .unwrap(),
                }))
                .await
                .expect("insert");
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = tempfile::tempdir().unwrap();
    let (data, to) = (m.path().to_path_buf(), out.path().join("backup.sqlite"));
    let info =
        tokio::task::spawn_blocking(move || outpost_store::backup::backup(&data, &to, false))
            .await
            .unwrap()
            .expect("backup");
    stop.store(true, Ordering::Relaxed);
    let mut during = 0;
    for t in tasks {
        during += t.await.unwrap();
    }
    println!(
        "backup while 2 slaves write: {:.1} MB in {:.2} s ({:.1} MB/s), checked; {during} writes acknowledged from 0.5 s before it began to its end",
        info.bytes as f64 / 1e6,
        info.millis as f64 / 1e3,
        info.bytes as f64 / 1e6 / (info.millis as f64 / 1e3)
    );
    for s in &slaves {
        s.close().await;
    }
    master.shutdown().await;
}
