//! `outpost-bench-people`: what signing in costs (issue 14). Two masters in
//! this process on loopback, each with the same 10,000 Parties: one office
//! without users (nobody signs in: the role checks are off), one with users
//! (a Clerk signed in: every op checked against the role, every event
//! filtered). Rounds alternate between the two, so drift on this noisy
//! machine hits both alike. Prints get p50 and the pipelined rate, with the
//! ratio checks-on / checks-off, and the time of a sign-in (argon2id) and of
//! a resumed sign-in.
//!
//! Run with `make bench` (release build).
//!
//! `--count-gets N --side on|off`: only N `get`s through the master's own
//! gate (the desktop master window's path: no network), checks on (a Clerk
//! signed in) or off (an office without users), for an instruction count
//! that this noisy machine cannot blur. Run each side under callgrind with
//! N and with 0; the difference over N is what one `get` costs:
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/outpost-bench-people --count-gets 2000 --side on
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_api::protocol::{GetArgs, InsertManyArgs, ResumeArgs, Secret, SignInArgs, UserAddArgs};
use outpost_api::{Db, Op};
use outpost_bench::pct;
use outpost_node::auth::Auth;
use outpost_node::slave::Credentials;
use outpost_node::{Master, MasterConfig, RemoteDb, SlaveConfig, Target, WithoutUsers};
use serde_json::json;
use tokio::sync::Semaphore;

const RECORDS: usize = 10_000;
const ROUNDS: usize = 6;
const GETS: usize = 1_000;
const PIPELINED: usize = 10_000;
const IN_FLIGHT: usize = 64;
const SIGN_INS: usize = 20;
const PASSWORD: &str = "clerk's bench password";

