//! Measures what quotas cost: the latency of one shared (Redis) decision against a local one,
//! and the memory of 100,000 keys in the local limiter. Starts its own `redis-server`.
//!
//! cargo run --release --example quota_cost

use liveagent_gateway::admit::quota::redis::{RedisQuota, Verdict};
use liveagent_gateway::admit::quota::Quotas;
use liveagent_gateway::config::{KeySpec, Limits, OnRedisError, Redis};
use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn key(id: String) -> KeySpec {
    let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
    KeySpec::new(id, [0; 32], Limits { per_second: nz(1_000_000), burst: nz(1_000_000), per_day: Some(u64::MAX / 2), per_month: None })
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!("p50 {:?}  p99 {:?}  p99.9 {:?}", at(0.50), at(0.99), at(0.999))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(16379);
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server: {e}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = RedisQuota::new(&Redis::single(format!("redis://127.0.0.1:{port}"), OnRedisError::Deny, Duration::from_millis(50)))
        .unwrap_or_else(|e| panic!("{e}"));
    let k = key("bench".into());
    for _ in 0..1000 {
        let _ = store.check(&k).await;
    }
    let samples: Vec<Duration> = {
        let mut v = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            let decided = store.check(&k).await;
            v.push(t.elapsed());
            assert!(matches!(decided, Ok(Verdict::Admit(_))), "{decided:?}");
        }
        v
    };
    println!("redis quota decision (GCRA + daily, 20,000 sequential): {}", percentiles(samples));
    let local = Quotas::new();
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            let _ = local.check(&k);
            t.elapsed()
        })
        .collect();
    println!("local quota decision (20,000 sequential):             {}", percentiles(samples));
    let keys: Vec<KeySpec> = (0..100_000).map(|i| key(format!("key-{i:06}"))).collect();
    let before = rss_bytes();
    let quotas = Quotas::new();
    for k in &keys {
        let _ = quotas.check(k);
    }
    let after = rss_bytes();
    println!("local limiter state for {} keys: {:.1} MiB", quotas.len(), (after.saturating_sub(before)) as f64 / 1048576.0);
    let _ = server.kill();
    let _ = server.wait();
}
