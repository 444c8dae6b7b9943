//! Owns step 1 of a request, what was asked: the target (route and format), the route
//! catalog, format negotiation, form fields, the request id, and the parts of a request the
//! later steps read. Pure functions over plain values.

pub mod form;
pub mod format;
pub mod request_id;
pub mod routes;

use form::BodyKind;
use format::Format;
use routes::{RouteError, Routed};

/// Where a request goes and in which format it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub routed: Routed,
    pub format: Format,
}

/// A request the gateway does not proxy (a 404), with the format its answer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not proxied: {why}")]
pub struct Unrouted {
    pub why: RouteError,
    pub format: Format,
}

/// Why a request could not be read to the end, or not taken as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Unrouted(#[from] Unrouted),
    /// Its body is longer than `max_request_bytes`.
    #[error("request body over max_request_bytes")]
    BodyTooLarge,
    /// A head or body that cannot be read (badly framed, cut short).
    #[error("unreadable request")]
    Unreadable,
    /// More client connections are open than `client.max_connections` allows.
    #[error("too many client connections")]
    Overloaded,
    /// A method LiveAgent's API does not use (TRACE, CONNECT, PATCH, …).
    #[error("method not forwarded")]
    MethodNotAllowed,
}

/// The methods LiveAgent's API v1 uses, and the only ones forwarded: a TRACE would echo the
/// request, LiveAgent's key with it, back to the client; a CONNECT would open a tunnel.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE"];

/// The `Allow` field of a 405.
pub const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE";

/// Refuses a method that is not forwarded.
pub fn method(method: &str) -> Result<(), RequestError> {
    if METHODS.contains(&method) {
        Ok(())
    } else {
        Err(RequestError::MethodNotAllowed)
    }
}

/// The format of a request: its suffix, else its `Accept` header, else JSON.
pub fn format_of(suffix: Option<Format>, accept: Option<&str>) -> Format {
    suffix.or_else(|| accept.and_then(Format::from_accept)).unwrap_or(Format::Json)
}

/// Routes a request.
pub fn target(path: &str, query: Option<&str>, accept: Option<&str>) -> Result<Target, Unrouted> {
    match routes::route(path, query) {
        Ok(routed) => Ok(Target { format: format_of(routed.suffix_format, accept), routed }),
        Err(why) => Err(Unrouted { why, format: format_of(Format::strip_suffix(path).1, accept) }),
    }
}

/// The parts of a request the decisions need.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub query: Option<&'a str>,
    /// The body's form encoding whatever the method: where key substitution rewrites.
    pub encoding: Option<BodyKind>,
    /// Every `apikey` header line's value, as sent.
    pub apikey_headers: Vec<&'a [u8]>,
    /// The whole request body, already read (empty when there is none).
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    pub fn new(method: &'a str, query: Option<&'a str>, content_type: Option<&str>, apikey_headers: Vec<&'a [u8]>, body: &'a [u8]) -> Self {
        let encoding = content_type.map(BodyKind::from_content_type).filter(BodyKind::is_form);
        RequestParts { method, query, encoding, apikey_headers, body }
    }

    /// The body's form encoding when the gateway reads it for a key: a POST, PUT, DELETE or
    /// PATCH with a urlencoded or multipart body (PHP reads `$_POST` only for those).
    pub fn form(&self) -> Option<&BodyKind> {
        self.encoding.as_ref().filter(|_| matches!(self.method, "POST" | "PUT" | "DELETE" | "PATCH"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(target("/api/customers.xml", None, Some("application/yaml")).map(|t| t.format), Ok(Format::Xml));
        assert_eq!(target("/api/customers", None, Some("text/yaml")).map(|t| t.format), Ok(Format::Yaml));
        assert_eq!(target("/nope.xml", None, None).map_err(|u| u.format), Err(Format::Xml));
        assert_eq!(target("/api/../x", None, None).map_err(|u| u.why), Err(RouteError::DotSegment));
    }

    #[test]
    fn only_liveagents_methods_pass() {
        for m in METHODS {
            assert_eq!(method(m), Ok(()));
            assert!(ALLOW.contains(m));
        }
        for m in ["TRACE", "CONNECT", "PATCH", "OPTIONS", "PROPFIND", "get", ""] {
            assert_eq!(method(m), Err(RequestError::MethodNotAllowed), "{m}");
        }
    }

    #[test]
    fn form_bodies_are_read_for_writes_only() {
        let ct = Some("application/x-www-form-urlencoded");
        assert_eq!(RequestParts::new("POST", None, ct, vec![], b"").form(), Some(&BodyKind::UrlEncoded));
        assert_eq!(RequestParts::new("GET", None, ct, vec![], b"").form(), None);
        assert_eq!(RequestParts::new("PUT", None, Some("text/plain"), vec![], b"").form(), None);
    }
}
