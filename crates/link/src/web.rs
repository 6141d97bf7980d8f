//! The master's port speaks two things: the signaling WebSocket at
//! [`SIGNAL_PATH`](crate::signal::SIGNAL_PATH), and, for any other path,
//! plain HTTP serving the web UI's files (`ui/dist`), so a browser on the LAN
//! can open the UI from the master itself.
//!
//! Files come from one folder and nothing outside it can be read: paths are
//! resolved by `tower-http`'s `ServeDir`, which refuses `..` segments (also
//! percent-encoded ones). Hashed build assets (`/assets/...`) are cached for
//! a year; everything else is revalidated (`no-cache`, with
//! `Last-Modified`). The files carry no office data: a browser still pairs
//! by code before it gets any.
//!
//! Every answer carries a Content-Security-Policy (scripts and connections
//! to this master only, no framing by other sites), and a request whose
//! `Host` is not a LAN name is refused (DNS rebinding, see
//! [`crate::origin`]). A connection gets [`CONNECTION_TIMEOUT`] in all.
//!
//! The files come from a folder ([`WebRoot::Folder`], `--ui DIR`) or from
//! the program itself ([`WebRoot::Built`]: the UI compiled into the
//! `outpost` binary and the desktop app, so a master installed anywhere
//! serves it). Built files are answered with their content hash as ETag.
//!
//! One path is not a file: [`INFO_PATH`] answers which master served the
//! page (office name and certificate fingerprint), so the page can pin the
//! fingerprint of the master it came from before it pairs.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::install::{Shelf, INSTALL_PATH, PACKAGES_JSON};
use crate::signal::SIGNAL_PATH;
use std::sync::Arc;

/// The master's description for the page that it served.
pub const INFO_PATH: &str = "/outpost.json";

/// What [`INFO_PATH`] tells a page about the master that served it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebInfo {
    /// The office (master) name.
    pub office: String,
    /// The master's certificate fingerprint (64 lowercase hex digits).
    pub fingerprint: String,
    /// Path of the signaling WebSocket on this port.
    pub signal: String,
}

impl WebInfo {
    pub fn new(office: &str, fingerprint: &str) -> WebInfo {
        WebInfo {
            office: office.to_string(),
            fingerprint: fingerprint.to_string(),
            signal: SIGNAL_PATH.to_string(),
        }
    }
}

/// Whether `dir` holds a built web UI (its `index.html`).
pub fn is_web_ui(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// One file of a web UI built into the program.
pub struct WebFile {
    pub body: Bytes,
    /// Its `Content-Type`.
    pub mime: String,
    /// A hash of its content (the `ETag`, quotes added when sent).
    pub hash: String,
}

/// A web UI built into the program: its files by path (`index.html`,
/// `assets/app-3f2a.js`, no leading slash).
pub trait WebFiles: Send + Sync + 'static {
    fn file(&self, path: &str) -> Option<WebFile>;
}

/// Where the web UI's files come from.
#[derive(Clone)]
pub enum WebRoot {
    /// A folder on disk (`--ui DIR`).
    Folder(PathBuf),
    /// Built into the program.
    Built(std::sync::Arc<dyn WebFiles>),
}

impl std::fmt::Debug for WebRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebRoot::Folder(dir) => f.debug_tuple("Folder").field(dir).finish(),
            WebRoot::Built(_) => f.write_str("Built"),
        }
    }
}

impl WebRoot {
    /// Where it comes from, for a log line.
    pub fn describe(&self) -> String {
        match self {
            WebRoot::Folder(dir) => dir.display().to_string(),
            WebRoot::Built(_) => "built into this program".to_string(),
        }
    }
}

/// How long a browser may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection may last in all (one request, one file).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// What the served pages may load and talk to: this master only (the
/// signaling socket is same-origin; Svelte sets `style` attributes); no
/// other site may frame them.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// How long to wait for the first line of a request before giving up.
const FIRST_LINE: Duration = Duration::from_secs(5);

/// What a new connection on the master's port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// `GET /signal ...`: the signaling WebSocket.
    Signaling,
    /// Anything else: HTTP for the web UI (or garbage, which HTTP refuses).
    Web,
}

