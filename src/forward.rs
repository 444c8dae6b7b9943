//! Owns step 3 of a request: the exact request LiveAgent receives (path, query, body and
//! head, with key substitution), and the ways getting LiveAgent's answer can fail. Pure; the
//! bytes are sent by `proxy`.

use crate::admit::apikey::folds_to_apikey;
use crate::admit::auth::APIKEY;
use crate::config::KeySpec;
use crate::http1::{self, RequestHead};
use crate::request::{form, RequestParts, Target};

/// What went wrong on the LiveAgent side (the `kind` label of upstream error metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection, or it was refused, reset or closed before an answer.
    #[error("LiveAgent unreachable")]
    Connect,
    #[error("LiveAgent did not answer in time")]
    Timeout,
    /// An answer that cannot be used: a bad head or framing, or a success that is not JSON.
    #[error("invalid answer from LiveAgent")]
    InvalidResponse,
    /// A body to read whole that is longer than `upstream.max_response_bytes`.
    #[error("answer from LiveAgent over max_response_bytes")]
    TooLarge,
}

impl UpstreamError {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::InvalidResponse => "invalid_response",
            UpstreamError::TooLarge => "too_large",
        }
    }
}

/// Whether a request with `method` may be sent to LiveAgent again after LiveAgent may have
/// seen it: the idempotent methods (RFC 9110 §9.2.2). A POST never is: it could create a
/// second ticket.
pub fn replayable(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS")
}

/// Shortest client key looked for by [`carries_key`]: a shorter one (a development key) could
/// stand in an honest request by chance.
const MIN_SCANNED_KEY: usize = 8;

/// With key substitution, whether the client's key is still somewhere in what LiveAgent
/// would receive (in a field PHP does not read as the key, say, where no rewrite reaches):
/// such a request is refused rather than sent, so a client key never reaches LiveAgent.
pub fn carries_key(head: &[u8], body: &[u8], key: &[u8]) -> bool {
    if key.len() < MIN_SCANNED_KEY {
        return false;
    }
    // One searcher for both: building it costs more than searching a small request.
    let finder = memchr::memmem::Finder::new(key);
    finder.find(head).is_some() || finder.find(body).is_some()
}

/// What happens to the `apikey` header on the way upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKey {
    Keep,
    Replace(String),
}

/// The request LiveAgent receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub path_and_query: String,
    /// A replacement body when the key was substituted in a form; `None` sends the body as read.
    pub body: Option<Vec<u8>>,
    pub header_key: HeaderKey,
}

/// Builds the upstream request: suffix removed, and with key substitution (the key's own
/// upstream key, else the gateway's) every `apikey` place carries LiveAgent's key instead of
/// the client's.
pub fn upstream(t: &Target, req: &RequestParts<'_>, key: &KeySpec, gateway_key: Option<&str>, base_path: &str) -> Upstream {
    let substitute = key.upstream_apikey.as_deref().or(gateway_key);
    let mut query = req.query.map(str::to_string);
    if t.routed.front_controller {
        if let Some(q) = &query {
            let handler = t.routed.resource_path.trim_start_matches("/api/");
            query = Some(form::replace_pairs(q, |name| name == b"handler", handler).0);
        }
    }
    let mut body = None;
    let mut header_key = HeaderKey::Keep;
    if let Some(new_key) = substitute {
        if let Some(q) = &query {
            query = Some(form::replace_pairs(q, folds_to_apikey, new_key).0);
        }
        // Any form body, even one PHP does not read (a GET's): the client's key leaves here.
        if let Some(kind) = &req.encoding {
            body = kind.replace_field(req.body, folds_to_apikey, new_key);
        }
        if !req.apikey_headers.is_empty() {
            header_key = HeaderKey::Replace(new_key.to_string());
        }
    }
    let path = if t.routed.front_controller { "/api/index.php" } else { t.routed.resource_path.as_str() };
    // Not `format!`: its machinery cost a small request several hundred instructions.
    let mut path_and_query = String::with_capacity(base_path.len() + path.len() + query.as_ref().map_or(0, |q| q.len() + 1));
    path_and_query.push_str(base_path);
    path_and_query.push_str(path);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path_and_query.push('?');
        path_and_query.push_str(&q);
    }
    Upstream { path_and_query, body, header_key }
}

