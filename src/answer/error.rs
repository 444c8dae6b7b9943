//! Owns the failures a client can see: [`Failure`], every step's error in one type, and the one
//! map from it to what the client is told ([`GatewayError`]: status, message, `Retry-After`).

use crate::admit::auth::AuthError;
use crate::admit::quota::{Limit, QuotaError};
use crate::admit::Refusal;
use crate::forward::UpstreamError;
use crate::request::{RequestError, Unrouted};

/// A request that failed at some step, before LiveAgent answered it usefully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl From<Unrouted> for Failure {
    fn from(u: Unrouted) -> Self {
        Failure::Request(u.into())
    }
}

impl Failure {
    /// The one map from a failure to what the client is told.
    pub fn gateway_error(&self) -> GatewayError {
        match self {
            Failure::Request(RequestError::Unrouted(_)) => GatewayError::NotFound,
            Failure::Request(RequestError::BodyTooLarge) => GatewayError::BodyTooLarge,
            Failure::Request(RequestError::Unreadable) => GatewayError::BadRequest,
            Failure::Request(RequestError::MethodNotAllowed) => GatewayError::MethodNotAllowed,
            Failure::Request(RequestError::Overloaded) => GatewayError::TooManyConnections,
            Failure::Refused(Refusal::Guarded { retry_after }) => GatewayError::TooManyAuthFailures { retry_after: *retry_after },
            Failure::Refused(Refusal::Auth(AuthError::Missing)) => GatewayError::MissingKey,
            Failure::Refused(Refusal::Auth(AuthError::Invalid)) => GatewayError::InvalidKey,
            Failure::Refused(Refusal::Auth(AuthError::Ambiguous)) => GatewayError::AmbiguousKey,
            Failure::Refused(Refusal::Auth(AuthError::Forbidden)) => GatewayError::Forbidden,
            Failure::Refused(Refusal::Auth(AuthError::Expired)) => GatewayError::KeyExpired,
            Failure::Refused(Refusal::Auth(AuthError::NotYetValid)) => GatewayError::KeyNotYetValid,
            Failure::Refused(Refusal::Quota { error, .. }) => match &**error {
                QuotaError::Exceeded(e) => match e.limit {
                    Limit::Rate => GatewayError::RateLimited { retry_after: e.retry_after },
                    Limit::Daily => GatewayError::DailyQuotaExceeded { retry_after: e.retry_after },
                    Limit::Monthly => GatewayError::MonthlyQuotaExceeded { retry_after: e.retry_after },
                },
                QuotaError::Unavailable { .. } => GatewayError::QuotaUnavailable,
            },
            Failure::Upstream(UpstreamError::Connect) => GatewayError::UpstreamUnavailable,
            Failure::Upstream(UpstreamError::Timeout) => GatewayError::UpstreamTimeout,
            Failure::Upstream(UpstreamError::InvalidResponse | UpstreamError::TooLarge) => GatewayError::InvalidUpstreamResponse,
        }
    }

    /// The upstream failure to count, if LiveAgent's side failed.
    pub fn upstream_error(&self) -> Option<UpstreamError> {
        match self {
            Failure::Upstream(e) => Some(*e),
            _ => None,
        }
    }
}

/// Every failure the gateway itself answers. Internal detail goes to the log, never here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("Api key is not found in request")]
    MissingKey,
    #[error("Invalid API key")]
    InvalidKey,
    #[error("API key has expired")]
    KeyExpired,
    #[error("API key is not valid yet")]
    KeyNotYetValid,
    /// The key was given twice with different values, or where it cannot be rewritten.
    #[error("Ambiguous API key")]
    AmbiguousKey,
    #[error("API key is not allowed to call this endpoint")]
    Forbidden,
    #[error("Not found")]
    NotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("Request body too large")]
    BodyTooLarge,
    #[error("Rate limit exceeded")]
    RateLimited { retry_after: u64 },
    #[error("Daily quota exceeded")]
    DailyQuotaExceeded { retry_after: u64 },
    #[error("Monthly quota exceeded")]
    MonthlyQuotaExceeded { retry_after: u64 },
    #[error("Upstream unavailable")]
    UpstreamUnavailable,
    #[error("Invalid upstream response")]
    InvalidUpstreamResponse,
    #[error("Upstream timeout")]
    UpstreamTimeout,
    #[error("Bad request")]
    BadRequest,
    #[error("Too many failed authentications")]
    TooManyAuthFailures { retry_after: u64 },
    #[error("Rate limit service unavailable")]
    QuotaUnavailable,
    #[error("Too many connections")]
    TooManyConnections,
}

