//! Bad input at the master, on the signaling socket and on the data channel:
//! garbage, truncated JSON, unknown ops, wrong versions, huge messages and a
//! flood of connections that never finish the handshake. Each gets a clear
//! error or a closed connection; the master stays up, its memory stays
//! bounded, and well-behaved slaves keep working throughout.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use outpost_link::peer::MAX_MESSAGE;
use outpost_link::signal::MAX_SIGNAL_BYTES;
use outpost_link::{connect_master, Identity, RtcOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Malformed messages thrown at each side (at least 10,000 each).
const MALFORMED: usize = 10_000;
/// Signaling connections open at once: under the master's limit of 32
/// handshakes, so every one of them is answered rather than dropped.
const SIGNAL_WORKERS: usize = 16;
/// Growth of the process's resident memory allowed over a test.
const RSS_BOUND_KB: u64 = 150 * 1024;
/// Only to keep a broken master from hanging the test.
const HANG: Duration = Duration::from_secs(60);

/// The tests run one at a time so each one's RSS numbers are its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

/// A well-behaved slave's steady work (an insert and a query per round)
/// until `stop`; returns the rounds done. Any error fails the test.
fn keep_working(
    s: Arc<outpost_node::RemoteDb>,
    tag: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rounds = 0;
        while !*stop.borrow() {
            let name = format!("{tag} {rounds:05}");
            insert(&*s, "Party", json!({"party_name": name, "city": tag}))
                .await
                .unwrap_or_else(|e| panic!("{tag}: insert during the abuse failed: {e}"));
            let rows = query(&*s, "Party", &format!("city:{tag}"), 10_000)
                .await
                .unwrap_or_else(|e| panic!("{tag}: query during the abuse failed: {e}"));
            assert_eq!(rows.len(), rounds + 1, "{tag}: every insert is there");
            rounds += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rounds
    })
}

// ---------------------------------------------------------------- signaling

/// The `i`th malformed first frame on a signaling socket, and the words the
/// master's refusal must contain.
fn bad_signal(i: usize) -> (&'static str, Message, &'static str) {
    let fp = "ab".repeat(32);
    match i % 10 {
        0 => (
            "garbage text",
            Message::text(format!("\u{1}garbage {i} %$#@!")),
            "not a signaling message",
        ),
        1 => (
            "binary frame",
            Message::binary(vec![0xff, 0x00, 0xfe, (i % 251) as u8]),
            "binary frame on the signaling socket",
        ),
        2 => (
            "truncated JSON",
            Message::text(format!(
                r#"{{"t":"hello","v":1,"device":"{}"#,
                &fp[..i % 60]
            )),
            "not a signaling message",
        ),
        3 => (
            "hello, bad version",
            Message::text(json!({"t":"hello","v":2 + i,"device":fp,"name":"x"}).to_string()),
            "is not supported",
        ),
        4 => (
            "hello, device not a fingerprint",
            Message::text(
                json!({"t":"hello","v":1,"device":format!("pc-{i}"),"name":"x"}).to_string(),
            ),
            "not a SHA-256 fingerprint",
        ),
        5 => (
            "unknown message",
            Message::text(json!({"t":"launch","n":i}).to_string()),
            "not a signaling message",
        ),
        6 => (
            "answer before hello",
            Message::text(json!({"t":"answer","sdp":"v=0"}).to_string()),
            "expected hello first, got answer",
        ),
        7 => (
            "JSON array",
            Message::text(format!("[1,2,{i}]")),
            "not a signaling message",
        ),
        8 => (
            "hello, unknown device without a code",
            Message::text(json!({"t":"hello","v":1,"device":fp,"name":"x"}).to_string()),
            "not paired",
        ),
        _ => (
            "oversized frame",
            Message::text("x".repeat(MAX_SIGNAL_BYTES + 1 + i % 100)),
            "too long",
        ),
    }
}

/// What came back on a signaling socket after a bad frame.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Outcome {
    Refused,
    Closed,
}

