//! Sales with lines over a satellite-like link (issue 12): the test proxy
//! (50 KB/s, 350 ms each way) between the sync worker and a real `trytond`
//! with `trytond-sale`.
//!
//! - Push: 1,000 Sales of 5 lines each, with their 100 Parties and 50
//!   Products, all made in the office, pushed by the worker in one sync:
//!   from the worker's start until the outbox is empty (every Sale linked).
//! - Pull: 1,000 head-office state changes (500 sales quoted and confirmed,
//!   500 cancelled, at the head office directly), pulled by the worker until
//!   every Sale's `hq_state` shows its new state.
//!
//! Beside them, in the same run: a naive client making one call per record
//! over the same link (a sample, multiplied up), the link's floor, and the
//! same push and pull without the proxy (another office, straight to
//! trytond), which is the head office's own server time plus the worker's.
//!
//! Every call of the worker and of the naive client passes through a tap
//! (on loopback, before the link proxy) that keeps both directions of each
//! connection and takes them apart afterwards: the method called, the JSON
//! bodies as they are before gzip, and when each call started and ended.
//!
//! `cargo run --release -p outpost-bench --bin outpost-bench-sales [-- --naive N]`

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_e2e::proxy::{LinkConfig, LinkProxy};
use outpost_e2e::trytond::Trytond;
use outpost_store::query::parse_text;
use outpost_store::{Store, Write, WriteCtx};
use outpost_sync::{request_now, request_served, Sync, UpstreamConfig};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SALES: usize = 1000;
const LINES: usize = 5;
const PARTIES: usize = 100;
const PRODUCTS: usize = 50;
/// The worker's default `batch_size` (records per call and per page).
const BATCH: usize = 500;
/// The proxy's settings.
const RATE: f64 = 50_000.0;
const RTT: f64 = 0.7;

// ---------------------------------------------------------------------------
// The tap: a loopback TCP relay that records what crossed it.

/// One direction of a connection: the bytes and when each chunk arrived.
#[derive(Default)]
struct Side {
    bytes: Vec<u8>,
    /// (offset of the chunk's first byte, when it was read)
    marks: Vec<(usize, Instant)>,
}

impl Side {
    fn push(&mut self, chunk: &[u8]) {
        self.marks.push((self.bytes.len(), Instant::now()));
        self.bytes.extend_from_slice(chunk);
    }

    /// When the byte at `offset` was read.
    fn at(&self, offset: usize) -> Option<Instant> {
        let i = self.marks.partition_point(|(o, _)| *o <= offset);
        self.marks.get(i.checked_sub(1)?).map(|(_, t)| *t)
    }
}

#[derive(Default)]
struct Conn {
    up: Side,
    down: Side,
}

#[derive(Clone, Default)]
struct Tap {
    conns: Arc<Mutex<Vec<Arc<Mutex<Conn>>>>>,
}

/// One HTTP call as the tap saw it.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    /// Request and answer bodies as JSON, before gzip.
    json_up: usize,
    json_down: usize,
    start: Instant,
    end: Instant,
}

impl Call {
    fn secs(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

impl Tap {
    async fn start(target: SocketAddr) -> (Tap, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("tap");
        let addr = listener.local_addr().expect("tap addr");
        let tap = Tap::default();
        let t = tap.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let conn = Arc::new(Mutex::new(Conn::default()));
                t.conns.lock().expect("tap").push(conn.clone());
                tokio::spawn(relay(client, target, conn));
            }
        });
        (tap, addr)
    }

    /// The calls of the connections seen so far (and forgets them).
    fn take(&self) -> Vec<Call> {
        let conns = std::mem::take(&mut *self.conns.lock().expect("tap"));
        let mut out = Vec::new();
        for c in conns {
            let c = c.lock().expect("conn");
            let reqs = messages(&c.up.bytes, false);
            let resps = messages(&c.down.bytes, true);
            for (q, a) in reqs.iter().zip(resps.iter()) {
                let method = serde_json::from_slice::<Value>(&q.body)
                    .ok()
                    .and_then(|v| v["method"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "?".into());
                let (Some(start), Some(end)) =
                    (c.up.at(q.start), c.down.at(a.end.saturating_sub(1)))
                else {
                    continue;
                };
                out.push(Call {
                    method,
                    json_up: q.body.len(),
                    json_down: a.body.len(),
                    start,
                    end,
                });
            }
        }
        out.sort_by_key(|c| c.start);
        out
    }
}

