//! HTTP for the connectors: one client, answers asked gzipped and inflated
//! here (reqwest's own gzip would hide the compressed size), large request
//! bodies gzipped where the server takes them, and every byte counted as it
//! crossed the uplink: bodies as sent and received plus their headers.
//!
//! HTTPS is verified, always: rustls (on ring) checks the head office's
//! certificate chain and name against Mozilla's roots, or against the
//! private CA of the upstream file's `ca_file` instead. There is no switch
//! that turns the check off. A refused certificate is said in words (which
//! check failed, what to do) and classed [`ErrorClass::Rejected`]: it will
//! not fix itself in five seconds like a dropped link.
//!
//! An answer may take at most [`MAX_WIRE_BYTES`] on the wire and inflate to
//! at most [`MAX_INFLATED_BYTES`]: a broken or hostile server must not eat
//! the office's memory or its metered uplink.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::CertificateError;

use crate::config::UpstreamConfig;
use crate::connector::{ErrorClass, SyncError, Traffic};

/// How long one call may take on a slow uplink before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Request bodies longer than this go gzipped (when the server takes it).
pub const GZIP_FROM: usize = 1400;
/// The most one answer may take on the wire. A page of `batch_size` (at
/// most 5000) records is a few MiB even uncompressed; 64 MiB is far past
/// any honest answer and still fits in memory on an office PC.
pub const MAX_WIRE_BYTES: u64 = 64 << 20;
/// The most a gzipped answer may inflate to. JSON compresses about tenfold,
/// so an honest 64 MiB on the wire would not need more than this; a gzip
/// bomb (a few KiB of zeros that inflate to gigabytes) stops here.
pub const MAX_INFLATED_BYTES: u64 = 256 << 20;

/// The two caps on an answer (smaller in the tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    wire: u64,
    inflated: u64,
}

const LIMITS: Limits = Limits {
    wire: MAX_WIRE_BYTES,
    inflated: MAX_INFLATED_BYTES,
};

pub struct Http {
    client: reqwest::Client,
    /// The server's name in messages ("Tryton").
    server: &'static str,
    /// Its address in messages.
    url: String,
    sent: AtomicU64,
    received: AtomicU64,
    limits: Limits,
}

impl Http {
    /// The client for the head office of `config`: its URL, and its
    /// `ca_file` certificates if it gave one.
    pub fn new(server: &'static str, config: &UpstreamConfig) -> Result<Http, SyncError> {
        Http::with(server, &config.url, &config.ca, LIMITS)
    }

    fn with(
        server: &'static str,
        url: &str,
        ca: &[CertificateDer<'static>],
        limits: Limits,
    ) -> Result<Http, SyncError> {
        let broken = |e: String| {
            SyncError::new(
                ErrorClass::Rejected,
                format!("cannot set up the HTTP client for {server}: {e}"),
            )
        };
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .tls_backend_preconfigured(tls_config(ca).map_err(broken)?)
            .build()
            .map_err(|e| broken(e.to_string()))?;
        Ok(Http {
            client,
            server,
            url: url.to_string(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            limits,
        })
    }

    /// Sends one request and returns the status and the (inflated) body.
    /// A failure to reach the server or a cut answer is retryable; a
    /// refused certificate or an answer past a cap is rejected.
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
        let mut resp = req.send().await.map_err(|e| match tls_refusal(&e) {
            Some((class, why)) => {
                SyncError::new(class, format!("{} at {}: {why}", self.server, self.url))
            }
            None => SyncError::new(
                ErrorClass::Retryable,
                format!(
                    "cannot reach {} at {}: {}",
                    self.server,
                    self.url,
                    cause(&e)
                ),
            ),
        })?;
        let status = resp.status().as_u16();
        let head: usize = 17
            + resp
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>();
        self.received.fetch_add(head as u64, Ordering::Relaxed);
        let too_big = || {
            SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "the answer from {} is larger than {} MiB, the most Outpost reads in one answer; lower batch_size in the upstream file",
                    self.server,
                    self.limits.wire >> 20
                ),
            )
        };
        if resp.content_length().is_some_and(|n| n > self.limits.wire) {
            return Err(too_big());
        }
        // Read chunk by chunk, counting, so an answer with no length (or a
        // false one) stops at the cap instead of filling memory.
        let mut bytes = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| {
                SyncError::new(
                    ErrorClass::Retryable,
                    format!("the answer from {} was cut: {}", self.server, cause(&e)),
                )
            })?;
            let Some(chunk) = chunk else { break };
            self.received
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if (bytes.len() + chunk.len()) as u64 > self.limits.wire {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        // By its magic bytes, not the header: Tryton's header can say gzip
        // over a plain body.
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Ok((status, bytes));
        }
        let cap = self.limits.inflated;
        let mut out = Vec::with_capacity((bytes.len() * 8).min(cap as usize));
        flate2::read::GzDecoder::new(&bytes[..])
            .take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                SyncError::new(
                    ErrorClass::Retryable,
                    format!("the answer from {} was cut (gzip: {e})", self.server),
                )
            })?;
        if out.len() as u64 > cap {
            return Err(SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "the answer from {} inflates to more than {} MiB, the most Outpost unpacks from one answer; lower batch_size in the upstream file",
                    self.server,
                    cap >> 20
                ),
            ));
        }
        Ok((status, out))
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