async fn throw_bad_signal(addr: SocketAddr, i: usize) -> (Outcome, &'static str) {
    let (kind, msg, expect) = bad_signal(i);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/signal"))
        .await
        .unwrap_or_else(|e| panic!("connection {i} ({kind}) not accepted: {e}"));
    // A send error means the master already closed on us: fine.
    let _ = ws.send(msg).await;
    let mut refused = None;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("the master sends JSON");
            refused = Some(v);
        }
    }
    match refused {
        Some(v) => {
            assert_eq!(v["t"], "refused", "{kind}: {v}");
            let code = v["code"].as_str().unwrap_or_default();
            let message = v["message"].as_str().unwrap_or_default();
            let want_code = if kind.contains("without a code") {
                "unauthorized"
            } else {
                "bad_request"
            };
            assert_eq!(code, want_code, "{kind}: {v}");
            assert!(
                message.contains(expect),
                "{kind}: {message:?} lacks {expect:?}"
            );
            (Outcome::Refused, kind)
        }
        // The master stops reading an oversized frame midway; closing a
        // socket with unread bytes is a reset, which may beat the refusal.
        None if kind == "oversized frame" => (Outcome::Closed, kind),
        None => panic!("{kind}: closed without the refusal {expect:?}"),
    }
}

const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Writes `bytes` on a raw TCP connection and reads until the master closes.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("tcp connect");
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    // A reset instead of a clean close is a close too.
    let _ = within(
        "the master to close a raw connection",
        s.read_to_end(&mut out),
    )
    .await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signaling_socket_survives_garbage_and_floods() {
    let _serial = SERIAL.lock().await;
    let mdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let bdir = tempfile::tempdir().unwrap();
    let cdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let addr = m.local_addr();
    let url = m.pairing_url().clone();

    // A slave paired before the abuse, and a record written before it.
    let a = Arc::new(slave(adir.path(), &url));
    let before = insert(&*a, "Party", party("Before")).await.unwrap();
    let before_name = before["name"].as_str().unwrap().to_string();
    let rss_before = rss_kb();

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let work = keep_working(a.clone(), "SignalA", stop_rx);

    // 1. Malformed first frames, one per connection (each ends the
    //    conversation, so each connection carries one).
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..SIGNAL_WORKERS {
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut seen = std::collections::HashMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= MALFORMED {
                    return seen;
                }
                let outcome = throw_bad_signal(addr, i).await;
                *seen.entry(outcome).or_insert(0usize) += 1;
            }
        }));
    }
    let mut outcomes: std::collections::HashMap<(Outcome, &str), usize> = Default::default();
    for w in workers {
        for (k, n) in within("the malformed signaling frames", w).await.unwrap() {
            *outcomes.entry(k).or_default() += n;
        }
    }
    let mut lines: Vec<String> = outcomes
        .iter()
        .map(|((o, kind), n)| format!("{kind}: {n} {o:?}"))
        .collect();
    lines.sort();
    let frames: usize = outcomes.values().sum();
    let refused: usize = outcomes
        .iter()
        .filter(|((o, _), _)| *o == Outcome::Refused)
        .map(|(_, n)| n)
        .sum();
    eprintln!(
        "signaling: {frames} malformed frames on {frames} connections, {refused} refused with a reason:\n  {}",
        lines.join("\n  ")
    );
    assert_eq!(frames, MALFORMED);
    // Everything but the oversized frames is refused with its reason.
    assert!(refused >= MALFORMED * 9 / 10, "{refused}");

    // 2. Not WebSocket at all: raw garbage, other paths, a plain GET.
    let mut raw = 0;
    for i in 0..100 {
        // Starts with bytes no HTTP method has, so it is refused at once.
        let mut garbage = vec![0u8, 0xff, b'\r', b'\n'];
        garbage.extend((0..200u32).map(|b| (b * 31 + i * 7) as u8));
        raw_exchange(addr, &garbage).await;
        raw += 1;
    }
    // A WebSocket client at the wrong path is told where the socket is.
    for i in 0..100 {
        let req = format!("GET /admin/{i} HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n");
        let out = String::from_utf8_lossy(&raw_exchange(addr, req.as_bytes()).await).into_owned();
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        assert!(
            out.contains("/signal"),
            "the 404 says where the socket is: {out}"
        );
        raw += 1;
    }
    // Plain HTTP (a browser) is not upgraded; tungstenite refuses a request
    // without upgrade headers before the path check, so it gets a bare close.
    let mut bare = 0;
    for i in 0..40 {
        let path = if i % 2 == 0 { "/" } else { "/signal" };
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let out = String::from_utf8_lossy(&raw_exchange(addr, req.as_bytes()).await).into_owned();
        assert!(
            !out.starts_with("HTTP/1.1 101"),
            "no upgrade without the headers: {out}"
        );
        bare += out.is_empty() as usize;
        raw += 1;
    }
    eprintln!("signaling: {bare} of 40 plain HTTP GETs closed with no answer");
    eprintln!(
        "signaling: {raw} raw TCP connections (garbage, other paths, GET without upgrade) closed"
    );

    // 3. A flood of connections that never finish: silent, a half-sent HTTP
    //    request, an upgraded socket that never says hello. Held open while
    //    a new slave pairs: it gets in once the master's deadlines expire.
    let upgrade = format!("GET /signal HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n");
    let mut flood = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(addr).await.expect("flood connect");
        match i % 3 {
            0 => {}
            1 => {
                let _ = s.write_all(b"GET /signal HTTP/1.1\r\nHost: x\r\n").await;
            }
            _ => {
                let _ = s.write_all(upgrade.as_bytes()).await;
            }
        }
        flood.push(s);
    }
    let rss_flood = rss_kb();
    let paired = std::time::Instant::now();
    let b = slave(bdir.path(), &url);
    let rec = within(
        "a new slave to pair during the flood",
        insert(&b, "Party", party("During")),
    )
    .await
    .expect("a new slave pairs and writes while the flood is held open");
    assert_eq!(rec["rev"], 1);
    let paired = paired.elapsed();
    // The master hangs up on every flood connection by itself.
    let mut upgraded = 0;
    for mut s in flood {
        let mut out = Vec::new();
        let _ = within(
            "the master to drop a stalled connection",
            s.read_to_end(&mut out),
        )
        .await;
        if out.starts_with(b"HTTP/1.1 101") {
            upgraded += 1;
        }
    }
    eprintln!(
        "signaling: 200 stalled connections held open, all closed by the master \
         ({upgraded} had been upgraded); a new slave paired during it after {paired:.1?}"
    );
    // After the flood, yet another new slave pairs.
    let c = slave(cdir.path(), &url);
    let rec = within(
        "a new slave to pair after the flood",
        get(&c, "Party", &before_name),
    )
    .await
    .expect("a new slave pairs after the flood");
    assert_eq!(rec, before);

    // 4. Afterwards: both slaves work, the data before is intact.
    let _ = stop.send(true);
    let rounds = within("the steady slave", work).await.unwrap();
    assert!(rounds > 0);
    assert_eq!(get(&b, "Party", &before_name).await.unwrap(), before);
    let after = insert(&*a, "Party", party("After")).await.unwrap();
    assert_eq!(
        get(&b, "Party", after["name"].as_str().unwrap())
            .await
            .unwrap(),
        after
    );
    assert_eq!(
        query(&b, "Party", "city:SignalA", 10_000)
            .await
            .unwrap()
            .len(),
        rounds
    );
    let rss_after = rss_kb();
    eprintln!(
        "signaling: steady slave did {rounds} insert+query rounds during the abuse; \
         RSS before {rss_before} kB, during flood {rss_flood} kB, after {rss_after} kB (+{} kB)",
        rss_after as i64 - rss_before as i64
    );
    assert!(
        rss_after < rss_before + RSS_BOUND_KB,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    b.close().await;
    c.close().await;
    Arc::try_unwrap(a).ok().expect("one owner").close().await;
    m.shutdown().await;
}