/// Looks at the request line without taking it off the socket, so the
/// chosen handler reads the request whole.
pub async fn classify(stream: &TcpStream) -> Option<Arrival> {
    let mut buf = [0u8; 256];
    let want = format!("GET {SIGNAL_PATH}");
    let look = async {
        let mut last = 0;
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            let seen = &buf[..n];
            if let Some(end) = seen.iter().position(|b| *b == b'\n') {
                let line = &seen[..end];
                let path_ok = line.starts_with(want.as_bytes())
                    && matches!(line.get(want.len()), Some(b' ' | b'?'));
                return Some(if path_ok {
                    Arrival::Signaling
                } else {
                    Arrival::Web
                });
            }
            if n == buf.len() {
                return Some(Arrival::Web);
            }
            if n == last {
                // Nothing new yet: peek returns at once while data waits.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            last = n;
        }
    };
    tokio::time::timeout(FIRST_LINE, look).await.ok().flatten()
}

/// Serves HTTP on `stream` from `root` (the web UI's folder), or a plain
/// answer saying there is none; and the packages on `shelf` at
/// [`INSTALL_PATH`](crate::install::INSTALL_PATH).
pub async fn serve(
    stream: TcpStream,
    root: Option<WebRoot>,
    info: WebInfo,
    shelf: Option<Arc<Shelf>>,
) {
    serve_within(stream, root, info, shelf, CONNECTION_TIMEOUT).await
}

/// [`serve`], the connection cut after `limit` in all.
async fn serve_within(
    stream: TcpStream,
    root: Option<WebRoot>,
    info: WebInfo,
    shelf: Option<Arc<Shelf>>,
    limit: Duration,
) {
    let peer = stream.peer_addr().ok();
    let info = std::sync::Arc::new(info);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let root = root.clone();
        let info = info.clone();
        let shelf = shelf.clone();
        async move {
            let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
            let mut resp = match crate::origin::check_host(host) {
                Ok(()) if is_install(req.uri().path()) => match &shelf {
                    Some(shelf) => install(req, shelf.clone(), &info).await,
                    None => text(
                        StatusCode::NOT_FOUND,
                        "Outpost master: this master carries no packages\n".into(),
                    ),
                },
                Ok(()) => answer(req, root.as_ref(), &info).await,
                Err(why) => text(StatusCode::FORBIDDEN, format!("Outpost master: {why}\n")),
            };
            guard(&mut resp);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // One request per connection: an idle browser connection must not
        // hold one of the master's slots (a new one costs little on a LAN).
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(limit, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(peer = ?peer, error = %e, "web connection ended"),
        Err(_) => tracing::debug!(peer = ?peer, "web connection cut: over its time"),
    }
}

/// The headers every answer carries.
fn guard(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

type Body = Either<tower_http::services::fs::ServeFileSystemResponseBody, Full<Bytes>>;

fn text(status: StatusCode, words: String) -> Response<Body> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::from(words))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Whether `path` is the install page or one of its files.
fn is_install(path: &str) -> bool {
    path == INSTALL_PATH.trim_end_matches('/') || path.starts_with(INSTALL_PATH)
}

/// The install page, its JSON list, or one package (`GET`/`HEAD` only).
async fn install(req: Request<Incoming>, shelf: Arc<Shelf>, info: &WebInfo) -> Response<Body> {
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Outpost master: {INSTALL_PATH} is read with GET\n"),
        );
    }
    let path = req.uri().path().to_string();
    let file = path.strip_prefix(INSTALL_PATH).unwrap_or("");
    if file.is_empty() || file == PACKAGES_JSON {
        let listing = shelf.clone();
        let list = tokio::task::spawn_blocking(move || listing.list())
            .await
            .unwrap_or_default();
        let mut r = if file.is_empty() {
            // The Host was checked: a LAN name or address of this master.
            let host = req
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("MASTER");
            let mut r = text(
                StatusCode::OK,
                crate::install::page(&info.office, host, &list),
            );
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        } else {
            let mut r = text(
                StatusCode::OK,
                serde_json::to_string(&list).unwrap_or_default(),
            );
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        };
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return r;
    }
    let Some(found) = shelf.path_of(file) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("Outpost master: {file} is not a package this master carries (see {INSTALL_PATH})\n"),
        );
    };
    match tower_http::services::ServeFile::new(found)
        .oneshot(req)
        .await
    {
        Ok(r) => {
            let mut r = r.map(Either::Left);
            let h = r.headers_mut();
            if h.contains_key(CONTENT_TYPE) {
                h.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/vnd.debian.binary-package"),
                );
            }
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => match e {},
    }
}

