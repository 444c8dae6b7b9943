//! Owns one key's quota counters on this replica and the decision over them: the GCRA of the
//! per-second rate (as governor and the Redis script compute it) and the counts of the current
//! day and month, each named by its period's start so a new period (or a new time zone)
//! starts from zero. The Redis script decides by the same rules.

use super::window::Span;
use super::{Allowance, Calendar, Exceeded, Limit};
use crate::config::Limits;

const NANOS: u64 = 1_000_000_000;

/// A key's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// The GCRA's theoretical arrival time, in nanoseconds of the monotonic clock.
    tat: u64,
    /// (period start, requests counted in it).
    day: (i64, u64),
    month: (i64, u64),
}

fn used(counter: (i64, u64), span: Option<Span>) -> u64 {
    span.filter(|s| s.start == counter.0).map_or(0, |_| counter.1)
}

impl Counters {
    /// Where the quotas stand at `now` (monotonic ns), nothing counted.
    pub fn peek(&self, limits: Limits, now: u64, cal: &Calendar) -> Allowance {
        let interval = NANOS / u64::from(limits.per_second.get());
        let burst = u64::from(limits.burst.get());
        let tat = self.tat.max(now);
        let remaining = (now.saturating_add(interval.saturating_mul(burst)).saturating_sub(tat)) / interval.max(1);
        Allowance::new(limits, remaining, cal, (used(self.day, cal.day), used(self.month, cal.month)))
    }

    /// Admits one request and counts it everywhere, or refuses it and counts nothing.
    pub fn admit(&mut self, limits: Limits, now: u64, cal: &Calendar) -> Result<Allowance, Exceeded> {
        let before = self.peek(limits, now, cal);
        let interval = NANOS / u64::from(limits.per_second.get());
        let tat = self.tat.max(now);
        // The request may pass when the burst has a cell: the arrival time less the burst is
        // not in the future.
        let allow_at = tat.saturating_add(interval).saturating_sub(interval.saturating_mul(u64::from(limits.burst.get())));
        if now < allow_at {
            return Err(Exceeded::rate(before, (allow_at - now).div_ceil(NANOS)));
        }
        for (limit, window) in [(Limit::Daily, before.day), (Limit::Monthly, before.month)] {
            if window.is_some_and(|w| w.remaining == 0) {
                return Err(Exceeded::calendar(limit, before));
            }
        }
        self.tat = tat + interval;
        if let Some(s) = cal.day {
            self.day = (s.start, used(self.day, cal.day) + 1);
        }
        if let Some(s) = cal.month {
            self.month = (s.start, used(self.month, cal.month) + 1);
        }
        Ok(self.peek(limits, now, cal))
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

    #[test]
    fn burst_then_refusal_then_refill() {
        let mut c = Counters::default();
        let l = limits(2, 3, None, None);
        let cal = Calendar { now: 0, day: None, month: None };
        let start = 5 * NANOS;
        let remaining: Vec<u64> = (0..3).map(|_| c.admit(l, start, &cal).map_or(99, |a| a.burst.remaining)).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        assert_eq!(c.admit(l, start, &cal).map_err(|e| (e.limit, e.retry_after)), Err((Limit::Rate, 1)));
        assert_eq!(c.peek(l, start, &cal).burst.reset, 2, "3 cells at 2/s: full in 1.5 s, rounded up");
        assert!(c.admit(l, start + NANOS / 2, &cal).is_ok(), "one cell refills every 500 ms");
        assert!(c.admit(l, start + NANOS / 2, &cal).is_err());
        assert_eq!(c.peek(l, start + 10 * NANOS, &cal).burst.remaining, 3);
    }

    #[test]
    fn a_new_period_starts_from_zero_and_refusals_count_nothing() {
        let mut c = Counters::default();
        let l = limits(1000, 1000, Some(2), Some(3));
        let day1 = Calendar { now: 10, day: Some(Span { start: 0, end: 100 }), month: Some(Span { start: 0, end: 1000 }) };
        assert!(c.admit(l, NANOS, &day1).is_ok());
        assert!(c.admit(l, NANOS, &day1).is_ok());
        let refused = c.admit(l, NANOS, &day1).map_err(|e| (e.limit, e.retry_after, e.allowance.burst.remaining));
        assert_eq!(refused, Err((Limit::Daily, 90, 998)), "the burst is not spent by a refusal");
        let day2 = Calendar { now: 100, day: Some(Span { start: 100, end: 200 }), ..day1 };
        let a = c.admit(l, NANOS, &day2).map(|a| (a.day.map(|w| w.remaining), a.month.map(|w| w.remaining)));
        assert_eq!(a, Ok((Some(1), Some(0))));
        let month = c.admit(l, NANOS, &day2).map_err(|e| (e.limit, e.retry_after));
        assert_eq!(month, Err((Limit::Monthly, 900)));
    }
}
