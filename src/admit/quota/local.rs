//! Owns per-key quotas on one replica (the default, and the fallback when Redis fails): a per-second rate with a burst (GCRA, via governor) and
//! a daily quota over UTC days. Both clocks are injected so tests never sleep.
//!
//! Memory is one small entry per configured key that has sent traffic; `retain` drops the
//! entries of keys that left the key list and keeps the counters of the others.

use super::{Allowance, Daily, Exceeded, DAY};
use crate::config::{KeySpec, Limits};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Seconds since the Unix epoch, for the daily quota.
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_wall_clock() -> WallClock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;

struct KeyState<C: Clock> {
    limits: Limits,
    rate: Limiter<C>,
    /// (UTC day number, requests admitted that day).
    day: Mutex<(u64, u64)>,
}

/// All keys' quota state.
pub struct Quotas<C: Clock = DefaultClock> {
    clock: C,
    wall: WallClock,
    keys: RwLock<HashMap<String, Arc<KeyState<C>>>>,
}

impl Quotas<DefaultClock> {
    pub fn new() -> Self {
        Quotas::with_clocks(DefaultClock::default(), system_wall_clock())
    }
}

impl Default for Quotas<DefaultClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock + Clone> Quotas<C> {
    pub fn with_clocks(clock: C, wall: WallClock) -> Self {
        Quotas { clock, wall, keys: RwLock::new(HashMap::new()) }
    }

    /// Admits or refuses one request of `key`.
    pub fn check(&self, key: &KeySpec) -> Result<Allowance, Exceeded> {
        let state = self.state(key);
        let snapshot = state.rate.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Exceeded::rate(state.limits, ceil_secs(wait).max(1))
        })?;
        let mut daily = None;
        if let Some(per_day) = state.limits.per_day {
            let now = (self.wall)();
            let today = now / DAY;
            let mut day = state.day.lock().unwrap_or_else(|p| p.into_inner());
            if day.0 != today {
                *day = (today, 0);
            }
            let reset = DAY - now % DAY;
            if day.1 >= per_day {
                return Err(Exceeded::daily(state.limits, per_day, snapshot.remaining_burst_capacity(), reset));
            }
            day.1 += 1;
            daily = Some(Daily { limit: per_day, remaining: per_day - day.1, reset });
        }
        Ok(Allowance::from_burst(state.limits, snapshot.remaining_burst_capacity(), daily))
    }

    /// Keeps the state of the keys in `keys` whose limits did not change; drops the rest.
    pub fn retain(&self, keys: &[KeySpec]) {
        let wanted: HashMap<&str, Limits> = keys.iter().map(|k| (k.id.as_str(), k.limits)).collect();
        let mut map = self.keys.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|id, state| wanted.get(id.as_str()) == Some(&state.limits));
    }

    pub fn len(&self) -> usize {
        self.keys.read().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self, key: &KeySpec) -> Arc<KeyState<C>> {
        if let Some(s) = self.keys.read().ok().and_then(|m| m.get(&key.id).cloned()) {
            if s.limits == key.limits {
                return s;
            }
        }
        let mut map = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(key.id.clone()).or_insert_with(|| self.new_state(key.limits));
        if entry.limits != key.limits {
            *entry = self.new_state(key.limits);
        }
        entry.clone()
    }

    fn new_state(&self, limits: Limits) -> Arc<KeyState<C>> {
        let quota = Quota::per_second(limits.per_second).allow_burst(limits.burst);
        let rate = RateLimiter::direct_with_clock(quota, self.clock.clone()).with_middleware::<StateInformationMiddleware>();
        Arc::new(KeyState { limits, rate, day: Mutex::new((0, 0)) })
    }
}

pub(super) fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admit::quota::Limit;
    use crate::config::Allow;
    use governor::clock::FakeRelativeClock;
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    fn key(id: &str, per_second: u32, burst: u32, per_day: Option<u64>) -> KeySpec {
        let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        KeySpec {
            id: id.into(),
            digest: [0; 32],
            limits: Limits { per_second: nz(per_second), burst: nz(burst), per_day },
            upstream_apikey: None,
            enabled: true,
            allow: Allow::default(),
        }
    }

    fn quotas(start_wall: u64) -> (Quotas<FakeRelativeClock>, FakeRelativeClock, Arc<AtomicU64>) {
        let clock = FakeRelativeClock::default();
        let wall = Arc::new(AtomicU64::new(start_wall));
        let w = wall.clone();
        (Quotas::with_clocks(clock.clone(), Arc::new(move || w.load(Ordering::SeqCst))), clock, wall)
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let (q, clock, _) = quotas(0);
        let k = key("a", 2, 3, None);
        let remaining: Vec<u32> = (0..3).map(|_| q.check(&k).map_or(99, |a| a.remaining)).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        assert_eq!(q.check(&k).map_err(|e| (e.limit, e.retry_after)), Err((Limit::Rate, 1)));
        clock.advance(Duration::from_millis(250));
        assert_eq!(q.check(&k).map_err(|e| (e.limit, e.retry_after)), Err((Limit::Rate, 1)), "Retry-After rounds 250 ms up");
        clock.advance(Duration::from_millis(250));
        assert!(q.check(&k).is_ok(), "one cell refills every 500 ms");
        assert!(q.check(&k).is_err());
    }

    #[test]
    fn keys_are_isolated_and_overrides_apply() {
        let (q, _, _) = quotas(0);
        let a = key("a", 1, 1, None);
        let b = key("b", 1, 5, None);
        assert!(q.check(&a).is_ok());
        assert!(q.check(&a).is_err());
        for _ in 0..5 {
            assert!(q.check(&b).is_ok());
        }
        assert_eq!(q.check(&b).map(|_| ()).map_err(|e| (e.limit, e.retry_after)), Err((Limit::Rate, 1)));
    }

    #[test]
    fn daily_quota_resets_at_utc_midnight() {
        let (q, clock, wall) = quotas(DAY * 100 + DAY - 10);
        let k = key("d", 1000, 1000, Some(2));
        assert_eq!(q.check(&k).ok().and_then(|a| a.daily), Some(Daily { limit: 2, remaining: 1, reset: 10 }));
        assert!(q.check(&k).is_ok());
        assert_eq!(q.check(&k).map_err(|e| (e.limit, e.retry_after)), Err((Limit::Daily, 10)));
        wall.store(DAY * 101, Ordering::SeqCst);
        clock.advance(Duration::from_secs(10));
        assert!(q.check(&k).is_ok());
    }

    #[test]
    fn retain_keeps_counters_of_remaining_keys() {
        let (q, _, _) = quotas(0);
        let a = key("a", 1, 1, None);
        let b = key("b", 1, 1, None);
        assert!(q.check(&a).is_ok());
        assert!(q.check(&b).is_ok());
        q.retain(std::slice::from_ref(&a));
        assert_eq!(q.len(), 1);
        assert!(q.check(&a).is_err(), "a's counter survived the reload");
        assert!(q.check(&b).is_ok(), "b was dropped and starts afresh");
    }
}
