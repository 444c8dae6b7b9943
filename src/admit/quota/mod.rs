//! Owns per-key quota decisions: on this replica (`local`), or shared by all replicas through
//! Redis (`redis`), with the operator's policy when Redis fails.

mod local;
pub mod redis;

pub use local::{system_wall_clock, Quotas, WallClock};

use crate::config::{KeySpec, Limits, OnRedisError};

pub(crate) const DAY: u64 = 86_400;

/// What an admitted request is told about its quotas (the `X-RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The burst: requests that may be sent at once.
    pub limit: u32,
    /// Requests left in the burst after this one.
    pub remaining: u32,
    /// Seconds until the burst is full again.
    pub reset: u64,
    pub daily: Option<Daily>,
}

/// The daily quota's part of an allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Daily {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the next UTC midnight.
    pub reset: u64,
}

impl Allowance {
    /// The allowance for `remaining` requests left of a burst refilled at `per_second`.
    pub fn from_burst(limits: Limits, remaining: u32, daily: Option<Daily>) -> Self {
        let limit = limits.burst.get();
        let missing = f64::from(limit.saturating_sub(remaining));
        let reset = local::ceil_secs(std::time::Duration::from_secs_f64(missing / f64::from(limits.per_second.get())));
        Allowance { limit, remaining: remaining.min(limit), reset, daily }
    }

    /// The `X-RateLimit-*` fields, as names and numbers.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
        let burst = [
            ("X-RateLimit-Limit", u64::from(self.limit)),
            ("X-RateLimit-Remaining", u64::from(self.remaining)),
            ("X-RateLimit-Reset", self.reset),
        ];
        let daily = self
            .daily
            .map(|d| [("X-RateLimit-Limit-Day", d.limit), ("X-RateLimit-Remaining-Day", d.remaining), ("X-RateLimit-Reset-Day", d.reset)]);
        burst.into_iter().chain(daily.into_iter().flatten())
    }
}

/// Which quota refused a request (the `limit` label of `liveagent_gateway_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The per-second rate with its burst.
    Rate,
    Daily,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Rate => "rate",
            Limit::Daily => "daily",
        }
    }
}

/// A quota refused the request: which, when to try again, and the allowance left (nothing,
/// for the limit that refused), for the rate-limit fields of the 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} quota exceeded; retry in {retry_after} s", limit.as_str())]
pub struct Exceeded {
    pub limit: Limit,
    pub retry_after: u64,
    pub allowance: Allowance,
}

impl Exceeded {
    /// The per-second rate refused: nothing left of the burst, for `retry_after` seconds.
    pub fn rate(limits: Limits, retry_after: u64) -> Self {
        Exceeded { limit: Limit::Rate, retry_after, allowance: Allowance::from_burst(limits, 0, None) }
    }

    /// The daily quota refused until its reset, `remaining` requests left in the burst.
    pub fn daily(limits: Limits, per_day: u64, remaining: u32, reset: u64) -> Self {
        let daily = Daily { limit: per_day, remaining: 0, reset };
        Exceeded { limit: Limit::Daily, retry_after: reset, allowance: Allowance::from_burst(limits, remaining, Some(daily)) }
    }
}

/// Why the quotas gave no admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
    /// Redis failed and `redis.on_error` is `deny`. Nothing was counted; the allowance says
    /// nothing remains until the burst could have refilled.
    #[error("shared quota store unavailable (redis.on_error: deny)")]
    Unavailable { allowance: Allowance },
}

impl QuotaError {
    /// The allowance for the rate-limit fields of the refusal.
    pub fn allowance(&self) -> Allowance {
        match self {
            QuotaError::Exceeded(e) => e.allowance,
            QuotaError::Unavailable { allowance } => *allowance,
        }
    }
}

/// Applies the quotas of `key`: through Redis when it is configured and answers, otherwise as
/// `on_error` says. `redis_failed` is told about every Redis failure (for logs and metrics).
pub async fn check(
    key: &KeySpec,
    shared: Option<(&redis::RedisQuota, OnRedisError)>,
    local: &Quotas,
    redis_failed: impl FnOnce(&redis::QuotaStoreError),
) -> Result<Allowance, QuotaError> {
    let Some((store, on_error)) = shared else { return Ok(local.check(key)?) };
    // Boxed: the Redis round trip's state is about 2 KB, and without a box every request
    // would carry (and move) room for it, Redis or not.
    match Box::pin(store.check(key)).await {
        Ok(redis::Verdict::Admit(allowance)) => Ok(allowance),
        Ok(redis::Verdict::Refuse(exceeded)) => Err(exceeded.into()),
        Err(e) => {
            redis_failed(&e);
            match on_error {
                OnRedisError::Local => Ok(local.check(key)?),
                // Fail open: admitted, and told nothing was counted.
                OnRedisError::Allow => Ok(Allowance::from_burst(key.limits, key.limits.burst.get(), None)),
                OnRedisError::Deny => Err(QuotaError::Unavailable { allowance: Allowance::from_burst(key.limits, 0, None) }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn refusals_leave_nothing_and_say_when() {
        let limits = Limits { per_second: NonZeroU32::MIN, burst: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN), per_day: Some(9) };
        let rate = Exceeded::rate(limits, 1);
        assert_eq!((rate.allowance.remaining, rate.allowance.reset, rate.allowance.daily), (0, 5, None));
        let daily = Exceeded::daily(limits, 9, 3, 600);
        assert_eq!((daily.retry_after, daily.allowance.remaining), (600, 3));
        assert_eq!(daily.allowance.daily, Some(Daily { limit: 9, remaining: 0, reset: 600 }));
    }

    #[test]
    fn headers_name_both_quotas() {
        let limits = Limits {
            per_second: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            per_day: Some(100),
        };
        let a = Allowance::from_burst(limits, 7, Some(Daily { limit: 100, remaining: 40, reset: 3600 }));
        assert_eq!((a.limit, a.remaining, a.reset), (10, 7, 2), "3 missing cells at 2/s refill in 1.5 s, rounded up");
        let h: Vec<_> = a.fields().collect();
        assert_eq!(h.len(), 6);
        assert!(h.contains(&("X-RateLimit-Remaining-Day", 40)));
    }
}
