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

/// Fields of LiveAgent's streamed answer that describe its connection, or that the gateway
/// sets itself.
const NOT_RETURNED: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "x-request-id"];

const RATE_PREFIX: &[u8] = b"x-ratelimit-";

/// Whether a field of LiveAgent's streamed answer reaches the client. `sized`: the answer
/// keeps LiveAgent's framing by length. The client's limits are the gateway's: none of
/// LiveAgent's `X-RateLimit-*` pass.
pub fn returned(name: &[u8], sized: bool) -> bool {
    let rate = name.get(..RATE_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RATE_PREFIX));
    !rate && !crate::forward::listed(name, NOT_RETURNED) && (sized || !name.eq_ignore_ascii_case(b"content-length"))
}

/// The header fields every answer carries besides its framing, in order: the rate-limit
/// fields once the quotas were asked (admitted or refused, whatever failed later), then
/// `X-Request-Id`. `Retry-After` follows on refusals ([`Shaped::retry_after`]).
pub fn common_fields<'a>(allowance: Option<Allowance>, request_id: &'a str) -> impl Iterator<Item = (&'static str, Field<'a>)> {
    let rate = allowance.into_iter().flat_map(|a| {
        let ietf = [("RateLimit-Policy", Field::Policy(a)), ("RateLimit", Field::Current(a))];
        a.fields().map(|(name, n)| (name, Field::Number(n))).chain(ietf)
    });
    rate.chain(std::iter::once(("X-Request-Id", Field::Text(request_id))))
}

/// A header field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Number(u64),
    Text(&'a str),
    /// The IETF `RateLimit-Policy` of an allowance.
    Policy(Allowance),
    /// The IETF `RateLimit` of an allowance.
    Current(Allowance),
}

impl Field<'_> {
    /// Longest value: three policies of two 20-digit numbers each, with their names.
    pub const MAX_LEN: usize = 256;

    /// Writes the value into `out` (a buffer on the stack: no allocation per answer).
    pub fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            Field::Number(n) => out.write_all(itoa::Buffer::new().format(*n).as_bytes()),
            Field::Text(t) => out.write_all(t.as_bytes()),
            Field::Policy(a) => a.write_policy(out),
            Field::Current(a) => a.write_current(out),
        }
    }
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
    fn rate_fields_come_first_when_the_quotas_were_asked() {
        let five = std::num::NonZeroU32::new(5).unwrap_or(std::num::NonZeroU32::MIN);
        let a = Allowance::burst_only(crate::config::Limits::rate(std::num::NonZeroU32::MIN, five), 2);
        let fields: Vec<_> = common_fields(Some(a), "r1").collect();
        assert_eq!(
            fields,
            [
                ("X-RateLimit-Limit", Field::Number(5)),
                ("X-RateLimit-Remaining", Field::Number(2)),
                ("X-RateLimit-Reset", Field::Number(3)),
                ("RateLimit-Policy", Field::Policy(a)),
                ("RateLimit", Field::Current(a)),
                ("X-Request-Id", Field::Text("r1"))
            ]
        );
        let written: Vec<String> = fields[3..]
            .iter()
            .map(|(_, f)| {
                let mut out = Vec::new();
                assert!(f.write(&mut out).is_ok());
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect();
        assert_eq!(written, [r#""burst";q=5;w=5"#, r#""burst";r=2;t=3"#, "r1"]);
        assert_eq!(common_fields(None, "r2").collect::<Vec<_>>(), [("X-Request-Id", Field::Text("r2"))]);
    }
}
