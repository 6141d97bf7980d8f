//! `outpost-bench-link STEP [CALLS]`: one step of the benchmark alone (in a
//! task, as the timed run calls), for
//! valgrind's callgrind to count, between two marker functions that name
//! where the step starts and ends:
//!
//! ```sh
//! valgrind --tool=callgrind --separate-threads=no \
//!   --zero-before=outpost_bench_measure_start --dump-before=outpost_bench_measure_end \
//!   target/profiling/outpost-bench-link dc-get 2000
//! ```
//!
//! The dump holds the step alone (all threads, both ends): its instructions
//! divided by CALLS are one call's. Steps: `dc-get`, `ws-get` (one call at
//! a time), `dc-pipelined`, `ws-pipelined` (64 in flight). `mix-get` takes
//! the two paths in turn like the timed run's get step and prints each
//! path's p50 and their ratio: a quick look at one number, not for callgrind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use outpost_api::Db;
use outpost_bench::pct;

use super::{get_op, pipelined, rig, rtt, LocalDb, RemoteDb, WsClient};

/// Fewer Parties than the timed run: under valgrind the load is slow, and
/// a `get` by name costs the same at this size.
const RECORDS: usize = 10_000;

/// The steps, as named on the command line.
const STEPS: [&str; 5] = [
    "dc-get",
    "ws-get",
    "dc-pipelined",
    "ws-pipelined",
    "mix-get",
];

/// Where the measured step starts: callgrind zeroes its counts here.
#[no_mangle]
#[inline(never)]
pub extern "C" fn outpost_bench_measure_start(calls: usize) -> usize {
    std::hint::black_box(calls)
}

/// Where the measured step ends: callgrind dumps its counts here.
#[no_mangle]
#[inline(never)]
pub extern "C" fn outpost_bench_measure_end(calls: usize) -> usize {
    // Not the same body as the start's: identical functions are merged
    // into one, and callgrind would see the start as the end.
    std::hint::black_box(calls).wrapping_add(1)
}

pub async fn run(args: &[String]) {
    let step = args[0].as_str();
    let calls = match args.get(1).map(|c| c.parse::<usize>()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => fail(&format!(
            "CALLS must be a number above 0, not {:?}",
            args[1]
        )),
    };
    if args.len() > 2 || !STEPS.contains(&step) {
        fail(&format!("unknown arguments {args:?}"));
    }
    let rig = rig(RECORDS, RECORDS).await;
    let names: Vec<String> = rig.names.iter().cycle().take(calls).cloned().collect();
    let (dc, ws) = (via_dc(rig.slave.clone()), via_ws(rig.ws.clone()));
    outpost_bench_measure_start(calls);
    match step {
        "dc-get" => drop(rtt(&names, &[dc]).await),
        "ws-get" => drop(rtt(&names, &[ws]).await),
        "dc-pipelined" => drop(pipelined(&names, &dc).await),
        "mix-get" => {
            let took = rtt(&names, &[dc, ws]).await;
            let p50 = |t: &[std::time::Duration]| pct(t, 0.5).as_secs_f64() * 1e6;
            let (d, w) = (p50(&took[0]), p50(&took[1]));
            println!("get p50: DC {d:.0} us, WS {w:.0} us, DC/WS {:.2}x", d / w);
        }
        _ => drop(pipelined(&names, &ws).await),
    }
    outpost_bench_measure_end(calls);
    println!("{step}: {calls} calls");
    rig.slave.close().await;
    rig.master.shutdown().await;
}

fn fail(why: &str) -> ! {
    eprintln!(
        "outpost-bench-link: {why}\nusage: outpost-bench-link [{} [CALLS]]",
        STEPS.join(" | ")
    );
    std::process::exit(2)
}

/// One `get` by name, on one path.
pub type Call = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A path to the master: makes the call that gets one Party by name.
pub type Path = Arc<dyn Fn(String) -> Call + Send + Sync>;

/// One `get` by name over the data channel.
pub fn via_dc(slave: RemoteDb) -> Path {
    Arc::new(move |n| {
        let s = slave.clone();
        Box::pin(async move {
            s.run(get_op(&n)).await.expect("get");
        })
    })
}

/// One `get` by name over the WebSocket baseline.
pub fn via_ws(ws: WsClient) -> Path {
    Arc::new(move |n| {
        let w = ws.clone();
        Box::pin(async move {
            w.call(get_op(&n)).await;
        })
    })
}

/// One `get` by name through the master's own `LocalDb`.
pub fn via_local(local: LocalDb) -> Path {
    Arc::new(move |n| {
        let l = local.clone();
        Box::pin(async move {
            l.run(get_op(&n)).await.expect("get");
        })
    })
}
