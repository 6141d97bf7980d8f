//! `outpost-bench-link`: DB calls over the WebRTC data channel, against a
//! plain WebSocket RPC baseline and `LocalDb` itself, in one run, on
//! loopback, against the same master and the same data. Prints ratios.
//!
//! Measures: get round trip (p50, p99) from a task of the runtime, as the
//! desktop app calls; the p50 again from the main thread's `block_on`, as a
//! command line calls, and with everything on one thread, to tell the
//! paths' own work from the hand-offs between threads; pipelined get
//! throughput and the process's CPU time a pipelined call, connect time of a paired slave
//! (start to first answer, median of 20), reconnect time after a master
//! restart, export of 100k Parties to a slave (MB/s), and the RSS of a
//! separate `outpost master` process with 32 slaves.
//!
//! Run with `make bench` (release), or `cargo build --profile profiling` of
//! this and `outpost` for perf and callgrind: the `outpost` beside this
//! binary is the master of the last step.
//!
//! `outpost-bench-link STEP [CALLS]` runs one step alone for callgrind
//! (`link/profile.rs`; `scripts/callgrind-table` sums the dump).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, InsertManyArgs, QueryArgs, SortArg};
use outpost_api::{Db, LocalDb, Op};
use outpost_node::{Master, MasterConfig, RemoteDb, SlaveConfig, Target, WithoutUsers};
use serde_json::json;
use tokio::sync::Semaphore;

const RECORDS: usize = 100_000;
const RTT_ROUNDS: usize = 3_000;
const PIPELINED: usize = 20_000;
const IN_FLIGHT: usize = 64;
/// The pipelined step takes the paths in turn this many times.
const ROUNDS: usize = 4;
/// The round-trip step takes the paths in turn in blocks of this many calls.
const BLOCK: usize = 100;
const CONNECTS: usize = 20;
const SLAVES_FOR_RSS: usize = 32;
/// Parties of the master the one-thread round trip runs against (a get
/// reads one row by its key, whatever the table's size).
const ONE_THREAD_RECORDS: usize = 10_000;

use outpost_bench::{cpu_ticks, pct, TICKS_A_SECOND};

#[path = "link/profile.rs"]
mod profile;
use profile::{via_dc, via_local, via_ws, Path};
#[path = "link/ws.rs"]
mod ws;
use ws::{ws_server, WsClient};

