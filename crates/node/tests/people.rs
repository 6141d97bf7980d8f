//! People and roles through a real master and real WebRTC slaves (issue
//! 14): what each built-in role may do, checked by the master on ops sent
//! directly (not through a UI); change events only for what a role reads;
//! a disabled person loses the channel; wrong passwords slow one device
//! only; each record's history says who, from which device; and no
//! password reaches a log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use outpost_api::protocol::{
    DeleteArgs, HistoryArgs, Secret, SignInArgs, UserAddArgs, UserNameArgs,
};
use outpost_api::{Db, ErrorCode, Event, LocalDb, Op, Request};
use outpost_node::auth::Auth;
use outpost_node::slave::{Credentials, LinkState};
use outpost_node::{Master, RemoteDb, SlaveConfig, Target};
use serde_json::json;

const MANAGER_PW: &str = "manager's long secret";
const CLERK_PW: &str = "clerk's long secret";
const VIEWER_PW: &str = "viewer's long secret";
const KEEPER_PW: &str = "keeper's long secret";

/// Everything logged in this test binary, to look for passwords in.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_writer(move || writer.clone())
            .try_init();
        log
    })
    .clone()
}

/// A master whose office has a manager, a clerk, a viewer, and a
/// storekeeper (a site role reading Products only).
async fn office(dir: &std::path::Path) -> Master {
    std::fs::write(
        dir.join("roles.json"),
        r#"{"roles": {"Storekeeper": {"doctypes": {"Product": {"read": true, "write": true}}}}}"#,
    )
    .unwrap();
    let store = outpost_store::Store::open(dir).unwrap();
    let auth = Auth::new(store.clone(), dir);
    for (name, role, pw) in [
        ("Amina", "Manager", MANAGER_PW),
        ("Bilal", "Clerk", CLERK_PW),
        ("Chen", "Viewer", VIEWER_PW),
        ("Dana", "Storekeeper", KEEPER_PW),
    ] {
        auth.owner_call(&Op::UsersAdd(UserAddArgs {
            name: name.into(),
            role: role.into(),
            password: Secret(pw.into()),
        }))
        .await
        .unwrap();
    }
    store.close();
    master(dir).await
}

/// A slave signing in as `user`; paired first with the master's code.
async fn person(dir: &std::path::Path, m: &Master, user: &str, pw: &str) -> RemoteDb {
    let db = RemoteDb::start_as(
        SlaveConfig {
            data: dir.to_path_buf(),
            target: Target::Url(m.pairing_url().clone()),
            code: None,
            device_name: format!("{user}'s PC"),
            call_timeout: Duration::from_secs(30),
            rtc: Default::default(),
        },
        Some(Credentials {
            user: user.into(),
            password: Secret(pw.into()),
        }),
    )
    .unwrap();
    db.wait_connected(Duration::from_secs(30)).await.unwrap();
    db
}

