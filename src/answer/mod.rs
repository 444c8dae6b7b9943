//! Owns step 4 of a request, what the client receives: the failure type and its one map to a
//! status and message (`error`), LiveAgent's error envelope (`envelope`), the body of every
//! answer written whole (`shape`), and which header fields an answer carries (here).

pub mod envelope;
pub mod error;
pub mod redact;
pub mod shape;

pub use error::{Failure, GatewayError};
pub use shape::Shaped;

use crate::admit::quota::Allowance;
use crate::forward::{self, Names};

/// Fields of LiveAgent's streamed answer that describe its connection, or that the gateway
/// sets itself.
const NOT_RETURNED: Names = Names::new(&forward::joined::<7, 1, 8>(forward::HOP_BY_HOP, ["x-request-id"]));

const RATE_PREFIX: &[u8] = b"x-ratelimit-";

/// Whether a field of LiveAgent's streamed answer reaches the client. `sized`: the answer
/// keeps LiveAgent's framing by length. The client's limits are the gateway's: none of
/// LiveAgent's `X-RateLimit-*` pass.
pub fn returned(name: &[u8], sized: bool) -> bool {
    let rate = name.get(..RATE_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RATE_PREFIX));
    !rate && !NOT_RETURNED.has(name) && (sized || !name.eq_ignore_ascii_case(b"content-length"))
}

/// The rate-limit fields of an answer whose quotas were asked (admitted or refused, whatever
/// failed later), as whole header lines appended to `out`: the `X-RateLimit-*` numbers, then
/// the IETF `RateLimit-Policy` and `RateLimit`. Every value is digits and fixed names, so the
/// lines go in without the per-field checks (`http1::field`): they cost a small request a few
/// hundred instructions instead of thousands.
pub fn rate_fields(a: &Allowance, out: &mut Vec<u8>) {
    let mut digits = itoa::Buffer::new();
    for (name, n) in a.fields() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(digits.format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Writing into a Vec cannot fail.
    out.extend_from_slice(b"RateLimit-Policy: ");
    let _ = a.write_policy(out);
    out.extend_from_slice(b"\r\nRateLimit: ");
    let _ = a.write_current(out);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveagents_connection_and_rate_fields_stay_behind() {
        assert!(returned(b"Content-Type", false));
        assert!(!returned(b"X-RateLimit-Remaining", true));
        assert!(!returned(b"Transfer-Encoding", true));
        assert!(returned(b"Content-Length", true));
        assert!(!returned(b"content-length", false));
    }

    #[test]
    fn rate_fields_are_whole_header_lines() {
        let five = std::num::NonZeroU32::new(5).unwrap_or(std::num::NonZeroU32::MIN);
        let a = Allowance::burst_only(crate::config::Limits::rate(std::num::NonZeroU32::MIN, five), 2);
        let mut out = Vec::new();
        rate_fields(&a, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "X-RateLimit-Limit: 5\r\nX-RateLimit-Remaining: 2\r\nX-RateLimit-Reset: 3\r\nRateLimit-Policy: \"burst\";q=5;w=5\r\nRateLimit: \"burst\";r=2;t=3\r\n"
        );
        // Parsed back as a head, every line is a field.
        let head = [b"HTTP/1.1 200 OK\r\n".as_slice(), &out, b"\r\n"].concat();
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut fields);
        assert!(matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))));
        assert_eq!(resp.headers.iter().filter(|h| !h.name.is_empty()).count(), 5);
    }
}
