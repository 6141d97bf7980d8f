//! The Tryton connector against a real `trytond` 8.x from PyPI on SQLite
//! (installed into `.venv` by `scripts/setup`, or `OUTPOST_TRYTON_VENV`).

use std::path::Path;
use std::time::Duration;

use outpost_e2e::trytond::Trytond;
use outpost_sync::tryton::Tryton;
use outpost_sync::{Connector, Cursor, ErrorClass, RemoteRecord, RemoteWrite, UpstreamConfig};
use serde_json::{json, Map, Value};

fn start_trytond() -> Trytond {
    Trytond::start()
}

fn config(port: u16, password: &str) -> UpstreamConfig {
    config_at(&format!("http://127.0.0.1:{port}/"), password)
}

fn config_at(url: &str, password: &str) -> UpstreamConfig {
    config_with(url, password, "")
}

/// `party_lines` go in the `[doctypes.Party]` table (e.g. `fields = {...}`).
fn config_with(url: &str, password: &str, party_lines: &str) -> UpstreamConfig {
    let text = format!(
        "kind = \"tryton\"\nurl = \"{url}\"\ndatabase = \"hq\"\nuser = \"admin\"\npassword = \"{password}\"\n[doctypes.Party]\nmodel = \"party.party\"\n{party_lines}"
    );
    UpstreamConfig::parse(&text, Path::new("upstream.toml")).unwrap()
}

async fn one(tryton: &Tryton, key: &str) -> Option<RemoteRecord> {
    let mut found = tryton.lookup("Party", &[key.to_string()]).await.unwrap();
    assert!(found.len() <= 1, "{found:?}");
    found.pop()
}

fn write(id: &str, version: Option<&str>, values: &Map<String, Value>) -> RemoteWrite {
    RemoteWrite {
        id: id.to_string(),
        version: version.map(str::to_string),
        values: values.clone(),
        deactivate: false,
        reactivate: false,
    }
}

