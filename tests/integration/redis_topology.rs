//! Shared quotas on Redis as production runs it, against real servers started here: TLS with a
//! client certificate, a Sentinel failover, a three-master Cluster, and `redis.timeout` as the
//! bound on every wait.

use crate::util::*;
use liveagent_gateway::admit::quota::redis::{script_keys, QuotaStoreError, RedisQuota};
use liveagent_gateway::config::{OnRedisError, Redis};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis process (server or sentinel) in a directory of its own, killed on drop.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn(program: &str, port: u16, args: &[String]) -> Proc {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed (the test command installs it): {e}"));
    let up = eventually(10, || async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
    assert!(up, "{program} did not start on {port}");
    Proc { child }
}

fn base_args(port: u16, dir: &Path) -> Vec<String> {
    ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", &dir.display().to_string()]
        .map(String::from)
        .to_vec()
}

/// `redis-cli` against a plain port; its output.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().expect("redis-cli is needed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config(redis: &str, on_error: &str) -> String {
    format!(
        "  apikey: \"{SIM_KEY}\"\nredis: {{{redis}, on_error: {on_error}, timeout: \"50ms\"}}\nkeys:\n  - {{id: shared, key: shared-key, limits: {{per_second: 1, burst: 10}}}}\n  - {{id: daily, key: daily-key, limits: {{per_second: 1000, burst: 1000, per_day: 7}}}}\n  - {{id: open, key: open-key, limits: {{per_second: 1000, burst: 1000}}}}\n"
    )
}

/// Waits until the gateway says it is ready: its first Redis connection attempt is over.
async fn ready(gw: GatewayProc) -> GatewayProc {
    let url = format!("http://{}/readyz", gw.admin);
    let ok = eventually(10, || async { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) }).await;
    assert!(ok, "never ready: {}", gw.logs());
    gw
}

async fn code(url: String) -> u16 {
    reqwest::get(url).await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Two replicas share one key's burst of 10 and another's daily quota of 7.
async fn replicas_share(a: &GatewayProc, b: &GatewayProc) {
    let mut admitted = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { a } else { b };
        match code(gw.url("/api/tags?apikey=shared-key")).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected {other}: {}", gw.logs()),
        }
    }
    assert!((10..=11).contains(&admitted), "admitted {admitted} of 30 across two replicas: {}", a.logs());
    let mut daily = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { a } else { b };
        daily += usize::from(code(gw.url("/api/tags.xml?apikey=daily-key")).await == 200);
    }
    assert_eq!(daily, 7, "{}", b.logs());
    for gw in [a, b] {
        assert_eq!(gw.metric("liveagent_gateway_redis_errors_total").await, 0.0, "{}", gw.logs());
    }
}

