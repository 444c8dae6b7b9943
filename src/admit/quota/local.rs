//! Owns per-key quotas on one replica (the default, and the fallback when Redis fails): one
//! small entry of `Counters` per configured key that has sent traffic, behind its own lock.
//! Both clocks are injected so tests never sleep: a monotonic one for the rate (immune to
//! the wall clock being stepped) and the wall clock for the calendar.
//!
//! `retain` drops the entries of keys that left the key list and keeps the counters of the
//! others.

use super::counters::Counters;
use super::{Allowance, Calendar, Exceeded};
use crate::config::{KeySpec, Limits};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Seconds since the Unix epoch, for the calendar quotas and key expiry.
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Nanoseconds of a clock that never goes back, for the per-second rate.
pub type MonotonicNs = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_wall_clock() -> WallClock {
    Arc::new(|| jiff::Timestamp::now().as_second())
}

pub fn system_monotonic_ns() -> MonotonicNs {
    let epoch = Instant::now();
    Arc::new(move || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

struct KeyState {
    limits: Limits,
    counters: Mutex<Counters>,
}

/// All keys' quota state.
pub struct Quotas {
    mono: MonotonicNs,
    wall: WallClock,
    keys: RwLock<HashMap<String, Arc<KeyState>>>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self::new()
    }
}

impl Quotas {
    pub fn new() -> Self {
        Quotas::with_clocks(system_monotonic_ns(), system_wall_clock())
    }

    pub fn with_clocks(mono: MonotonicNs, wall: WallClock) -> Self {
        Quotas { mono, wall, keys: RwLock::new(HashMap::new()) }
    }

    /// Admits or refuses one request of `key`.
    pub fn check(&self, key: &KeySpec) -> Result<Allowance, Exceeded> {
        let state = self.state(key);
        let cal = self.calendar(key);
        let now = (self.mono)();
        let mut counters = state.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.admit(state.limits, now, &cal)
    }

    /// Where `key`'s quotas stand, nothing counted (for `/keys`).
    pub fn peek(&self, key: &KeySpec) -> Allowance {
        let counters =
            self.keys.read().ok().and_then(|m| {
                m.get(&key.id).filter(|s| s.limits == key.limits).map(|s| *s.counters.lock().unwrap_or_else(|p| p.into_inner()))
            });
        counters.unwrap_or_default().peek(key.limits, (self.mono)(), &self.calendar(key))
    }

    /// The wall clock's now, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.wall)()
    }

    fn calendar(&self, key: &KeySpec) -> Calendar {
        // Keys without calendar quotas never read the wall clock.
        let timed = key.limits.per_day.is_some() || key.limits.per_month.is_some();
        Calendar::of(key, if timed { (self.wall)() } else { 0 })
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

    fn state(&self, key: &KeySpec) -> Arc<KeyState> {
        if let Some(s) = self.keys.read().ok().and_then(|m| m.get(&key.id).cloned()) {
            if s.limits == key.limits {
                return s;
            }
        }
        let mut map = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let fresh = || Arc::new(KeyState { limits: key.limits, counters: Mutex::new(Counters::default()) });
        let entry = map.entry(key.id.clone()).or_insert_with(fresh);
        if entry.limits != key.limits {
            *entry = fresh();
        }
        entry.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admit::quota::window::Zone;
    use crate::admit::quota::Limit;
    use crate::config::{Allow, KeyDigest};
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    pub(crate) fn key(id: &str, limits: (u32, u32, Option<u64>, Option<u64>), zone: &str) -> KeySpec {
        let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        KeySpec {
            id: id.into(),
            digests: vec![KeyDigest::new([0; 32])],
            limits: Limits { per_second: nz(limits.0), burst: nz(limits.1), per_day: limits.2, per_month: limits.3 },
            zone: Zone::named(zone).unwrap_or_else(|e| panic!("{e}")),
            upstream_apikey: None,
            enabled: true,
            allow: Allow::default(),
            not_before: None,
            expires_at: None,
        }
    }

    struct Fake {
        quotas: Quotas,
        mono: Arc<AtomicU64>,
        wall: Arc<AtomicI64>,
    }

    fn fake(wall_start: &str) -> Fake {
        let mono = Arc::new(AtomicU64::new(1_000_000_000));
        let wall = Arc::new(AtomicI64::new(at(wall_start)));
        let (m, w) = (mono.clone(), wall.clone());
        let quotas = Quotas::with_clocks(Arc::new(move || m.load(Ordering::SeqCst)), Arc::new(move || w.load(Ordering::SeqCst)));
        Fake { quotas, mono, wall }
    }

    impl Fake {
        /// Both clocks forward by `secs`.
        fn advance(&self, secs: i64) {
            self.wall.fetch_add(secs, Ordering::SeqCst);
            self.mono.fetch_add(u64::try_from(secs).unwrap_or(0) * 1_000_000_000, Ordering::SeqCst);
        }
    }

    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn refused(q: &Quotas, k: &KeySpec) -> Option<(Limit, u64)> {
        q.check(k).err().map(|e| (e.limit, e.retry_after))
    }

    #[test]
    fn keys_are_isolated_and_overrides_apply() {
        let f = fake("2026-12-02T00:00:00Z");
        let a = key("a", (1, 1, None, None), "UTC");
        let b = key("b", (1, 5, None, None), "UTC");
        assert!(f.quotas.check(&a).is_ok());
        assert!(f.quotas.check(&a).is_err());
        for _ in 0..5 {
            assert!(f.quotas.check(&b).is_ok());
        }
        assert_eq!(refused(&f.quotas, &b), Some((Limit::Rate, 1)));
    }

    #[test]
    fn a_tokyo_day_resets_at_tokyo_midnight() {
        // 23:59:50 in Tokyo is 14:59:50 UTC: ten seconds of the day are left.
        let f = fake("2026-12-02T14:59:50Z");
        let k = key("tokyo", (1000, 1000, Some(2), None), "Asia/Tokyo");
        let day = f.quotas.check(&k).ok().and_then(|a| a.day);
        assert_eq!(day.map(|d| (d.limit, d.remaining, d.reset, d.length)), Some((2, 1, 10, 86_400)));
        assert!(f.quotas.check(&k).is_ok());
        assert_eq!(refused(&f.quotas, &k), Some((Limit::Daily, 10)));
        f.advance(9);
        assert_eq!(refused(&f.quotas, &k), Some((Limit::Daily, 1)), "still the same Tokyo day");
        f.advance(1);
        assert!(f.quotas.check(&k).is_ok(), "00:00 in Tokyo: a new day");
        // The same instants on UTC days would not have reset.
        let utc = key("utc", (1000, 1000, Some(1), None), "UTC");
        assert!(f.quotas.check(&utc).is_ok());
        assert_eq!(refused(&f.quotas, &utc), Some((Limit::Daily, 9 * 3600)));
    }

    #[test]
    fn a_new_york_day_is_25_hours_when_clocks_fall_back() {
        // 2026-11-01 00:00 EDT is 04:00 UTC; the day ends at 05:00 UTC on the 2nd (EST).
        let f = fake("2026-11-01T04:00:00Z");
        let k = key("ny", (1000, 1000, Some(1), None), "America/New_York");
        let day = f.quotas.check(&k).ok().and_then(|a| a.day);
        assert_eq!(day.map(|d| (d.reset, d.length)), Some((25 * 3600, 25 * 3600)));
        f.advance(24 * 3600);
        assert_eq!(refused(&f.quotas, &k), Some((Limit::Daily, 3600)), "24 h later it is 23:00 the same day");
        f.advance(3600);
        assert!(f.quotas.check(&k).is_ok());
        // The spring change: 2026-03-08 is 23 hours.
        let f = fake("2026-03-08T05:00:00Z");
        let day = f.quotas.check(&k).ok().and_then(|a| a.day);
        assert_eq!(day.map(|d| d.reset), Some(23 * 3600));
        f.advance(23 * 3600);
        assert!(f.quotas.check(&k).is_ok(), "23 h later it is the 9th");
    }

    #[test]
    fn a_month_ends_at_its_last_local_midnight() {
        let f = fake("2027-01-31T14:59:58Z");
        let k = key("m", (1000, 1000, None, Some(2)), "Asia/Tokyo");
        assert!(f.quotas.check(&k).is_ok());
        assert!(f.quotas.check(&k).is_ok());
        assert_eq!(refused(&f.quotas, &k), Some((Limit::Monthly, 2)));
        f.advance(2);
        let month = f.quotas.check(&k).ok().and_then(|a| a.month);
        assert_eq!(month.map(|m| (m.remaining, m.length)), Some((1, 28 * 86_400)), "February 2027 in Tokyo");
    }

    #[test]
    fn peek_counts_nothing() {
        let f = fake("2026-12-02T00:00:00Z");
        let k = key("p", (1, 3, Some(10), Some(100)), "UTC");
        assert_eq!(f.quotas.peek(&k).burst.remaining, 3, "a key without traffic has everything");
        assert!(f.quotas.check(&k).is_ok());
        let seen = f.quotas.peek(&k);
        assert_eq!(f.quotas.peek(&k), seen);
        assert_eq!((seen.burst.remaining, seen.day.map(|d| d.remaining), seen.month.map(|m| m.remaining)), (2, Some(9), Some(99)));
    }

    #[test]
    fn retain_keeps_counters_of_remaining_keys() {
        let f = fake("2026-12-02T00:00:00Z");
        let a = key("a", (1, 1, None, None), "UTC");
        let b = key("b", (1, 1, None, None), "UTC");
        assert!(f.quotas.check(&a).is_ok());
        assert!(f.quotas.check(&b).is_ok());
        f.quotas.retain(std::slice::from_ref(&a));
        assert_eq!(f.quotas.len(), 1);
        assert!(f.quotas.check(&a).is_err(), "a's counter survived the reload");
        assert!(f.quotas.check(&b).is_ok(), "b was dropped and starts afresh");
    }
}
