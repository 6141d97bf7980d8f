//! A TCP proxy that makes a hostile link between two real processes: a
//! delay each way, a rate limit, a cut after N bytes, a blackhole. The
//! kernel here has `tbf` but no `netem`, so delay, loss and cuts are made in
//! user space. Settings change at run time (`set`), byte counters tell what
//! crossed the wire each way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks (of up to 16 KiB) in flight one way before the reader waits.
const QUEUE_CHUNKS: usize = 64;

/// How the link behaves; read again for every chunk, so changes apply to
/// open connections too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkConfig {
    /// Added to every chunk, each way.
    pub delay: Duration,
    /// Bytes per second, each way (`None`: as fast as loopback).
    pub rate: Option<u64>,
    /// A connection is cut once this many bytes crossed it (both ways).
    pub cut_after: Option<u64>,
    /// Nothing gets through, without a word, like a dead satellite link;
    /// what was sent meanwhile is held and delivered in order once the link
    /// comes back (as TCP's retransmissions would), unless the connection
    /// is given up first.
    pub blackhole: bool,
    /// Requests get through but answers are held (released in order when
    /// this is turned off): a call that reached the server and whose answer
    /// never came back.
    pub hold_answers: bool,
    /// Answers are held (as `hold_answers`) from the first request whose
    /// bytes contain this text on (e.g. a JSON-RPC method name): the call
    /// that reached the server and never answered is that one, not an
    /// earlier lookup.
    pub hold_answers_after: Option<&'static str>,
}

struct Shared {
    config: Mutex<LinkConfig>,
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
}

impl Shared {
    fn config(&self) -> LinkConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A running proxy to `target`. Stops when dropped.
pub struct LinkProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LinkProxy {
    pub async fn start(target: SocketAddr, config: LinkConfig) -> std::io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: Mutex::new(config),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, target, s.clone()));
            }
        });
        Ok(LinkProxy { addr, shared, task })
    }

    /// Where to connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, config: LinkConfig) {
        *self.shared.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// Bytes delivered toward the target.
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// Bytes delivered back from the target.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

async fn serve(client: TcpStream, target: SocketAddr, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Bytes that crossed this connection, both ways, for `cut_after`.
    let crossed = Arc::new(AtomicU64::new(0));
    let mut up = tokio::spawn(pump(cr, sw, shared.clone(), crossed.clone(), true));
    let mut down = tokio::spawn(pump(sr, cw, shared, crossed, false));
    // When one way ends (cut, closed), the other goes too, and both sockets
    // close.
    tokio::select! {
        _ = &mut up => down.abort(),
        _ = &mut down => up.abort(),
    }
}

/// Moves bytes one way: a reader task stamps each chunk, a writer delivers
/// it after the delay and at the rate, so the delay does not slow the rate.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Shared>,
    crossed: Arc<AtomicU64>,
    upward: bool,
) {
    // Bounded: a slow or dead link pushes back on the sender (as TCP's
    // window would) instead of queueing without limit in the proxy.
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if tx.send((Instant::now(), buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    });
    while let Some((read_at, mut chunk)) = rx.recv().await {
        if upward {
            let mut cfg = shared.config.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(marker) = cfg.hold_answers_after {
                if chunk.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    cfg.hold_answers = true;
                    cfg.hold_answers_after = None;
                }
            }
        }
        while shared.config().blackhole || (!upward && shared.config().hold_answers) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cfg = shared.config();
        tokio::time::sleep_until(read_at + cfg.delay).await;
        let before = crossed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        if let Some(limit) = cfg.cut_after {
            if before + chunk.len() as u64 > limit {
                chunk.truncate(limit.saturating_sub(before) as usize);
                let _ = to.write_all(&chunk).await;
                count(&shared, upward, chunk.len());
                break;
            }
        }
        if let Some(rate) = cfg.rate.filter(|r| *r > 0) {
            // Paced in small slices so a large chunk does not arrive at once.
            for slice in chunk.chunks(1024) {
                tokio::time::sleep(Duration::from_secs_f64(slice.len() as f64 / rate as f64)).await;
                if to.write_all(slice).await.is_err() {
                    reader.abort();
                    return;
                }
                count(&shared, upward, slice.len());
            }
        } else {
            if to.write_all(&chunk).await.is_err() {
                break;
            }
            count(&shared, upward, chunk.len());
        }
    }
    reader.abort();
    let _ = to.shutdown().await;
}

fn count(shared: &Shared, upward: bool, n: usize) {
    let c = if upward { &shared.up } else { &shared.down };
    c.fetch_add(n as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn read_exact_or_eof(s: &mut TcpStream, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < want {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!("no data and no close within 10 s"),
            }
        }
        got
    }

    #[tokio::test]
    async fn bytes_cross_intact_and_are_counted_each_way_under_delay_and_rate() {
        let proxy = LinkProxy::start(
            echo().await,
            LinkConfig {
                delay: Duration::from_millis(20),
                rate: Some(200_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).await.unwrap();
        let back = read_exact_or_eof(&mut s, data.len()).await;
        assert_eq!(back, data);
        assert_eq!((proxy.bytes_up(), proxy.bytes_down()), (50_000, 50_000));
        assert_eq!(proxy.connections(), 1);
    }

    #[tokio::test]
    async fn a_cut_ends_the_connection_after_that_many_bytes() {
        let proxy = LinkProxy::start(
            echo().await,
            LinkConfig {
                cut_after: Some(1500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let _ = s.write_all(&[7u8; 600]).await;
        let first = read_exact_or_eof(&mut s, 600).await;
        assert_eq!(first.len(), 600);
        // 600 up + 600 down is under 1500; a second 600 up crosses it, so only
        // part of it reaches the echo and the connection ends.
        let _ = s.write_all(&[8u8; 600]).await;
        let rest = read_exact_or_eof(&mut s, 600).await;
        assert!(
            rest.len() < 600,
            "the link was not cut: {} bytes came back",
            rest.len()
        );
        assert!(proxy.bytes_up() + proxy.bytes_down() <= 1500);
    }

    #[tokio::test]
    async fn a_blackhole_holds_data_until_the_link_comes_back() {
        let proxy = LinkProxy::start(echo().await, LinkConfig::default())
            .await
            .unwrap();
        proxy.set(LinkConfig {
            blackhole: true,
            ..Default::default()
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"lost").await.unwrap();
        let mut buf = [0u8; 16];
        let quiet = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        assert!(quiet.is_err(), "data crossed a blackhole");
        assert_eq!(proxy.bytes_up(), 0);
        proxy.set(LinkConfig::default());
        s.write_all(b"found").await.unwrap();
        assert_eq!(read_exact_or_eof(&mut s, 9).await, b"lostfound");
    }
}