fn us(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

fn get_op(name: &str) -> Op {
    Op::Get(GetArgs {
        doctype: "Party".into(),
        name: name.to_string(),
    })
}

/// The round trip of one call after another on each path, the paths taking
/// turns in blocks of [`BLOCK`] calls (the first path rotating), so a change
/// in the machine's load falls on all paths alike, while each block runs on
/// a warmed path. Sorted, per path.
async fn rtt(names: &[String], paths: &[Path]) -> Vec<Vec<Duration>> {
    let mut out = vec![Vec::with_capacity(names.len()); paths.len()];
    for (b, block) in names.chunks(BLOCK).enumerate() {
        for k in 0..paths.len() {
            let p = (b + k) % paths.len();
            for n in block {
                let t = Instant::now();
                paths[p](n.clone()).await;
                out[p].push(t.elapsed());
            }
        }
    }
    for o in &mut out {
        o.sort();
    }
    out
}

/// Calls a second on one path with [`IN_FLIGHT`] calls always waiting.
async fn pipelined(names: &[String], path: &Path) -> f64 {
    names.len() as f64 / pipelined_for(names, path).await.as_secs_f64()
}

/// What the pipelined step measured on one path.
struct Pipelined {
    /// Calls a second.
    rate: f64,
    /// This process's CPU time (both ends, all threads) a call.
    cpu: Duration,
}

/// Each path's pipelined calls, in [`ROUNDS`] rounds that take the paths
/// in turn, each round a slice of `names` on every path.
async fn pipelined_rounds(names: &[String], paths: &[Path]) -> Vec<Pipelined> {
    let mut took = vec![Duration::ZERO; paths.len()];
    let mut ticks = vec![0u64; paths.len()];
    for slice in names.chunks(names.len().div_ceil(ROUNDS)) {
        for (p, path) in paths.iter().enumerate() {
            let before = cpu_ticks(std::process::id());
            took[p] += pipelined_for(slice, path).await;
            ticks[p] += cpu_ticks(std::process::id()) - before;
        }
    }
    let calls = names.len() as f64;
    took.iter()
        .zip(ticks)
        .map(|(t, ticks)| Pipelined {
            rate: calls / t.as_secs_f64(),
            cpu: Duration::from_secs_f64(ticks as f64 / TICKS_A_SECOND / calls),
        })
        .collect()
}

async fn pipelined_for(names: &[String], path: &Path) -> Duration {
    let sem = Arc::new(Semaphore::new(IN_FLIGHT));
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(names.len());
    for n in names {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let call = path(n.clone());
        tasks.push(tokio::spawn(async move {
            call.await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    t.elapsed()
}

fn slave_config(dir: &std::path::Path, url: &outpost_link::PairingUrl) -> SlaveConfig {
    SlaveConfig {
        data: dir.to_path_buf(),
        target: Target::Url(url.clone()),
        code: None,
        device_name: "bench".into(),
        call_timeout: Duration::from_secs(60),
        rtc: Default::default(),
    }
}

async fn start_master(dir: &std::path::Path, port: u16) -> Master {
    let mut c = MasterConfig::new(dir.to_path_buf(), "Bench depot");
    c.listen = IpAddr::from([127, 0, 0, 1]).into();
    c.port = port;
    c.announce = false;
    c.without_users = WithoutUsers::OpenForTests;
    Master::start(c).await.expect("master")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The three paths to one master and its data, warmed.
struct Rig {
    dir: tempfile::TempDir,
    mdir: std::path::PathBuf,
    master: Master,
    url: outpost_link::PairingUrl,
    local: LocalDb,
    ws: WsClient,
    slave: RemoteDb,
    /// Names of Parties, in random order.
    names: Vec<String>,
}

/// Starts a master with `records` Parties, the WebSocket baseline and a
/// paired slave, and warms all three paths.
async fn rig(records: usize, names: usize) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let mdir = dir.path().join("master");
    let master = start_master(&mdir, 0).await;
    let url = master.pairing_url().clone();
    let local = master.db().for_device("bench-local");

    // Load the data through the master's own LocalDb.
    let t = Instant::now();
    let mut i = 0;
    while i < records {
        let records = (i..(i + 5000).min(records))
            .map(|k| {
                json!({"party_name": format!("Party {k:06}"), "code": format!("C{k:06}"),
                       "city": format!("City {:02}", k % 50), "email": format!("p{k}@example.com"),
                       "country": "CN", "kind": "Customer"})
                .as_object()
                .cloned()
                .unwrap_or_default()
            })
            .collect();
        local
            .run(Op::InsertMany(InsertManyArgs {
                doctype: "Party".into(),
                records,
            }))
            .await
            .expect("load");
        i += 5000;
    }
    eprintln!(
        "loaded {records} Parties in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let names: Vec<String> = master
        .store()
        .with_reader(|c| {
            let mut s = c.prepare("SELECT name FROM \"tab Party\" ORDER BY random() LIMIT ?")?;
            let rows = s.query_map([names as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .expect("names");

    let ws_addr = ws_server(master.db().for_device("bench-ws")).await;
    let ws = WsClient::connect(&ws_addr).await;
    let slave = RemoteDb::start(slave_config(&dir.path().join("slave"), &url)).expect("slave");
    slave
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("connected");

    // Warm all three paths.
    for n in names.iter().take(500) {
        local.run(get_op(n)).await.expect("get");
        ws.call(get_op(n)).await;
        slave.run(get_op(n)).await.expect("get");
    }
    Rig {
        dir,
        mdir,
        master,
        url,
        local,
        ws,
        slave,
        names,
    }
}

/// The get round trip's p50 on each path with the master, the slave and
/// the caller all on one thread (a runtime of its own, on a thread of its
/// own): the paths' own work, without the hand-offs between the two
/// workers of the runtime above, which on this VM cost more than the work
/// (BENCHMARKS.md, issue 16).
fn one_thread_rtt() -> Vec<Duration> {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let rig = rig(ONE_THREAD_RECORDS, RTT_ROUNDS).await;
            let paths = [
                via_dc(rig.slave.clone()),
                via_ws(rig.ws.clone()),
                via_local(rig.local.clone()),
            ];
            let rtts = rtt(&rig.names, &paths).await;
            rig.slave.close().await;
            rig.master.shutdown().await;
            rtts.iter().map(|r| pct(r, 0.5)).collect()
        })
    })
    .join()
    .expect("one-thread round trip")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        // In a task, as the timed run's round trips are.
        return tokio::spawn(async move { profile::run(&args).await })
            .await
            .expect("step");
    }
    let rig = rig(RECORDS, PIPELINED).await;
    let (master, slave, ws, local) = (rig.master, rig.slave, rig.ws, rig.local);
    let (dir, mdir, url, names) = (rig.dir, rig.mdir, rig.url, rig.names);
    let port = master.local_addr().port();
    let sdir = dir.path().join("slave");
    let sample = &names[..RTT_ROUNDS];
    let paths = [
        via_dc(slave.clone()),
        via_ws(ws.clone()),
        via_local(local.clone()),
    ];
    // The desktop app's calls (its `db_call` command) are tasks of the
    // runtime: measured from one.
    let rtts = {
        let (sample, paths) = (sample.to_vec(), paths.clone());
        tokio::spawn(async move { rtt(&sample, &paths).await })
            .await
            .expect("round trips")
    };
    let (rtt_dc, rtt_ws, rtt_local) = (&rtts[0], &rtts[1], &rtts[2]);
    // A command line's call (`outpost db ...`) waits in `block_on`, on a
    // thread of its own: every answer wakes that thread too.
    let outside = rtt(sample, &paths).await;
    let piped = pipelined_rounds(&names, &paths).await;
    let (tput_dc, tput_ws, tput_local) = (piped[0].rate, piped[1].rate, piped[2].rate);
    let one_thread = tokio::task::spawn_blocking(one_thread_rtt)
        .await
        .expect("one-thread round trip");

    // Export: every Party, in pages of 1000 by name, as `outpost db export` does.
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut rows_seen = 0usize;
    let mut after: Option<String> = None;
    loop {
        let page = slave
            .run(Op::Query(QueryArgs {
                doctype: "Party".into(),
                filters: after.as_ref().map(|a| json!([["name", ">", a]])),
                sort: Some(SortArg::Text("name".into())),
                limit: Some(1000),
                ..Default::default()
            }))
            .await
            .expect("page");
        let rows = page["rows"].as_array().cloned().unwrap_or_default();
        bytes += page.to_string().len();
        rows_seen += rows.len();
        if rows.len() < 1000 {
            break;
        }
        after = rows
            .last()
            .and_then(|r| r["name"].as_str())
            .map(String::from);
    }
    let export = t.elapsed();
    assert_eq!(rows_seen, RECORDS);
    let mbps = bytes as f64 / 1e6 / export.as_secs_f64();

    // Connect time of a paired slave: start to first answered call.
    let mut connects = Vec::new();
    for _ in 0..CONNECTS {
        let t = Instant::now();
        let s = RemoteDb::start(slave_config(&sdir, &url)).expect("slave");
        s.run(get_op(&names[0])).await.expect("get");
        connects.push(t.elapsed());
        s.close().await;
    }
    connects.sort();

    // Reconnect after a master restart.
    slave.close().await;
    let s = RemoteDb::start(slave_config(&sdir, &url)).expect("slave");
    s.run(get_op(&names[0])).await.expect("get");
    master.shutdown().await;
    let down = Instant::now();
    let master = start_master(&mdir, port).await;
    let up = Instant::now();
    s.run(get_op(&names[1])).await.expect("get after restart");
    let (from_down, from_up) = (down.elapsed(), up.elapsed());
    s.close().await;
    master.shutdown().await;

    // RSS of a separate master process with 32 connected slaves.
    let exe = std::env::current_exe().expect("exe");
    let outpost = exe.with_file_name("outpost");
    // The cargo profile this was built with, from the name of its folder
    // (release: fat LTO; profiling: opt 3, no LTO; debug: the dev profile).
    let build = match exe
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
    {
        Some(dir) if dir == "debug" => "dev".to_string(),
        Some(dir) => dir,
        None => "unknown".to_string(),
    };
    let rss_line = if outpost.exists() {
        let mdir2 = dir.path().join("master-rss");
        let mut child = std::process::Command::new(&outpost)
            .args([
                "master",
                "--listen",
                "127.0.0.1",
                "--port",
                "0",
                "--no-mdns",
                "--name",
                "RSS depot",
                "--data",
            ])
            .arg(&mdir2)
            // A master never runs an office without users (issue 14): its
            // first manager, whom the slaves below sign in as.
            .args(outpost_e2e::first_manager_args())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("outpost master");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let url2 = loop {
            let l = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("master output");
            if l.starts_with("outpost://") {
                break outpost_link::PairingUrl::parse(&l).expect("url");
            }
        };
        let idle = rss_kib(child.id());
        let mut slaves = Vec::new();
        for k in 0..SLAVES_FOR_RSS {
            let d = dir.path().join(format!("rss-slave-{k}"));
            let manager = outpost_node::slave::Credentials {
                user: outpost_e2e::MANAGER.into(),
                password: outpost_api::protocol::Secret(outpost_e2e::MANAGER_PASSWORD.into()),
            };
            let s = RemoteDb::start_as(slave_config(&d, &url2), Some(manager)).expect("slave");
            s.run(Op::Count(QueryArgs {
                doctype: "Party".into(),
                ..Default::default()
            }))
            .await
            .expect("count");
            slaves.push(s);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let with = rss_kib(child.id());
        for s in &slaves {
            s.close().await;
        }
        let _ = child.kill();
        let _ = child.wait();
        format!(
            "{:>10.1} MiB (idle: {:.1} MiB)",
            with as f64 / 1024.0,
            idle as f64 / 1024.0
        )
    } else {
        format!(
            "not measured: {} is missing (cargo build --profile {build} -p outpost-cli)",
            outpost.display()
        )
    };

    println!("loopback, 2-core VM, {build} build; {RECORDS} Parties; same master and data for every path");
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>9}",
        "", "data channel", "WebSocket", "LocalDb", "DC/WS"
    );
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>8.2}x",
        "get round trip p50",
        us(pct(rtt_dc, 0.5)),
        us(pct(rtt_ws, 0.5)),
        us(pct(rtt_local, 0.5)),
        pct(rtt_dc, 0.5).as_secs_f64() / pct(rtt_ws, 0.5).as_secs_f64()
    );
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>8.2}x",
        "get round trip p99",
        us(pct(rtt_dc, 0.99)),
        us(pct(rtt_ws, 0.99)),
        us(pct(rtt_local, 0.99)),
        pct(rtt_dc, 0.99).as_secs_f64() / pct(rtt_ws, 0.99).as_secs_f64()
    );
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>8.2}x",
        "get p50, caller outside the workers (block_on)",
        us(pct(&outside[0], 0.5)),
        us(pct(&outside[1], 0.5)),
        us(pct(&outside[2], 0.5)),
        pct(&outside[0], 0.5).as_secs_f64() / pct(&outside[1], 0.5).as_secs_f64()
    );
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>8.2}x",
        "get p50, master, slave and caller on one thread",
        us(one_thread[0]),
        us(one_thread[1]),
        us(one_thread[2]),
        one_thread[0].as_secs_f64() / one_thread[1].as_secs_f64()
    );
    println!(
        "{:<52} {:>12.0}/s {:>12.0}/s {:>12.0}/s {:>8.2}x",
        format!("pipelined gets ({IN_FLIGHT} in flight, {PIPELINED} calls)"),
        tput_dc,
        tput_ws,
        tput_local,
        tput_dc / tput_ws
    );
    println!(
        "{:<52} {:>14} {:>14} {:>14} {:>8.2}x",
        "  CPU a pipelined call (this process, both ends)",
        us(piped[0].cpu),
        us(piped[1].cpu),
        us(piped[2].cpu),
        piped[0].cpu.as_secs_f64() / piped[1].cpu.as_secs_f64()
    );
    println!(
        "{:<52} {:>14}",
        format!("connect, paired slave, start to first answer (median of {CONNECTS})"),
        format!("{:.1} ms", pct(&connects, 0.5).as_secs_f64() * 1e3)
    );
    println!(
        "{:<52} {:>14}",
        "reconnect after master restart: from restart start",
        format!("{:.0} ms", from_down.as_secs_f64() * 1e3)
    );
    println!(
        "{:<52} {:>14}",
        "reconnect after master restart: from master listening",
        format!("{:.0} ms", from_up.as_secs_f64() * 1e3)
    );
    println!(
        "{:<52} {:>14}",
        format!(
            "export {RECORDS} Parties to a slave ({:.1} MB JSON)",
            bytes as f64 / 1e6
        ),
        format!("{mbps:.1} MB/s")
    );
    println!(
        "{:<52} {rss_line}",
        format!("master RSS, {SLAVES_FOR_RSS} slaves connected")
    );
}
