//! Owns the body of every answer the gateway writes whole: a transcoded success, an upstream
//! error normalised into the envelope, or the envelope of a failure. Pure: status and bytes
//! in, status and bytes out.

use super::envelope::Envelope;
use super::error::{Failure, GatewayError};
use crate::forward::UpstreamError;
use crate::request::format::Format;
use crate::transcode;

/// The response to send, with an exact body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The upstream failure this response reports, for metrics (`None` for a success).
    pub upstream_error: Option<UpstreamError>,
    /// `Retry-After`: the gateway's own on its refusals, LiveAgent's on its answers.
    pub retry_after: Option<String>,
    /// `Allow`, on a 405.
    pub allow: Option<&'static str>,
}

/// Whether a response with this status and format can be streamed to the client untouched:
/// only JSON successes are.
pub fn passes_through(format: Format, status: u16) -> bool {
    format == Format::Json && (200..300).contains(&status)
}

/// Shapes a fully read upstream response (never one that `passes_through`, but correct for
/// those too).
pub fn shape(format: Format, status: u16, body: &[u8], request_id: &str) -> Shaped {
    match status {
        200..=299 if body.is_empty() => ok(status, format, Vec::new()),
        200..=299 => match transcode::transcode(body, format) {
            Ok(out) => ok(status, format, out),
            Err(_) => failure(&UpstreamError::InvalidResponse.into(), format, request_id),
        },
        // A redirect or informational answer would point clients at LiveAgent itself.
        100..=199 | 300..=399 => failure(&UpstreamError::InvalidResponse.into(), format, request_id),
        _ => envelope(Envelope::from_upstream(status, body, request_id), format, None),
    }
}

/// The envelope for a failure at any step, with its `Retry-After`.
pub fn failure(f: &Failure, format: Format, request_id: &str) -> Shaped {
    let e = f.gateway_error();
    let mut shaped = envelope(Envelope::for_error(e, request_id), format, f.upstream_error());
    shaped.retry_after = e.retry_after().map(|secs| secs.to_string());
    shaped.allow = (e == GatewayError::MethodNotAllowed).then_some(crate::request::ALLOW);
    shaped
}

fn envelope(e: Envelope, format: Format, upstream_error: Option<UpstreamError>) -> Shaped {
    Shaped { status: e.status, content_type: format.content_type(), body: e.render(format), upstream_error, retry_after: None, allow: None }
}

fn ok(status: u16, format: Format, body: Vec<u8>) -> Shaped {
    Shaped { status, content_type: format.content_type(), body, upstream_error: None, retry_after: None, allow: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_transcoded() {
        let s = shape(Format::Xml, 200, br#"{"response":{"status":"OK","statuscode":0}}"#, "r");
        assert_eq!(s.status, 200);
        assert!(String::from_utf8_lossy(&s.body).contains("<status>OK</status>"));
        assert_eq!(s.content_type, "application/xml; charset=utf-8");
    }

    #[test]
    fn invalid_success_bodies_are_502() {
        let s = shape(Format::Yaml, 200, b"<html>", "r");
        assert_eq!((s.status, s.upstream_error), (502, Some(UpstreamError::InvalidResponse)));
        assert!(String::from_utf8_lossy(&s.body).contains("Invalid upstream response"));
        assert_eq!(shape(Format::Json, 302, b"", "r").status, 502);
    }

    #[test]
    fn errors_keep_upstream_status() {
        let s = shape(Format::Json, 503, b"<h1>maintenance</h1>", "r");
        assert_eq!(s.status, 503);
        assert!(!String::from_utf8_lossy(&s.body).contains("maintenance"));
        assert_eq!(s.upstream_error, None);
    }

    #[test]
    fn failures_say_when_to_retry() {
        let s = failure(&UpstreamError::Timeout.into(), Format::Xml, "r");
        assert_eq!((s.status, s.upstream_error, s.retry_after), (504, Some(UpstreamError::Timeout), None));
        let guarded: Failure = crate::admit::Refusal::Guarded { retry_after: 9 }.into();
        let s = failure(&guarded, Format::Json, "r");
        assert_eq!((s.status, s.upstream_error, s.retry_after.as_deref()), (429, None, Some("9")));
        let s = failure(&crate::request::RequestError::MethodNotAllowed.into(), Format::Json, "r");
        assert_eq!((s.status, s.allow), (405, Some("GET, HEAD, POST, PUT, DELETE")));
    }

    #[test]
    fn passthrough_rule() {
        assert!(passes_through(Format::Json, 200));
        assert!(!passes_through(Format::Json, 404));
        assert!(!passes_through(Format::Xml, 200));
    }
}