/// Fields that describe one connection, not the message (RFC 9110 §7.6.1): passed on in
/// neither direction.
pub const HOP_BY_HOP: [&str; 7] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// The client's fields LiveAgent does not receive: the hop-by-hop ones, and those the gateway
/// sets itself.
const NOT_FORWARDED: Names = Names::new(&joined::<7, 8, 15>(
    HOP_BY_HOP,
    ["host", "accept", "accept-encoding", "content-length", "expect", "x-request-id", "x-forwarded-for", "x-forwarded-proto"],
));

/// `a` then `b`, as one array (`N` = `A + B`, checked when compiling): a list of names made
/// of two, still searched as one.
pub const fn joined<const A: usize, const B: usize, const N: usize>(a: [&'static str; A], b: [&'static str; B]) -> [&'static str; N] {
    assert!(N == A + B);
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < A { a[i] } else { b[i - A] };
        i += 1;
    }
    out
}

/// A fixed list of field names, with the set of their lengths: most fields of a message are in
/// no such list, and nearly all of those are told apart by their length alone.
pub struct Names {
    list: &'static [&'static str],
    /// Bit `n` set when a name of length `n` is listed (`n` < 64; longer names set none and are
    /// always compared).
    lengths: u64,
}

impl Names {
    pub const fn new(list: &'static [&'static str]) -> Self {
        let mut lengths = 0u64;
        let mut i = 0;
        while i < list.len() {
            if list[i].len() < 64 {
                lengths |= 1 << list[i].len();
            }
            i += 1;
        }
        Names { list, lengths }
    }

    /// Whether `name` is listed (any case).
    pub fn has(&self, name: &[u8]) -> bool {
        if name.len() < 64 && self.lengths & (1 << name.len()) == 0 {
            return false;
        }
        self.list.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// The fields a message's `Connection` fields name besides `close` and `keep-alive`: they
/// describe that connection only and are not passed on (RFC 9110 §7.6.1). Looked up once per
/// message; nearly every message names none.
#[derive(Debug, Clone, Copy)]
pub struct HopByHop<'a>(Option<&'a http1::Fields>);

impl<'a> HopByHop<'a> {
    pub fn of(fields: &'a http1::Fields) -> Self {
        let plain = |t: &[u8]| t.is_empty() || t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"keep-alive");
        let names = fields.all("connection").any(|v| v.split(|&b| b == b',').any(|t| !plain(t.trim_ascii())));
        HopByHop(names.then_some(fields))
    }

    /// Whether a `Connection` field names `name`.
    pub fn names(&self, name: &[u8]) -> bool {
        self.0.is_some_and(|fields| fields.all("connection").any(|v| http1::framing::lists_token(v, name)))
    }
}

/// What the upstream head says besides the client's own fields.
#[derive(Debug, Clone, Copy)]
pub struct HeadFacts<'a> {
    /// The `Host` of LiveAgent.
    pub host: &'a str,
    pub request_id: &'a str,
    /// The client's address, appended to `X-Forwarded-For`.
    pub client_ip: Option<&'a str>,
    pub body_len: usize,
}

