//! Owns the HTTP/1.1 client that calls LiveAgent: its connection pool, writing a request,
//! reading a response head and its body, over any async stream. New connections come from a
//! [`Dial`]: `wire`'s TCP and TLS in the gateway, in-memory streams in tests.
//!
//! Not pingora's `Connector`: per request it builds two header maps, checks every reused
//! socket with a `getpeername` call, and spawns a task to watch each connection it pools. At
//! the gateway's request sizes that was the largest share of its own CPU (BENCHMARKS.md).

use super::deadline::Deadline;
use crate::forward::UpstreamError;
use crate::http1::{self, Body, Fields, Framing, ResponseHead};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Makes new connections to LiveAgent.
pub trait Dial: Send + Sync {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;
    /// Where to connect.
    type Peer: Sync;
    fn dial(&self, peer: &Self::Peer) -> impl Future<Output = Result<Self::Stream, UpstreamError>> + Send;
}

/// Informational (1xx) answers skipped before the real one.
const MAX_INFORMATIONAL: usize = 4;
/// Room made for each read of a response head.
const HEAD_READ: usize = 4096;
/// Room made for each read of a body.
const BODY_READ: usize = 64 * 1024;

/// Why an exchange failed, and whether trying again on a new connection is safe: only when
/// a pooled connection turned out closed before any byte of an answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failure {
    fault: UpstreamError,
    retry: bool,
}

impl Failure {
    fn new(fault: UpstreamError) -> Self {
        Failure { fault, retry: false }
    }
}

/// A connection to LiveAgent with its read buffer and its timer, in the pool or in use.
struct Link<S> {
    stream: S,
    deadline: Deadline,
    /// Bytes read past what has been handed out; empty in the pool.
    buf: BytesMut,
    peer: u64,
    /// When it went into the pool.
    since: Instant,
    /// How long it may wait there: below LiveAgent's own idle limit, so the server does not
    /// close it just as a request is written (which could then not be sent again safely).
    ttl: Duration,
}

impl<S> Link<S> {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < self.ttl
    }
}

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The head, ending with its blank line.
    pub head: &'a [u8],
    pub body: &'a [u8],
    /// A HEAD request: the answer has no body whatever its head says.
    pub head_request: bool,
    /// Whether the method is idempotent, so the request may be sent again after LiveAgent
    /// may have seen it (RFC 9110 §9.2.2). A request none of which was written may always be.
    pub replayable: bool,
    /// How long each read and write may wait.
    pub timeout: Duration,
}

/// Keep-alive connections to LiveAgent, most recently used first out.
pub struct Pool<D: Dial> {
    dialer: D,
    idle: Mutex<VecDeque<Link<D::Stream>>>,
    max_idle: usize,
}

impl<D: Dial> Pool<D> {
    /// A pool keeping at most `max_idle` idle connections.
    pub fn new(dialer: D, max_idle: usize) -> Self {
        Pool { dialer, idle: Mutex::new(VecDeque::new()), max_idle: max_idle.max(1) }
    }

    /// A pooled connection to `peer` that is still open, else a new one; true when pooled.
    async fn connect(&self, peer: &D::Peer, key: u64, pooled: bool, now: Instant) -> Result<(Link<D::Stream>, bool), Failure> {
        while let Some(mut idle) = if pooled { self.take(key, now) } else { None } {
            if still_open(&mut idle.stream) {
                return Ok((idle, true));
            }
        }
        let stream = self.dialer.dial(peer).await.map_err(Failure::new)?;
        let link = Link {
            stream,
            deadline: Deadline::default(),
            buf: BytesMut::with_capacity(HEAD_READ),
            peer: key,
            since: now,
            ttl: Duration::ZERO,
        };
        Ok((link, false))
    }

    fn take(&self, key: u64, now: Instant) -> Option<Link<D::Stream>> {
        let mut idle = self.idle.lock().ok()?;
        // Newest first: the one least likely to have been closed by the server meanwhile.
        // Older ones of the same peer stay; those of another peer (before a reload) go.
        while let Some(entry) = idle.pop_back() {
            if entry.peer == key && entry.fresh(now) {
                return Some(entry);
            }
        }
        None
    }

    fn put(&self, mut conn: Link<D::Stream>, now: Instant) {
        let Ok(mut idle) = self.idle.lock() else { return };
        // The oldest are at the front: drop the expired and, when full, the oldest of all.
        while idle.front().is_some_and(|e| !e.fresh(now)) || idle.len() >= self.max_idle {
            idle.pop_front();
        }
        conn.since = now;
        idle.push_back(conn);
    }

