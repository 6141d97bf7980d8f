//! HTTP for the connectors: one client, answers asked gzipped and inflated
//! here (reqwest's own gzip would hide the compressed size), large request
//! bodies gzipped where the server takes them, and every byte counted as it
//! crossed the uplink: bodies as sent and received plus their headers.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::connector::{ErrorClass, SyncError, Traffic};

/// How long one call may take on a slow uplink before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Request bodies longer than this go gzipped (when the server takes it).
pub const GZIP_FROM: usize = 1400;

pub struct Http {
    client: reqwest::Client,
    /// The server's name in messages ("Tryton").
    server: &'static str,
    /// Its address in messages.
    url: String,
    sent: AtomicU64,
    received: AtomicU64,
}

impl Http {
    pub fn new(server: &'static str, url: &str) -> Result<Http, SyncError> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| SyncError::new(ErrorClass::Retryable, e.to_string()))?;
        Ok(Http {
            client,
            server,
            url: url.to_string(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        })
    }

    /// Sends one request and returns the status and the (inflated) body.
    /// A failure to reach the server or a cut answer is retryable.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        gzip_body: bool,
    ) -> Result<(u16, Vec<u8>), SyncError> {
        let mut req = self
            .client
            .request(method.clone(), url)
            // Always: Tryton says gzip for large answers whether asked or
            // not, and streams one chunk per token when not asked.
            .header("Accept-Encoding", "gzip");
        // Request line, Host and the header above.
        let mut head = method.as_str().len() + url.len() + 50;
        for (k, v) in headers {
            req = req.header(*k, *v);
            head += k.len() + v.len() + 4;
        }
        let mut size = 0;
        if let Some(mut b) = body {
            if gzip_body && b.len() > GZIP_FROM {
                b = gzip(&b);
                req = req.header("Content-Encoding", "gzip");
                head += 24;
            }
            head += 20 + b.len().to_string().len(); // Content-Length
            size = b.len();
            req = req.body(b);
        }
        self.sent.fetch_add((head + size) as u64, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| {
            SyncError::new(
                ErrorClass::Retryable,
                format!(
                    "cannot reach {} at {}: {}",
                    self.server,
                    self.url,
                    cause(&e)
                ),
            )
        })?;
        let status = resp.status().as_u16();
        let head: usize = 17
            + resp
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>();
        let bytes = resp.bytes().await.map_err(|e| {
            SyncError::new(
                ErrorClass::Retryable,
                format!("the answer from {} was cut: {}", self.server, cause(&e)),
            )
        })?;
        self.received
            .fetch_add((head + bytes.len()) as u64, Ordering::Relaxed);
        // By its magic bytes, not the header: Tryton's header can say gzip
        // over a plain body.
        let body = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::with_capacity(bytes.len() * 8);
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .map_err(|e| {
                    SyncError::new(
                        ErrorClass::Retryable,
                        format!("the answer from {} was cut (gzip: {e})", self.server),
                    )
                })?;
            out
        } else {
            bytes.to_vec()
        };
        Ok((status, body))
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// The innermost cause of an HTTP failure ("Connection refused"), which
/// says more than reqwest's outer "error sending request".
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    if std::ptr::eq(inner as *const _ as *const u8, e as *const _ as *const u8) {
        e.to_string()
    } else {
        format!("{e} ({inner})")
    }
}
