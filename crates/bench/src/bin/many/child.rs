//! A process of `outpost-bench-many` holding some of the slaves
//! (`--child URL FIRST COUNT CALLERS`): it connects them, says `ready`, then
//! carries out the coordinator's commands from stdin, one JSON line each.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, Secret, SubscribeArgs};
use outpost_api::{Db, Event, Op};
use outpost_e2e::SIGN_IN;
use outpost_node::slave::Credentials;
use outpost_node::{RemoteDb, SlaveConfig, Target};
use serde_json::{json, Value};

/// One slave: its handle, the names of the Parties it heard about, and
/// how many times its link state changed once connected (0: it never lost
/// its master).
struct Held {
    db: RemoteDb,
    heard: Arc<Mutex<HashSet<String>>>,
    link_changes: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

pub(crate) fn child(args: &[String]) {
    let [url, first, count, callers] = args else {
        panic!("--child URL FIRST COUNT CALLERS");
    };
    let url = outpost_link::PairingUrl::parse(url).expect("a pairing URL");
    let first: usize = first.parse().expect("FIRST");
    let count: usize = count.parse().expect("COUNT");
    let callers: usize = callers.parse().expect("CALLERS");
    // One thread: these processes stand for devices that each have a CPU
    // of their own, but here they share the master's two cores, and a
    // runtime of two workers spends more of them waking its own threads
    // (BENCHMARKS.md, 2026-12-06 (night)).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Every command runs inside one `block_on`, which lasts the process's
    // life: the slaves keep running (keepalives, live events) while the
    // process waits for its next command. A `block_on` per command froze
    // them in between, and the master dropped them after a long idle step.
    let (lines, mut commands) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    rt.block_on(async {
        let held = connect_all(&url, first, count).await;
        say(json!({ "ready": held.len() }));
        while let Some(line) = commands.recv().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["event", name] => say(json!({ "events": heard_by_all(&held, name).await })),
                ["get", name] => say(json!({ "answered": answered_by_all(&held, name).await })),
                ["link_changes"] => say(json!({
                    "link_changes": held
                        .iter()
                        .map(|h| h.link_changes.load(Ordering::Relaxed))
                        .sum::<u64>()
                })),
                ["load", secs, name, every_us] => {
                    let secs: u64 = secs.parse().expect("seconds");
                    let every = Duration::from_micros(every_us.parse().expect("microseconds"));
                    let callers = &held[..callers.min(held.len())];
                    let lat = load(callers, first, name, secs, every).await;
                    say(json!({ "lat_us": lat }));
                }
                _ => break,
            }
        }
        for h in &held {
            h.db.close().await;
        }
    });
}

fn say(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}").and_then(|_| out.flush());
}

/// Starts `count` slaves (a few at a time, as PCs coming in one by one
/// would), each paired, signed in and subscribed to Party.
async fn connect_all(url: &outpost_link::PairingUrl, first: usize, count: usize) -> Vec<Held> {
    let credentials = Credentials {
        user: SIGN_IN[0].1.to_string(),
        password: Secret(SIGN_IN[1].1.to_string()),
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in first..first + count {
        let (url, credentials, gate) = (url.clone(), credentials.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.expect("gate");
            let dir = tempfile::tempdir().expect("tempdir");
            let db = RemoteDb::start_as(
                SlaveConfig {
                    data: dir.path().to_path_buf(),
                    target: Target::Url(url),
                    code: None,
                    device_name: format!("slave {i}"),
                    call_timeout: Duration::from_secs(60),
                    rtc: Default::default(),
                },
                Some(credentials),
            )
            .expect("slave");
            let mut events = db.events();
            db.run(Op::Subscribe(SubscribeArgs {
                doctypes: Some(vec!["Party".into()]),
            }))
            .await
            .unwrap_or_else(|e| panic!("slave {i} subscribes: {e}"));
            let heard = Arc::new(Mutex::new(HashSet::new()));
            let into = heard.clone();
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if let Event::Changed { name, .. } = ev {
                        into.lock().expect("heard").insert(name);
                    }
                }
            });
            let link_changes = Arc::new(AtomicU64::new(0));
            let count = link_changes.clone();
            // Connected now: any change after this (lost, reconnecting,
            // connected again; a watch may fold several into one) is a
            // slave that lost its master.
            let mut state = db.state();
            state.mark_unchanged();
            tokio::spawn(async move {
                while state.changed().await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
            Held {
                db,
                heard,
                link_changes,
                _dir: dir,
            }
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await.expect("a slave connects"));
    }
    held
}

/// How many slaves heard of `name` within 30 s.
async fn heard_by_all(held: &[Held], name: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = held
            .iter()
            .filter(|h| h.heard.lock().expect("heard").contains(name))
            .count();
        if n == held.len() || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn get(name: &str) -> Op {
    Op::Get(GetArgs {
        doctype: "Party".into(),
        name: name.into(),
    })
}

/// How many slaves answered a `get` of `name` (all at once).
async fn answered_by_all(held: &[Held], name: &str) -> usize {
    let calls = held.iter().map(|h| h.db.run(get(name)));
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|v| v["name"] == name))
        .count()
}

/// Each of `callers` calls `get` for `secs`: with `every` zero, each call
/// as soon as the last is answered; otherwise one call every `every`, the
/// callers spread over that interval (`first` is the first one's number
/// among all the slaves, so callers in other processes do not line up).
/// Every call's time in microseconds, from when it was due: a call due
/// while the last was still out counts that wait too.
async fn load(callers: &[Held], first: usize, name: &str, secs: u64, every: Duration) -> Vec<u64> {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let loops = callers.iter().enumerate().map(|(i, h)| async move {
        let mut lat = Vec::new();
        // The golden ratio's fraction spreads any run of numbers evenly.
        let phase = ((first + i) as f64 * 0.618_034).fract();
        let mut due = start + every.mul_f64(phase);
        let mut last_done = start;
        while due < until {
            if !every.is_zero() {
                tokio::time::sleep_until(due.into()).await;
            }
            // On time, the clock starts now (not at the timer's tick);
            // late because the last answer came after `due`, at `due`.
            let t = if last_done > due { due } else { Instant::now() };
            h.db.run(get(name)).await.expect("get under load");
            last_done = Instant::now();
            lat.push((last_done - t).as_micros() as u64);
            due = if every.is_zero() {
                last_done
            } else {
                due + every
            };
        }
        lat
    });
    futures_util::future::join_all(loops).await.concat()
}
