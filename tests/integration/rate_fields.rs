//! Every answer to a request whose key authenticated carries the rate-limit fields, whatever
//! failed after that: LiveAgent unreachable (502 before any head), too slow (504), or the
//! gateway's own quota refusal (429, with nothing remaining and the time to reset).

use crate::util::*;

/// The `X-RateLimit-*` fields of an answer, as (name, number).
fn rate_fields(headers: &reqwest::header::HeaderMap) -> Vec<(String, u64)> {
    let mut fields: Vec<_> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ratelimit-"))
        .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap().parse::<u64>().unwrap()))
        .collect();
    fields.sort();
    fields
}

fn field(fields: &[(String, u64)], name: &str) -> Option<u64> {
    fields.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_502_before_liveagents_head_carries_the_rate_fields() {
    // Nothing listens on this port: the connection is refused before any answer.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let gw = gateway(&closed, &default_keys()).await;
    for suffix in ["", ".xml", ".yaml"] {
        let resp = reqwest::get(gw.url(&format!("/api/tags{suffix}?apikey={CLIENT_KEY}"))).await.unwrap();
        assert_eq!(resp.status().as_u16(), 502, "{suffix}");
        let fields = rate_fields(resp.headers());
        assert_eq!(field(&fields, "x-ratelimit-limit"), Some(20), "{suffix}: {fields:?}");
        assert!(field(&fields, "x-ratelimit-remaining").is_some_and(|n| n < 20), "{suffix}: {fields:?}");
        assert!(field(&fields, "x-ratelimit-reset").is_some(), "{suffix}: {fields:?}");
    }
    // A refusal before authentication has no key, so no fields.
    let resp = reqwest::get(gw.url("/api/tags?apikey=nope")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(rate_fields(resp.headers()), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_504_carries_the_rate_fields() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let resp = reqwest::Client::new()
        .get(gw.url(&format!("/api/tags.yaml?apikey={CLIENT_KEY}")))
        .header("x-sim-fault", "slow:1500")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 504);
    let fields = rate_fields(resp.headers());
    assert_eq!(field(&fields, "x-ratelimit-limit"), Some(20), "{fields:?}");
    assert_eq!(field(&fields, "x-ratelimit-remaining"), Some(19), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_says_nothing_remains_and_when_it_resets() {
    let sim = sim().await;
    let keys = format!("{}  - {{id: daily, key: daily-key-1, limits: {{per_second: 100, burst: 100, per_day: 1}}}}\n", substituted_keys());
    let gw = gateway(&sim.base_url(), &keys).await;
    // `tiny`: burst 1 at 1/s. The first is admitted, the second refused.
    assert_eq!(reqwest::get(gw.url(&format!("/api/tags?apikey={TINY_KEY}"))).await.unwrap().status(), 200);
    let resp = reqwest::get(gw.url(&format!("/api/tags?apikey={TINY_KEY}"))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let fields = rate_fields(resp.headers());
    assert_eq!(field(&fields, "x-ratelimit-limit"), Some(1), "{fields:?}");
    assert_eq!(field(&fields, "x-ratelimit-remaining"), Some(0), "{fields:?}");
    assert!(field(&fields, "x-ratelimit-reset").is_some_and(|s| s >= 1), "{fields:?}");
    assert!(resp.headers().contains_key("retry-after"));

    // The daily quota: one a day, so the second request of the day is refused until midnight.
    assert_eq!(reqwest::get(gw.url("/api/tags?apikey=daily-key-1")).await.unwrap().status(), 200);
    let resp = reqwest::get(gw.url("/api/tags.xml?apikey=daily-key-1")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let fields = rate_fields(resp.headers());
    assert_eq!(field(&fields, "x-ratelimit-limit-day"), Some(1), "{fields:?}");
    assert_eq!(field(&fields, "x-ratelimit-remaining-day"), Some(0), "{fields:?}");
    let reset = field(&fields, "x-ratelimit-reset-day").unwrap_or(0);
    assert!((1..=86_400).contains(&reset), "{fields:?}");
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, reset, "the daily refusal's Retry-After is the day's reset");
    // The daily quota binds: the plain fields are its, the burst's 100 are in the IETF fields.
    assert_eq!(field(&fields, "x-ratelimit-limit"), Some(1), "{fields:?}");
    assert_eq!(field(&fields, "x-ratelimit-reset"), Some(reset), "{fields:?}");
    let policy = resp.headers()["ratelimit-policy"].to_str().unwrap();
    assert_eq!(policy, format!("\"burst\";q=100;w=1, \"day\";q=1;w={}", 86_400), "a UTC day");
    let current = resp.headers()["ratelimit"].to_str().unwrap();
    assert!(current.starts_with("\"burst\";r=") && current.ends_with(&format!(", \"day\";r=0;t={reset}")), "{current}");
}
