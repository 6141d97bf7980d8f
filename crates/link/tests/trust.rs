//! Trust both ways, and what an untrusted peer may cost a master: a slave
//! pairing by code refuses a master that cannot prove the code; the master
//! refuses a slave that sends too many candidates or bytes, and browser
//! pages from elsewhere; the web UI's answers carry their guard headers.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use outpost_link::code::CodeKeys;
use outpost_link::handshake::{MAX_CANDIDATES, SIGNAL_BUDGET};
use outpost_link::signal::Signal;
use outpost_link::{
    accept_slave, connect_master, connect_master_again, Admission, Identity, LinkError, RtcOptions,
};
use outpost_link::{web, SignalSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const CODE: &str = "ABCD-2345";

/// How a test master answers a slave that pairs by code.
#[derive(Clone, Copy)]
enum Proves {
    /// With the proof of this code.
    Code(&'static str),
    /// With no proof at all (an older master, or a rogue).
    Nothing,
}

fn identity() -> (tempfile::TempDir, Identity) {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::load_or_create(dir.path()).unwrap();
    (dir, id)
}

/// A master that takes one connection and admits whoever says hello,
/// proving the code as `proves` says.
async fn master(
    me: Identity,
    proves: Proves,
) -> (
    String,
    tokio::task::JoinHandle<Result<outpost_link::Channel, LinkError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = SignalSocket::accept(stream, Duration::from_secs(5)).await?;
        let fp = me.fingerprint().to_string();
        let (channel, _) = accept_slave(ws, &me, &RtcOptions::default(), "Depot", |h| async move {
            match proves {
                Proves::Code(code) => {
                    let keys = CodeKeys::derive(code, &h.device, &fp);
                    if h.proof.as_deref().is_some_and(|p| keys.is_slave_proof(p)) {
                        Admission::Paired {
                            master_proof: keys.master_proof(),
                        }
                    } else {
                        // A rogue admits anyone, with a made-up proof.
                        Admission::Paired {
                            master_proof: "00".repeat(32),
                        }
                    }
                }
                Proves::Nothing => Admission::Accept,
            }
        })
        .await?;
        Ok(channel)
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_pairs_with_a_master_that_proves_the_code() {
    let ((_d1, m), (_d2, s)) = (identity(), identity());
    let (addr, task) = master(m.clone(), Proves::Code(CODE)).await;
    let (_ch, info) = connect_master(
        &addr,
        &s,
        &RtcOptions::default(),
        m.fingerprint(),
        "Desk",
        Some("abcd 2345"),
    )
    .await
    .expect("pairs");
    assert_eq!(info.fingerprint, m.fingerprint());
    task.await.unwrap().expect("master side up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_refuses_a_master_that_does_not_know_the_code() {
    for proves in [Proves::Code("WXYZ-6789"), Proves::Nothing] {
        let ((_d1, m), (_d2, s)) = (identity(), identity());
        let (addr, _task) = master(m.clone(), proves).await;
        let e = connect_master(
            &addr,
            &s,
            &RtcOptions::default(),
            m.fingerprint(),
            "Desk",
            Some(CODE),
        )
        .await
        .err()
        .expect("refused");
        let words = e.to_string();
        assert!(matches!(e, LinkError::NotTheOffice { .. }), "{words}");
        assert!(words.contains("not the office's master"), "{words}");
        assert!(words.contains("nothing was saved"), "{words}");
        match proves {
            Proves::Nothing => assert!(words.contains("did not prove"), "{words}"),
            Proves::Code(_) => assert!(words.contains("proof of the pairing code is wrong")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_without_a_code_needs_no_proof() {
    let ((_d1, m), (_d2, s)) = (identity(), identity());
    let (addr, task) = master(m.clone(), Proves::Nothing).await;
    connect_master(
        &addr,
        &s,
        &RtcOptions::default(),
        m.fingerprint(),
        "Desk",
        None,
    )
    .await
    .expect("an approved device reconnects");
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_already_paired_with_the_master_needs_no_proof_for_its_old_code() {
    let ((_d1, m), (_d2, s)) = (identity(), identity());
    // The master lets the approved device in without checking the code.
    let (addr, task) = master(m.clone(), Proves::Nothing).await;
    let roster = [m.fingerprint().to_string()];
    connect_master_again(&addr, &s, &RtcOptions::default(), &roster, "Desk", CODE)
        .await
        .expect("an approved device with a stale code connects");
    task.await.unwrap().unwrap();
}

/// Opens the master's signaling socket by hand and says hello.
async fn raw_hello(addr: &str) -> SignalSocket {
    let mut ws = SignalSocket::connect(addr, Duration::from_secs(5))
        .await
        .unwrap();
    ws.send(&Signal::Hello {
        v: 1,
        device: "ab".repeat(32),
        name: "Flood".into(),
        proof: None,
        app: None,
        protocol: None,
        keepalive_ms: None,
        batches: false,
    })
    .await
    .unwrap();
    ws
}

/// Reads until the master's refusal; its code and words.
async fn refusal(ws: &mut SignalSocket) -> (String, String) {
    loop {
        match ws.recv_within(Duration::from_secs(10), "refusal").await {
            Ok(Some(Signal::Refused { code, message })) => return (code, message),
            Ok(Some(_)) => continue,
            other => panic!("no refusal: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_sending_too_many_candidates_is_refused() {
    let (_d, m) = identity();
    let (addr, task) = master(m, Proves::Nothing).await;
    let mut ws = raw_hello(&addr).await;
    for i in 0..=MAX_CANDIDATES {
        let c = format!("candidate:{i} 1 udp 1 10.9.9.{} 5000 typ host", i % 250);
        if ws
            .send(&Signal::Candidate {
                candidate: c,
                mid: None,
            })
            .await
            .is_err()
        {
            break;
        }
    }
    let (code, words) = refusal(&mut ws).await;
    assert_eq!(code, "bad_request");
    assert!(
        words.contains(&format!("more than {MAX_CANDIDATES} ICE candidates")),
        "{words}"
    );
    assert!(task.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_sending_more_than_its_byte_budget_is_refused() {
    let (_d, m) = identity();
    let (addr, task) = master(m, Proves::Nothing).await;
    let mut ws = raw_hello(&addr).await;
    // Each under the frame limit, together over the budget.
    let big = format!(
        "candidate:1 1 udp 1 {}.local 5000 typ host",
        "x".repeat(40_000)
    );
    for _ in 0..(SIGNAL_BUDGET / 40_000 + 2) {
        let c = Signal::Candidate {
            candidate: big.clone(),
            mid: None,
        };
        if ws.send(&c).await.is_err() {
            break;
        }
    }
    let (code, words) = refusal(&mut ws).await;
    assert_eq!(code, "too_large", "{words}");
    assert!(words.contains("over the limit"), "{words}");
    assert!(task.await.unwrap().is_err());
}

/// The status line of a WebSocket upgrade to the master's socket with
/// these headers.
async fn upgrade_status(headers: &[(&'static str, &str)]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        SignalSocket::accept(stream, Duration::from_secs(5))
            .await
            .map(|_| ())
    });
    let mut req = format!("ws://{addr}/signal").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    let status = match tokio_tungstenite::client_async(req, stream).await {
        Ok((mut ws, resp)) => {
            let _ = ws.send(Message::Close(None)).await;
            let _ = ws.next().await;
            resp.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    };
    let _ = server.await;
    status
}

#[tokio::test]
async fn the_signaling_socket_opens_only_for_lan_hosts_and_its_own_pages() {
    assert_eq!(upgrade_status(&[]).await, 101, "no Origin: the Rust slave");
    // A page this master served (the test client's Host is 127.0.0.1:PORT,
    // so an Origin of another port is another site).
    assert_eq!(
        upgrade_status(&[("origin", "http://evil.example")]).await,
        403
    );
    assert_eq!(
        upgrade_status(&[("origin", "http://127.0.0.1:1")]).await,
        403
    );
    // DNS rebinding: the Origin matches the Host, but the Host is a DNS name.
    assert_eq!(
        upgrade_status(&[
            ("host", "evil.example:7355"),
            ("origin", "http://evil.example:7355")
        ])
        .await,
        403
    );
    assert_eq!(
        upgrade_status(&[
            ("host", "depot.local:7355"),
            ("origin", "http://depot.local:7355")
        ])
        .await,
        101
    );
}

/// One raw HTTP request to `web::serve` over a folder with an index.html;
/// the whole answer.
async fn http_get(path: &str, host: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html>hi</html>").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let root = web::WebRoot::Folder(dir.path().to_path_buf());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        web::serve(
            stream,
            Some(root),
            web::WebInfo::new("Depot", &"ab".repeat(32)),
            None,
        )
        .await;
    });
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    server.await.unwrap();
    out.to_ascii_lowercase()
}

#[tokio::test]
async fn served_pages_carry_their_guard_headers_and_refuse_foreign_hosts() {
    for path in ["/", "/outpost.json", "/missing.js"] {
        let r = http_get(path, "10.0.0.5:7355").await;
        assert!(
            r.contains("content-security-policy: default-src 'self'"),
            "{path}: {r}"
        );
        assert!(r.contains("frame-ancestors 'none'"), "{path}: {r}");
        assert!(r.contains("x-frame-options: deny"), "{path}: {r}");
        assert!(r.contains("x-content-type-options: nosniff"), "{path}: {r}");
    }
    assert!(http_get("/", "10.0.0.5:7355")
        .await
        .starts_with("http/1.1 200"));
    let r = http_get("/", "evil.example:7355").await;
    assert!(r.starts_with("http/1.1 403"), "{r}");
    assert!(r.contains("lan address"), "{r}");
    assert!(r.contains("content-security-policy"), "{r}");
}