/// A CA, a server certificate for `localhost` and 127.0.0.1, and a client certificate, as
/// PEM files in `dir`: (ca, server cert, server key, client cert, client key).
fn tls_files(dir: &Path) -> [PathBuf; 5] {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL takes a certificate whose subject is its issuer for self-signed.
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0].as_str());
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
    let (client, client_key) = leaf(vec!["gateway".into()]);
    let files = ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"].map(|f| dir.join(f));
    for (path, pem) in files.iter().zip([ca.pem(), server, server_key, client, client_key]) {
        std::fs::write(path, pem).unwrap();
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_are_shared_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key, client, client_key] = tls_files(dir.path());
    let port = free_port();
    let mut args = base_args(0, dir.path());
    let path = |p: &PathBuf| p.display().to_string();
    args.extend(
        [
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path(&cert),
            "--tls-key-file",
            &path(&key),
            "--tls-ca-cert-file",
            &path(&ca),
            "--tls-auth-clients",
            "yes",
        ]
        .map(String::from),
    );
    let _redis = spawn("redis-server", port, &args).await;
    let sim = sim().await;
    let redis = format!(
        "url: \"rediss://localhost:{port}\", ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"",
        path(&ca),
        path(&client),
        path(&client_key)
    );
    let a = ready(gateway(&sim.base_url(), &config(&redis, "deny")).await).await;
    let b = ready(gateway(&sim.base_url(), &config(&redis, "deny")).await).await;
    replicas_share(&a, &b).await;
    // Without the client certificate the server refuses the handshake: every decision fails.
    let no_client = format!("url: \"rediss://localhost:{port}\", ca_file: \"{}\"", path(&ca));
    let c = ready(gateway(&sim.base_url(), &config(&no_client, "deny")).await).await;
    assert_eq!(code(c.url("/api/tags?apikey=open-key")).await, 503);
    assert!(c.metric("liveagent_gateway_redis_errors_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sentinel_failover_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (master_port, replica_port, sentinel_port) = (free_port(), free_port(), free_port());
    let master = spawn("redis-server", master_port, &base_args(master_port, dir.path())).await;
    let mut replica_args = base_args(replica_port, dir.path());
    replica_args.extend(["--replicaof", "127.0.0.1", &master_port.to_string()].map(String::from));
    let _replica = spawn("redis-server", replica_port, &replica_args).await;
    let synced = eventually(10, || async { cli(replica_port, &["INFO", "replication"]).contains("master_link_status:up") }).await;
    assert!(synced, "the replica never synced");
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\nsentinel monitor quota 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds quota 400\nsentinel failover-timeout quota 3000\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let _sentinel = spawn("redis-sentinel", sentinel_port, &[conf.display().to_string()]).await;
    let sim = sim().await;
    let redis = format!("sentinels: [\"127.0.0.1:{sentinel_port}\"], master: quota");
    let a = ready(gateway(&sim.base_url(), &config(&redis, "deny")).await).await;
    let b = ready(gateway(&sim.base_url(), &config(&redis, "local")).await).await;
    assert_eq!(code(a.url("/api/tags?apikey=open-key")).await, 200, "{}", a.logs());
    let known =
        eventually(10, || async { cli(sentinel_port, &["SENTINEL", "replicas", "quota"]).contains(&replica_port.to_string()) }).await;
    assert!(known, "the sentinel never learnt of the replica");

    drop(master);
    let killed = Instant::now();
    let (mut refused, mut local) = (0, 0);
    let resumed = loop {
        assert!(killed.elapsed() < Duration::from_secs(30), "shared counting never resumed: {}", a.logs());
        let started = Instant::now();
        let (deny, fallback) = (code(a.url("/api/tags?apikey=open-key")).await, code(b.url("/api/tags?apikey=open-key")).await);
        assert!(started.elapsed() < Duration::from_secs(2), "requests waited {:?} on a failing Redis", started.elapsed());
        assert_eq!(fallback, 200, "on_error: local keeps admitting");
        match deny {
            200 => break killed.elapsed(),
            503 => refused += 1,
            other => panic!("unexpected {other}"),
        }
        local += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("sentinel failover: shared counting resumed {resumed:?} after the master was killed; {refused} requests refused (deny), {local} counted locally (local)");
    assert!(cli(sentinel_port, &["SENTINEL", "get-master-addr-by-name", "quota"]).contains(&replica_port.to_string()));
    // Both replicas count together on the new master.
    let mut daily = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &a } else { &b };
        daily += usize::from(code(gw.url("/api/tags.xml?apikey=daily-key")).await == 200);
    }
    assert_eq!(daily, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_are_shared_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let mut nodes = Vec::new();
    for port in ports {
        let node_dir = dir.path().join(port.to_string());
        std::fs::create_dir(&node_dir).unwrap();
        let mut args = base_args(port, &node_dir);
        args.extend(
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"].map(String::from),
        );
        nodes.push(spawn("redis-server", port, &args).await);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
    let ok = eventually(10, || async { ports.iter().all(|p| cli(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")) }).await;
    assert!(ok, "the cluster never came up");
    // One client's keys share a hash slot: the script may touch them together.
    for id in ["shared", "daily"] {
        let slots: Vec<String> = script_keys(id).iter().map(|k| cli(ports[0], &["CLUSTER", "KEYSLOT", k])).collect();
        assert_eq!(slots[0], slots[1], "{id}");
    }
    let slots: Vec<String> =
        ["shared", "daily", "open"].iter().map(|id| cli(ports[0], &["CLUSTER", "KEYSLOT", &script_keys(id)[0]])).collect();
    assert!(slots.iter().any(|s| s != &slots[0]), "the test's keys should land on different slots: {slots:?}");
    let sim = sim().await;
    let redis = format!("cluster: [\"{}\"]", addrs[0]);
    let a = ready(gateway(&sim.base_url(), &config(&redis, "deny")).await).await;
    let b = ready(gateway(&sim.base_url(), &config(&format!("cluster: [\"{}\", \"{}\"]", addrs[1], addrs[2]), "deny")).await).await;
    replicas_share(&a, &b).await;
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_timeout_bounds_every_wait() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut args = base_args(port, dir.path());
    args.extend(["--enable-debug-command", "local"].map(String::from));
    let server = spawn("redis-server", port, &args).await;
    let timeout = Duration::from_millis(100);
    let store =
        std::sync::Arc::new(RedisQuota::new(&Redis::single(format!("redis://127.0.0.1:{port}"), OnRedisError::Deny, timeout)).unwrap());
    let nz = |v| std::num::NonZeroU32::new(v).unwrap();
    let key = liveagent_gateway::config::KeySpec::new("bounded", [0; 32], liveagent_gateway::config::Limits::rate(nz(1000), nz(1000)));
    assert!(store.check(&key).await.is_ok());
    // Redis stops answering for a second: a batch of concurrent requests, then more as the
    // first connection is dropped and others queue for a new one. The batches take about half
    // of the second; the sleep has a tenth of it to begin, even on a loaded machine.
    let sleeper = Command::new("redis-cli").args(["-p", &port.to_string(), "DEBUG", "SLEEP", "1"]).stdout(Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stalled = Instant::now();
    // The deadline, or the connection's own response timeout set to the same: either way.
    let first = store.check(&key).await;
    assert!(matches!(first, Err(QuotaStoreError::Timeout(_) | QuotaStoreError::Redis(_))), "Redis should be asleep: {first:?}");
    assert!(stalled.elapsed() >= timeout - Duration::from_millis(5), "the first call waits out the timeout");
    let mut waits = Vec::new();
    for _ in 0..5 {
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let _ = store.check(&key).await;
                    started.elapsed()
                })
            })
            .collect();
        for call in calls {
            waits.push(call.await.unwrap());
        }
    }
    let slept = sleeper.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&slept.stdout).trim(), "OK", "DEBUG SLEEP ran");
    drop(server);
    for _ in 0..20 {
        let started = Instant::now();
        assert!(store.check(&key).await.is_err());
        waits.push(started.elapsed());
    }
    let worst = waits.iter().max().copied().unwrap_or_default();
    // The bound is the timeout; the margin is this machine's scheduling noise, well under the
    // second timeout a queued reconnect used to add.
    assert!(worst < timeout + Duration::from_millis(60), "a request waited {worst:?} with redis.timeout {timeout:?}");
}
