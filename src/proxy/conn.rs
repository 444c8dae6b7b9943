//! Owns one client connection on the wire: reading its request heads and bodies, writing the
//! answers' bytes (a small answer and its head in one system call), keep-alive and timeouts,
//! over any async stream (pingora's, or an in-memory one in tests). What the bytes mean is
//! `http1`'s; which bytes an answer has is `respond`'s.
//!
//! Not pingora's HTTP session: per request it builds header maps for the request and the
//! answer, re-reads the clock for its timers and copies through its own buffers; that was
//! most of the gateway's own CPU on a small request (BENCHMARKS.md).

use super::deadline::Deadline;
use crate::config::ClientLimits;
use crate::http1::{self, Body, Framing, RequestHead};
use bytes::{Buf, BytesMut};
use pingora::protocols::http::date::get_cached_date;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Room made for an answer's head (and a small body) when it starts.
const OUT_START: usize = 2048;
/// Room made for a read into an empty buffer (a new request's head).
const IDLE_READ: usize = 512;
/// Room made for each further read from the client.
const READ_SIZE: usize = 4096;
/// How long, and how much, a refused connection is read after its answer (see `linger`):
/// long enough to take a request already sent, short, since refusals come in floods.
const LINGER: Duration = Duration::from_millis(50);
const LINGER_BYTES: usize = 64 * 1024;
/// How long a client may take to take an answer's bytes, each write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A body piece up to this size is copied behind what is pending (the head, say), for one
/// write; a larger one is written from where it is.
const COALESCE: usize = 16 * 1024;

/// Why a request could not be served to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request could not be read (cut short, badly framed, too slow).
    Request,
    /// Writing to the client failed or stalled; nothing more can be sent.
    Write,
}

/// What waiting for a request gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Request,
    /// The client closed the connection, went quiet, or stopped mid-head.
    Closed,
    /// A head that cannot be served (`http1::HeadError`); the connection closes after the
    /// answer, a 400 either way.
    Bad,
}

/// How an answer's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// As it is: its length is in the head already, or it has none.
    Sized,
    /// Length unknown: chunked, or until the connection closes for an HTTP/1.0 client.
    Unsized,
}

pub struct Conn<S> {
    stream: S,
    limits: ClientLimits,
    /// Every time limit of this connection's reads and writes.
    deadline: Deadline,
    buf: BytesMut,
    pub head: RequestHead,
    body: Body,
    out: Vec<u8>,
    keep_alive: bool,
    written: bool,
    dated: bool,
    chunked: bool,
    client_ip: Option<IpAddr>,
    /// `client_ip` as text, for `X-Forwarded-For`: written once per connection.
    client_ip_text: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// A connection from `client_ip` (the TCP peer; `None` for a Unix socket).
    pub fn new(stream: S, client_ip: Option<IpAddr>, limits: ClientLimits) -> Self {
        Conn {
            stream,
            limits,
            deadline: Deadline::default(),
            buf: BytesMut::new(),
            head: RequestHead::default(),
            body: Body::new(Framing::Empty),
            out: Vec::new(),
            keep_alive: true,
            written: false,
            dated: false,
            chunked: false,
            client_ip,
            client_ip_text: client_ip.map(|ip| ip.to_string()),
        }
    }

    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    pub fn client_ip_text(&self) -> Option<&str> {
        self.client_ip_text.as_deref()
    }

    /// Waits for the next request to start, up to the idle limit counted from `idle_since`,
    /// then for the rest of its head, up to the head limit counted from its first byte.
    pub async fn next_request(&mut self, idle_since: Instant) -> Next {
        let idle_due = idle_since + self.limits.idle;
        let mut head_due = None;
        self.written = false;
        loop {
            if !self.buf.is_empty() {
                match self.head.parse(&self.buf) {
                    Ok(Some(len)) => {
                        self.buf.advance(len);
                        return self.begin();
                    }
                    Ok(None) => {}
                    Err(_) => return self.bad(),
                }
            }
            // The clock is read only for a head that did not come whole in one read.
            let due = match self.buf.is_empty() {
                true => idle_due,
                false => *head_due.get_or_insert_with(|| Instant::now() + self.limits.header),
            };
            if !matches!(self.read_until(due).await, Ok(n) if n > 0) {
                return Next::Closed;
            }
        }
    }

    fn begin(&mut self) -> Next {
        match self.head.body() {
            Ok(framing) => {
                self.body = Body::new(framing);
                self.keep_alive = self.head.keep_alive();
                Next::Request
            }
            Err(_) => self.bad(),
        }
    }

    fn bad(&mut self) -> Next {
        // Where this request ends is unknown, so nothing after it can be read. The answer
        // must not follow an earlier request's head (a HEAD's, say, would lose its body).
        self.head = RequestHead::default();
        self.body = Body::new(Framing::Empty);
        self.keep_alive = false;
        Next::Bad
    }

    /// Reads more of a request, until `due` at the latest.
    async fn read_until(&mut self, due: Instant) -> Result<usize, Fault> {
        // Waiting for a request, the buffer is all an idle connection holds: room for a
        // whole ordinary head, not more.
        self.buf.reserve(if self.buf.is_empty() { IDLE_READ } else { READ_SIZE });
        match self.deadline.until(due, self.stream.read_buf(&mut self.buf)).await {
            Ok(Ok(n)) => Ok(n),
            _ => Err(Fault::Request),
        }
    }