/// The request head LiveAgent receives: the client's headers less the per-connection ones
/// (those the gateway sets, those named in `Connection`) and those with `_` in their name
/// (PHP reads `X_A` and `X-A` both as `HTTP_X_A`: one could pass for the other, as nginx
/// drops them for), Host of the upstream, `Accept: application/json`, and the body's exact
/// length.
pub fn request_head(client: &RequestHead, up: &Upstream, facts: HeadFacts<'_>) -> Vec<u8> {
    let replace_key = match &up.header_key {
        HeaderKey::Replace(key) => Some(key.as_str()),
        HeaderKey::Keep => None,
    };
    let mut head = Vec::with_capacity(256 + up.path_and_query.len() + client.fields().len() * 48);
    head.extend_from_slice(client.method().as_bytes());
    head.push(b' ');
    head.extend_from_slice(up.path_and_query.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let hop = HopByHop::of(client.fields());
    for (name, value) in client.fields().iter() {
        let replaced = replace_key.is_some() && name.eq_ignore_ascii_case(APIKEY.as_bytes());
        if !replaced && !NOT_FORWARDED.has(name) && !hop.names(name) && !name.contains(&b'_') {
            http1::field(&mut head, name, value);
        }
    }
    http1::field(&mut head, b"Host", facts.host.as_bytes());
    http1::field(&mut head, b"Accept", b"application/json");
    if facts.body_len > 0 || matches!(client.method(), "POST" | "PUT" | "PATCH") {
        http1::field(&mut head, b"Content-Length", itoa::Buffer::new().format(facts.body_len).as_bytes());
    }
    if let Some(key) = replace_key {
        http1::field(&mut head, APIKEY.as_bytes(), key.as_bytes());
    }
    http1::field(&mut head, b"X-Request-Id", facts.request_id.as_bytes());
    if let Some(ip) = facts.client_ip {
        // Every line the client sent, in order, then the peer: one line, as RFC 9110 §5.3
        // allows, so no reader takes only the first.
        // The parsed values hold no CR or LF, so the line is put together in place.
        head.extend_from_slice(b"X-Forwarded-For: ");
        for earlier in client.fields().all("x-forwarded-for") {
            head.extend_from_slice(earlier);
            head.extend_from_slice(b", ");
        }
        head.extend_from_slice(ip.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    http1::field(&mut head, b"X-Forwarded-Proto", b"http");
    head.extend_from_slice(b"\r\n");
    head
}

/// What came of the first request at the start of a client's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reframed {
    /// More bytes are needed.
    Incomplete,
    /// Refused: a head or body that cannot be read, or a body over the cap.
    Refused,
    /// What LiveAgent receives for it, and how many of the client's bytes it took.
    Sent { upstream: Vec<u8>, consumed: usize },
}

/// Runs the framing steps of one request as the gateway does (head, body framing, the body
/// read whole up to `cap`, the upstream head with its exact length), with no key substitution.
/// The fuzz target and the framing property drive it: whatever the client sends, LiveAgent
/// must receive exactly one request, framed by `Content-Length`.
pub fn reframe(input: &[u8], cap: usize) -> Reframed {
    let mut head = RequestHead::default();
    let len = match head.parse(input) {
        Ok(Some(len)) => len,
        Ok(None) => return Reframed::Incomplete,
        Err(_) => return Reframed::Refused,
    };
    let Ok(framing) = head.body() else { return Reframed::Refused };
    let mut body = http1::Body::new(framing);
    let mut buf = bytes::BytesMut::from(&input[len..]);
    let mut read = Vec::new();
    while !body.done() {
        match body.next(&mut buf) {
            Ok(Some(piece)) if read.len() + piece.len() <= cap => read.extend_from_slice(&piece),
            Ok(Some(_)) | Err(_) => return Reframed::Refused,
            Ok(None) if body.done() => break,
            Ok(None) => return Reframed::Incomplete,
        }
        if read.len() as u64 + body.declared() > cap as u64 {
            return Reframed::Refused;
        }
    }
    let consumed = input.len() - buf.len();
    let path = format!("{}{}", head.path(), head.query().map(|q| format!("?{q}")).unwrap_or_default());
    let up = Upstream { path_and_query: path, body: None, header_key: HeaderKey::Keep };
    let facts = HeadFacts { host: "liveagent", request_id: "r", client_ip: Some("127.0.0.1"), body_len: read.len() };
    let mut upstream = request_head(&head, &up, facts);
    upstream.extend_from_slice(&read);
    Reframed::Sent { upstream, consumed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::format::Format;
    use crate::request::target;
    use crate::testkit::{key, parts};

    fn t(path: &str, query: Option<&str>) -> Target {
        target(path, query, None).unwrap_or_else(|_| panic!("{path} not routed"))
    }

    #[test]
    fn names_are_found_in_any_case_and_only_when_listed() {
        const LONG: &str = "x-a-field-name-that-is-longer-than-sixty-four-bytes-so-no-length-bit";
        const N: Names = Names::new(&["te", "x-request-id", LONG]);
        for name in ["te", "TE", "X-Request-Id", LONG, &LONG.to_ascii_uppercase()] {
            assert!(N.has(name.as_bytes()), "{name}");
        }
        // Same lengths as listed names, and a length no listed name has.
        for name in ["tf", "content-type", "x-request-ie", "", "server", &LONG.replace('x', "y"), &format!("{LONG}x")] {
            assert!(!N.has(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn passthrough_without_substitution() {
        let tg = t("/api/customers/a@b.com.xml", Some("apikey=client&x=%20"));
        let up = upstream(&tg, &parts("GET", Some("apikey=client&x=%20"), None, None, b""), &key(None), None, "");
        assert_eq!(
            up,
            Upstream { path_and_query: "/api/customers/a@b.com?apikey=client&x=%20".into(), body: None, header_key: HeaderKey::Keep }
        );
    }

    #[test]
    fn substitution_everywhere() {
        let q = Some("apikey=client");
        let ct = Some("application/x-www-form-urlencoded");
        let tg = t("/api/customers", q);
        let up = upstream(&tg, &parts("POST", q, ct, Some("client"), b"name=a&apikey=client"), &key(Some("LA")), Some("GW"), "/base");
        assert_eq!(up.path_and_query, "/base/api/customers?apikey=LA");
        assert_eq!(up.body.as_deref(), Some(&b"name=a&apikey=LA"[..]));
        assert_eq!(up.header_key, HeaderKey::Replace("LA".into()));
        let up = upstream(&tg, &parts("GET", q, None, None, b""), &key(None), Some("GW"), "");
        assert_eq!(up.path_and_query, "/api/customers?apikey=GW");
    }

    #[test]
    fn front_controller_keeps_its_form() {
        let q = Some("handler=customers%2Fa%40b.c.yaml&apikey=client");
        let tg = t("/api/index.php", q);
        assert_eq!(tg.format, Format::Yaml);
        let up = upstream(&tg, &parts("GET", q, None, None, b""), &key(None), None, "");
        assert_eq!(up.path_and_query, "/api/index.php?handler=customers%2Fa%40b.c&apikey=client");
    }

    #[test]
    fn a_key_left_anywhere_is_found() {
        let key = b"client-key-0001";
        assert!(carries_key(b"GET /a?note=client-key-0001 HTTP/1.1\r\n\r\n", b"", key));
        assert!(carries_key(b"POST /a HTTP/1.1\r\n\r\n", b"{\"k\":\"client-key-0001\"}", key));
        assert!(!carries_key(b"GET /a?apikey=LA HTTP/1.1\r\n\r\n", b"name=x", key));
        assert!(!carries_key(b"GET /a?note=dev HTTP/1.1\r\n\r\n", b"", b"dev"), "development keys are too short to look for");
    }

    #[test]
    fn the_head_liveagent_receives() {
        let mut client = RequestHead::default();
        let text = "POST /api/tags HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Hop\r\napikey: client\r\nX-Hop: 1\r\nX-Forwarded-For: 10.0.0.9\r\nX-Custom: 1\r\nX-Forwarded-For: 10.0.0.8, 10.0.0.7\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(client.parse(text.as_bytes()), Ok(Some(text.len())));
        let up = Upstream { path_and_query: "/api/tags".into(), body: None, header_key: HeaderKey::Replace("LA".into()) };
        let facts = HeadFacts { host: "la.example", request_id: "r1", client_ip: Some("127.0.0.1"), body_len: 3 };
        let head = String::from_utf8(request_head(&client, &up, facts)).unwrap_or_default();
        assert_eq!(
            head,
            "POST /api/tags HTTP/1.1\r\nX-Custom: 1\r\nHost: la.example\r\nAccept: application/json\r\nContent-Length: 3\r\n\
             apikey: LA\r\nX-Request-Id: r1\r\nX-Forwarded-For: 10.0.0.9, 10.0.0.8, 10.0.0.7, 127.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n"
        );
    }
}

#[cfg(test)]
#[path = "forward_props.rs"]
mod props;