/// The TLS settings: ring, TLS 1.2 and 1.3, and the roots to trust.
///
/// Without `ca_file`: Mozilla's roots as compiled in (webpki-roots), not
/// the computer's own store. An outpost is often a minimal or long-unkept
/// machine whose store may be missing or hold a stranger's interception CA;
/// the bundled roots behave the same on every office machine and in the
/// tests, and are renewed with each Outpost release. A head office behind
/// its own CA says so in `ca_file`.
///
/// With `ca_file`: only its certificates. That CA is who vouches for this
/// head office; a public CA should not be able to stand in for it.
pub fn tls_config(ca: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if ca.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for cert in ca {
            roots.add(cert.clone()).map_err(|e| e.to_string())?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of a `ca_file` (PEM), checked to be usable as roots;
/// the error says what is wrong with the file.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text =
        std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_file {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "ca_file {} holds no certificate (a PEM block that starts with -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "ca_file {} holds a certificate that cannot be used as a CA: {e}",
                path.display()
            )
        })?;
    }
    Ok(certs)
}

/// If the call failed in TLS (rustls said why), the class and the reason
/// in words a person can act on.
///
/// Found by walking the error's sources down to rustls's error. An
/// `io::Error` hides the error it wraps from `source()` (it answers with
/// that error's own source, and hyper-rustls nests two), so the walk goes
/// through `get_ref` there.
fn tls_refusal(e: &(dyn std::error::Error + 'static)) -> Option<(ErrorClass, String)> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(explain(tls));
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

fn explain(e: &rustls::Error) -> (ErrorClass, String) {
    use ErrorClass::{Rejected, Retryable};
    let untrusted = "the head office's certificate is not trusted";
    let said = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => format!(
                "{untrusted}: it is signed by an unknown authority (or by itself); if your head office uses its own CA, give that CA's certificate in ca_file"
            ),
            CertificateError::NotValidForName => format!(
                "{untrusted}: the certificate is for another name than the one in url"
            ),
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "{untrusted}: the certificate is for another name: {} is not among {}; put a name the certificate holds in url, or have a certificate made for this one",
                expected.to_str(),
                presented.iter().map(|p| bare_name(p)).collect::<Vec<_>>().join(", ")
            ),
            CertificateError::Expired => format!("{untrusted}: it has expired; renew it at the head office"),
            CertificateError::ExpiredContext { time, not_after } => format!(
                "{untrusted}: it expired on {}; renew it at the head office (or, if that date is still to come, set this computer's clock: it says {})",
                date(*not_after),
                date(*time)
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
                "{untrusted}: it is not valid yet; check this computer's clock"
            ),
            CertificateError::Revoked => format!("{untrusted}: it was revoked"),
            CertificateError::BadSignature => format!(
                "{untrusted}: its signature does not match the CA it names; if that CA is in ca_file, ca_file may hold an older certificate of it (the CA was renewed), or someone else is answering"
            ),
            other => format!("{untrusted}: {other}"),
        },
        // A server that answers in plain HTTP on an https:// URL.
        rustls::Error::InvalidMessage(_) => format!(
            "the head office did not answer in TLS ({e}); is its url http:// rather than https://?"
        ),
        rustls::Error::AlertReceived(_)
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::NoCertificatesPresented => {
            format!("the head office refused the secure connection: {e}")
        }
        // The rest (a record that fails to decrypt, ...) can be the link.
        other => return (Retryable, format!("the secure connection failed: {other}")),
    };
    (Rejected, said)
}