async fn office(dir: &std::path::Path, users: bool, records: usize) -> (Master, Vec<String>) {
    std::fs::create_dir_all(dir).expect("dir");
    if users {
        let store = outpost_store::Store::open(dir).expect("store");
        let auth = Auth::new(store.clone(), dir);
        auth.owner_call(&Op::UsersAdd(UserAddArgs {
            name: "clerk".into(),
            role: "Clerk".into(),
            password: Secret(PASSWORD.into()),
        }))
        .await
        .expect("user");
        store.close();
    }
    let mut c = MasterConfig::new(dir.to_path_buf(), "Bench depot");
    c.listen = IpAddr::from([127, 0, 0, 1]).into();
    c.port = 0;
    c.announce = false;
    c.without_users = WithoutUsers::OpenForTests;
    let master = Master::start(c).await.expect("master");
    let local = master.db().for_device("bench-local");
    for start in (0..records).step_by(1000) {
        let records = (start..(start + 1000).min(records))
            .map(|k| {
                json!({"party_name": format!("Party {k:06}"), "city": format!("City {:02}", k % 50)})
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
    }
    let names = master
        .store()
        .with_reader(|c| {
            let mut s = c.prepare("SELECT name FROM \"tab Party\" ORDER BY random() LIMIT ?")?;
            let rows = s.query_map([PIPELINED as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .expect("names");
    (master, names)
}

fn slave(dir: &std::path::Path, master: &Master, signed_in: bool) -> RemoteDb {
    RemoteDb::start_as(
        SlaveConfig {
            data: dir.to_path_buf(),
            target: Target::Url(master.pairing_url().clone()),
            code: None,
            device_name: "bench".into(),
            call_timeout: Duration::from_secs(60),
            rtc: Default::default(),
        },
        signed_in.then(|| Credentials {
            user: "clerk".into(),
            password: Secret(PASSWORD.into()),
        }),
    )
    .expect("slave")
}

fn get(name: &str) -> Op {
    Op::Get(GetArgs {
        doctype: "Party".into(),
        name: name.to_string(),
    })
}

async fn round_trips(db: &RemoteDb, names: &[String]) -> Vec<Duration> {
    let mut out = Vec::with_capacity(GETS);
    for n in names.iter().take(GETS) {
        let t = Instant::now();
        db.run(get(n)).await.expect("get");
        out.push(t.elapsed());
    }
    out
}

async fn rate(db: &Arc<RemoteDb>, names: &[String]) -> f64 {
    let sem = Arc::new(Semaphore::new(IN_FLIGHT));
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(names.len());
    for n in names {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let (db, n) = (db.clone(), n.clone());
        tasks.push(tokio::spawn(async move {
            db.run(get(&n)).await.expect("get");
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    names.len() as f64 / t.elapsed().as_secs_f64()
}

/// `--count-gets N --side on|off`.
fn count_args() -> Option<(usize, bool)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n = value("--count-gets")?.parse().expect("--count-gets N");
    let on = match value("--side").as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => panic!("--side on|off"),
    };
    Some((n, on))
}

/// `n` gets through the master's own gate, as the master window sends
/// them; prints how many were answered.
async fn count_gets(dir: &std::path::Path, n: usize, on: bool) {
    let (master, names) = office(dir, on, 1000).await;
    let session = master.local_session("bench-gate");
    if on {
        let r = session
            .call(outpost_api::Request::new(Op::SignIn(SignInArgs {
                user: "clerk".into(),
                password: Secret(PASSWORD.into()),
            })))
            .await;
        r.result.expect("sign-in");
    }
    let mut answered = 0;
    for name in names.iter().cycle().take(n) {
        let r = session.call(outpost_api::Request::new(get(name))).await;
        r.result.expect("get");
        answered += 1;
    }
    println!(
        "{answered} gets through the gate, checks {}",
        if on { "on (Clerk)" } else { "off" }
    );
    master.shutdown().await;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some((n, on)) = count_args() {
        count_gets(&dir.path().join("count"), n, on).await;
        return;
    }
    let (open, open_names) = office(&dir.path().join("open"), false, RECORDS).await;
    let (checked, names) = office(&dir.path().join("checked"), true, RECORDS).await;
    let off = Arc::new(slave(&dir.path().join("s-off"), &open, false));
    let on = Arc::new(slave(&dir.path().join("s-on"), &checked, true));
    for db in [&off, &on] {
        db.wait_connected(Duration::from_secs(60))
            .await
            .expect("connects");
    }
    // Warm both paths.
    round_trips(&off, &open_names).await;
    round_trips(&on, &names).await;
    let (mut p50_off, mut p50_on, mut rate_off, mut rate_on) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let mut a = round_trips(&off, &open_names).await;
        let mut b = round_trips(&on, &names).await;
        a.sort();
        b.sort();
        p50_off.push(pct(&a, 0.5).as_secs_f64() * 1e6);
        p50_on.push(pct(&b, 0.5).as_secs_f64() * 1e6);
        rate_off.push(rate(&off, &open_names).await);
        rate_on.push(rate(&on, &names).await);
    }
    let (p_off, p_on) = (median(p50_off), median(p50_on));
    let (r_off, r_on) = (median(rate_off), median(rate_on));

    // Signing in: a full sign-in (argon2id) and a resumed one, timed at
    // the slave, over the same channel.
    let mut full = Vec::new();
    let mut resumed = Vec::new();
    for _ in 0..SIGN_INS {
        let t = Instant::now();
        let ans = on
            .run(Op::SignIn(SignInArgs {
                user: "clerk".into(),
                password: Secret(PASSWORD.into()),
            }))
            .await
            .expect("sign-in");
        full.push(t.elapsed());
        let token = Secret(ans["token"].as_str().expect("token").to_string());
        let t = Instant::now();
        on.run(Op::Resume(ResumeArgs { token }))
            .await
            .expect("resume");
        resumed.push(t.elapsed());
    }
    full.sort();
    resumed.sort();

    println!("loopback, 2-core VM, release build; {RECORDS} Parties per office; {ROUNDS} alternating rounds, medians");
    println!(
        "get p50:        checks off {p_off:.0} us, checks on (Clerk) {p_on:.0} us, ratio {:.3}x (target <= 1.05x)",
        p_on / p_off
    );
    println!(
        "pipelined gets: checks off {r_off:.0}/s, checks on {r_on:.0}/s, ratio {:.3}x of the rate (target >= 0.95x)",
        r_on / r_off
    );
    println!(
        "sign-in (argon2id, m=19 MiB, t=2): p50 {:.1} ms, max {:.1} ms; resume p50 {:.2} ms ({SIGN_INS} each)",
        pct(&full, 0.5).as_secs_f64() * 1e3,
        pct(&full, 1.0).as_secs_f64() * 1e3,
        pct(&resumed, 0.5).as_secs_f64() * 1e3
    );
    for db in [off, on] {
        db.close().await;
    }
    open.shutdown().await;
    checked.shutdown().await;
}
