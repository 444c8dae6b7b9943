//! Owns per-key quota decisions: a per-second rate with a burst, and daily and monthly quotas
//! on the operator's calendar (`window`); on this replica (`local`), or shared by all replicas
//! through Redis (`redis`), with the operator's policy when Redis fails. Both stores decide by
//! the same rules (`counters` is the local copy of the Redis script's).

mod counters;
mod local;
pub mod redis;
pub mod window;

pub use local::{system_monotonic_ns, system_wall_clock, MonotonicNs, Quotas, WallClock};

use crate::config::{KeySpec, Limits, OnRedisError};
use window::{Period, Span};

/// One limit's state, as a client is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the whole limit is available again.
    pub reset: u32,
    /// The policy's window in seconds (`w` of `RateLimit-Policy`).
    pub length: u32,
}

/// Seconds as a window's field (a window longer than 136 years is not one).
fn secs(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// What a request's key is told about its quotas: the burst always, the daily and monthly
/// quotas when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub burst: Window,
    pub day: Option<Window>,
    pub month: Option<Window>,
}

/// Where a key's calendar quotas stand at one instant: the current day and month (only for
/// the quotas that are set) and the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub now: i64,
    pub day: Option<Span>,
    pub month: Option<Span>,
}

impl Calendar {
    /// The current periods of `key`'s quotas at `now` (Unix seconds), in its zone.
    pub fn of(key: &KeySpec, now: i64) -> Calendar {
        let span = |set: Option<u64>, period| set.map(|_| window::span(period, &key.zone, now));
        Calendar { now, day: span(key.limits.per_day, Period::Day), month: span(key.limits.per_month, Period::Month) }
    }
}

impl Allowance {
    /// The allowance of `limits` with `remaining` requests left of the burst and `used`
    /// requests counted in the current day and month of `cal`.
    pub fn new(limits: Limits, remaining: u64, cal: &Calendar, used: (u64, u64)) -> Self {
        let per_second = u64::from(limits.per_second.get());
        let burst = u64::from(limits.burst.get());
        let remaining = remaining.min(burst);
        let burst_window = Window {
            limit: burst,
            remaining,
            reset: secs((burst - remaining).div_ceil(per_second)),
            length: secs(burst.div_ceil(per_second)),
        };
        let calendar = |limit: Option<u64>, span: Option<Span>, used: u64| {
            let (limit, span) = (limit?, span?);
            Some(Window { limit, remaining: limit.saturating_sub(used), reset: secs(span.reset(cal.now)), length: secs(span.length()) })
        };
        Allowance {
            burst: burst_window,
            day: calendar(limits.per_day, cal.day, used.0),
            month: calendar(limits.per_month, cal.month, used.1),
        }
    }

    /// The burst alone: for when no store answered.
    pub fn burst_only(limits: Limits, remaining: u64) -> Self {
        Allowance::new(limits, remaining, &Calendar { now: 0, day: None, month: None }, (0, 0))
    }

    /// Every limit that applies, with its window.
    pub fn windows(&self) -> impl Iterator<Item = (Limit, Window)> {
        let calendar = [(Limit::Daily, self.day), (Limit::Monthly, self.month)];
        std::iter::once((Limit::Rate, self.burst)).chain(calendar.into_iter().filter_map(|(l, w)| Some((l, w?))))
    }

    /// The limit that binds: the fewest requests left; of those, the longest wait.
    pub fn binding(&self) -> (Limit, Window) {
        let mut best = (Limit::Rate, self.burst);
        for (limit, w) in self.windows().skip(1) {
            if (w.remaining, std::cmp::Reverse(w.reset)) < (best.1.remaining, std::cmp::Reverse(best.1.reset)) {
                best = (limit, w);
            }
        }
        best
    }

    /// The `X-RateLimit-*` fields, as names and numbers: the binding limit, then the daily
    /// and monthly quotas by name.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
        let (_, b) = self.binding();
        let binding = [("X-RateLimit-Limit", b.limit), ("X-RateLimit-Remaining", b.remaining), ("X-RateLimit-Reset", u64::from(b.reset))];
        let day = self.day.map(|d| {
            [("X-RateLimit-Limit-Day", d.limit), ("X-RateLimit-Remaining-Day", d.remaining), ("X-RateLimit-Reset-Day", u64::from(d.reset))]
        });
        let month = self.month.map(|m| {
            [
                ("X-RateLimit-Limit-Month", m.limit),
                ("X-RateLimit-Remaining-Month", m.remaining),
                ("X-RateLimit-Reset-Month", u64::from(m.reset)),
            ]
        });
        binding.into_iter().chain(day.into_iter().flatten()).chain(month.into_iter().flatten())
    }

    /// The IETF `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers-10): each
    /// limit as `"name";q=quota;w=window`.
    pub fn write_policy(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.write_items(out, b";q=", b";w=", |w| (w.limit, u64::from(w.length)))
    }

    /// The IETF `RateLimit` field: each limit as `"name";r=remaining;t=reset`.
    pub fn write_current(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.write_items(out, b";r=", b";t=", |w| (w.remaining, u64::from(w.reset)))
    }

    /// Written piece by piece with itoa: `write!` and its formatting machinery cost a small
    /// request a tenth of its instructions.
    fn write_items(
        &self,
        out: &mut impl std::io::Write,
        first: &[u8],
        second: &[u8],
        values: impl Fn(&Window) -> (u64, u64),
    ) -> std::io::Result<()> {
        let mut digits = itoa::Buffer::new();
        for (i, (limit, w)) in self.windows().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            let (a, b) = values(&w);
            out.write_all(b"\"")?;
            out.write_all(limit.policy().as_bytes())?;
            out.write_all(b"\"")?;
            out.write_all(first)?;
            out.write_all(digits.format(a).as_bytes())?;
            out.write_all(second)?;
            out.write_all(digits.format(b).as_bytes())?;
        }
        Ok(())
    }
}