async fn relay(client: TcpStream, target: SocketAddr, conn: Arc<Mutex<Conn>>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let c2 = conn.clone();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    c2.lock().expect("conn").up.push(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    conn.lock().expect("conn").down.push(&buf[..n]);
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// An HTTP message: where it lies in the stream, and its body (dechunked
/// and inflated).
struct Message {
    start: usize,
    end: usize,
    body: Vec<u8>,
}

/// The HTTP/1.x messages one after the other in `raw`.
fn messages(raw: &[u8], answers: bool) -> Vec<Message> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let Some(h) = raw[at..].windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&raw[at..at + h]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
        };
        let body_at = at + h + 4;
        let (body, end) = if let Some(n) =
            header("content-length").and_then(|n| n.parse::<usize>().ok())
        {
            let end = (body_at + n).min(raw.len());
            (raw[body_at..end].to_vec(), end)
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            dechunk(&raw[body_at..]).map_or((raw[body_at..].to_vec(), raw.len()), |(b, used)| {
                (b, body_at + used)
            })
        } else if answers {
            (raw[body_at..].to_vec(), raw.len())
        } else {
            (Vec::new(), body_at)
        };
        let body = if body.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
            plain
        } else {
            body
        };
        out.push(Message {
            start: at,
            end,
            body,
        });
        at = end;
    }
    out
}