    /// Sends one request and reads the response head. A pooled connection found closed before
    /// any answer is tried again once on a new connection, when that is safe: none of the
    /// request was written, or it is replayable (RFC 9112 §9.3.1.1; Go's net/http decides so).
    /// `now`: the caller's clock reading, for the pool's idle limit (one read fewer per request).
    /// `key`: `peer`'s `reuse_hash`, worked out once per configuration.
    pub async fn exchange(&self, peer: &D::Peer, key: u64, call: Call<'_>, now: Instant) -> Result<Response<D::Stream>, UpstreamError> {
        let mut fault = UpstreamError::Connect;
        for attempt in 0..2 {
            // The retry goes to a new connection: the pool may hold more that the server closed.
            let (conn, pooled) = self.connect(peer, key, attempt == 0, now).await.map_err(|f| f.fault)?;
            match attempt_once(conn, call).await {
                Ok(response) => return Ok(response),
                Err(f) if f.retry && pooled && attempt == 0 => fault = f.fault,
                Err(f) => return Err(f.fault),
            }
        }
        Err(fault)
    }

    /// Returns the connection of a fully read response to the pool, when it can be reused;
    /// `now` is when its body ended. It may wait there `idle_limit`, or less when LiveAgent's
    /// `Keep-Alive: timeout=` says it closes sooner (one second of margin).
    pub fn release(&self, response: Response<D::Stream>, now: Instant, idle_limit: Duration) {
        let server_limit = response.headers.get("keep-alive").and_then(|v| http1::keep_alive_timeout(v.as_bytes()));
        let ttl = server_limit.map_or(idle_limit, |t| idle_limit.min(t.saturating_sub(Duration::from_secs(1))));
        if response.body.reusable() && response.keep_alive && response.conn.buf.is_empty() && !ttl.is_zero() {
            let mut conn = response.conn;
            conn.ttl = ttl;
            // A response read in one go left the buffer as it was made; one read into more
            // than once may hold a body-sized allocation, which an idle connection must not.
            if response.reads > 1 {
                conn.buf = BytesMut::new();
            }
            self.put(conn, now);
        }
    }
}

async fn attempt_once<S: AsyncRead + AsyncWrite + Unpin>(mut conn: Link<S>, call: Call<'_>) -> Result<Response<S>, Failure> {
    let (timeout, head_request) = (call.timeout, call.head_request);
    let mut reads = 0;
    let mut written = 0;
    let stream = &mut conn.stream;
    let write = async {
        write_counted(stream, call.head, &mut written).await?;
        write_counted(stream, call.body, &mut written).await?;
        stream.flush().await
    };
    match conn.deadline.limit(timeout, write).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Failure { fault: UpstreamError::Connect, retry: written == 0 || call.replayable }),
        Err(_) => return Err(Failure::new(UpstreamError::Timeout)),
    }
    // From here LiveAgent may have read the request: only a replayable one goes again.
    let once = |f: Failure| Failure { retry: f.retry && call.replayable, ..f };
    for informational in 0..=MAX_INFORMATIONAL {
        let head = read_head(&mut conn, timeout, informational > 0, &mut reads).await.map_err(once)?;
        match head.status {
            // The gateway never asks for a protocol switch, so none can be valid.
            101 => return Err(Failure::new(UpstreamError::InvalidResponse)),
            100..=199 => continue,
            _ => {}
        }
        let framing = Framing::for_response(head.status, head_request, head.fields.iter())
            .map_err(|_| Failure::new(UpstreamError::InvalidResponse))?;
        return Ok(Response {
            status: head.status,
            headers: head.fields,
            keep_alive: head.keep_alive,
            body: Body::new(framing),
            conn,
            timeout,
            reads,
        });
    }
    Err(Failure::new(UpstreamError::InvalidResponse))
}