/// Which quota refused a request (the `limit` label of `liveagent_gateway_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The per-second rate with its burst.
    Rate,
    Daily,
    Monthly,
}

impl Limit {
    pub const ALL: [Limit; 3] = [Limit::Rate, Limit::Daily, Limit::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Rate => "rate",
            Limit::Daily => "daily",
            Limit::Monthly => "monthly",
        }
    }

    /// The policy's name in the IETF fields and in `/keys`.
    pub fn policy(self) -> &'static str {
        match self {
            Limit::Rate => "burst",
            Limit::Daily => "day",
            Limit::Monthly => "month",
        }
    }
}

/// A quota refused the request: which, when to try again, and the allowance (nothing left of
/// the limit that refused), for the rate-limit fields of the 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} quota exceeded; retry in {retry_after} s", limit.as_str())]
pub struct Exceeded {
    pub limit: Limit,
    pub retry_after: u64,
    pub allowance: Allowance,
}

impl Exceeded {
    /// The per-second rate refused: nothing left of the burst, for `retry_after` seconds.
    pub fn rate(mut allowance: Allowance, retry_after: u64) -> Self {
        allowance.burst.remaining = 0;
        Exceeded { limit: Limit::Rate, retry_after: retry_after.max(1), allowance }
    }

    /// A calendar quota refused until its period ends.
    pub fn calendar(limit: Limit, mut allowance: Allowance) -> Self {
        let window = match limit {
            Limit::Monthly => allowance.month.as_mut(),
            _ => allowance.day.as_mut(),
        };
        let retry_after = window.map_or(1, |w| {
            w.remaining = 0;
            u64::from(w.reset)
        });
        Exceeded { limit, retry_after: retry_after.max(1), allowance }
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
            let burst = u64::from(key.limits.burst.get());
            match on_error {
                OnRedisError::Local => Ok(local.check(key)?),
                // Fail open: admitted, and told nothing was counted.
                OnRedisError::Allow => Ok(Allowance::burst_only(key.limits, burst)),
                OnRedisError::Deny => Err(QuotaError::Unavailable { allowance: Allowance::burst_only(key.limits, 0) }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn limits(per_second: u32, burst: u32, per_day: Option<u64>, per_month: Option<u64>) -> Limits {
        let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Limits { per_second: nz(per_second), burst: nz(burst), per_day, per_month }
    }

    fn cal() -> Calendar {
        Calendar { now: 1000, day: Some(Span { start: 0, end: 4600 }), month: Some(Span { start: -100_000, end: 100_000 }) }
    }

    #[test]
    fn refusals_leave_nothing_and_say_when() {
        let l = limits(1, 5, Some(9), None);
        let a = Allowance::new(l, 3, &cal(), (2, 0));
        let rate = Exceeded::rate(a, 1);
        assert_eq!((rate.allowance.burst.remaining, rate.retry_after), (0, 1));
        let daily = Exceeded::calendar(Limit::Daily, a);
        assert_eq!((daily.retry_after, daily.allowance.burst.remaining), (3600, 3));
        assert_eq!(daily.allowance.day, Some(Window { limit: 9, remaining: 0, reset: 3600, length: 4600 }));
        assert_eq!(daily.allowance.binding().0, Limit::Daily);
    }

    #[test]
    fn the_binding_limit_leads_the_fields() {
        let l = limits(2, 10, Some(100), Some(1000));
        let a = Allowance::new(l, 7, &cal(), (60, 998));
        assert_eq!((a.burst.limit, a.burst.remaining, a.burst.reset, a.burst.length), (10, 7, 2, 5), "3 missing at 2/s: 1.5 s, up");
        let h: Vec<_> = a.fields().collect();
        assert_eq!(&h[..3], &[("X-RateLimit-Limit", 1000), ("X-RateLimit-Remaining", 2), ("X-RateLimit-Reset", 99_000)]);
        assert!(h.contains(&("X-RateLimit-Remaining-Day", 40)) && h.contains(&("X-RateLimit-Remaining-Month", 2)));
        assert_eq!(h.len(), 9);
        // Equal remaining: the longer wait binds.
        let tie = Allowance::new(limits(1, 1, Some(5), None), 0, &cal(), (5, 0));
        assert_eq!(tie.binding().0, Limit::Daily);
        let burst_only = Allowance::burst_only(l, 10);
        assert_eq!(burst_only.fields().count(), 3);
    }

    #[test]
    fn ietf_fields_list_every_policy() {
        let a = Allowance::new(limits(10, 20, Some(1000), Some(30_000)), 19, &cal(), (1, 1));
        let (mut policy, mut current) = (Vec::new(), Vec::new());
        a.write_policy(&mut policy).unwrap_or_default();
        a.write_current(&mut current).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&policy), r#""burst";q=20;w=2, "day";q=1000;w=4600, "month";q=30000;w=200000"#);
        assert_eq!(String::from_utf8_lossy(&current), r#""burst";r=19;t=1, "day";r=999;t=3600, "month";r=29999;t=99000"#);
    }
}
