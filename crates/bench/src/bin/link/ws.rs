//! The WebSocket RPC baseline of `outpost-bench-link`: a server and a
//! client speaking the same envelope to the same `LocalDb`, over a plain
//! WebSocket on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use outpost_api::{decode_incoming, decode_request, Db, Incoming, LocalDb, Op, Request, Response};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// The WebSocket RPC baseline: the same envelope and the same `LocalDb`
/// calls, over a plain WebSocket on loopback.
pub async fn ws_server(db: LocalDb) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let db = db.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (sink, mut rx) = ws.split();
                let sink = Arc::new(tokio::sync::Mutex::new(sink));
                while let Some(Ok(msg)) = rx.next().await {
                    let Message::Text(t) = msg else { continue };
                    let db = db.clone();
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        let resp = match decode_request(t.as_bytes()) {
                            Ok(req) => db.call(req).await,
                            Err(r) => r,
                        };
                        let _ = sink.lock().await.send(Message::text(resp.encode())).await;
                    });
                }
            });
        }
    });
    addr
}

/// A WebSocket RPC client multiplexing requests by id, like `RemoteDb`.
#[derive(Clone)]
pub struct WsClient {
    out: tokio::sync::mpsc::UnboundedSender<String>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>,
}

impl WsClient {
    pub async fn connect(addr: &str) -> WsClient {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("ws connect");
        let (mut sink, mut rx) = ws.split();
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(t) = out_rx.recv().await {
                if sink.send(Message::text(t)).await.is_err() {
                    return;
                }
            }
        });
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>> = Arc::default();
        let p = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(t))) = rx.next().await {
                if let Ok(Incoming::Response(r)) = decode_incoming(t.as_bytes()) {
                    let key = r.id.as_ref().map(|i| i.to_string()).unwrap_or_default();
                    if let Some(tx) = p.lock().expect("lock").remove(&key) {
                        let _ = tx.send(r);
                    }
                }
            }
        });
        WsClient { out, pending }
    }

    pub async fn call(&self, op: Op) -> Value {
        let req = Request::new(op);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("lock")
            .insert(req.id.to_string(), tx);
        self.out.send(req.encode()).expect("send");
        rx.await.expect("answer").result.expect("ok")
    }
}
