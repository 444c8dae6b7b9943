//! Owns a request head as clients send it (RFC 9112 §3): parsing it into spans, its target,
//! keep-alive, `Expect`, and how its body is framed.

use super::fields::{span_in, Fields, Span};
use super::framing::{self, Framing};
use super::{HeadError, MAX_FIELDS, MAX_HEAD};
use std::mem::MaybeUninit;

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
    /// The request line up to the end of the target, checked as UTF-8 once: method, path and
    /// query are read from it many times per request.
    line: String,
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
        let (_, line_end) = span_in(input, target.as_bytes());
        let line = input.get(..line_end as usize).and_then(|l| std::str::from_utf8(l).ok()).ok_or(HeadError::Malformed)?;
        self.line.clear();
        self.line.push_str(line);
        self.method = span_in(input, method.as_bytes());
        let (path, query) = split_target(target);
        self.path = path.map(|p| span_in(input, p.as_bytes()));
        self.query = query.map(|q| span_in(input, q.as_bytes()));
        self.http10 = version == 0;
        self.fields.fill(&input[..len], req.headers);
        // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; none may have two.
        let hosts = self.fields.iter().filter(|(name, _)| name.eq_ignore_ascii_case(b"host")).count();
        if hosts > 1 || (hosts == 0 && !self.http10) {
            return Err(HeadError::Malformed);
        }
        Ok(Some(len))
    }

    pub fn method(&self) -> &str {
        self.text(self.method)
    }

    fn text(&self, (start, end): Span) -> &str {
        self.line.get(start as usize..end as usize).unwrap_or_default()
    }

    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }

    /// The target's path; from an absolute-form target (`http://host/path`), its path part.
    pub fn path(&self) -> &str {
        self.path.map_or("/", |p| self.text(p))
    }

    pub fn query(&self) -> Option<&str> {
        self.query.map(|q| self.text(q))
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
    // The origin form (`/path?q`), nearly every request, skips the substring search.
    let absolute = if target.starts_with('/') { None } else { target.find("://") };
    let origin = match absolute {
        Some(i) if !target[..i].contains('/') => target[i + 3..].find(['/', '?']).map_or("", |p| &target[i + 3 + p..]),
        _ => target,
    };
    let (path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (origin, None),
    };
    (Some(path).filter(|p| !p.is_empty()), query)
}
