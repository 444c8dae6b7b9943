//! Shared quotas through a real Redis: replicas admit together what one would, and a Redis
//! outage follows `redis.on_error` without hanging a request, then recovers.

use crate::util::*;
use std::time::{Duration, Instant};

fn keys_with(redis_url: &str, on_error: &str) -> String {
    format!(
        "  apikey: \"{SIM_KEY}\"\nredis: {{url: \"{redis_url}\", on_error: {on_error}, timeout: \"50ms\"}}\nkeys:\n  - {{id: shared, key: shared-key, limits: {{per_second: 1, burst: 10}}}}\n  - {{id: daily, key: daily-key, limits: {{per_second: 1000, burst: 1000, per_day: 7}}}}\n"
    )
}

async fn status(url: String) -> (u16, reqwest::header::HeaderMap) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.headers().clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_one_quota() {
    let redis = RedisProc::start(free_port()).await;
    let sim = sim().await;
    let a = gateway(&sim.base_url(), &keys_with(&redis.url(), "deny")).await;
    let b = gateway(&sim.base_url(), &keys_with(&redis.url(), "deny")).await;
    let mut admitted = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let (code, headers) = status(gw.url("/api/tags?apikey=shared-key")).await;
        match code {
            200 => admitted += 1,
            429 => assert_eq!(headers["retry-after"], "1"),
            other => panic!("unexpected {other}: {}", a.logs()),
        }
    }
    // A burst of 10 plus at most one cell refilled while the 30 requests ran.
    assert!((10..=11).contains(&admitted), "admitted {admitted} of 30 across two replicas");
    let mut days = Vec::new();
    for i in 0..12 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let (code, headers) = status(gw.url("/api/tags.xml?apikey=daily-key")).await;
        days.push((code, headers.get("x-ratelimit-remaining-day").map(|v| v.to_str().unwrap().to_string())));
    }
    let ok: Vec<_> = days.iter().filter(|(c, _)| *c == 200).collect();
    assert_eq!(ok.len(), 7, "{days:?}");
    assert_eq!(ok.last().unwrap().1.as_deref(), Some("0"));
    assert_eq!(sim.requests().len(), admitted + 7, "refused requests never reached LiveAgent");
    assert_eq!(a.metric("liveagent_gateway_redis_errors_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_follows_on_error_and_recovers() {
    let port = free_port();
    let redis = RedisProc::start(port).await;
    let sim = sim().await;
    let local = gateway(&sim.base_url(), &keys_with(&redis.url(), "local")).await;
    let allow = gateway(&sim.base_url(), &keys_with(&redis.url(), "allow")).await;
    let deny = gateway(&sim.base_url(), &keys_with(&redis.url(), "deny")).await;
    for gw in [&local, &allow, &deny] {
        assert_eq!(status(gw.url("/api/tags?apikey=daily-key")).await.0, 200);
    }
    drop(redis);
    for (gw, want) in [(&local, 200), (&allow, 200), (&deny, 503)] {
        for _ in 0..3 {
            let started = Instant::now();
            let (code, _) = status(gw.url("/api/tags?apikey=daily-key")).await;
            assert!(started.elapsed() < Duration::from_millis(900), "a request waited {:?} on a dead Redis", started.elapsed());
            assert_eq!(code, want, "{}", gw.logs());
        }
        assert!(gw.metric("liveagent_gateway_redis_errors_total").await >= 1.0);
    }
    // The local fallback counts on its own: the daily quota of 7 still holds on this replica.
    let fallback: Vec<u16> = codes(&local, 6).await;
    assert_eq!(fallback.iter().filter(|c| **c == 200).count(), 4, "3 + 4 = 7 admitted locally: {fallback:?}");
    let _redis = RedisProc::start(port).await;
    let recovered = eventually(10, || async { status(deny.url("/api/tags?apikey=shared-key")).await.0 == 200 }).await;
    assert!(recovered, "deny policy never recovered: {}", deny.logs());
    let errors = deny.metric("liveagent_gateway_redis_errors_total").await;
    assert_eq!(status(deny.url("/api/tags?apikey=shared-key")).await.0, 200);
    assert_eq!(deny.metric("liveagent_gateway_redis_errors_total").await, errors, "no new errors once Redis is back");
}

async fn codes(gw: &GatewayProc, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(status(gw.url("/api/tags?apikey=daily-key")).await.0);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn key_guessing_is_throttled_per_address() {
    let sim = sim().await;
    let extra = format!("{}auth_guard: {{per_minute: 1, burst: 3}}\n", substituted_keys());
    let gw = gateway(&sim.base_url(), &extra).await;
    for i in 0..3 {
        assert_eq!(status(gw.url(&format!("/api/tags?apikey=guess-{i}"))).await.0, 401);
    }
    let (code, headers) = status(gw.url("/api/tags?apikey=guess-3")).await;
    assert_eq!(code, 429);
    assert_eq!(headers["retry-after"], "60", "one failure is forgiven per minute");
    let refused = reqwest::get(gw.url("/api/tags.yaml?apikey=guess-4")).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.text().await.unwrap().contains("errormessage: Too many failed authentications"));
    assert_eq!(sim.requests().len(), 0);
    // The guard slows guessing, not working clients: a key that authenticates is served from
    // the same address (behind one NAT, one bad integration does not lock the others out).
    let right = reqwest::get(gw.url(&format!("/api/tags.yaml?apikey={CLIENT_KEY}"))).await.unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(sim.requests().len(), 1);
}
