//! Owns HTTP/1.1 body framing, of requests and responses alike (RFC 9112 §6, §7): where a body
//! ends, and the decoding of chunked transfer coding. Bytes in, body pieces out; no I/O.

use super::chunk;
use bytes::{Buf, Bytes, BytesMut};

/// Most trailer fields accepted after a chunked body.
const MAX_TRAILERS: usize = 32;

/// How the end of a response body is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a request without length or coding; a 1xx, 204 or 304 status, or the answer
    /// to HEAD.
    Empty,
    Length(u64),
    Chunked,
    /// Ends when the server closes the connection, which then cannot be reused.
    UntilClose,
}

/// The body is framed inconsistently (conflicting lengths, a bad chunk): the message is
/// invalid and its connection unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("badly framed message body")]
pub struct Malformed;

impl Framing {
    pub fn for_response<'a>(
        status: u16,
        head_request: bool,
        headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Framing, Malformed> {
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        let mut coding = None;
        let mut length = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                coding = Some(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                add_length(&mut length, value)?;
            }
        }
        // Transfer-Encoding overrides Content-Length; the last coding must be chunked, or
        // the body runs to the end of the connection (RFC 9112 §6.3).
        Ok(match (coding, length) {
            (Some(codings), _) => {
                let last = codings.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii);
                if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
                    Framing::Chunked
                } else {
                    Framing::UntilClose
                }
            }
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        })
    }
}

/// Whether a comma-separated header value (`Connection`, say) lists `token`, ignoring case.
pub fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Takes in one `Content-Length` field (`value`, maybe a comma-separated list) on top of the
/// length the earlier ones gave: repeated lengths must agree (RFC 9110 §8.6).
pub fn add_length(length: &mut Option<u64>, value: &[u8]) -> Result<(), Malformed> {
    for part in value.split(|&b| b == b',') {
        let n = content_length(part.trim_ascii()).ok_or(Malformed)?;
        if length.is_some_and(|l| l != n) {
            return Err(Malformed);
        }
        *length = Some(n);
    }
    Ok(())
}

fn content_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    /// Reading trailer fields, this many so far.
    Trailers(usize),
    UntilClose,
    Done,
}

