//! Owns the connection loop: pingora hands each client connection to [`Gateway`], whose
//! [`serve`] reads the requests off it one at a time (keep-alive, pipelining), runs each through
//! `exchange`, and closes the connection when the client or the shutdown says so.

use super::conn::{Conn, Next};
use super::exchange;
use super::state::Shared;
use super::tls::Tls;
use crate::metrics::LastHandles;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

pub struct Gateway {
    pub shared: Arc<Shared>,
    /// The TLS listener's port and handshake, when `listen_tls` is set: connections that
    /// arrive on that port shake hands first.
    pub tls: Option<Tls>,
}

/// After shutdown starts, how long an idle keep-alive connection still waits for a request
/// that may already be on its way.
pub const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

#[async_trait]
impl ServerApp for Gateway {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let client_ip = stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        // The port is asked of the socket only when there is a TLS listener to tell apart.
        let local_port = || stream.get_socket_digest().and_then(|d| d.local_addr().and_then(|a| a.as_inet()).map(|a| a.port()));
        let tls = self.tls.as_ref().filter(|t| Some(t.port) == local_port()).cloned();
        let (shared, shutdown) = (self.shared.clone(), shutdown.clone());
        // A task of its own: pingora's per-connection task also holds its TLS handshake's
        // state (about 9 KB with the 60 s timeout around it) for as long as the connection
        // lives, which an idle keep-alive connection would then carry. Ours is the connection
        // loop alone (about 3 KB). Two kinds of task: one future for both would give every
        // plain connection the size of a TLS one (rustls' state, about 6 KB).
        match tls {
            Some(tls) => tokio::spawn(async move {
                if let Some(stream) = tls.handshake(&shared, stream).await {
                    accept(&shared, stream, client_ip, &shutdown).await;
                }
            }),
            None => tokio::spawn(async move { accept(&shared, stream, client_ip, &shutdown).await }),
        };
        None
    }
}

/// Takes a new client connection: served, or refused with a 503 when more are open than
/// `client.max_connections` allows.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    stream: S,
    client_ip: Option<IpAddr>,
    shutdown: &watch::Receiver<bool>,
) {
    let open = Open::count(shared);
    let client = shared.runtime.load().config.client;
    let conn = Conn::new(stream, client_ip, client);
    if open.0 > client.max_connections.unwrap_or(shared.fd_budget) {
        shared.metrics.connections_refused.inc();
        exchange::refuse_connection(conn).await;
    } else {
        serve(shared, conn, shutdown).await;
    }
}

/// One open client connection, counted while it lives.
struct Open<'a>(usize, &'a Shared);

impl<'a> Open<'a> {
    fn count(shared: &'a Shared) -> Self {
        let open = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
        shared.metrics.open_connections.inc();
        Open(open, shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.1.open.fetch_sub(1, Ordering::Relaxed);
        self.1.metrics.open_connections.dec();
    }
}

/// Serves every request of one connection until it closes. `shutdown` turns true when the
/// process starts to stop.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(shared: &Shared, mut conn: Conn<S>, shutdown: &watch::Receiver<bool>) {
    let mut idle_since = None;
    let mut down = Some(shutdown_wait(shutdown));
    let mut handles = LastHandles::default();
    loop {
        let bad = match next_request(&mut conn, idle_since, &mut down).await {
            Next::Request => false,
            Next::Bad => true,
            Next::Closed => return,
        };
        if *shutdown.borrow() {
            // Answer this request, then close: the process is going away.
            conn.close_after();
        }
        // Not boxed: the request-handling state is about 2 KB since the rare large parts
        // (a new upstream connection, a Redis round trip) are boxed where they happen.
        match exchange::run(shared, &mut conn, bad, &mut handles).await {
            Some(ended) => idle_since = Some(ended),
            None => return,
        }
    }
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Ends when shutdown starts. Set up once per connection and kept armed while it serves,
/// instead of a registration per request.
fn shutdown_wait(shutdown: &watch::Receiver<bool>) -> Wait {
    let mut watch = shutdown.clone();
    // The watch's guard is dropped at once: it must not be held.
    Box::pin(async move { drop(watch.wait_for(|down| *down).await) })
}

/// Waits for the next request; `idle_since`: when the previous answer ended (`None` on a
/// fresh connection). A fresh connection always gets its first request read and answered; an
/// idle keep-alive connection still gets `SHUTDOWN_LINGER` after shutdown starts for a request
/// already on its way, then closes. (pingora's proxy service drops both at once, which resets
/// requests that arrive just as an old process hands its sockets over during an upgrade.)
/// `down` is `None` once shutdown has started.
async fn next_request<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, idle_since: Option<Instant>, down: &mut Option<Wait>) -> Next {
    let Some(since) = idle_since else {
        return conn.next_request(Instant::now()).await;
    };
    // One read future throughout, so bytes it has buffered are never lost.
    let read = conn.next_request(since);
    tokio::pin!(read);
    if let Some(wait) = down.as_mut() {
        tokio::select! {
            biased;
            r = &mut read => return r,
            () = wait.as_mut() => *down = None,
        }
    }
    // Shutdown is rare: a tokio timer is fine here.
    tokio::time::timeout(SHUTDOWN_LINGER, &mut read).await.unwrap_or(Next::Closed)
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
