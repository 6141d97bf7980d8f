//! The signaling socket: a WebSocket at `/signal` on the master's port
//! (server side), and the slave's client. Frames are limited in size and
//! every read has a deadline, so a peer that sends garbage or never finishes
//! costs the master little.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::header::{HOST, ORIGIN};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::error::{LinkError, Result};
use crate::origin::{check_host, check_origin};
use crate::signal::{Signal, MAX_SIGNAL_BYTES, SIGNAL_PATH};

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SIGNAL_BYTES))
        .max_frame_size(Some(MAX_SIGNAL_BYTES))
}

/// Lets only `GET /signal` upgrade, from a LAN `Host` and (for browsers)
/// a page this master served (see [`crate::origin`]); anything else gets a
/// 404 saying where the socket is, or a 403 saying why not.
#[allow(clippy::result_large_err)] // the callback signature tungstenite asks for
fn check_request(req: &Request, resp: Response) -> std::result::Result<Response, ErrorResponse> {
    let deny = |status: StatusCode, why: String| {
        let mut e = ErrorResponse::new(Some(format!("Outpost master: {why}\n")));
        *e.status_mut() = status;
        e
    };
    if req.uri().path() != SIGNAL_PATH {
        return Err(deny(
            StatusCode::NOT_FOUND,
            format!("the signaling socket is at {SIGNAL_PATH}"),
        ));
    }
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header(HOST);
    check_host(host).map_err(|why| deny(StatusCode::FORBIDDEN, why))?;
    check_origin(header(ORIGIN), host).map_err(|why| deny(StatusCode::FORBIDDEN, why))?;
    Ok(resp)
}

/// A signaling conversation with one peer.
pub struct SignalSocket {
    ws: WebSocketStream<TcpStream>,
    local: SocketAddr,
    peer: SocketAddr,
    /// Bytes of messages received so far, and the most allowed (`None`:
    /// no limit beyond each frame's).
    received: usize,
    budget: Option<usize>,
}

impl SignalSocket {
    /// Accepts the WebSocket upgrade on an incoming TCP connection; anything
    /// but `GET /signal` is answered 404 and dropped.
    pub async fn accept(stream: TcpStream, deadline: Duration) -> Result<SignalSocket> {
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        let ws = tokio::time::timeout(
            deadline,
            tokio_tungstenite::accept_hdr_async_with_config(
                stream,
                check_request,
                Some(ws_config()),
            ),
        )
        .await
        .map_err(|_| {
            LinkError::Timeout(format!("waiting for {peer} to open the signaling socket"))
        })?
        .map_err(|e| LinkError::Signaling(format!("{peer}: {e}")))?;
        Ok(SignalSocket::new(ws, local, peer))
    }

    fn new(ws: WebSocketStream<TcpStream>, local: SocketAddr, peer: SocketAddr) -> SignalSocket {
        SignalSocket {
            ws,
            local,
            peer,
            received: 0,
            budget: None,
        }
    }

    /// Opens the signaling socket of the master at `addr` (`host:port`).
    pub async fn connect(addr: &str, deadline: Duration) -> Result<SignalSocket> {
        let unreachable = |message: String| LinkError::Unreachable {
            addr: addr.to_string(),
            message,
        };
        let stream = tokio::time::timeout(deadline, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        let url = format!("ws://{addr}{SIGNAL_PATH}");
        let (ws, _) = tokio::time::timeout(
            deadline,
            tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())),
        )
        .await
        .map_err(|_| unreachable("the signaling socket did not answer".into()))?
        .map_err(|e| unreachable(format!("not an Outpost master? {e}")))?;
        Ok(SignalSocket::new(ws, local, peer))
    }

    /// This side's address of the connection: the LAN address the peer
    /// reached us on, which is where the WebRTC host candidate goes.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Limits the bytes the peer may send in all from now on: a peer not
    /// yet trusted gets a few SDPs' worth, not a stream.
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = Some(self.received + bytes);
    }

    pub async fn send(&mut self, s: &Signal) -> Result<()> {
        self.ws
            .send(Message::text(s.encode()))
            .await
            .map_err(|e| LinkError::Signaling(e.to_string()))
    }

    /// The next signaling message. `Ok(None)` when the peer closed the socket.
    pub async fn recv(&mut self) -> Result<Option<Signal>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(LinkError::Signaling(e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    self.spend(t.len())?;
                    return Signal::decode(t.as_str())
                        .map(Some)
                        .map_err(LinkError::Signaling);
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err(LinkError::Signaling(
                        "binary frame on the signaling socket; it speaks JSON text".into(),
                    ))
                }
                Some(Ok(Message::Close(_))) => return Ok(None),
                // Ping/pong: counted too, so they cannot stream forever.
                Some(Ok(other)) => self.spend(other.len())?,
            }
        }
    }

    /// Counts `bytes` received against the budget; `TooLarge` past it.
    fn spend(&mut self, bytes: usize) -> Result<()> {
        self.received += bytes;
        match self.budget {
            Some(limit) if self.received > limit => Err(LinkError::TooLarge {
                size: self.received,
                limit,
            }),
            _ => Ok(()),
        }
    }

    /// `recv` with a deadline.
    pub async fn recv_within(&mut self, deadline: Duration, what: &str) -> Result<Option<Signal>> {
        tokio::time::timeout(deadline, self.recv())
            .await
            .map_err(|_| LinkError::Timeout(what.to_string()))?
    }

    /// Ends the conversation the way WebSocket peers expect: a Close frame
    /// with code 1000 (normal), then the peer's own Close, within a second
    /// in all, and only then the TCP connection.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            if self.ws.close(Some(normal)).await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }
}
