//! `outpost-bench-many`: one `outpost master` and many paired Rust slaves
//! (issue 16: "200 devices"), in a few processes of this program, each
//! slave with its own identity, signed in and subscribed to Party.
//!
//! In one run, against the same master:
//! 1. the baseline: the master alone (RSS, CPU at idle), then one slave
//!    calling `get` in a loop (p50, p99);
//! 2. `--slaves N` slaves connected: the master's RSS and CPU at idle;
//! 3. a Party written through the CLI: every slave must get its live event,
//!    then every slave must answer a `get` of it;
//! 4. `--callers K` of them calling `get` in a loop for `--seconds S`,
//!    each call sent as soon as the last is answered (the most the master
//!    and this machine can answer): p50, p99, calls a second, the
//!    master's CPU while they call, and its RSS after;
//! 5. the same K calling at a steady pace, `--rate R` calls a second each,
//!    for `--seconds S`: p50 and p99. A call is timed from when it was due,
//!    so one held up behind a slow answer counts its wait;
//! 6. how often a slave's link state changed after it connected: 0 when
//!    none lost the master, which would make the numbers another test's.
//!
//! It prints a table with ratios against the baseline, then one JSON line
//! (`tests/many.rs` checks its counts: every slave got the event and
//! answered, none lost the master). Not a test itself: nothing here asserts on time.
//!
//! Usage: `outpost-bench-many [--slaves 200] [--procs 4] [--callers 50]
//! [--seconds 10] [--idle 10] [--rate 50]` (`--rate 0` skips step 5);
//! `OUTPOST_BIN` names the `outpost` binary (default: beside this one).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use outpost_bench::{cpu_ticks, TICKS_A_SECOND};
use outpost_e2e::{MasterProc, SIGN_IN};
use serde_json::{json, Value};

#[path = "many/child.rs"]
mod child;

struct Args {
    slaves: usize,
    procs: usize,
    callers: usize,
    seconds: u64,
    idle: u64,
    /// Calls a second for each caller in the paced step (0: no such step).
    rate: u64,
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child::child(&args[1..]);
    }
    let a = Args {
        slaves: flag(&args, "--slaves", 200) as usize,
        procs: flag(&args, "--procs", 4).max(1) as usize,
        callers: flag(&args, "--callers", 50) as usize,
        seconds: flag(&args, "--seconds", 10),
        idle: flag(&args, "--idle", 10),
        rate: flag(&args, "--rate", 50),
    };
    coordinate(&a);
}

// ---- the coordinator -------------------------------------------------------

/// A process of this program holding some of the slaves.
struct Holder {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Holder {
    fn start(url: &str, first: usize, count: usize, callers: usize) -> Holder {
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .args(["--child", url])
            .args([first.to_string(), count.to_string(), callers.to_string()])
            .envs(SIGN_IN)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a slaves process");
        let to = child.stdin.take().expect("stdin");
        let from = BufReader::new(child.stdout.take().expect("stdout"));
        Holder { child, to, from }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.to, "{line}").expect("the slaves process reads");
    }

    fn answer(&mut self) -> Value {
        let mut line = String::new();
        self.from
            .read_line(&mut line)
            .expect("the slaves process answers");
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("not JSON from a slaves process: {line:?}"))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = writeln!(self.to, "quit");
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, in KB (`VmRSS`).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The share of one core a process used over `secs` seconds, in percent.
fn cpu_percent(pid: u32, secs: u64) -> f64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(secs));
    (cpu_ticks(pid) - before) as f64 / TICKS_A_SECOND / secs as f64 * 100.0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

fn latencies(answers: impl IntoIterator<Item = Value>) -> Vec<u64> {
    let mut all: Vec<u64> = answers
        .into_iter()
        .flat_map(|a| {
            a["lat_us"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| v.as_u64())
        })
        .collect();
    all.sort_unstable();
    all
}