fn party(name: &str, code: &str) -> Map<String, Value> {
    json!({"party_name": name, "code": code})
        .as_object()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tryton_connector_pushes_pulls_finds_by_key_and_classifies_failures() {
    let server = start_trytond();
    let tryton = Tryton::new(config(server.port, "admin")).unwrap();
    // (The database already holds the head office's own party.)
    let start = tryton
        .pull("Party", &Cursor::default(), 100)
        .await
        .unwrap()
        .next;

    // A batch is created in one call; ids come back in order.
    let ids = tryton
        .create(
            "Party",
            &[
                party("Acme Trading", "KSH-0001"),
                party("Khotan Traders", "KSH-0002"),
                party("Aksu Mills", "KSH-0003"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);

    // Pulled in pages of 2, oldest first, then nothing after the last.
    let first = tryton.pull("Party", &start, 2).await.unwrap();
    assert_eq!(first.records.len(), 2);
    let second = tryton.pull("Party", &first.next, 2).await.unwrap();
    let names: Vec<&str> = first
        .records
        .iter()
        .chain(&second.records)
        .map(|r| r.values["party_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Trading", "Khotan Traders", "Aksu Mills"]);
    let done = tryton.pull("Party", &second.next, 2).await.unwrap();
    assert!(done.records.is_empty(), "{:?}", done.records);
    assert_eq!(done.next, second.next);

    // A push whose answer was lost is found by its key.
    let found = one(&tryton, "KSH-0002").await.unwrap();
    assert_eq!(found.id, ids[1]);
    assert_eq!(found.values["party_name"], "Khotan Traders");
    assert!(found.active && found.version.is_some());
    assert!(one(&tryton, "KSH-9999").await.is_none());

    // A write with the version read succeeds and shows up in the next pull;
    // the same old version again is a conflict, never a silent overwrite.
    let changes = json!({"party_name": "Khotan Traders Ltd"})
        .as_object()
        .unwrap()
        .clone();
    tryton
        .write(
            "Party",
            &[write(&found.id, found.version.as_deref(), &changes)],
        )
        .await
        .unwrap();
    // (Tryton's stamps have microseconds; make the stale one differ.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = tryton.pull("Party", &done.next, 10).await.unwrap();
    assert_eq!(later.records.len(), 1);
    assert_eq!(later.records[0].values["party_name"], "Khotan Traders Ltd");
    let stale = tryton
        .write(
            "Party",
            &[write(&found.id, found.version.as_deref(), &changes)],
        )
        .await
        .unwrap_err();
    assert_eq!(stale.class, ErrorClass::Conflict, "{stale}");

    // A duplicate key is rejected with Tryton's words, and the batch it was
    // in is not half-made.
    let dup = tryton
        .create(
            "Party",
            &[party("New One", "KSH-0100"), party("Copy", "KSH-0001")],
        )
        .await
        .unwrap_err();
    assert_eq!(dup.class, ErrorClass::Rejected, "{dup}");
    assert!(dup.message.contains("unique"), "{dup}");
    assert!(one(&tryton, "KSH-0100").await.is_none());

    // Deactivation is a change the pull sees.
    let deactivate = json!({"active": false}).as_object().unwrap().clone();
    let aksu = one(&tryton, "KSH-0003").await.unwrap();
    let cfg_with_active = config_with(
        &format!("http://127.0.0.1:{}/", server.port),
        "admin",
        "fields = { party_name = \"name\", code = \"code\", active = \"active\" }\n",
    );
    let with_active = Tryton::new(cfg_with_active).unwrap();
    with_active
        .write(
            "Party",
            &[write(&aksu.id, aksu.version.as_deref(), &deactivate)],
        )
        .await
        .unwrap();
    let after = with_active.pull("Party", &later.next, 10).await.unwrap();
    assert_eq!(after.records.len(), 1);
    assert_eq!(after.records[0].id, aksu.id);
    assert!(!after.records[0].active);

    // A wrong password is an auth failure (not retried in a loop).
    let wrong = Tryton::new(config(server.port, "not-the-password")).unwrap();
    let err = wrong
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");

    // A server that is down is retryable.
    drop(server);
    let err = tryton
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");
}

/// The same calls through a satellite-like link (delay each way, a rate
/// limit) complete; a link that dies mid-answer or swallows everything is a
/// retryable failure, and the next call after it comes back works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_slow_and_failing_link_calls_complete_or_fail_as_retryable() {
    use outpost_e2e::proxy::{LinkConfig, LinkProxy};
    let server = start_trytond();
    let direct = Tryton::new(config(server.port, "admin")).unwrap();
    let start = direct
        .pull("Party", &Cursor::default(), 100)
        .await
        .unwrap()
        .next;
    let slow = LinkConfig {
        delay: Duration::from_millis(100),
        rate: Some(50_000),
        ..Default::default()
    };
    let proxy = LinkProxy::start(([127, 0, 0, 1], server.port).into(), slow.clone())
        .await
        .unwrap();
    let tryton = Tryton::new(config_at(&format!("http://{}/", proxy.addr()), "admin")).unwrap();
    let records: Vec<Map<String, Value>> = (0..50)
        .map(|i| party(&format!("Party {i}"), &format!("SAT-{i:04}")))
        .collect();
    let ids = tryton.create("Party", &records).await.unwrap();
    assert_eq!(ids.len(), 50);
    let page = tryton.pull("Party", &start, 100).await.unwrap();
    assert_eq!(page.records.len(), 50);
    assert!(proxy.bytes_up() > 0 && proxy.bytes_down() > 0);

    // The link is cut mid-call: retryable, nothing half-read is returned.
    proxy.set(LinkConfig {
        cut_after: Some(300),
        ..slow.clone()
    });
    let err = tryton
        .pull("Party", &Cursor::default(), 100)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");

    // The link comes back: the same call works.
    proxy.set(slow.clone());
    let again = tryton.pull("Party", &start, 100).await.unwrap();
    assert_eq!(again.records.len(), 50);
}

/// "Test connection" in Settings: what a real `trytond` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_connection_says_what_the_head_office_has_or_what_failed() {
    let server = start_trytond();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let file = |password: &str, database: &str, extra: &str| {
        let text = format!(
            "kind = \"tryton\"\nurl = \"{url}\"\ndatabase = \"{database}\"\nuser = \"admin\"\npassword = \"{password}\"\n\
             [doctypes.Party]\nmodel = \"party.party\"\n[doctypes.Product]\nmodel = \"product.product\"\n\
             [doctypes.Sale]\nmodel = \"sale.sale\"\n{extra}"
        );
        UpstreamConfig::parse(&text, Path::new("upstream.toml")).unwrap()
    };

    // Party, product and sale are there; the company is the user's.
    let found = outpost_sync::probe(&file("admin", "hq", "")).await.unwrap();
    assert_eq!(found.server, "Tryton");
    assert_eq!(found.version.as_deref(), Some("8.2"), "{found:?}");
    assert_eq!(found.user, "admin");
    assert_eq!(found.company.as_deref(), Some("Head Office"), "{found:?}");
    let models: Vec<(&str, &str, bool)> = found
        .models
        .iter()
        .map(|m| (m.doctype.as_str(), m.model.as_str(), m.present))
        .collect();
    assert_eq!(
        models,
        [
            ("Party", "party.party", true),
            ("Product", "product.product", true),
            ("Sale", "sale.sale", true)
        ]
    );
    assert!(found.ok);

    // A model of a module the head office does not have is named, with
    // what to do; the others are still listed as there.
    let found = outpost_sync::probe(&file(
        "admin",
        "hq",
        "[doctypes.Purchase]\nmodel = \"purchase.purchase\"\nfields = { reference = \"reference\" }\n",
    ))
    .await
    .unwrap();
    assert!(!found.ok);
    let purchase = found
        .models
        .iter()
        .find(|m| m.doctype == "Purchase")
        .unwrap();
    assert!(!purchase.present);
    let problem = purchase.problem.as_deref().unwrap();
    assert!(
        problem.starts_with("purchase.purchase is not installed at the head office"),
        "{problem}"
    );
    assert!(problem.contains("purchase module"), "{problem}");
    assert!(found.models.iter().filter(|m| m.present).count() == 3);

    // Wrong password, wrong database, nobody there: each said as such.
    let err = outpost_sync::probe(&file("wrong", "hq", ""))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert!(err.message.contains("wrong user or password"), "{err}");
    assert!(!err.message.contains("wrong\""), "{err}");
    let err = outpost_sync::probe(&file("admin", "nohq", ""))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Rejected, "{err}");
    assert!(err.message.contains("no database \"nohq\""), "{err}");
    let closed = outpost_e2e::free_port();
    let mut gone = file("admin", "hq", "");
    gone.url = format!("http://127.0.0.1:{closed}/");
    let err = outpost_sync::probe(&gone).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err}");
    assert!(err.message.contains("cannot reach Tryton"), "{err}");
}