impl GatewayError {
    pub fn status(self) -> u16 {
        match self {
            GatewayError::MissingKey | GatewayError::InvalidKey | GatewayError::KeyExpired | GatewayError::KeyNotYetValid => 401,
            GatewayError::Forbidden => 403,
            GatewayError::NotFound => 404,
            GatewayError::MethodNotAllowed => 405,
            GatewayError::BodyTooLarge => 413,
            GatewayError::RateLimited { .. }
            | GatewayError::DailyQuotaExceeded { .. }
            | GatewayError::MonthlyQuotaExceeded { .. }
            | GatewayError::TooManyAuthFailures { .. } => 429,
            GatewayError::QuotaUnavailable | GatewayError::TooManyConnections => 503,
            GatewayError::UpstreamUnavailable | GatewayError::InvalidUpstreamResponse => 502,
            GatewayError::UpstreamTimeout => 504,
            GatewayError::BadRequest | GatewayError::AmbiguousKey => 400,
        }
    }

    /// Seconds for `Retry-After`, on quota refusals.
    pub fn retry_after(self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after }
            | GatewayError::DailyQuotaExceeded { retry_after }
            | GatewayError::MonthlyQuotaExceeded { retry_after }
            | GatewayError::TooManyAuthFailures { retry_after } => Some(retry_after),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admit::quota::{Allowance, Exceeded};
    use crate::request::format::Format;
    use crate::request::routes::RouteError;

    #[test]
    fn every_failure_has_its_status() {
        let allowance = Allowance::burst_only(crate::config::Limits::rate(std::num::NonZeroU32::MIN, std::num::NonZeroU32::MIN), 0);
        let daily = Exceeded { limit: Limit::Daily, retry_after: 60, allowance };
        let monthly = Exceeded { limit: Limit::Monthly, retry_after: 7, allowance };
        let cases: Vec<(Failure, u16, Option<u64>)> = vec![
            (Unrouted { why: RouteError::NotApi, format: Format::Json }.into(), 404, None),
            (RequestError::BodyTooLarge.into(), 413, None),
            (RequestError::Unreadable.into(), 400, None),
            (RequestError::MethodNotAllowed.into(), 405, None),
            (RequestError::Overloaded.into(), 503, None),
            (Refusal::Guarded { retry_after: 7 }.into(), 429, Some(7)),
            (Refusal::Auth(AuthError::Missing).into(), 401, None),
            (Refusal::Auth(AuthError::Ambiguous).into(), 400, None),
            (Refusal::Auth(AuthError::Forbidden).into(), 403, None),
            (Refusal::Auth(AuthError::Expired).into(), 401, None),
            (Refusal::Auth(AuthError::NotYetValid).into(), 401, None),
            (Refusal::Quota { key_id: "k".into(), error: Box::new(monthly.into()) }.into(), 429, Some(7)),
            (Refusal::Quota { key_id: "k".into(), error: Box::new(daily.into()) }.into(), 429, Some(60)),
            (Refusal::Quota { key_id: "k".into(), error: Box::new(QuotaError::Unavailable { allowance }) }.into(), 503, None),
            (UpstreamError::Connect.into(), 502, None),
            (UpstreamError::Timeout.into(), 504, None),
            (UpstreamError::TooLarge.into(), 502, None),
        ];
        for (failure, status, retry) in cases {
            let e = failure.gateway_error();
            assert_eq!((e.status(), e.retry_after()), (status, retry), "{failure:?}");
        }
        assert_eq!(Failure::from(UpstreamError::Timeout).upstream_error(), Some(UpstreamError::Timeout));
        assert_eq!(Failure::from(RequestError::Unreadable).upstream_error(), None);
    }
}
