//! A flood of connections that never finish their handshake:
//! `outpost-flood HOST:PORT COUNT SECONDS`. Keeps COUNT connections open
//! to the master for SECONDS, opening a new one whenever the master drops
//! one: silent sockets, half-sent requests, WebSocket upgrades that never
//! say hello, and hellos of made-up devices with wrong code proofs (which
//! use up this address's tries of the code, not anyone else's). Prints
//! `FLOODING` once the first COUNT are open, then `DONE <opened>`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// One stalled connection of kind `i % 4`, held until the master drops it.
async fn stall(addr: String, i: usize) {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return;
    };
    let host = format!("Host: {addr}\r\n");
    let _ = match i % 4 {
        0 => Ok(()),
        1 => {
            s.write_all(format!("GET /signal HTTP/1.1\r\n{host}").as_bytes())
                .await
        }
        2 => {
            s.write_all(format!("GET /signal HTTP/1.1\r\n{host}{UPGRADE}\r\n").as_bytes())
                .await
        }
        _ => {
            let req = format!("GET /signal HTTP/1.1\r\n{host}{UPGRADE}\r\n");
            let _ = s.write_all(req.as_bytes()).await;
            // A masked text frame: a hello from a made-up device with a
            // wrong proof.
            let device: String = (0..64)
                .map(|k| char::from(b"0123456789abcdef"[(i * 7 + k * 13) % 16]))
                .collect();
            let hello = format!(
                r#"{{"t":"hello","v":1,"device":"{device}","name":"flood","proof":"{}"}}"#,
                "ab".repeat(32)
            );
            s.write_all(&ws_frame(hello.as_bytes())).await
        }
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// A masked WebSocket text frame (clients must mask).
fn ws_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81];
    let mask = [1u8, 2, 3, 4];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend((payload.len() as u16).to_be_bytes());
    }
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, count, seconds] = &args[..] else {
        eprintln!("usage: outpost-flood HOST:PORT COUNT SECONDS");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("a count");
    let until = Instant::now() + Duration::from_secs(seconds.parse().expect("seconds"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let opened = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let mut workers = Vec::new();
        for w in 0..count {
            let (addr, opened) = (addr.clone(), opened.clone());
            workers.push(tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < until {
                    opened.fetch_add(1, Ordering::SeqCst);
                    let _ = tokio::time::timeout_at(until.into(), stall(addr.clone(), i)).await;
                    i += count;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("FLOODING");
        for w in workers {
            let _ = w.await;
        }
    });
    println!("DONE {}", opened.load(Ordering::SeqCst));
}
