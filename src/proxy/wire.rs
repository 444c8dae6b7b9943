//! Owns making connections to LiveAgent ([`Dialer`]) and a connection as bytes ([`Wire`]): a
//! plain tokio TCP socket for an http upstream, pingora's stream (its TLS) for an https one.
//!
//! Not pingora's stream for plain TCP: it reads the clock twice for every read or write that
//! has to wait, to account the time, and nothing here reads that account.

use super::client::Dial;
use crate::forward::UpstreamError;
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::protocols::Stream;
use pingora::upstreams::peer::{HttpPeer, Peer};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum Wire {
    Tcp(TcpStream),
    Tls(Stream),
}

/// Without a configured limit, how long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes connections with pingora's connector (TCP and TLS set-up, its CA roots).
pub struct Dialer(TransportConnector);

impl Dialer {
    pub fn new(options: ConnectorOptions) -> Self {
        Dialer(TransportConnector::new(Some(options)))
    }
}

impl Dial for Dialer {
    type Stream = Wire;
    type Peer = HttpPeer;

    fn dial(&self, peer: &HttpPeer) -> impl std::future::Future<Output = Result<Wire, UpstreamError>> + Send {
        connect(&self.0, peer)
    }
}

/// A new connection to `peer`.
async fn connect(transport: &TransportConnector, peer: &HttpPeer) -> Result<Wire, UpstreamError> {
    if peer.tls() {
        // Boxed: connecting through TLS takes about 8 KB of state, and without a box every
        // request would carry room for it though most take a pooled connection.
        return Box::pin(transport.new_stream(peer)).await.map(Wire::Tls).map_err(|e| classify(&e));
    }
    let addr = peer.address().as_inet().ok_or(UpstreamError::Connect)?;
    let limit = peer.connection_timeout().unwrap_or(CONNECT_TIMEOUT);
    let tcp = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        _ => return Err(UpstreamError::Connect),
    };
    // Requests are written whole: nothing is gained by holding a small one back.
    tcp.set_nodelay(true).map_err(|_| UpstreamError::Connect)?;
    Ok(Wire::Tcp(tcp))
}

fn classify(e: &pingora::Error) -> UpstreamError {
    use pingora::ErrorType;
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => UpstreamError::Timeout,
        _ => UpstreamError::Connect,
    }
}

impl AsyncRead for Wire {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_flush(cx),
            Wire::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
