//! A TLS front for tests: a head office behind HTTPS. A test CA issues
//! server certificates (rcgen); [`TlsFront`] listens on loopback with one of
//! them (tokio-rustls) and forwards each connection's bytes to a backend
//! port, trytond's, which itself speaks plain HTTP.
//!
//! To test refusals, the front can present what a client must not accept:
//! a certificate from another CA ([`TestCa::new`] again), a self-signed one
//! ([`ServerCert::self_signed`]), one for another name, or an expired one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority for tests, like a head office's own CA.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

impl TestCa {
    /// A new CA with a new key and its own name: every one is a stranger
    /// to the others.
    pub fn new() -> TestCa {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Outpost test CA {}-{n}", std::process::id()),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate, PEM: what an upstream file's `ca_file` holds.
    pub fn pem(&self) -> String {
        self.pem.clone()
    }

    /// A server certificate for `names` (IP literals such as `127.0.0.1`,
    /// or DNS names), valid from 1975 to 4096.
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        let (params, key) = server_params(names);
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        ServerCert::new(cert.der().clone(), &key)
    }

    /// A server certificate for `names` that expired at the end of 2021.
    pub fn issue_expired(&self, names: &[&str]) -> ServerCert {
        let (mut params, key) = server_params(names);
        params.not_before = rcgen::date_time_ymd(2021, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 12, 31);
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        ServerCert::new(cert.der().clone(), &key)
    }
}

fn server_params(names: &[&str]) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, names.join(" "));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (params, key)
}

/// What a server presents: its certificate and key.
pub struct ServerCert {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl ServerCert {
    fn new(cert: CertificateDer<'static>, key: &KeyPair) -> ServerCert {
        ServerCert {
            cert,
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// A certificate for `names` that signs itself, vouched for by no CA.
    pub fn self_signed(names: &[&str]) -> ServerCert {
        let (params, key) = server_params(names);
        let cert = params.self_signed(&key).expect("self-sign");
        ServerCert::new(cert.der().clone(), &key)
    }
}

/// A TLS listener on loopback in front of `backend`. Stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Listens on a free loopback port, presents `cert`, and forwards each
    /// connection that completes the handshake to `backend`.
    pub async fn start(backend: SocketAddr, cert: ServerCert) -> std::io::Result<TlsFront> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(vec![cert.cert], cert.key)
            })
            .map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake ends here: the client saw why.
                    let Ok(mut tls) = acceptor.accept(conn).await else {
                        return;
                    };
                    let Ok(mut back) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                });
            }
        });
        Ok(TlsFront { addr, task })
    }

    /// `https://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
