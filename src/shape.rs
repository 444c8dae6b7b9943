//! Owns what a client receives for an upstream answer that the gateway must read: a
//! transcoded body, the body as it was, or an error envelope. Pure: status and bytes in,
//! status and bytes out.

use crate::envelope::{Envelope, GatewayError};
use crate::format::Format;
use crate::transcode;

/// The response to send, with an exact body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The failure this response reports, for metrics (`None` for a success).
    pub upstream_error: Option<UpstreamFault>,
}

/// What went wrong on the LiveAgent side, as the `kind` label of upstream error metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFault {
    Connect,
    Timeout,
    InvalidResponse,
    TooLarge,
}

impl UpstreamFault {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFault::Connect => "connect",
            UpstreamFault::Timeout => "timeout",
            UpstreamFault::InvalidResponse => "invalid_response",
            UpstreamFault::TooLarge => "too_large",
        }
    }

    pub fn gateway_error(self) -> GatewayError {
        match self {
            UpstreamFault::Connect => GatewayError::UpstreamUnavailable,
            UpstreamFault::Timeout => GatewayError::UpstreamTimeout,
            UpstreamFault::InvalidResponse | UpstreamFault::TooLarge => GatewayError::InvalidUpstreamResponse,
        }
    }
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
            Err(_) => fault(UpstreamFault::InvalidResponse, format, request_id),
        },
        // A redirect or informational answer would point clients at LiveAgent itself.
        100..=199 | 300..=399 => fault(UpstreamFault::InvalidResponse, format, request_id),
        _ => envelope(Envelope::from_upstream(status, body, request_id), format, None),
    }
}

/// The response for an upstream failure that produced no usable answer.
pub fn fault(kind: UpstreamFault, format: Format, request_id: &str) -> Shaped {
    envelope(Envelope::for_error(kind.gateway_error(), request_id), format, Some(kind))
}

/// The response for any envelope.
pub fn envelope(e: Envelope, format: Format, upstream_error: Option<UpstreamFault>) -> Shaped {
    Shaped { status: e.status, content_type: format.content_type(), body: e.render(format), upstream_error }
}

fn ok(status: u16, format: Format, body: Vec<u8>) -> Shaped {
    Shaped { status, content_type: format.content_type(), body, upstream_error: None }
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
        assert_eq!((s.status, s.upstream_error), (502, Some(UpstreamFault::InvalidResponse)));
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
    fn passthrough_rule() {
        assert!(passes_through(Format::Json, 200));
        assert!(!passes_through(Format::Json, 404));
        assert!(!passes_through(Format::Xml, 200));
    }
}