/// Writes `bytes` whole, counting in `written` what the stream took.
async fn write_counted<S: AsyncWrite + Unpin>(stream: &mut S, mut bytes: &[u8], written: &mut usize) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = stream.write(bytes).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        *written += n;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Reads until `buf` starts with a whole response head, and takes it off `buf`. `answered`:
/// an informational head came before, so the server has seen the request.
/// `reads` counts the reads made.
async fn read_head<S: AsyncRead + Unpin>(
    conn: &mut Link<S>,
    timeout: Duration,
    answered: bool,
    reads: &mut u32,
) -> Result<ResponseHead, Failure> {
    loop {
        let buf = &mut conn.buf;
        if !buf.is_empty() {
            match ResponseHead::parse(buf) {
                Ok(Some((head, len))) => {
                    buf.advance(len);
                    return Ok(head);
                }
                Ok(None) => {}
                Err(_) => return Err(Failure::new(UpstreamError::InvalidResponse)),
            }
        }
        let got_nothing = !answered && buf.is_empty();
        match read_more(conn, HEAD_READ, timeout, reads).await {
            Ok(0) if got_nothing => return Err(Failure { fault: UpstreamError::Connect, retry: true }),
            Ok(0) => return Err(Failure::new(UpstreamError::InvalidResponse)),
            Ok(_) => {}
            Err(f) if got_nothing && f.fault == UpstreamError::Connect => return Err(Failure { retry: true, ..f }),
            Err(f) => return Err(f),
        }
    }
}

/// Reads what is available into the connection's buffer (room for `want` bytes at least),
/// waiting at most `timeout`; 0 at end of stream. `reads` counts the reads made.
async fn read_more<S: AsyncRead + Unpin>(conn: &mut Link<S>, want: usize, timeout: Duration, reads: &mut u32) -> Result<usize, Failure> {
    *reads += 1;
    conn.buf.reserve(want);
    match conn.deadline.limit(timeout, conn.stream.read_buf(&mut conn.buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(_)) => Err(Failure::new(UpstreamError::Connect)),
        Err(_) => Err(Failure::new(UpstreamError::Timeout)),
    }
}

/// Whether a pooled connection can take a request: nothing must be readable on it. Readable
/// means the server closed it or sent bytes nobody asked for; either way it is not reused.
fn still_open<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut byte = [0u8; 1];
    let mut probe = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    matches!(Pin::new(stream).poll_read(&mut cx, &mut probe), Poll::Pending)
}

/// A response whose head has been read; its body is read with [`Response::chunk`].
pub struct Response<S> {
    pub status: u16,
    pub headers: Fields,
    keep_alive: bool,
    body: Body,
    conn: Link<S>,
    timeout: Duration,
    /// Reads made for this response, head and body.
    reads: u32,
}

impl<S: AsyncRead + Unpin> Response<S> {
    /// The body's length when LiveAgent framed it by length (0 when it has none).
    pub fn length(&self) -> Option<u64> {
        self.body.length_left()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Whether the whole body has been read (an answer with none has).
    pub fn ended(&self) -> bool {
        self.body.done()
    }

    /// The next piece of the body, or `None` after its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        loop {
            match self.body.next(&mut self.conn.buf) {
                Ok(Some(piece)) => return Ok(Some(piece)),
                Ok(None) if self.body.done() => return Ok(None),
                Ok(None) => {}
                Err(_) => return Err(UpstreamError::InvalidResponse),
            }
            match read_more(&mut self.conn, BODY_READ, self.timeout, &mut self.reads).await {
                Ok(0) => return self.body.at_eof().map(|()| None).map_err(|_| UpstreamError::Connect),
                Ok(_) => {}
                Err(f) => return Err(f.fault),
            }
        }
    }

    /// The whole body, up to `max` bytes. A body of known length is read into one buffer
    /// of its size, so it is never copied.
    pub async fn read_all(&mut self, max: usize) -> Result<Bytes, UpstreamError> {
        if let Some(left) = self.body.length_left() {
            let left = usize::try_from(left).ok().filter(|&n| n <= max).ok_or(UpstreamError::TooLarge)?;
            while self.conn.buf.len() < left {
                let want = left - self.conn.buf.len();
                if read_more(&mut self.conn, want, self.timeout, &mut self.reads).await.map_err(|f| f.fault)? == 0 {
                    return Err(UpstreamError::Connect);
                }
            }
        }
        let (mut pieces, mut total) = (Vec::new(), 0);
        while let Some(piece) = self.chunk().await? {
            total += piece.len();
            if total > max {
                return Err(UpstreamError::TooLarge);
            }
            pieces.push(piece);
        }
        // One piece (always, for a known length) is handed over as it is.
        Ok(match <[Bytes; 1]>::try_from(pieces) {
            Ok([only]) => only,
            Err(pieces) => pieces.concat().into(),
        })
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
