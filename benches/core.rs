//! Criterion benchmarks of the request path's pure parts: transcoding throughput (MB/s) on the
//! documented customers list scaled to 10, 100 and 1,000 customers and on a 1,000-conversation
//! list; route matching, key lookup among 100,000 keys, and the quota check, per operation.
//!
//! cargo bench --bench core

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use liveagent_gateway::admit::auth::KeyStore;
use liveagent_gateway::admit::quota::Quotas;
use liveagent_gateway::config::{KeySpec, Limits};
use liveagent_gateway::request::format::Format;
use liveagent_gateway::request::routes;
use liveagent_gateway::transcode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::num::NonZeroU32;

/// The documented customers list (`tests/fixtures/seed/customers-list.json`), scaled to `n`
/// customers in LiveAgent's own layout.
pub fn customers(n: usize) -> Vec<u8> {
    let seed: Value = serde_json::from_slice(include_bytes!("../tests/fixtures/seed/customers-list.json")).unwrap_or_default();
    let template = seed["response"]["customers"].as_array().cloned().unwrap_or_default();
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut c = template[i % template.len()].clone();
            c["contactid"] = json!(format!("cid{:05}", i + 1));
            c["email"] = json!(format!("customer{i}@example.com"));
            c["userid"] = json!(format!("uid{:05}", i + 1));
            c
        })
        .collect();
    serde_json::to_vec_pretty(&json!({"response": {"customers": items}})).unwrap_or_default()
}

/// 1,000 conversations as the simulator lists them.
fn conversations() -> Vec<u8> {
    let db = liveagent_sim::data::Db::seeded();
    let payload = liveagent_sim::api::conversations_large(&db, 1000);
    liveagent_sim::json::envelope(payload).into_bytes()
}

fn transcoding(c: &mut Criterion) {
    let bodies = [
        ("customers-10", customers(10)),
        ("customers-100", customers(100)),
        ("customers-1000", customers(1000)),
        ("conversations-1000", conversations()),
    ];
    for format in [Format::Xml, Format::Yaml] {
        let mut group = c.benchmark_group(format!("json-to-{}", format.as_str()));
        for (name, body) in &bodies {
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_function(*name, |b| b.iter(|| transcode::transcode(black_box(body), format)));
        }
        group.finish();
    }
}

fn key(i: usize) -> KeySpec {
    let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
    let limits = Limits { per_second: nz(1_000_000), burst: nz(1_000_000), per_day: None, per_month: None };
    KeySpec::new(format!("key-{i}"), Sha256::digest(format!("client-key-{i}").as_bytes()).into(), limits)
}

fn per_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("per-request");
    group.bench_function("route /api/customers/{id}/groups.xml", |b| {
        b.iter(|| routes::route(black_box("/api/customers/john@example.com/groups.xml"), black_box(Some("apikey=k&x=1"))))
    });
    group.bench_function("route unmatched", |b| b.iter(|| routes::route(black_box("/api/no/such/route/here"), None)));
    let store = KeyStore::new((0..100_000).map(key).collect());
    let presented: Vec<String> = (0..1024).map(|i| format!("client-key-{}", i * 97 % 100_000)).collect();
    let mut i = 0;
    group.bench_function("key lookup among 100,000 keys", |b| {
        b.iter(|| {
            i = (i + 1) % presented.len();
            store.lookup(black_box(&presented[i]))
        })
    });
    group.bench_function("key lookup, unknown key", |b| b.iter(|| store.lookup(black_box("no-such-key"))));
    let quotas = Quotas::new();
    let k = key(1);
    group.bench_function("quota check (local)", |b| b.iter(|| quotas.check(black_box(&k))));
    group.bench_function("quota check, fresh key each time", |b| {
        let mut n = 0;
        b.iter_batched(
            || {
                n += 1;
                key(n)
            },
            |k| quotas.check(&k),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, transcoding, per_request);
criterion_main!(benches);
