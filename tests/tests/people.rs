//! People through the command line (issue 14), real processes: a master
//! started with its first manager, a Clerk and a Viewer added beside it
//! with `outpost users`, and CLI slaves signing in with `--user` and a
//! password file. The master enforces each role on ops sent straight from
//! the CLI; a disabled clerk's next call is refused; the record's history
//! names each person and PC; no password reaches the master's log, even at
//! the debug level.

use std::path::Path;
use std::process::Output;

use outpost_e2e::{outpost, MasterProc};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: &Output, words: &str) {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(words), "{err}");
}

const PASSWORDS: [(&str, &str, &str); 3] = [
    ("manager", "Manager", "the manager's own secret"),
    ("bilal", "Clerk", "bilal's clerk secret"),
    ("chen", "Viewer", "chen's viewer secret"),
];

#[test]
fn a_clerk_creates_a_sale_but_deletes_no_party_and_history_names_who_did_what() {
    let (m, pw, a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let file = |user: &str| pw.path().join(user);
    for (user, _, secret) in PASSWORDS {
        std::fs::write(file(user), format!("{secret}\n")).unwrap();
    }
    let manager_file = file("manager");
    let master = MasterProc::start_env(
        m.path(),
        "People depot",
        outpost_e2e::free_port(),
        &["--admin-password-file", s(&manager_file)],
        &[("RUST_LOG", "debug")],
    );
    for (user, role, _) in &PASSWORDS[1..] {
        ok(&outpost(&[
            "users",
            "--data",
            s(m.path()),
            "add",
            user,
            "--role",
            role,
            "--password-file",
            s(&file(user)),
        ]));
    }
    let listed = ok(&outpost(&["users", "--data", s(m.path())]));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(!listed.contains("argon2"), "a hash is listed: {listed}");

    // Each PC pairs once with the code; then calls by the URL alone.
    let url = master.url_without_code();
    let call = |dir: &Path, user: Option<&str>, args: &[&str]| -> Output {
        let mut all = vec!["db", "--data", s(dir), "--connect"];
        all.push(if dir.join("slave.json").exists() {
            &url
        } else {
            &master.url
        });
        let f;
        if let Some(u) = user {
            f = file(u);
            all.extend(["--user", u, "--password-file", s(&f)]);
        }
        all.extend(args);
        outpost(&all)
    };
    // Nobody signed in: nothing.
    refused(&call(a.path(), None, &["count", "Party"]), "sign in first");
    // A wrong password: refused in words.
    std::fs::write(pw.path().join("wrong"), "not bilal's password\n").unwrap();
    let o = outpost(&[
        "db",
        "--data",
        s(a.path()),
        "--connect",
        &url,
        "--user",
        "bilal",
        "--password-file",
        s(&pw.path().join("wrong")),
        "count",
        "Party",
    ]);
    refused(&o, "wrong user name or password");

    // The clerk creates a Party, a Product and a Sale ...
    let party: serde_json::Value = serde_json::from_str(&ok(&call(
        a.path(),
        Some("bilal"),
        &["insert", "Party", r#"{"party_name":"Clerk's customer"}"#],
    )))
    .unwrap();
    let name = party["name"].as_str().unwrap().to_string();
    let product: serde_json::Value = serde_json::from_str(&ok(&call(
        a.path(),
        Some("bilal"),
        &[
            "insert",
            "Product",
            r#"{"product_name":"Tea","list_price":3}"#,
        ],
    )))
    .unwrap();
    let sale = format!(
        r#"{{"party":"{name}","lines":[{{"product":"{}","quantity":2,"unit_price":3}}]}}"#,
        product["name"].as_str().unwrap()
    );
    ok(&call(a.path(), Some("bilal"), &["insert", "Sale", &sale]));
    // ... but deletes no Party, and administers nothing.
    refused(
        &call(a.path(), Some("bilal"), &["delete", "Party", &name]),
        "the role Clerk may not delete Party",
    );
    // The viewer reads and writes nothing.
    assert_eq!(
        ok(&call(b.path(), Some("chen"), &["count", "Sale"])).trim(),
        "1"
    );
    refused(
        &call(
            b.path(),
            Some("chen"),
            &["update", "Party", &name, r#"{"rev":1,"city":"Hotan"}"#],
        ),
        "the role Viewer may not write Party",
    );
    // The manager edits, on the master PC and from a slave.
    ok(&outpost(&[
        "db",
        "--data",
        s(m.path()),
        "update",
        "Party",
        &name,
        r#"{"rev":1,"city":"Hotan"}"#,
    ]));
    ok(&call(
        c.path(),
        Some("manager"),
        &["update", "Party", &name, r#"{"rev":2,"city":"Kashgar"}"#],
    ));

    // History, from a slave and on the master: who, from which PC, what.
    let history = ok(&call(
        c.path(),
        Some("manager"),
        &["history", "Party", &name],
    ));
    assert_eq!(
        history,
        ok(&outpost(&[
            "db",
            "--data",
            s(m.path()),
            "history",
            "Party",
            &name
        ]))
    );
    let entries: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = |d: &Path| ok(&outpost(&["id", "--data", s(d)])).trim().to_string();
    let who: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["user"].as_str().unwrap_or("-").to_string(),
                e["device"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("bilal".to_string(), id(a.path())),
            ("-".to_string(), "cli".to_string()),
            ("manager".to_string(), id(c.path())),
        ]
    );
    assert_eq!(entries[2]["fields"]["city"]["before"], "Hotan");
    assert_eq!(entries[2]["fields"]["city"]["after"], "Kashgar");

    // Disabled beside the running master: the clerk's next call is refused.
    ok(&outpost(&[
        "users",
        "--data",
        s(m.path()),
        "disable",
        "bilal",
    ]));
    refused(
        &call(a.path(), Some("bilal"), &["count", "Party"]),
        "disabled",
    );

    drop(master);
    let log = std::fs::read_to_string(m.path().join("master.log")).unwrap();
    assert!(log.contains("signed in"), "the log holds the sign-ins");
    for (_, _, secret) in PASSWORDS {
        assert!(!log.contains(secret), "a password is in the master's log");
    }
    assert!(!log.contains("not bilal's password"));
}

#[test]
fn a_master_without_users_does_not_start_and_says_how_to_make_the_first_manager() {
    let (m, pw) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = outpost_e2e::free_port().to_string();
    let master = |extra: &[&str]| {
        let mut args = vec!["master", "--name", "New depot", "--data", s(m.path())];
        args.extend(["--no-mdns", "--listen", "127.0.0.1", "--port", &port]);
        args.extend(extra);
        outpost(&args)
    };
    // A new office, and no flag: it does not start, and says what to do.
    let (code, err) = outpost_e2e::failed(&master(&[]));
    assert_eq!(code, 1, "{err}");
    for words in [
        "has no users yet",
        "outpost master --name 'New depot'",
        "--admin-password-file FILE [--admin-user NAME]",
        &format!(
            "outpost users --data {} add NAME --role Manager",
            s(m.path())
        ),
    ] {
        assert!(err.contains(words), "{words}: {err}");
    }
    // It said so before listening or printing a pairing URL.
    assert!(!err.contains("outpost://"), "{err}");
    // The same again (an office made before every office had a manager).
    let (_, again) = outpost_e2e::failed(&master(&[]));
    assert!(again.contains("has no users yet"), "{again}");

    // A password too short for the first manager: refused, nothing made.
    let short = pw.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    let (_, err) = outpost_e2e::failed(&master(&["--admin-password-file", s(&short)]));
    assert!(err.contains("at least 8 characters"), "{err}");
    let listed = ok(&outpost(&["users", "--data", s(m.path())]));
    assert_eq!(listed.trim(), "", "{listed}");

    // Made beside it with `outpost users add`, the office's master starts.
    let file = pw.path().join("amina");
    std::fs::write(&file, "amina's long secret\n").unwrap();
    ok(&outpost(&[
        "users",
        "--data",
        s(m.path()),
        "add",
        "amina",
        "--role",
        "Manager",
        "--password-file",
        s(&file),
    ]));
    let started = MasterProc::start(m.path(), "New depot", outpost_e2e::free_port(), &[]);
    let listed = ok(&outpost(&["users", "--data", s(m.path())]));
    assert!(
        listed.contains("amina") && !listed.contains(outpost_e2e::MANAGER),
        "the flag is ignored once the office has users: {listed}"
    );
    drop(started);
}