fn forbidden(r: Result<serde_json::Value, outpost_api::ApiError>, missing: &str) {
    let e = r.expect_err("the master let it through");
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    assert!(e.message.contains(missing), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_exactly_what_it_may_checked_by_the_master() {
    let log = capture_logs();
    let dirs: Vec<tempfile::TempDir> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let m = office(dirs[0].path()).await;

    // Nobody signed in gets nothing but the hello.
    let anon = slave(dirs[1].path(), m.pairing_url());
    let e = anon.run(Op::Doctypes).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized, "{e}");
    assert!(e.message.contains("sign in first"), "{e}");
    anon.close().await;

    let amina = person(dirs[2].path(), &m, "amina", MANAGER_PW).await;
    let bilal = person(dirs[3].path(), &m, "Bilal", CLERK_PW).await;
    let chen = person(dirs[4].path(), &m, "Chen", VIEWER_PW).await;
    let dana = person(dirs[5].path(), &m, "Dana", KEEPER_PW).await;
    subscribe(&dana, None).await;
    let mut dana_events = dana.events();

    // A clerk creates a Party, a Product and a Sale, but deletes nothing
    // and administers nothing.
    let p = insert(&bilal, "Party", party("Clerk's customer"))
        .await
        .unwrap();
    let pname = p["name"].as_str().unwrap().to_string();
    let prod = insert(
        &amina,
        "Product",
        json!({"product_name": "Tea", "list_price": 3}),
    )
    .await
    .unwrap();
    insert(
        &bilal,
        "Sale",
        json!({"party": pname, "lines": [{"product": prod["name"], "quantity": 2, "unit_price": 3}]}),
    )
    .await
    .unwrap();
    let delete = |name: &str| {
        Op::Delete(DeleteArgs {
            doctype: "Party".into(),
            name: name.into(),
            rev: None,
        })
    };
    forbidden(bilal.run(delete(&pname)).await, "delete Party");
    forbidden(bilal.run(Op::UsersList).await, "administer users");
    forbidden(
        bilal
            .run(Op::UsersAdd(UserAddArgs {
                name: "Mallory".into(),
                role: "Manager".into(),
                password: Secret("mallory's password".into()),
            }))
            .await,
        "administer users",
    );
    // A viewer reads, and writes nothing.
    assert_eq!(
        get(&chen, "Party", &pname).await.unwrap()["party_name"],
        "Clerk's customer"
    );
    forbidden(
        insert(&chen, "Party", party("Viewer's")).await,
        "create Party",
    );
    // The storekeeper reads Products only, and hears of nothing else.
    forbidden(get(&dana, "Party", &pname).await, "read Party");
    update(
        &dana,
        "Product",
        prod["name"].as_str().unwrap(),
        json!({"rev": 1, "list_price": 4}),
    )
    .await
    .unwrap();
    insert(&amina, "Party", party("Manager's customer"))
        .await
        .unwrap();
    let marker = insert(
        &amina,
        "Product",
        json!({"product_name": "Marker", "list_price": 1}),
    )
    .await
    .unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|(_, n)| n.as_str() == marker["name"].as_str().unwrap())
    {
        assert!(
            Instant::now() < deadline,
            "the storekeeper never heard of the marker: {seen:?}"
        );
        if let Ok(Some(Event::Changed { doctype, name, .. })) =
            tokio::time::timeout(Duration::from_secs(1), dana_events.recv()).await
        {
            seen.push((doctype, name));
        }
    }
    assert!(seen.iter().all(|(d, _)| d == "Product"), "{seen:?}");
    // The manager deletes, and administers users.
    assert_eq!(
        amina
            .run(Op::UsersList)
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // History: who, from which device, what changed; the master's own
    // calls have no person.
    let local = LocalDb::new(m.store().clone(), "master-screen");
    update(&local, "Party", &pname, json!({"rev": 1, "city": "Hotan"}))
        .await
        .unwrap();
    update(
        &amina,
        "Party",
        &pname,
        json!({"rev": 2, "city": "Kashgar"}),
    )
    .await
    .unwrap();
    let history = amina
        .run(Op::History(HistoryArgs {
            doctype: "Party".into(),
            name: pname.clone(),
        }))
        .await
        .unwrap();
    let h = history.as_array().unwrap();
    let who: Vec<(&str, &str)> = h
        .iter()
        .map(|e| {
            (
                e["user"].as_str().unwrap_or("-"),
                e["device"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("Bilal", bilal.fingerprint()),
            ("-", "master-screen"),
            ("Amina", amina.fingerprint())
        ]
    );
    assert_eq!(h[0]["device_name"], "Bilal's PC");
    assert_eq!(
        h[2]["fields"]["city"],
        json!({"before": "Hotan", "after": "Kashgar"})
    );
    assert_eq!(h[0]["fields"]["party_name"]["after"], "Clerk's customer");
    amina.run(delete(&pname)).await.unwrap_err(); // still linked by the Sale

    // A disabled person's open channel ends, and they cannot sign in again.
    let mut state = bilal.state();
    let auth = Auth::new(m.store().clone(), dirs[0].path());
    auth.owner_call(&Op::UsersDisable(UserNameArgs {
        name: "bilal".into(),
    }))
    .await
    .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let LinkState::Refused { message, .. } = state.borrow_and_update().clone() {
                return message;
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("the disabled clerk kept the channel");
    assert!(refused.contains("disabled"), "{refused}");
    forbidden_or_refused(insert(&bilal, "Party", party("After disabling")).await);

    for db in [amina, bilal, chen, dana] {
        db.close().await;
    }
    m.shutdown().await;
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    for pw in [MANAGER_PW, CLERK_PW, VIEWER_PW, KEEPER_PW] {
        assert!(!text.contains(pw), "a password is in the log");
    }
    assert!(text.contains("signed in"), "the log was not captured");
}

fn forbidden_or_refused(r: Result<serde_json::Value, outpost_api::ApiError>) {
    let e = r.expect_err("a disabled person wrote");
    assert!(e.message.contains("disabled"), "{e}");
}

/// Ten thousand wrong passwords from one device: it is slowed (almost none
/// is even checked), while other people on other devices sign in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_wrong_passwords_slow_one_device_only() {
    let log = capture_logs();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let m = office(dirs[0].path()).await;
    let attacker = Arc::new(slave(dirs[1].path(), m.pairing_url()));
    let (mut wrong, mut slowed) = (0, 0);
    for round in 0..100 {
        let calls = (0..100).map(|i| {
            let a = attacker.clone();
            async move {
                a.run(Op::SignIn(SignInArgs {
                    user: if i % 2 == 0 { "Amina" } else { "Bilal" }.into(),
                    password: Secret(format!("guess {round}-{i}")),
                }))
                .await
            }
        });
        for r in futures_util::future::join_all(calls).await {
            let e = r.expect_err("a guess was taken");
            assert_eq!(e.code, ErrorCode::Unauthorized, "{e}");
            if e.message.contains("try again in") {
                slowed += 1;
            } else {
                assert_eq!(e.message, "wrong user name or password");
                wrong += 1;
            }
        }
    }
    assert_eq!(wrong + slowed, 10_000);
    assert!(
        slowed > 9_000,
        "only {slowed} of 10000 were slowed ({wrong} checked)"
    );
    // Other people, on other devices, are not slowed.
    let amina = person(dirs[2].path(), &m, "Amina", MANAGER_PW).await;
    let bilal = person(dirs[3].path(), &m, "Bilal", CLERK_PW).await;
    insert(&bilal, "Party", party("Still working"))
        .await
        .unwrap();
    assert!(amina.run(Op::UsersList).await.is_ok());
    for db in [amina, bilal] {
        db.close().await;
    }
    attacker.close().await;
    m.shutdown().await;
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(!text.contains("guess 5-5") && !text.contains(MANAGER_PW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_refuses_to_start_an_office_without_users_unless_told_it_is_a_test() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = outpost_node::MasterConfig::new(dir.path().to_path_buf(), "Test depot");
    config.listen = std::net::IpAddr::from([127, 0, 0, 1]).into();
    config.port = 0;
    config.announce = false;
    let refused = Master::start(config.clone()).await.err().expect("refused");
    assert!(
        matches!(refused, outpost_node::NodeError::NoUsers { .. }),
        "{refused}"
    );
    // With a manager it starts, and everyone signs in.
    let store = outpost_store::Store::open(dir.path()).unwrap();
    Auth::new(store.clone(), dir.path())
        .owner_call(&Op::UsersAdd(UserAddArgs {
            name: "Amina".into(),
            role: "Manager".into(),
            password: Secret(MANAGER_PW.into()),
        }))
        .await
        .unwrap();
    store.close();
    let m = Master::start(config).await.expect("starts with a manager");
    m.shutdown().await;
}

/// One session per device: the same device (a second process with its
/// identity) connecting again closes its older channel at the master, so a
/// device never holds two sessions, nor two people's sign-ins at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_holds_one_session_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let m = office(dir.path()).await;
    let pc = tempfile::tempdir().unwrap();
    let first = person(pc.path(), &m, "Bilal", CLERK_PW).await;
    let id = first.fingerprint().to_string();
    let sessions_of = |m: &Master| m.connected().iter().filter(|d| d.device == id).count();
    assert_eq!(sessions_of(&m), 1);
    let mut first_link = first.state();
    let second = person(pc.path(), &m, "Chen", VIEWER_PW).await;
    // The first's channel is closed by the master when the second arrives,
    // and the first is told why: it stops instead of reconnecting (and
    // closing the second's in its turn).
    let left = tokio::time::timeout(
        Duration::from_secs(30),
        first_link.wait_for(|s| !matches!(s, LinkState::Connected { .. })),
    )
    .await
    .expect("the older channel was not closed")
    .unwrap()
    .clone();
    match left {
        LinkState::Refused { code, message } => {
            assert_eq!(code, "replaced");
            assert!(message.contains("another window or program"), "{message}");
        }
        other => panic!("the older connection should stop, it is {other:?}"),
    }
    for _ in 0..30 {
        assert!(sessions_of(&m) <= 1, "two sessions of one device");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The newer one kept its session, and the older one's calls say why
    // they are refused.
    assert_eq!(sessions_of(&m), 1);
    assert!(matches!(
        *second.state().borrow(),
        LinkState::Connected { .. }
    ));
    second
        .call(Request::new(Op::Doctypes))
        .await
        .result
        .expect("the newer connection answers");
    let refused = first
        .call(Request::new(Op::Doctypes))
        .await
        .result
        .unwrap_err();
    assert!(
        refused.message.contains("another window or program"),
        "{refused}"
    );
    drop((first, second));
    m.shutdown().await;
}