fn coordinate(a: &Args) {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = MasterProc::start(&dir.path().join("master"), "Many depot", 0, &[]);
    let pid = master.pid();
    let url = master.url.clone();
    std::thread::sleep(Duration::from_secs(1));

    // The baseline: the master alone, then with one slave calling.
    let rss_alone = rss_kb(pid);
    let cpu_alone = cpu_percent(pid, a.idle);
    let made = outpost_e2e::remote(
        &dir.path().join("writer"),
        &url,
        &["insert", "Party", r#"{"party_name": "Baseline Traders"}"#],
    );
    let first = outpost_e2e::ok_one(&made)["name"]
        .as_str()
        .expect("a name")
        .to_string();
    let mut one = Holder::start(&url, 0, 1, 1);
    assert_eq!(one.answer()["ready"], 1, "the baseline slave connects");
    one.send(&format!("load {} {first} 0", a.seconds));
    let base = latencies([one.answer()]);
    drop(one);

    // N slaves, connected and idle.
    let t = Instant::now();
    let per = a.slaves.div_ceil(a.procs);
    let mut holders = Vec::new();
    let mut callers_left = a.callers;
    for p in 0..a.procs {
        let count = per.min(a.slaves - (p * per).min(a.slaves));
        if count == 0 {
            break;
        }
        let callers = callers_left.min(count).min(a.callers.div_ceil(a.procs));
        callers_left -= callers;
        holders.push(Holder::start(&url, 1 + p * per, count, callers));
    }
    let ready: u64 = holders
        .iter_mut()
        .map(|h| h.answer()["ready"].as_u64().unwrap_or(0))
        .sum();
    let connect_all = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_kb(pid);
    let cpu_idle = cpu_percent(pid, a.idle);

    // A write reaches every slave as a live event; every slave answers.
    let made = outpost_e2e::remote(
        &dir.path().join("writer"),
        &url,
        &["insert", "Party", r#"{"party_name": "Everyone Sees This"}"#],
    );
    let name = outpost_e2e::ok_one(&made)["name"]
        .as_str()
        .expect("a name")
        .to_string();
    for h in &mut holders {
        h.send(&format!("event {name}"));
    }
    let events: u64 = holders
        .iter_mut()
        .map(|h| h.answer()["events"].as_u64().unwrap_or(0))
        .sum();
    for h in &mut holders {
        h.send(&format!("get {name}"));
    }
    let answered: u64 = holders
        .iter_mut()
        .map(|h| h.answer()["answered"].as_u64().unwrap_or(0))
        .sum();

    // K of them calling, each as fast as its answers come.
    for h in &mut holders {
        h.send(&format!("load {} {name} 0", a.seconds));
    }
    let cpu_load = cpu_percent(pid, a.seconds.saturating_sub(1).max(1));
    let load = latencies(holders.iter_mut().map(|h| h.answer()));
    let rss_load = rss_kb(pid);

    // The same K at a steady pace.
    let paced = 1_000_000u64.checked_div(a.rate).map(|every_us| {
        for h in &mut holders {
            h.send(&format!("load {} {name} {every_us}", a.seconds));
        }
        let cpu = cpu_percent(pid, a.seconds.saturating_sub(1).max(1));
        (cpu, latencies(holders.iter_mut().map(|h| h.answer())))
    });
    // A slave that lost its master during the run (and came back) would
    // make the numbers above those of another test: none may.
    for h in &mut holders {
        h.send("link_changes");
    }
    let link_changes: u64 = holders
        .iter_mut()
        .map(|h| h.answer()["link_changes"].as_u64().unwrap_or(0))
        .sum();
    drop(holders);

    let mb = |kb: u64| kb as f64 / 1024.0;
    println!(
        "outpost-bench-many: {} slaves in {} processes, {} calling for {} s; master pid {pid}",
        a.slaves, a.procs, a.callers, a.seconds
    );
    println!(
        "{:<52}{:>14}{:>14}{:>10}",
        "", "baseline", "measured", "ratio"
    );
    let row = |what: &str, base: f64, got: f64, unit: &str| {
        let ratio = if base > 0.0 {
            format!("{:.2}x", got / base)
        } else {
            "-".into()
        };
        println!(
            "{what:<52}{:>11.2} {unit:<2}{:>11.2} {unit:<2}{ratio:>10}",
            base, got
        );
    };
    row(
        "master RSS: alone / N slaves connected",
        mb(rss_alone),
        mb(rss_idle),
        "MB",
    );
    row(
        "master RSS: alone / after K slaves called",
        mb(rss_alone),
        mb(rss_load),
        "MB",
    );
    row(
        "master CPU at idle: alone / N slaves (% of a core)",
        cpu_alone,
        cpu_idle,
        "%",
    );
    row(
        "master CPU: idle with N / while K call (% of a core)",
        cpu_idle,
        cpu_load,
        "%",
    );
    row(
        "get p50: 1 slave calling / K of N calling",
        percentile(&base, 0.5),
        percentile(&load, 0.5),
        "ms",
    );
    row(
        "get p99: 1 slave calling / K of N calling",
        percentile(&base, 0.99),
        percentile(&load, 0.99),
        "ms",
    );
    if let Some((cpu, paced)) = &paced {
        row(
            "master CPU: idle with N / K at a pace (% of a core)",
            cpu_idle,
            *cpu,
            "%",
        );
        row(
            "get p50: 1 slave calling / K at a pace",
            percentile(&base, 0.5),
            percentile(paced, 0.5),
            "ms",
        );
        row(
            "get p99: 1 slave calling / K at a pace",
            percentile(&base, 0.99),
            percentile(paced, 0.99),
            "ms",
        );
    }
    let per_second = |n: usize| n as f64 / a.seconds.max(1) as f64;
    print!(
        "K calling as fast as answered: {:.0} calls a second",
        per_second(load.len())
    );
    match &paced {
        Some((_, p)) => println!(
            "; at a pace: {:.0} a second ({} each, every {:.1} ms)",
            per_second(p.len()),
            a.rate,
            1000.0 / a.rate as f64
        ),
        None => println!(),
    }
    println!(
        "per connected slave: {:.0} KB of master RSS; {} of {} got the live event, {} answered; all connected in {:.1} s; {} changes of a slave's link after that (0: none lost the master)",
        (rss_idle.saturating_sub(rss_alone)) as f64 / a.slaves.max(1) as f64,
        events,
        a.slaves,
        answered,
        connect_all.as_secs_f64(),
        link_changes
    );
    println!(
        "{}",
        json!({
            "slaves": a.slaves,
            "ready": ready,
            "events": events,
            "answered": answered,
            "link_changes": link_changes,
            "calls": load.len(),
            "rss_mb_alone": mb(rss_alone),
            "rss_mb_idle": mb(rss_idle),
            "rss_mb_load": mb(rss_load),
            "cpu_pct_alone": cpu_alone,
            "cpu_pct_idle": cpu_idle,
            "cpu_pct_load": cpu_load,
            "p50_ms_base": percentile(&base, 0.5),
            "p99_ms_base": percentile(&base, 0.99),
            "p50_ms_load": percentile(&load, 0.5),
            "p99_ms_load": percentile(&load, 0.99),
            "paced_calls": paced.as_ref().map(|(_, p)| p.len()),
            "p50_ms_paced": paced.as_ref().map(|(_, p)| percentile(p, 0.5)),
            "p99_ms_paced": paced.as_ref().map(|(_, p)| percentile(p, 0.99)),
        })
    );
}