/// `hq.example.org` from rustls's `DnsName("hq.example.org")`.
fn bare_name(presented: &str) -> &str {
    match (presented.find('('), presented.rfind(')')) {
        (Some(a), Some(b)) if a < b => presented[a + 1..b].trim_matches('"'),
        _ => presented,
    }
}

/// A certificate date as `2026-05-01 12:00 UTC`.
fn date(t: rustls::pki_types::UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{} s after 1970", t.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SMALL: Limits = Limits {
        wire: 1 << 20,
        inflated: 4 << 20,
    };

    /// A server on loopback that answers every request with `head` (status
    /// line and headers, without the blank line) and `body`, then closes.
    async fn serve(head: &'static str, body: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = conn.write_all(format!("{head}\r\n\r\n").as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        format!("http://{addr}/")
    }

    async fn get(url: &str, limits: Limits) -> Result<(u16, Vec<u8>), SyncError> {
        let http = Http::with("Tryton", url, &[], limits).unwrap();
        http.send(reqwest::Method::GET, url, &[], None, false).await
    }

    #[tokio::test]
    async fn an_answer_over_the_wire_cap_is_refused_with_the_limit() {
        let big = vec![b'x'; (SMALL.wire + 1) as usize];
        // Said up front by Content-Length...
        let url = serve("HTTP/1.1 200 OK\r\nContent-Length: 1048577", big.clone()).await;
        let err = get(&url, SMALL).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Rejected, "{err}");
        assert!(err.message.contains("larger than 1 MiB"), "{err}");
        assert!(err.message.contains("batch_size"), "{err}");
        // ... or not (read until the connection closes): stopped while read.
        let url = serve("HTTP/1.1 200 OK\r\nConnection: close", big).await;
        let err = get(&url, SMALL).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Rejected, "{err}");
        assert!(err.message.contains("larger than 1 MiB"), "{err}");
        // Exactly at the cap passes.
        let url = serve(
            "HTTP/1.1 200 OK\r\nConnection: close",
            vec![b'x'; SMALL.wire as usize],
        )
        .await;
        let (status, body) = get(&url, SMALL).await.unwrap();
        assert_eq!((status, body.len()), (200, SMALL.wire as usize));
    }

    #[tokio::test]
    async fn a_gzip_bomb_is_refused_with_the_limit() {
        // 64 MiB of zeros in about 64 KiB: far under the wire cap.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!((bomb.len() as u64) < SMALL.wire, "{}", bomb.len());
        let url = serve("HTTP/1.1 200 OK\r\nContent-Encoding: gzip", bomb).await;
        let err = get(&url, SMALL).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Rejected, "{err}");
        assert!(err.message.contains("more than 4 MiB"), "{err}");
        // An honest gzipped answer under the cap is inflated.
        let json = br#"{"id": 1, "result": [1, 2, 3]}"#.repeat(1000);
        let url = serve("HTTP/1.1 200 OK\r\nContent-Encoding: gzip", gzip(&json)).await;
        let (_, body) = get(&url, SMALL).await.unwrap();
        assert_eq!(body, json);
    }
}