/// Where reading a body is.
#[derive(Debug)]
pub struct Body {
    state: State,
    until_close: bool,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        Body { state, until_close: framing == Framing::UntilClose }
    }

    /// Takes the next piece of body from `buf`. `None` when the body is done (see
    /// [`Body::done`]) or `buf` holds too little to go on.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Malformed> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Length(n) | State::ChunkData(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n - take as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                State::UntilClose => return Ok((!buf.is_empty()).then(|| buf.split().freeze())),
                State::ChunkSize => match chunk::size_line(buf).map_err(|_| Malformed)? {
                    Some((used, size)) => {
                        buf.advance(used);
                        self.state = if size == 0 { State::Trailers(0) } else { State::ChunkData(size) };
                    }
                    None => return Ok(None),
                },
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if !buf.starts_with(b"\r\n") {
                        return Err(Malformed);
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers(lines) => {
                    // Trailer fields are read as fields, then dropped: the gateway answers
                    // with its own framing.
                    match chunk::trailer_line(buf).map_err(|_| Malformed)? {
                        Some((used, true)) => {
                            buf.advance(used);
                            self.state = State::Done;
                        }
                        Some(_) if lines >= MAX_TRAILERS => return Err(Malformed),
                        Some((used, false)) => {
                            buf.advance(used);
                            self.state = State::Trailers(lines + 1);
                        }
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes the framing has announced and not handed out yet: the rest of the body's length
    /// or of the current chunk (so a chunk declared larger than a cap is refused at once).
    pub fn declared(&self) -> u64 {
        match self.state {
            State::Length(n) | State::ChunkData(n) => n,
            _ => 0,
        }
    }

    /// Bytes of body still to come when its length is known.
    pub fn length_left(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done if !self.until_close => Some(0),
            _ => None,
        }
    }

    /// The connection ended: the body is complete only if it runs until close.
    pub fn at_eof(&mut self) -> Result<(), Malformed> {
        if self.state == State::UntilClose {
            self.state = State::Done;
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Whether the connection may carry another request: the body was read to its end, and
    /// that end was not the connection's.
    pub fn reusable(&self) -> bool {
        self.done() && !self.until_close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        list.iter().map(|&(n, v)| (n.as_bytes(), v.as_bytes()))
    }

    /// Feeds `wire` to a body `step` bytes at a time; the body, or the first error.
    fn decode(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), Malformed> {
        let mut body = Body::new(framing);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(b) = body.next(&mut buf)? {
                out.extend_from_slice(&b);
            }
        }
        if !body.done() {
            body.at_eof()?;
        }
        Ok((out, body.reusable() && buf.is_empty()))
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let f = |status, head, h: &[(&str, &str)]| Framing::for_response(status, head, headers(h));
        assert_eq!(f(200, false, &[("content-length", "12")]), Ok(Framing::Length(12)));
        assert_eq!(f(200, false, &[("content-length", "12, 12")]), Ok(Framing::Length(12)));
        assert_eq!(f(200, false, &[("content-length", "12"), ("content-length", "13")]), Err(Malformed));
        assert_eq!(f(200, false, &[("content-length", "-1")]), Err(Malformed));
        assert_eq!(f(200, false, &[("content-length", "99999999999999999999999")]), Err(Malformed));
        assert_eq!(f(200, false, &[("transfer-encoding", "gzip, Chunked"), ("content-length", "3")]), Ok(Framing::Chunked));
        assert_eq!(f(200, false, &[("transfer-encoding", "gzip")]), Ok(Framing::UntilClose));
        assert_eq!(f(200, false, &[]), Ok(Framing::UntilClose));
        assert_eq!(f(204, false, &[("content-length", "3")]), Ok(Framing::Empty));
        assert_eq!(f(304, false, &[]), Ok(Framing::Empty));
        assert_eq!(f(200, true, &[("content-length", "3")]), Ok(Framing::Empty));
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_body() {
        let chunked = b"5;ext=1\r\nhello\r\n1\r\n \r\nB\r\nworld, etc.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in 1..chunked.len() + 1 {
            assert_eq!(decode(Framing::Chunked, chunked, step), Ok((b"hello world, etc.".to_vec(), true)), "step {step}");
            assert_eq!(decode(Framing::Length(5), b"hello", step), Ok((b"hello".to_vec(), true)));
            assert_eq!(decode(Framing::UntilClose, b"hello", step), Ok((b"hello".to_vec(), false)));
        }
    }

    #[test]
    fn lenient_chunk_lines_are_malformed() {
        for bad in [
            &b"2;\nxx\r\n0\r\n\r\n"[..],
            b"\r\nhello\r\n0\r\n\r\n",
            b"2\r\nxx\r\n0\r\nX\n\r\n",
            b"2\nxx\r\n0\r\n\r\n",
            b"2\r\nxx\n0\r\n\r\n",
        ] {
            assert_eq!(decode(Framing::Chunked, bad, 64), Err(Malformed), "{}", String::from_utf8_lossy(bad));
        }
        let many = format!("0\r\n{}\r\n", "X: 1\r\n".repeat(MAX_TRAILERS + 1));
        assert_eq!(decode(Framing::Chunked, many.as_bytes(), 64), Err(Malformed));
    }

    #[test]
    fn a_chunk_declares_its_size_before_its_data() {
        let mut body = Body::new(Framing::Chunked);
        let mut buf = BytesMut::from(&b"FFFFFFFFFFFFFFFF\r\nab"[..]);
        assert_eq!(body.next(&mut buf), Ok(Some(Bytes::from_static(b"ab"))));
        assert_eq!(body.declared(), u64::MAX - 2);
    }

    #[test]
    fn bad_or_short_bodies_are_malformed() {
        assert_eq!(decode(Framing::Chunked, b"zz\r\nhello\r\n0\r\n\r\n", 64), Err(Malformed));
        assert_eq!(decode(Framing::Chunked, b"5\r\nhelloXX0\r\n\r\n", 64), Err(Malformed));
        assert_eq!(decode(Framing::Chunked, b"5\r\nhel", 64), Err(Malformed));
        assert_eq!(decode(Framing::Length(10), b"hello", 64), Err(Malformed));
        assert_eq!(decode(Framing::Chunked, &[b'1'; chunk::MAX_LINE + 1], 64), Err(Malformed));
    }

    #[test]
    fn bytes_after_the_body_are_left_in_the_buffer() {
        let mut body = Body::new(Framing::Length(3));
        let mut buf = BytesMut::from(&b"abcHTTP/1.1"[..]);
        assert_eq!(body.next(&mut buf), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(body.next(&mut buf), Ok(None));
        assert!(body.done());
        assert_eq!(&buf[..], b"HTTP/1.1");
    }
}
