//! The calendar quotas on both paths: the same scenarios, with a fake wall clock, against this
//! replica's counters and against a real Redis: a Tokyo midnight, a New York day of 25 hours,
//! a Tokyo month end.

use crate::util::*;
use liveagent_gateway::admit::quota::redis::{RedisQuota, Verdict};
use liveagent_gateway::admit::quota::{Allowance, Limit, Quotas};
use liveagent_gateway::config::{KeySpec, Limits, OnRedisError, Redis, Zone};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

enum Store {
    Local(Quotas),
    Shared(RedisQuota),
}

impl Store {
    async fn check(&self, key: &KeySpec) -> Result<Allowance, (Limit, u64)> {
        match self {
            Store::Local(q) => q.check(key).map_err(|e| (e.limit, e.retry_after)),
            Store::Shared(r) => match r.check(key).await.unwrap() {
                Verdict::Admit(a) => Ok(a),
                Verdict::Refuse(e) => Err((e.limit, e.retry_after)),
            },
        }
    }
}

fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_second()
}

/// Both stores on one fake wall clock; the per-second rate never binds (a burst of 10,000).
async fn stores(redis: &RedisProc, clock: &Arc<AtomicI64>) -> Vec<(&'static str, Store)> {
    let c = clock.clone();
    let wall: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(move || c.load(Ordering::SeqCst));
    let local = Quotas::with_clocks(Arc::new(|| 1_000_000_000), wall.clone());
    let cfg = Redis::single(redis.url(), OnRedisError::Deny, Duration::from_millis(500));
    let shared = RedisQuota::with_wall_clock(&cfg, wall).unwrap();
    vec![("local", Store::Local(local)), ("redis", Store::Shared(shared))]
}

fn key(id: &str, zone: &str, per_day: Option<u64>, per_month: Option<u64>) -> KeySpec {
    let big = NonZeroU32::new(10_000).unwrap();
    let mut k = KeySpec::new(id, [0; 32], Limits { per_second: big, burst: big, per_day, per_month });
    k.zone = Zone::named(zone).unwrap();
    k
}

#[tokio::test(flavor = "multi_thread")]
async fn calendar_quotas_agree_on_both_paths() {
    let redis = RedisProc::start(free_port()).await;
    let clock = Arc::new(AtomicI64::new(0));
    for (path, store) in stores(&redis, &clock).await {
        // Tokyo: 23:59:50 on 2 December is 14:59:50 UTC; the day has ten seconds left.
        clock.store(at("2026-12-02T14:59:50Z"), Ordering::SeqCst);
        let tokyo = key(&format!("tokyo-{path}"), "Asia/Tokyo", Some(2), None);
        let day = store.check(&tokyo).await.map(|a| a.day.map(|d| (d.remaining, d.reset, d.length)));
        assert_eq!(day, Ok(Some((1, 10, 86_400))), "{path}");
        assert!(store.check(&tokyo).await.is_ok(), "{path}");
        assert_eq!(store.check(&tokyo).await.err(), Some((Limit::Daily, 10)), "{path}");
        clock.store(at("2026-12-02T15:00:00Z"), Ordering::SeqCst);
        let next = store.check(&tokyo).await.map(|a| a.day.map(|d| (d.remaining, d.reset)));
        assert_eq!(next, Ok(Some((1, 86_400))), "{path}: a new Tokyo day");

        // New York, 1 November 2026: clocks fall back, the day lasts 25 hours.
        clock.store(at("2026-11-01T04:00:00Z"), Ordering::SeqCst);
        let ny = key(&format!("ny-{path}"), "America/New_York", Some(1), None);
        let day = store.check(&ny).await.map(|a| a.day.map(|d| (d.reset, d.length)));
        assert_eq!(day, Ok(Some((25 * 3600, 25 * 3600))), "{path}");
        clock.store(at("2026-11-02T04:00:00Z"), Ordering::SeqCst);
        assert_eq!(store.check(&ny).await.err(), Some((Limit::Daily, 3600)), "{path}: 23:00, the same day");
        clock.store(at("2026-11-02T05:00:00Z"), Ordering::SeqCst);
        assert!(store.check(&ny).await.is_ok(), "{path}: midnight EST");

        // Tokyo, 31 January 2027: the month ends at 15:00 UTC.
        clock.store(at("2027-01-31T14:59:58Z"), Ordering::SeqCst);
        let month = key(&format!("month-{path}"), "Asia/Tokyo", Some(100), Some(2));
        assert!(store.check(&month).await.is_ok(), "{path}");
        let a = store.check(&month).await.unwrap();
        assert_eq!(a.month.map(|m| (m.remaining, m.reset)), Some((0, 2)), "{path}");
        assert_eq!(a.binding().0, Limit::Monthly, "{path}");
        assert_eq!(store.check(&month).await.err(), Some((Limit::Monthly, 2)), "{path}");
        clock.store(at("2027-01-31T15:00:00Z"), Ordering::SeqCst);
        let feb = store.check(&month).await.map(|a| a.month.map(|m| (m.remaining, m.length)));
        assert_eq!(feb, Ok(Some((1, 28 * 86_400))), "{path}: February in Tokyo");
        assert!(store.check(&month).await.is_ok(), "{path}");
        assert_eq!(store.check(&month).await.err(), Some((Limit::Monthly, 28 * 86_400)), "{path}: until 1 March in Tokyo");
    }
}