    /// The whole request body; `None` when it is longer than `cap` (then the connection
    /// closes after the answer, since the rest of the body is not read).
    pub async fn read_body(&mut self, cap: usize) -> Result<Option<Vec<u8>>, Fault> {
        if self.body.done() {
            return Ok(Some(Vec::new()));
        }
        if self.body.length_left().is_some_and(|n| n > cap as u64) {
            return Ok(None);
        }
        if self.head.expects_continue() {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.write_out().await?;
        }
        let mut body = Vec::new();
        let mut body_due = None;
        loop {
            let need_more = match self.body.next(&mut self.buf) {
                Ok(Some(piece)) => {
                    body.extend_from_slice(&piece);
                    false
                }
                Ok(None) if self.body.done() => return Ok(Some(body)),
                Ok(None) => true,
                Err(_) => return Err(Fault::Request),
            };
            // Refused as soon as a chunk declares more than the cap allows, before its data.
            if body.len() as u64 + self.body.declared() > cap as u64 {
                return Ok(None);
            }
            if need_more {
                let due = *body_due.get_or_insert_with(|| Instant::now() + self.limits.body);
                if self.read_until(due).await? == 0 {
                    return Err(Fault::Request);
                }
            }
        }
    }

    /// Closes the connection after this answer.
    pub fn close_after(&mut self) {
        self.keep_alive = false;
    }

    /// Whether the answer's head has gone out (or is on its way).
    pub fn answered(&self) -> bool {
        self.written
    }

    /// Starts an answer's head.
    pub fn start(&mut self, status: u16) {
        self.written = true;
        self.dated = false;
        self.out.clear();
        // One allocation for a head and a small body, not a doubling per field.
        self.out.reserve(OUT_START);
        http1::status_line(&mut self.out, status);
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        self.dated |= name.eq_ignore_ascii_case(b"date");
        http1::field(&mut self.out, name, value);
    }

    /// Appends whole header lines that `lines` writes (fields the gateway makes itself, which
    /// need none of `header`'s checks).
    pub fn extend_head(&mut self, lines: impl FnOnce(&mut Vec<u8>)) {
        lines(&mut self.out);
    }

    /// Ends the head; the body follows with [`Conn::send`] and [`Conn::end`].
    pub fn end_head(&mut self, reply: Reply) {
        if !self.dated {
            self.header(b"Date", get_cached_date().as_bytes());
        }
        self.chunked = false;
        if reply == Reply::Unsized {
            if self.head.http10() {
                // No chunked coding in HTTP/1.0: the body ends with the connection.
                self.keep_alive = false;
            } else {
                self.chunked = true;
                self.out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        }
        // A request body left unread would be taken for the next request.
        self.keep_alive &= self.body.done();
        self.out.extend_from_slice(match (self.keep_alive, self.head.http10()) {
            (false, _) => b"Connection: close\r\n\r\n",
            (true, true) => b"Connection: keep-alive\r\n\r\n",
            (true, false) => b"\r\n",
        });
    }

    /// Sends a piece of the body (nothing, for an answer to HEAD).
    pub async fn send(&mut self, piece: &[u8]) -> Result<(), Fault> {
        if piece.is_empty() || self.head.is_head() {
            return Ok(());
        }
        if self.chunked {
            http1::chunk_start(&mut self.out, piece.len());
        }
        if self.out.len() + piece.len() <= COALESCE {
            self.out.extend_from_slice(piece);
        } else {
            self.write_out().await?;
            write_all(&mut self.deadline, &mut self.stream, piece).await?;
        }
        if self.chunked {
            self.out.extend_from_slice(b"\r\n");
        }
        self.write_out().await
    }

    /// Ends the answer.
    pub async fn end(&mut self) -> Result<(), Fault> {
        if self.chunked && !self.head.is_head() {
            self.out.extend_from_slice(http1::LAST_CHUNK);
        }
        self.write_out().await
    }

    async fn write_out(&mut self) -> Result<(), Fault> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = write_all(&mut self.deadline, &mut self.stream, &self.out).await;
        self.out.clear();
        result
    }

    /// Closes after an answer given before the request was read: the write side first, then
    /// what the client still sends is read and dropped for a moment, so the kernel does not
    /// reset the connection (and lose the answer) over unread bytes.
    pub async fn linger(&mut self) {
        let _ = self.deadline.limit(IO_TIMEOUT, self.stream.shutdown()).await;
        let mut drained = 0;
        let until = Instant::now() + LINGER;
        while drained < LINGER_BYTES {
            self.buf.clear();
            match self.read_until(until).await {
                Ok(n) if n > 0 => drained += n,
                _ => return,
            }
        }
    }

    /// After an answer: whether the connection takes another request. If not, it is shut down.
    pub async fn finish(&mut self) -> bool {
        if self.keep_alive {
            // An idle keep-alive connection holds no buffers: thousands of them would hold
            // megabytes. Taking them again costs two allocations of one size class a request.
            self.out = Vec::new();
            if self.buf.is_empty() {
                self.buf = BytesMut::new();
            }
            return true;
        }
        let _ = self.deadline.limit(IO_TIMEOUT, self.stream.shutdown()).await;
        false
    }
}

async fn write_all<S: AsyncWrite + Unpin>(deadline: &mut Deadline, stream: &mut S, bytes: &[u8]) -> Result<(), Fault> {
    match deadline
        .limit(IO_TIMEOUT, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(Fault::Write),
    }
}