// ------------------------------------------------------------- data channel

/// What the master must answer to one malformed message.
#[derive(Debug, Clone)]
struct Expect {
    kind: &'static str,
    id: Value,
    code: &'static str,
    /// `details.reason`, or words of the message when there are no details.
    reason: Option<&'static str>,
    words: Option<&'static str>,
}

impl Expect {
    fn new(kind: &'static str, id: Value, code: &'static str, reason: &'static str) -> Expect {
        Expect {
            kind,
            id,
            code,
            reason: Some(reason),
            words: None,
        }
    }

    fn words(kind: &'static str, code: &'static str, words: &'static str) -> Expect {
        Expect {
            kind,
            id: Value::Null,
            code,
            reason: None,
            words: Some(words),
        }
    }

    fn check(&self, n: usize, resp: &Value) {
        let ctx = format!("#{n} {}: {}", self.kind, shorten(resp));
        assert_eq!(resp["id"], self.id, "{ctx}");
        let err = &resp["err"];
        assert_eq!(err["code"], self.code, "{ctx}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "a message a person can read: {ctx}");
        if let Some(r) = self.reason {
            assert_eq!(err["details"]["reason"], r, "{ctx}");
        }
        if let Some(w) = self.words {
            assert!(message.contains(w), "{ctx}");
        }
    }
}

fn shorten(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(300).collect()
}

/// What goes on the wire: a message (framed by the channel) or raw frames.
enum Wire {
    Msg(Vec<u8>),
    Frames(Vec<Vec<u8>>),
}

/// The `i`th small malformed message.
fn bad_call(i: usize) -> (Wire, Expect) {
    let id = json!(i);
    let msg = |v: Value| Wire::Msg(v.to_string().into_bytes());
    match i % 17 {
        0 => (
            Wire::Msg(format!("garbage {i} %$#@!").into_bytes()),
            Expect::new("garbage", Value::Null, "bad_request", "malformed_json"),
        ),
        1 => (
            Wire::Msg(
                [
                    br#"{"v":1,"id":1,"op":""#.as_slice(),
                    &[0xff, 0xfe, 0x80, (i % 128) as u8 | 0x80],
                    br#""}"#,
                ]
                .concat(),
            ),
            Expect::new(
                "invalid UTF-8",
                Value::Null,
                "bad_request",
                "malformed_json",
            ),
        ),
        2 => {
            let full = json!({"v":1,"id":i,"op":"insert","args":{"doctype":"Party","record":{"party_name":"x"}}})
                .to_string();
            let cut = 1 + i % (full.len() - 2);
            (
                Wire::Msg(full.as_bytes()[..cut].to_vec()),
                Expect::new(
                    "truncated JSON",
                    Value::Null,
                    "bad_request",
                    "malformed_json",
                ),
            )
        }
        3 => (
            Wire::Msg(format!(r#"[1,2,{{"v":1,"id":{i}}}]"#).into_bytes()),
            Expect::new("JSON array", Value::Null, "bad_request", "not_an_object"),
        ),
        4 => (
            Wire::Msg(["42", "\"get\"", "null", "true"][i % 4].as_bytes().to_vec()),
            Expect::new("JSON scalar", Value::Null, "bad_request", "not_an_object"),
        ),
        5 => (
            msg(json!({"v":1,"id":i,"op":format!("drop_table_{i}"),"args":{}})),
            Expect::new("unknown op", id, "bad_request", "unknown_op"),
        ),
        6 => (
            msg(json!({"v":2 + i,"id":i,"op":"get","args":{"doctype":"Party","name":"x"}})),
            Expect::new("wrong version", id, "bad_request", "version"),
        ),
        7 => (
            msg(json!({"id":i,"op":"get","args":{"doctype":"Party","name":"x"}})),
            Expect::new("no version", id, "bad_request", "version"),
        ),
        8 => (
            msg(json!({"v":"1","id":i,"op":"get"})),
            Expect::new("version as a string", id, "bad_request", "version"),
        ),
        9 => (
            msg(json!({"v":1,"op":"get","args":{"doctype":"Party","name":"x"}})),
            Expect::new("no id", Value::Null, "bad_request", "missing_id"),
        ),
        10 => (
            msg(json!({"v":1,"id":{"n":i},"op":"get"})),
            Expect::new("id an object", Value::Null, "bad_request", "missing_id"),
        ),
        11 => (
            msg(json!({"v":1,"id":i})),
            Expect::new("no op", id, "bad_request", "missing_op"),
        ),
        12 => (
            msg(json!({"v":1,"id":i,"op":5})),
            Expect::new("op a number", id, "bad_request", "missing_op"),
        ),
        13 => (
            msg(json!({"v":1,"id":i,"op":"get","args":{"doctype":"Party"}})),
            Expect::new("missing argument", id, "bad_request", "bad_arguments"),
        ),
        14 => (
            msg(
                json!({"v":1,"id":i,"op":"insert","args":{"doctype":"Party","record":{},"evil":1}}),
            ),
            Expect::new("unknown argument", id, "bad_request", "bad_arguments"),
        ),
        15 => (
            msg(json!({"v":1,"id":i,"op":"query","args":[1,2,3]})),
            Expect::new(
                "arguments not an object",
                id,
                "bad_request",
                "bad_arguments",
            ),
        ),
        _ => {
            // Frame level: an unknown frame kind, or a chunk cut off by a new message.
            if i.is_multiple_of(2) {
                (
                    Wire::Frames(vec![vec![9, b'x', (i % 256) as u8]]),
                    Expect::words("unknown frame kind", "bad_request", "unknown frame kind 9"),
                )
            } else {
                (
                    Wire::Frames(vec![
                        b"\x01{\"v\":1,".to_vec(),
                        b"\x00{\"v\":1,\"id\":1,\"op\":\"doctypes\"}".to_vec(),
                    ]),
                    Expect::words(
                        "chunk cut off by a new message",
                        "bad_request",
                        "before the previous one ended",
                    ),
                )
            }
        }
    }
}

/// Huge messages (kinds 0 to 3): a few MiB up to over the limit. Built
/// only when sent, so the test's own copies do not pile up.
const HUGE_KINDS: usize = 4;

fn huge_call(k: usize) -> (Wire, Expect) {
    let under = MAX_MESSAGE - 16;
    match k {
        0 => (
            Wire::Msg(vec![b'#'; under]),
            Expect::new(
                "8 MiB of garbage",
                Value::Null,
                "bad_request",
                "malformed_json",
            ),
        ),
        1 => {
            let mut cut = br#"{"v":1,"id":"huge-cut","op":"insert","args":{"doctype":"Party","record":{"notes":""#.to_vec();
            cut.resize(under, b'z');
            (
                Wire::Msg(cut),
                Expect::new(
                    "8 MiB, cut off",
                    Value::Null,
                    "bad_request",
                    "malformed_json",
                ),
            )
        }
        2 => {
            let big = json!({
                "v":1, "id":"huge-op", "op":"bulk_import",
                "args":{"doctype":"Party","blob":"y".repeat(7 * 1024 * 1024)}
            });
            (
                Wire::Msg(big.to_string().into_bytes()),
                Expect::new(
                    "7 MiB, unknown op",
                    json!("huge-op"),
                    "bad_request",
                    "unknown_op",
                ),
            )
        }
        _ => {
            // Over the limit: only raw frames carry it (`send` refuses it).
            let over = 9 * 1024 * 1024;
            let mut frames: Vec<Vec<u8>> = vec![b'#'; over]
                .chunks(60 * 1024)
                .map(|c| [&[1u8][..], c].concat())
                .collect();
            frames.last_mut().unwrap()[0] = 2;
            (
                Wire::Frames(frames),
                Expect::words("9 MiB, over the limit", "too_large", "over the limit"),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_channel_survives_garbage_and_huge_messages() {
    let _serial = SERIAL.lock().await;
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let xdir = tempfile::tempdir().unwrap();
    let m = master(mdir.path()).await;
    let url = m.pairing_url().clone();

    let s = Arc::new(slave(sdir.path(), &url));
    let before = insert(&*s, "Party", party("Before")).await.unwrap();

    // The abuser pairs for real, then speaks nonsense on its channel.
    let identity = Identity::load_or_create(xdir.path()).unwrap();
    let (channel, _) = within(
        "the abuser to pair",
        connect_master(
            &format!("{}:{}", url.host, url.port),
            &identity,
            &RtcOptions::default(),
            m.fingerprint(),
            "abuser",
            url.code.as_deref(),
        ),
    )
    .await
    .expect("the abuser pairs");
    let outpost_link::Channel { tx, mut rx } = channel;
    // `send` itself refuses a message over the limit, before the wire.
    let e = tx.send(&vec![b'#'; MAX_MESSAGE + 1]).await.unwrap_err();
    assert!(matches!(e, outpost_link::LinkError::TooLarge { .. }), "{e}");
    let rss_before = rss_kb();

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let work = keep_working(s.clone(), "ChannelS", stop_rx);

    // Small ones, with the huge ones spread among them.
    // Small ones, with the huge ones spread among them (each kind three
    // times, to see memory level off rather than grow). `None`: small #i;
    // `Some(k)`: huge kind k.
    let mut plan: Vec<(Option<usize>, usize)> = (0..MALFORMED + 200).map(|i| (None, i)).collect();
    for round in 0..3 {
        for k in 0..HUGE_KINDS {
            plan.insert(500 + round * 3000 + k * 700, (Some(k), 0));
        }
    }
    let build = |(huge, i): (Option<usize>, usize)| match huge {
        Some(k) => huge_call(k),
        None => bad_call(i),
    };
    let expects: Vec<Expect> = plan.iter().map(|&p| build(p).1).collect();
    let sent_frames = Arc::new(AtomicUsize::new(0));
    let sender = {
        let tx = tx.clone();
        let sent_frames = sent_frames.clone();
        tokio::spawn(async move {
            for p in plan {
                match build(p).0 {
                    Wire::Msg(b) => {
                        tx.send(&b).await.expect("send");
                        sent_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Wire::Frames(fs) => {
                        for f in fs {
                            tx.send_raw_frame(&f).await.expect("send frame");
                            sent_frames.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        })
    };
    // Every one is answered, in order, with its own error.
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut rss_peak = rss_before;
    for (n, expect) in expects.iter().enumerate() {
        let resp = loop {
            let msg = within("an answer to a malformed message", rx.recv())
                .await
                .expect("the master keeps the channel open")
                .expect("the master's answers are well framed");
            let v: Value = serde_json::from_slice(&msg).expect("answers are JSON");
            if v.get("ev").is_none() {
                break v;
            }
        };
        expect.check(n, &resp);
        *kinds.entry(expect.kind).or_default() += 1;
        if n % 1000 == 0 {
            rss_peak = rss_peak.max(rss_kb());
        }
    }
    within("the sender", sender).await.unwrap();
    let answered = expects.len();

    // The abusive channel still answers a good call, and so does the master.
    tx.send(br#"{"v":1,"id":"final","op":"count","args":{"doctype":"Party"}}"#)
        .await
        .unwrap();
    let resp: Value = loop {
        let msg = within("the final answer", rx.recv())
            .await
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&msg).unwrap();
        if v.get("ev").is_none() {
            break v;
        }
    };
    assert_eq!(resp["id"], "final", "{resp}");
    assert!(resp["ok"].as_u64().unwrap() >= 1, "{resp}");

    let _ = stop.send(true);
    let rounds = within("the steady slave", work).await.unwrap();
    assert!(rounds > 0);
    assert_eq!(
        get(&*s, "Party", before["name"].as_str().unwrap())
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        query(&*s, "Party", "city:ChannelS", 10_000)
            .await
            .unwrap()
            .len(),
        rounds
    );
    assert_eq!(
        m.connected().len(),
        2,
        "both slaves are still connected: {:?}",
        m.connected()
    );
    let rss_after = rss_kb();
    let mut lines: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    lines.sort();
    eprintln!(
        "data channel: {answered} malformed messages ({} frames) each answered with its error:\n  {}",
        sent_frames.load(Ordering::Relaxed),
        lines.join("\n  ")
    );
    eprintln!(
        "data channel: steady slave did {rounds} insert+query rounds during the abuse; \
         RSS before {rss_before} kB, peak seen {rss_peak} kB, after {rss_after} kB (+{} kB)",
        rss_after as i64 - rss_before as i64
    );
    assert!(answered >= MALFORMED);
    assert!(
        rss_after < rss_before + RSS_BOUND_KB && rss_peak < rss_before + RSS_BOUND_KB,
        "RSS grew from {rss_before} kB to {rss_after} kB (peak {rss_peak} kB)"
    );
    tx.close().await;
    Arc::try_unwrap(s).ok().expect("one owner").close().await;
    m.shutdown().await;
}