/// A chunked body and the bytes it took.
fn dechunk(raw: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let eol = raw[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[at..at + eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at += eol + 2;
        if size == 0 {
            // Trailers (none from trytond), then the last CRLF.
            let rest = raw[at..].windows(2).position(|w| w == b"\r\n")?;
            return Some((out, at + rest + 2));
        }
        out.extend_from_slice(raw.get(at..at + size)?);
        at += size + 2;
    }
}

// ---------------------------------------------------------------------------
// The office's data.

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn parties(prefix: &str) -> Vec<Map<String, Value>> {
    (0..PARTIES)
        .map(|i| {
            obj(json!({"party_name": format!("{prefix} Trading {i:03}"), "code": format!("{prefix}-P{i:03}")}))
        })
        .collect()
}

fn products(prefix: &str) -> Vec<Map<String, Value>> {
    (0..PRODUCTS)
        .map(|i| {
            obj(json!({
                "product_name": format!("{prefix} Goods {i:02}"),
                "code": format!("{prefix}-SKU{i:02}"),
                "list_price": 2.0 + (i % 7) as f64 * 0.5
            }))
        })
        .collect()
}

fn sales(party_names: &[String], product_names: &[String]) -> Vec<Map<String, Value>> {
    (0..SALES)
        .map(|i| {
            let lines: Vec<Value> = (0..LINES)
                .map(|j| {
                    let p = (i * LINES + j) % PRODUCTS;
                    json!({
                        "product": product_names[p],
                        "quantity": 1 + (i + j) % 9,
                        "unit_price": 2.0 + (p % 7) as f64 * 0.5
                    })
                })
                .collect();
            obj(json!({
                "party": party_names[i % PARTIES],
                "sale_date": "2026-12-02",
                "reference": format!("PO-{i:04}"),
                "lines": lines
            }))
        })
        .collect()
}

fn insert_many(store: &Store, doctype: &str, records: Vec<Map<String, Value>>) -> Vec<String> {
    let out = store
        .write(
            WriteCtx {
                device: "bench".into(),
                ..Default::default()
            },
            Write::InsertMany {
                doctype: doctype.into(),
                records,
            },
        )
        .expect("insert");
    out.value["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("name").to_string())
        .collect()
}

fn json_len(v: &Value) -> u64 {
    serde_json::to_vec(v).expect("json").len() as u64
}

fn maps_len(v: &[Map<String, Value>]) -> u64 {
    serde_json::to_vec(v).expect("json").len() as u64
}

fn upstream(t: &Trytond, url: &str, dir: &std::path::Path) -> UpstreamConfig {
    let text = t.upstream_toml(
        Some(url),
        "interval_seconds = 3600\n\
         [doctypes.Party]\nmodel = \"party.party\"\n\
         [doctypes.Product]\nmodel = \"product.product\"\n\
         [doctypes.Sale]\nmodel = \"sale.sale\"\n\
         defaults = { invoice_method = \"manual\", shipment_method = \"manual\" }\n",
    );
    UpstreamConfig::parse(&text, &dir.join("upstream.toml")).expect("config")
}

fn worker_bytes(store: &Store) -> (u64, u64) {
    let b = store.sync_status().expect("status").bytes;
    (b.sent_total, b.received_total)
}

fn count(store: &Store, q: &str) -> u64 {
    store
        .count("Sale", &parse_text(q).expect("query"))
        .expect("count")
}

/// One office: its data folder, store, and what it made.
struct Office {
    _dir: tempfile::TempDir,
    store: Store,
    sales: Vec<String>,
    /// The records as the office wrote them, as JSON (Outpost's payload).
    payload: u64,
}

fn office(prefix: &str) -> Office {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let ps = parties(prefix);
    let pr = products(prefix);
    let mut payload = maps_len(&ps) + maps_len(&pr);
    let party_names = insert_many(&store, "Party", ps);
    let product_names = insert_many(&store, "Product", pr);
    let ss = sales(&party_names, &product_names);
    payload += maps_len(&ss);
    let sales = insert_many(&store, "Sale", ss);
    Office {
        _dir: dir,
        store,
        sales,
        payload,
    }
}

/// What one push or pull took.
struct Phase {
    secs: f64,
    /// The worker's own count (`sync_status().bytes`): sent, received.
    worker: (u64, u64),
    calls: Vec<Call>,
}

impl Phase {
    fn json(&self) -> (u64, u64) {
        (
            self.calls.iter().map(|c| c.json_up as u64).sum(),
            self.calls.iter().map(|c| c.json_down as u64).sum(),
        )
    }
}

/// Pushes the office's outbox with a new worker: until the outbox is empty.
/// Returns the push and the worker (its first cycle is left to finish).
async fn push(o: &Office, cfg: UpstreamConfig, tap: &Tap) -> (Phase, Sync) {
    tap.take();
    let token = request_now(&o.store).expect("ask");
    let started = Instant::now();
    let sync = Sync::start(o.store.clone(), cfg).expect("sync");
    loop {
        let s = o.store.sync_status().expect("status");
        assert!(s.last_error.is_none(), "{s:?}");
        if s.outbox_pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done = Instant::now();
    let secs = (done - started).as_secs_f64();
    // The worker counts its traffic right after the push, before the pull.
    let worker = loop {
        let b = worker_bytes(&o.store);
        if b.0 > 0 {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let s = o.store.sync_status().expect("status");
    assert_eq!(s.parked, 0, "nothing parked: {s:?}");
    for name in &o.sales {
        assert!(
            o.store.sync_link("Sale", name).expect("link").is_some(),
            "every Sale linked"
        );
    }
    while !request_served(&o.store, &token) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = tap.take().into_iter().filter(|c| c.start < done).collect();
    (
        Phase {
            secs,
            worker,
            calls,
        },
        sync,
    )
}

/// The head office confirms the first half of the office's sales and
/// cancels the rest; returns (seconds to quote, to confirm, to cancel).
fn head_office_changes(t: &Trytond, o: &Office) -> (f64, f64, f64) {
    let ids: Vec<i64> = o
        .sales
        .iter()
        .map(|n| {
            o.store
                .sync_link("Sale", n)
                .expect("link")
                .expect("linked")
                .remote_id
                .parse()
                .expect("id")
        })
        .collect();
    let (confirm, cancel) = ids.split_at(SALES / 2);
    let at = Instant::now();
    t.rpc("model.sale.sale.quote", json!([confirm, {"company": 1}]));
    let quote = at.elapsed().as_secs_f64();
    let at = Instant::now();
    t.rpc("model.sale.sale.confirm", json!([confirm, {"company": 1}]));
    let conf = at.elapsed().as_secs_f64();
    let at = Instant::now();
    t.rpc("model.sale.sale.cancel", json!([cancel, {"company": 1}]));
    (quote, conf, at.elapsed().as_secs_f64())
}

/// One sync after the head office's changes: until every Sale shows them.
async fn pull(o: &Office, sync: &Sync, tap: &Tap) -> Phase {
    tap.take();
    let before = worker_bytes(&o.store);
    let started = Instant::now();
    let token = sync.sync_now().expect("ask");
    loop {
        if count(&o.store, "hq_state:\"Processing\"") == (SALES / 2) as u64
            && count(&o.store, "hq_state:\"Cancelled\"") == (SALES - SALES / 2) as u64
        {
            break;
        }
        let s = o.store.sync_status().expect("status");
        assert!(s.last_error.is_none(), "{s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    while !request_served(&o.store, &token) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = worker_bytes(&o.store);
    Phase {
        secs,
        worker: (after.0 - before.0, after.1 - before.1),
        calls: tap.take(),
    }
}

/// Seconds, calls and JSON bodies by method.
fn by_method(calls: &[Call]) -> String {
    let mut m: BTreeMap<&str, (usize, f64, usize, usize)> = BTreeMap::new();
    for c in calls {
        let e = m.entry(c.method.as_str()).or_default();
        e.0 += 1;
        e.1 += c.secs();
        e.2 += c.json_up;
        e.3 += c.json_down;
    }
    let mut rows: Vec<_> = m.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    rows.iter()
        .map(|(k, (n, s, up, down))| {
            format!(
                "    {k:<36} {n:>3} calls {s:>7.1}s   JSON up {:>9}  down {:>9}",
                kb(*up as u64),
                kb(*down as u64)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kb(b: u64) -> String {
    format!("{:.1} KB", b as f64 / 1000.0)
}

// ---------------------------------------------------------------------------
// The naive client: plain JSON-RPC over HTTP/1.0, one call per record.

struct Naive {
    addr: SocketAddr,
    auth: String,
}

async fn post(addr: SocketAddr, method: &str, params: Value, auth: Option<&str>) -> Value {
    let body = json!({"id": 1, "method": method, "params": params}).to_string();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST /hq/rpc/ HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.expect("answer");
    let m = messages(&resp, true);
    let v: Value = serde_json::from_slice(&m.first().expect("an answer").body).expect("json");
    assert!(v["error"].is_null(), "{method}: {v}");
    v["result"].clone()
}

impl Naive {
    async fn login(addr: SocketAddr) -> Naive {
        use base64::Engine;
        let r = post(
            addr,
            "common.db.login",
            json!(["admin", {"password": "admin"}, "en"]),
            None,
        )
        .await;
        let raw = format!("admin:{}:{}", r[0], r[1].as_str().expect("session"));
        Naive {
            addr,
            auth: format!(
                "Session {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ),
        }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        post(self.addr, method, params, Some(&self.auth)).await
    }
}

/// Head-office ids: (party, its first address) and (variant, its unit).
type NaiveIds = (Vec<(i64, i64)>, Vec<(i64, Value)>);

/// The head office's ids a naive client would have learnt: parties'
/// (with their first address) and products' variants (with their unit).
fn naive_ids(t: &Trytond, o: &Office) -> NaiveIds {
    let parties: Vec<Value> = t.all("party.party", &["code", "addresses"]);
    let ps: Vec<(i64, i64)> = parties
        .iter()
        .filter(|p| p["code"].as_str().is_some_and(|c| c.contains("-P")))
        .filter_map(|p| Some((p["id"].as_i64()?, p["addresses"][0].as_i64()?)))
        .collect();
    let products = t.all("product.product", &["default_uom", "code"]);
    let pr: Vec<(i64, Value)> = products
        .iter()
        .filter_map(|p| Some((p["id"].as_i64()?, p["default_uom"].clone())))
        .collect();
    assert!(!ps.is_empty() && !pr.is_empty() && !o.sales.is_empty());
    (ps, pr)
}

// ---------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let naive_n: usize = std::env::args()
        .skip_while(|a| a != "--naive")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let t = Trytond::start();
    let satellite = LinkConfig {
        delay: Duration::from_millis(350),
        rate: Some(RATE as u64),
        ..Default::default()
    };
    let proxy = LinkProxy::start(([127, 0, 0, 1], t.port).into(), satellite)
        .await
        .expect("proxy");
    // worker -> tap -> satellite proxy -> trytond
    let (tap, tap_addr) = Tap::start(proxy.addr()).await;
    // and, for the run without the link: worker -> tap -> trytond
    let (direct_tap, direct_addr) = Tap::start(([127, 0, 0, 1], t.port).into()).await;

    // --- Over the link: push, then the head office's changes, then pull.
    let a = office("OFF");
    let cfg = upstream(&t, &format!("http://{tap_addr}/"), a._dir.path());
    eprintln!("push over the link ...");
    let (push_a, sync_a) = push(&a, cfg, &tap).await;
    eprintln!("push: {:.1}s", push_a.secs);
    let (quote_s, confirm_s, cancel_s) = head_office_changes(&t, &a);
    let pulled_payload: u64 = a
        .sales
        .iter()
        .map(|n| json_len(&a.store.get("Sale", n).expect("sale")))
        .sum();
    eprintln!("pull over the link ...");
    let pull_a = pull(&a, &sync_a, &tap).await;
    eprintln!("pull: {:.1}s", pull_a.secs);
    // What a pull strictly had to bring: each sale's new state and number.
    let changes: u64 = a
        .sales
        .iter()
        .map(|n| {
            let s = a.store.get("Sale", n).expect("sale");
            json_len(&json!({"name": n, "hq_state": s["hq_state"], "number": s["number"]}))
        })
        .sum();
    sync_a.stop().await;

    // --- The naive client over the same link (through the same tap).
    eprintln!("naive client, {naive_n} calls each way ...");
    let (party_ids, product_ids) = naive_ids(&t, &a);
    let naive = Naive::login(tap_addr).await;
    tap.take();
    let w = (proxy.bytes_up(), proxy.bytes_down());
    let started = Instant::now();
    for i in 0..naive_n {
        let (party, address) = party_ids[i % party_ids.len()];
        let lines: Vec<Value> = (0..LINES)
            .map(|j| {
                let (product, unit) = &product_ids[(i * LINES + j) % product_ids.len()];
                json!({"product": product, "unit": unit, "quantity": 1 + (i + j) % 9,
                       "unit_price": {"__class__": "Decimal", "decimal": "4.5"},
                       "description": "Goods", "sequence": j + 1})
            })
            .collect();
        let sale = json!({"reference": format!("NAIVE-{i:04}"), "party": party,
            "invoice_address": address, "shipment_address": address,
            "sale_date": {"__class__": "date", "year": 2026, "month": 12, "day": 2},
            "description": format!("PO-{i:04}"),
            "invoice_method": "manual", "shipment_method": "manual",
            "lines": [["create", lines]]});
        naive
            .call("model.sale.sale.create", json!([[sale], {"company": 1}]))
            .await;
    }
    let naive_push_secs = started.elapsed().as_secs_f64() / naive_n as f64;
    let naive_push_bytes =
        (proxy.bytes_up() - w.0 + proxy.bytes_down() - w.1) as f64 / naive_n as f64;
    let naive_push_calls = tap.take();
    let naive_push_json = naive_push_calls
        .iter()
        .map(|c| (c.json_up + c.json_down) as f64)
        .sum::<f64>()
        / naive_n as f64;
    let sale_ids: Vec<i64> = a
        .sales
        .iter()
        .take(naive_n)
        .map(|n| {
            a.store
                .sync_link("Sale", n)
                .expect("link")
                .expect("linked")
                .remote_id
                .parse()
                .expect("id")
        })
        .collect();
    let w = (proxy.bytes_up(), proxy.bytes_down());
    let started = Instant::now();
    for id in &sale_ids {
        naive
            .call(
                "model.sale.sale.read",
                json!([[id], ["reference", "party", "sale_date", "description", "number", "state",
                       "_timestamp", "last_modified_at", "lines.id", "lines.sequence",
                       "lines.product.template", "lines.quantity", "lines.unit_price"], {"company": 1}]),
            )
            .await;
    }
    let naive_pull_secs = started.elapsed().as_secs_f64() / naive_n as f64;
    let naive_pull_bytes =
        (proxy.bytes_up() - w.0 + proxy.bytes_down() - w.1) as f64 / naive_n as f64;
    let naive_pull_calls = tap.take();
    let naive_pull_json = naive_pull_calls
        .iter()
        .map(|c| (c.json_up + c.json_down) as f64)
        .sum::<f64>()
        / naive_n as f64;

    // --- Without the link: another office, straight to trytond.
    eprintln!("the same without the link ...");
    let b = office("DIR");
    let cfg = upstream(&t, &format!("http://{direct_addr}/"), b._dir.path());
    let (push_b, sync_b) = push(&b, cfg, &direct_tap).await;
    let (quote_b, confirm_b, cancel_b) = head_office_changes(&t, &b);
    let pull_b = pull(&b, &sync_b, &direct_tap).await;
    sync_b.stop().await;

    // --- Report.
    let push_rtts = 1 + PARTIES.div_ceil(BATCH) + PRODUCTS.div_ceil(BATCH) + SALES.div_ceil(BATCH);
    let pull_rtts = 1 + SALES.div_ceil(BATCH);
    // The pull's payload is what changed: each sale's new state and number.
    let push_floor = a.payload as f64 / RATE + push_rtts as f64 * RTT;
    let pull_floor = changes as f64 / RATE + pull_rtts as f64 * RTT;
    let naive_push_n = SALES + PARTIES + PRODUCTS;
    println!(
        "Sales over the test proxy: 50 KB/s and 350 ms each way; trytond 8.x + trytond-sale on SQLite, same machine"
    );
    println!(
        "push: {SALES} Sales x {LINES} lines + {PARTIES} Parties + {PRODUCTS} Products made in the office; pull: {} confirmed + {} cancelled at the head office",
        SALES / 2,
        SALES - SALES / 2
    );
    println!(
        "{:<40} {:>8} {:>8} {:>10} {:>11} {:>11} {:>12} {:>8}",
        "", "time", "floor", "time/floor", "wire", "payload", "wire/payload", "calls"
    );
    let row = |what: &str, p: &Phase, floor: f64, payload: u64| {
        let wire = p.worker.0 + p.worker.1;
        println!(
            "{what:<40} {:>7.1}s {:>7.1}s {:>9.2}x {:>11} {:>11} {:>11.2}x {:>8}",
            p.secs,
            floor,
            p.secs / floor,
            kb(wire),
            kb(payload),
            wire as f64 / payload as f64,
            p.calls.len()
        );
    };
    row("push: worker", &push_a, push_floor, a.payload);
    row("pull: worker", &pull_a, pull_floor, changes);
    let naive_row = |what: &str, per: f64, bytes: f64, n: usize, payload: u64| {
        println!(
            "{what:<40} {:>7.1}s {:>8} {:>10} {:>11} {:>11} {:>11.2}x {:>8}   ({naive_n} calls measured, x{:.0})",
            per * n as f64,
            "",
            "",
            kb((bytes * n as f64) as u64),
            kb(payload),
            bytes * n as f64 / payload as f64,
            n,
            n as f64 / naive_n as f64
        );
    };
    naive_row(
        "push: naive, one create per record",
        naive_push_secs,
        naive_push_bytes,
        naive_push_n,
        a.payload,
    );
    naive_row(
        "pull: naive, one read per Sale",
        naive_pull_secs,
        naive_pull_bytes,
        SALES,
        changes,
    );
    println!(
        "worker vs naive: push {:.0}x faster, {:.1}x fewer bytes; pull {:.0}x faster, {:.1}x fewer bytes",
        naive_push_secs * naive_push_n as f64 / push_a.secs,
        naive_push_bytes * naive_push_n as f64 / (push_a.worker.0 + push_a.worker.1) as f64,
        naive_pull_secs * SALES as f64 / pull_a.secs,
        naive_pull_bytes * SALES as f64 / (pull_a.worker.0 + pull_a.worker.1) as f64,
    );
    let (ju, jd) = push_a.json();
    let (pu, pd) = pull_a.json();
    println!(
        "payload: push = the office's records as written (Outpost JSON) {}; pull = the changes, each Sale's name, new hq_state and number as JSON, {} (the {SALES} Sales whole as the office holds them after it: {})",
        kb(a.payload),
        kb(changes),
        kb(pulled_payload)
    );
    println!(
        "wire = the worker's own count (sync_status().bytes; headers included): push {} up {} down, pull {} up {} down",
        kb(push_a.worker.0),
        kb(push_a.worker.1),
        kb(pull_a.worker.0),
        kb(pull_a.worker.1)
    );
    println!(
        "JSON bodies of the same calls before gzip: push {} up {} down ({:.2}x the wire); pull {} up {} down ({:.2}x); naive per call: create {:.0} B, read {:.0} B",
        kb(ju),
        kb(jd),
        (ju + jd) as f64 / (push_a.worker.0 + push_a.worker.1) as f64,
        kb(pu),
        kb(pd),
        (pu + pd) as f64 / (pull_a.worker.0 + pull_a.worker.1) as f64,
        naive_push_json,
        naive_pull_json
    );
    println!(
        "floor = payload / 50 KB/s + 0.7 s per unavoidable call: push {push_rtts} (login, 1 create of Parties, 1 of Products, {} of Sales at {BATCH} a call), pull {pull_rtts} (login, {} pages of {BATCH})",
        SALES.div_ceil(BATCH),
        SALES.div_ceil(BATCH)
    );
    let link = |p: &Phase| {
        let (u, d) = p.worker;
        p.calls.len() as f64 * RTT + (u + d) as f64 / RATE
    };
    let strict = |p: &Phase, rtts: usize| {
        let (u, d) = p.worker;
        let floor = (u + d) as f64 / RATE + rtts as f64 * RTT;
        format!("{floor:.1}s, time/strict floor {:.2}x", p.secs / floor)
    };
    println!(
        "strict floor = the worker's own wire bytes / 50 KB/s + the same unavoidable calls: push {}; pull {}",
        strict(&push_a, push_rtts),
        strict(&pull_a, pull_rtts)
    );
    println!(
        "the worker's calls at 0.7 s each + its wire bytes at 50 KB/s: push {:.1}s, pull {:.1}s (the rest is the two ends' time)",
        link(&push_a),
        link(&pull_a)
    );
    println!(
        "without the link (another office, same shapes, straight to trytond): push {:.1}s ({} calls), pull {:.1}s ({} calls)",
        push_b.secs,
        push_b.calls.len(),
        pull_b.secs,
        pull_b.calls.len()
    );
    println!(
        "head office's own time for the state changes, straight RPC: quote 500 {quote_s:.1}s, confirm 500 {confirm_s:.1}s, cancel 500 {cancel_s:.1}s (second office: {quote_b:.1}s, {confirm_b:.1}s, {cancel_b:.1}s)"
    );
    println!("push over the link, by method (call time = first byte sent to last byte back):");
    println!("{}", by_method(&push_a.calls));
    println!("push without the link, by method (server time plus loopback):");
    println!("{}", by_method(&push_b.calls));
    println!("pull over the link, by method:");
    println!("{}", by_method(&pull_a.calls));
    println!("pull without the link, by method:");
    println!("{}", by_method(&pull_b.calls));
}