async fn answer(req: Request<Incoming>, root: Option<&WebRoot>, info: &WebInfo) -> Response<Body> {
    if req.uri().path() == INFO_PATH && root.is_some() {
        if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Outpost master: {INFO_PATH} is read with GET\n"),
            );
        }
        let mut r = text(
            StatusCode::OK,
            serde_json::to_string(info).unwrap_or_default(),
        );
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut()
            .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        return r;
    }
    let Some(root) = root else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "Outpost master: this master serves no web UI (start it with --ui DIR); the signaling socket is at {SIGNAL_PATH}\n"
            ),
        );
    };
    let path = req.uri().path().to_string();
    let mut resp = match root {
        WebRoot::Folder(dir) => {
            let served = ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .oneshot(req)
                .await;
            match served {
                Ok(r) => r.map(Either::Left),
                Err(e) => match e {},
            }
        }
        WebRoot::Built(files) => built(&req, files.as_ref()),
    };
    match resp.status() {
        StatusCode::NOT_FOUND => {
            return text(
                StatusCode::NOT_FOUND,
                format!("Outpost master: {path} is not part of the web UI (the signaling socket is at {SIGNAL_PATH})\n"),
            )
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Outpost master: the web UI's files are read with GET\n".into(),
            )
        }
        _ => {}
    }
    let cache = if path.starts_with("/assets/") {
        // Vite names them by their content hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    resp.headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// A file of a UI built into the program, as `ServeDir` answers from a
/// folder: `GET` and `HEAD` only, `index.html` for a folder's path, 404
/// for anything else (no path leaves the set of built files). A browser
/// that has the file already (`If-None-Match` with its hash) gets 304.
fn built(req: &Request<Incoming>, files: &dyn WebFiles) -> Response<Body> {
    let head = req.method() == hyper::Method::HEAD;
    if req.method() != hyper::Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, String::new());
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return r;
    }
    let mut name = req.uri().path().trim_start_matches('/').to_string();
    if name.is_empty() || name.ends_with('/') {
        name.push_str("index.html");
    }
    let Some(file) = files.file(&name) else {
        return text(StatusCode::NOT_FOUND, String::new());
    };
    let tag = format!("\"{}\"", file.hash);
    let fresh = req
        .headers()
        .get(hyper::header::IF_NONE_MATCH)
        .and_then(|asked| asked.to_str().ok())
        .is_some_and(|asked| asked.split(',').any(|t| t.trim() == tag));
    let body = if fresh || head {
        Bytes::new()
    } else {
        file.body.clone()
    };
    let mut r = Response::new(Either::Right(Full::new(body)));
    if fresh {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = r.headers_mut();
    if let (false, Ok(mime)) = (fresh, HeaderValue::from_str(&file.mime)) {
        h.insert(CONTENT_TYPE, mime);
        h.insert(hyper::header::CONTENT_LENGTH, file.body.len().into());
    }
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        h.insert(hyper::header::ETAG, tag);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client that asks for a big file and never reads it (or reads it
    /// a byte a minute) is cut when the connection's time is up, not held
    /// forever. The limit is shortened here; the master's is
    /// [`CONNECTION_TIMEOUT`].
    #[tokio::test]
    async fn a_connection_that_never_reads_is_cut_at_its_limit() {
        let root = tempfile::tempdir().unwrap();
        let size = 64 << 20;
        std::fs::write(root.path().join("big.bin"), vec![7u8; size]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = root.path().to_path_buf();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let info = WebInfo::new("Depot", &"a".repeat(64));
            let root = WebRoot::Folder(dir);
            serve_within(stream, Some(root), info, None, Duration::from_millis(1500)).await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(format!("GET /big.bin HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // The server's send buffers fill; it waits; its time runs out.
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("the connection was not cut")
            .unwrap();
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got).await;
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&got[..got.len().min(200)])
        );
        assert!(got.len() < size, "the whole file went out: not cut");
    }
}
