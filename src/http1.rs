//! Owns HTTP/1.x as clients speak it to the gateway (RFC 9112): parsing a request head, the
//! framing of its body, keep-alive, and writing a response head. Bytes in, bytes out; no I/O.

use crate::framing::{self, Framing};
use std::mem::MaybeUninit;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in one request head.
const MAX_FIELDS: usize = 128;

/// Why a request head cannot be served. Either way the client gets a 400 and the connection
/// closes: after a head it cannot read, the gateway cannot know where the next request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or framed ambiguously (a smuggling attempt looks like this).
    Malformed,
    /// Longer than [`MAX_HEAD`] or more than 128 fields.
    TooLarge,
}

/// Start and end of a piece of a head's bytes.
type Span = (u32, u32);

/// The header fields of one message head, as sent: a copy of the head's bytes and where each
/// name and value lies in it. No map and no allocation per field: a head is looked up a few
/// times and read through once.
#[derive(Debug, Default)]
pub struct Fields {
    raw: Vec<u8>,
    list: Vec<(Span, Span)>,
}

impl Fields {
    /// Copies `head` (the whole head) and notes where `fields`, parsed from it, lie.
    pub fn fill(&mut self, head: &[u8], fields: &[httparse::Header<'_>]) {
        self.raw.clear();
        self.raw.extend_from_slice(head);
        self.list.clear();
        for field in fields {
            self.list.push((span_in(head, field.name.as_bytes()), span_in(head, field.value)));
        }
    }

    fn text(&self, (start, end): Span) -> &str {
        // Every span was cut from text at a character boundary, so this never falls back.
        std::str::from_utf8(&self.raw[start as usize..end as usize]).unwrap_or("")
    }

    fn bytes(&self, (start, end): Span) -> &[u8] {
        &self.raw[start as usize..end as usize]
    }

    /// Every field as sent, in order; names as spelled (tokens, so ASCII).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.list.iter().map(|&(name, value)| (self.bytes(name), self.bytes(value)))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first field called `name` (any case), when its value is visible ASCII.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Names compared as bytes: only the match is turned into text.
        let &(_, value) = self.list.iter().find(|&&(n, _)| self.bytes(n).eq_ignore_ascii_case(name.as_bytes()))?;
        let value = self.bytes(value);
        value.iter().all(|&b| b == b'\t' || (0x20..0x7F).contains(&b)).then(|| std::str::from_utf8(value).ok()).flatten()
    }

    /// Whether a field called `name` lists `token` (comma-separated, any case).
    pub fn lists(&self, name: &str, token: &[u8]) -> bool {
        self.iter().any(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && framing::lists_token(v, token))
    }
}

/// Where `piece`, a slice of `whole`, lies in it.
fn span_in(whole: &[u8], piece: &[u8]) -> Span {
    let start = (piece.as_ptr() as usize - whole.as_ptr() as usize) as u32;
    (start, start + piece.len() as u32)
}

/// One request head. A connection keeps one and parses each of its requests into it, so
/// serving a request allocates nothing here once the buffers have grown.
#[derive(Debug, Default)]
pub struct RequestHead {
    method: Span,
    /// `None` for a target with no path (`http://host`): the root.
    path: Option<Span>,
    query: Option<Span>,
    http10: bool,
    fields: Fields,
}

impl RequestHead {
    /// Parses the head at the start of `input`: its length once it is complete, `None` while
    /// more bytes are needed.
    pub fn parse(&mut self, input: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(input, &mut slots) {
            Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
            Ok(httparse::Status::Partial) if input.len() < MAX_HEAD => return Ok(None),
            Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        };
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
            return Err(HeadError::Malformed);
        };
        // httparse lets bytes above 0x7F through in the target; the gateway reads it as text.
        if std::str::from_utf8(target.as_bytes()).is_err() {
            return Err(HeadError::Malformed);
        }
        self.method = span_in(input, method.as_bytes());
        let (path, query) = split_target(target);
        self.path = path.map(|p| span_in(input, p.as_bytes()));
        self.query = query.map(|q| span_in(input, q.as_bytes()));
        self.http10 = version == 0;
        self.fields.fill(&input[..len], req.headers);
        Ok(Some(len))
    }

    pub fn method(&self) -> &str {
        self.fields.text(self.method)
    }

    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }

    /// The target's path; from an absolute-form target (`http://host/path`), its path part.
    pub fn path(&self) -> &str {
        self.path.map_or("/", |p| self.fields.text(p))
    }

    pub fn query(&self) -> Option<&str> {
        self.query.map(|q| self.fields.text(q))
    }

    pub fn http10(&self) -> bool {
        self.http10
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The first field called `name` (any case), when its value is visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// Whether the client lets the connection carry another request after this one.
    pub fn keep_alive(&self) -> bool {
        if self.http10 {
            self.fields.lists("connection", b"keep-alive") && !self.fields.lists("connection", b"close")
        } else {
            !self.fields.lists("connection", b"close")
        }
    }

    /// Whether the client waits for `100 Continue` before it sends the body.
    pub fn expects_continue(&self) -> bool {
        !self.http10 && self.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// How the request body is framed (RFC 9112 §6.3). Stricter than the RFC where it lets
    /// a server pick: a request with both `Transfer-Encoding` and `Content-Length`, or with
    /// a coding other than `chunked` alone, is refused, since a front proxy may have framed
    /// it differently.
    pub fn body(&self) -> Result<Framing, HeadError> {
        let mut codings = 0usize;
        let mut chunked = false;
        let mut length = None;
        for (name, value) in self.fields.iter() {
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|c| !c.is_empty()) {
                    codings += 1;
                    chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                framing::add_length(&mut length, value).map_err(|_| HeadError::Malformed)?;
            }
        }
        match (codings, length) {
            (0, Some(n)) => Ok(Framing::Length(n)),
            (0, None) => Ok(Framing::Empty),
            (1, None) if chunked && !self.http10 => Ok(Framing::Chunked),
            _ => Err(HeadError::Malformed),
        }
    }
}

/// Splits a request target into path and query, both slices of `target`. An absolute-form
/// target loses its scheme and authority; one with no path (`http://host?q`) gets `None`, the
/// root.
fn split_target(target: &str) -> (Option<&str>, Option<&str>) {
    let origin = match target.find("://") {
        Some(i) if !target[..i].contains('/') => target[i + 3..].find(['/', '?']).map_or("", |p| &target[i + 3 + p..]),
        _ => target,
    };
    let (path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (origin, None),
    };
    (Some(path).filter(|p| !p.is_empty()), query)
}

/// Starts a response: `HTTP/1.1 <status> <reason>`.
pub fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one header field. A value that could end the field early is left out; every value
/// here already passed a header parser or the config check, so none should be.
pub fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if memchr::memchr3(b'\r', b'\n', 0, value).is_some() {
        return;
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the start of a chunk of `len` bytes (chunked transfer coding).
pub fn chunk_start(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
