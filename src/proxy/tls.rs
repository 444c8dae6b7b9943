//! Owns TLS for clients: the rustls server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`,
//! the ring provider used across the tree) and the handshake, after which a connection is
//! served exactly as a plain one is.
//!
//! The certificate is looked up per handshake in the running configuration, so a reload with
//! a renewed certificate (the reloader watches its files) applies to the next handshake while
//! open connections keep theirs: no connection is dropped. The handshake runs in the
//! connection's own task and is bounded by `client.header_timeout`, so a client that opens a
//! connection and stalls holds it no longer than one that stalls in a request head.

use super::state::Shared;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

/// The TLS side of the client listeners: which port it is, and its handshake.
#[derive(Clone)]
pub struct Tls {
    pub port: u16,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Tls {
    pub fn new(shared: Arc<Shared>, port: u16) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(FromRuntime(shared)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { port, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }

    /// Shakes hands; the encrypted stream, to be served as a plain one is, or `None` when the
    /// handshake failed or timed out.
    pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(&self, shared: &Shared, stream: S) -> Option<TlsStream<S>> {
        let limit = shared.runtime.load().config.client.header;
        let shaken = tokio::time::timeout(limit, self.acceptor.accept(stream)).await.ok().and_then(Result::ok);
        if shaken.is_none() {
            // A port scanner, a plain-HTTP client, a client refusing the certificate: counted,
            // not logged line by line.
            shared.metrics.tls_handshake_failures.inc();
        }
        shaken
    }
}

/// The certificate of the configuration running now.
struct FromRuntime(Arc<Shared>);

impl std::fmt::Debug for FromRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromRuntime")
    }
}

impl ResolvesServerCert for FromRuntime {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.runtime.load().tls_key.clone()
    }
}
