//! HTTPS to the head office: the Tryton connector against a real `trytond`
//! behind a TLS front (`outpost_e2e::tls`), with the head office's own CA
//! in `ca_file`; and every certificate it must refuse, refused with the
//! reason and as `Rejected` (not retried as if the link were down).

use std::path::Path;

use outpost_e2e::tls::{ServerCert, TestCa, TlsFront};
use outpost_e2e::trytond::Trytond;
use outpost_sync::tryton::Tryton;
use outpost_sync::{Connector, Cursor, ErrorClass, SyncError, UpstreamConfig};
use serde_json::json;

/// The upstream file for `url`, written in `dir` with `ca_pem` (if any) as
/// `ca.pem` beside it, and read back as the master would.
fn config(dir: &Path, url: &str, ca_pem: Option<&str>) -> UpstreamConfig {
    let mut top = String::new();
    if let Some(pem) = ca_pem {
        std::fs::write(dir.join("ca.pem"), pem).unwrap();
        top.push_str("ca_file = \"ca.pem\"\n");
    }
    let text = format!(
        "kind = \"tryton\"\nurl = \"{url}\"\ndatabase = \"hq\"\nuser = \"admin\"\npassword = \"admin\"\n{top}[doctypes.Party]\nmodel = \"party.party\"\n"
    );
    let path = dir.join("upstream.toml");
    std::fs::write(&path, text).unwrap();
    UpstreamConfig::load(&path).unwrap()
}

async fn front(server: &Trytond, cert: ServerCert) -> TlsFront {
    TlsFront::start(([127, 0, 0, 1], server.port).into(), cert)
        .await
        .unwrap()
}

/// The first call (a login) through `front`, expected to fail.
async fn refused(front: &TlsFront, ca_pem: Option<&str>) -> SyncError {
    let dir = tempfile::tempdir().unwrap();
    let tryton = Tryton::new(config(dir.path(), &front.url(), ca_pem)).unwrap();
    let err = tryton
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Rejected, "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_head_offices_ca_in_ca_file_the_connector_works_over_https() {
    let server = Trytond::start();
    let ca = TestCa::new();
    let front = front(&server, ca.issue(&["127.0.0.1"])).await;
    let dir = tempfile::tempdir().unwrap();
    let tryton = Tryton::new(config(dir.path(), &front.url(), Some(&ca.pem()))).unwrap();

    let start = tryton
        .pull("Party", &Cursor::default(), 100)
        .await
        .unwrap()
        .next;
    let party = json!({"party_name": "Kashgar Silk", "code": "TLS-0001"});
    let ids = tryton
        .create("Party", &[party.as_object().unwrap().clone()])
        .await
        .unwrap();
    let page = tryton.pull("Party", &start, 100).await.unwrap();
    assert_eq!(page.records.len(), 1, "{page:?}");
    assert_eq!(page.records[0].id, ids[0]);
    assert_eq!(page.records[0].values["party_name"], "Kashgar Silk");
    // It went through the front, and it is at the head office.
    let at_hq = server.all("party.party", &["code"]);
    assert!(at_hq.iter().any(|p| p["code"] == "TLS-0001"), "{at_hq:?}");
    let traffic = tryton.traffic();
    assert!(traffic.sent > 0 && traffic.received > 0, "{traffic:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_authority_is_refused_and_ca_file_is_named() {
    let server = Trytond::start();
    let ca = TestCa::new();
    let front = front(&server, ca.issue(&["127.0.0.1"])).await;

    // Without ca_file: the test CA is not among Mozilla's roots.
    let err = refused(&front, None).await;
    assert!(err.message.contains("not trusted"), "{err}");
    assert!(err.message.contains("unknown authority"), "{err}");
    assert!(err.message.contains("ca_file"), "{err}");
    assert!(err.message.contains(&front.url()), "{err}");

    // With another CA in ca_file: ca_file replaces, it does not add to, the
    // trust; a certificate the given CA did not sign is refused alike.
    let err = refused(&front, Some(&TestCa::new().pem())).await;
    assert!(err.message.contains("unknown authority"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_refused() {
    let server = Trytond::start();
    let ca = TestCa::new();
    let front = front(&server, ServerCert::self_signed(&["127.0.0.1"])).await;
    for ca_pem in [None, Some(ca.pem())] {
        let err = refused(&front, ca_pem.as_deref()).await;
        assert!(err.message.contains("unknown authority"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_or_out_of_date_is_refused_with_the_reason() {
    let server = Trytond::start();
    let ca = TestCa::new();

    let other = front(&server, ca.issue(&["hq.example.org"])).await;
    let err = refused(&other, Some(&ca.pem())).await;
    assert!(err.message.contains("for another name"), "{err}");
    assert!(err.message.contains("127.0.0.1"), "{err}");
    assert!(err.message.contains("not among hq.example.org;"), "{err}");

    let expired = front(&server, ca.issue_expired(&["127.0.0.1"])).await;
    let err = refused(&expired, Some(&ca.pem())).await;
    assert!(err.message.contains("expired on 2021-12-31"), "{err}");
}

/// An https:// url on a server that speaks plain HTTP is a mistake in the
/// file, not a dropped link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_url_to_a_plain_http_server_says_so() {
    let server = Trytond::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let tryton = Tryton::new(config(dir.path(), &url, None)).unwrap();
    let err = tryton
        .pull("Party", &Cursor::default(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Rejected, "{err}");
    assert!(err.message.contains("did not answer in TLS"), "{err}");
}

#[test]
fn plain_http_off_the_office_network_needs_allow_plain_http() {
    let parse = |url: &str, extra: &str| {
        let text = format!(
            "kind = \"tryton\"\nurl = \"{url}\"\ndatabase = \"hq\"\nuser = \"admin\"\npassword = \"admin\"\n{extra}\n[doctypes.Party]\nmodel = \"party.party\"\n"
        );
        UpstreamConfig::parse(&text, Path::new("upstream.toml"))
    };
    let err = parse("http://203.0.113.7/", "").unwrap_err().to_string();
    assert!(err.contains("allow_plain_http"), "{err}");
    assert!(err.contains("in clear"), "{err}");
    parse("http://203.0.113.7/", "allow_plain_http = true").unwrap();
    parse("http://192.168.1.10:8000/", "").unwrap();
    parse("http://127.0.0.1/", "").unwrap();
}
