//! Shared quotas on each Redis topology, against real servers it starts on loopback (one
//! server, a primary and replica behind a Sentinel, a three-master Cluster):
//! - the decision's latency, p50/p99/max of 20,000 sequential decisions;
//! - accuracy: two quota clients (two gateway replicas' stores, each with its own connection)
//!   offer one key four times its rate for `SECS` seconds; admitted against what the rate and
//!   burst allow in that time.
//!
//! - outage: the worst wait of a decision with `redis.timeout: 50ms` while Redis answers
//!   `DEBUG SLEEP 0.5`, then while it is killed (the bound is the timeout).
//!
//! cargo run --release --example quota_topologies [SECS]     (default 60)

use liveagent_gateway::admit::quota::redis::{RedisQuota, Verdict};
use liveagent_gateway::config::{KeySpec, Limits, OnRedisError, Redis, RedisTopology};
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE: u32 = 200;
const BURST: u32 = 200;

/// The processes, killed on drop, and the directory they work in, removed after them.
struct Procs(Vec<Child>, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

fn spawn(program: &str, args: &[String]) -> Child {
    Command::new(program).args(args).stdout(Stdio::null()).spawn().unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn server_args(port: u16, dir: &std::path::Path) -> Vec<String> {
    ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", &dir.display().to_string()]
        .map(String::from)
        .to_vec()
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn wait_for(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn single() -> (RedisTopology, Procs) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let child = spawn("redis-server", &server_args(port, dir.path()));
    wait_for("redis-server", || cli(port, &["PING"]).contains("PONG"));
    (RedisTopology::Single(format!("redis://127.0.0.1:{port}")), Procs(vec![child], dir))
}

fn sentinel() -> (RedisTopology, Procs) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (primary, replica, sentinel) = (free_port(), free_port(), free_port());
    let mut procs = vec![spawn("redis-server", &server_args(primary, dir.path()))];
    wait_for("primary", || cli(primary, &["PING"]).contains("PONG"));
    let mut args = server_args(replica, dir.path());
    args.extend(["--replicaof".into(), "127.0.0.1".into(), primary.to_string()]);
    procs.push(spawn("redis-server", &args));
    wait_for("replica sync", || cli(replica, &["INFO", "replication"]).contains("master_link_status:up"));
    let conf = dir.path().join("sentinel.conf");
    let text = format!("port {sentinel}\nbind 127.0.0.1\nprotected-mode no\nsentinel monitor quota 127.0.0.1 {primary} 1\n");
    std::fs::write(&conf, text).unwrap_or_default();
    procs.push(spawn("redis-sentinel", &[conf.display().to_string()]));
    wait_for("sentinel", || cli(sentinel, &["SENTINEL", "get-master-addr-by-name", "quota"]).contains(&primary.to_string()));
    (RedisTopology::Sentinel { sentinels: vec![format!("127.0.0.1:{sentinel}")], master: "quota".into() }, Procs(procs, dir))
}

fn cluster() -> (RedisTopology, Procs) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ports = [free_port(), free_port(), free_port()];
    let mut procs = Vec::new();
    for port in ports {
        let node = dir.path().join(port.to_string());
        std::fs::create_dir(&node).unwrap_or_default();
        let mut args = server_args(port, &node);
        args.extend(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"].map(String::from));
        procs.push(spawn("redis-server", &args));
        wait_for("cluster node", || cli(port, &["PING"]).contains("PONG"));
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created =
        Command::new("redis-cli").args(["--cluster", "create"]).args(&nodes).args(["--cluster-replicas", "0", "--cluster-yes"]).output();
    assert!(created.is_ok_and(|o| o.status.success()), "cluster create failed");
    wait_for("cluster ok", || ports.iter().all(|p| cli(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")));
    (RedisTopology::Cluster(nodes), Procs(procs, dir))
}

fn key(id: &str, per_second: u32, burst: u32) -> KeySpec {
    let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
    KeySpec::new(id, [0; 32], Limits::rate(nz(per_second), nz(burst)))
}

fn store(topology: &RedisTopology) -> Arc<RedisQuota> {
    let mut cfg = Redis::single("redis://unused", OnRedisError::Deny, Duration::from_millis(50));
    cfg.topology = topology.clone();
    let store = Arc::new(RedisQuota::new(&cfg).unwrap_or_else(|e| panic!("{e}")));
    store.warm();
    store
}

async fn latency(topology: &RedisTopology) -> String {
    let store = store(topology);
    let k = key("latency", 1_000_000, 1_000_000);
    let start = Instant::now();
    while store.check(&k).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "no connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        let decided = store.check(&k).await;
        samples.push(t.elapsed());
        assert!(matches!(decided, Ok(Verdict::Admit(_))), "{decided:?}");
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:.0} µs, p99 {:.0} µs, max {:.2} ms",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(1.0).as_secs_f64() * 1e3
    )
}

/// Two replicas' stores offer `4 × RATE` requests/s between them for `secs`.
async fn accuracy(topology: &RedisTopology, secs: u64) -> String {
    let replicas = [store(topology), store(topology)];
    let k = key("accuracy", RATE, BURST);
    for s in &replicas {
        let start = Instant::now();
        while s.check(&key("warm", 1000, 1000)).await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "no connection");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (admitted, refused, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let tasks: Vec<_> = replicas
        .iter()
        .map(|s| {
            let (s, k, a, r, e) = (s.clone(), k.clone(), admitted.clone(), refused.clone(), errors.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1) / (2 * RATE));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while Instant::now() < end {
                    tick.tick().await;
                    let counter = match s.check(&k).await {
                        Ok(Verdict::Admit(_)) => &a,
                        Ok(Verdict::Refuse(_)) => &r,
                        Err(_) => &e,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let allowed = f64::from(BURST) + f64::from(RATE) * elapsed;
    let got = admitted.load(Ordering::Relaxed) as f64;
    format!(
        "admitted {got:.0} of {:.0} offered; the rate allows {allowed:.0} in {elapsed:.1} s: {:+.2}%; {} errors",
        got + refused.load(Ordering::Relaxed) as f64,
        (got - allowed) / allowed * 100.0,
        errors.load(Ordering::Relaxed)
    )
}

/// Decisions from 16 tasks for `secs`, the worst wait.
async fn worst_wait(store: &Arc<RedisQuota>, secs: f64) -> Duration {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, k) = (store.clone(), key(&format!("outage-{i}"), 1_000_000, 1_000_000));
            tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                while Instant::now() < end {
                    let t = Instant::now();
                    let _ = store.check(&k).await;
                    worst = worst.max(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                worst
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.unwrap_or_default());
    }
    worst
}

async fn outage() -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut args = server_args(port, dir.path());
    args.extend(["--enable-debug-command".into(), "local".into()]);
    let child = spawn("redis-server", &args);
    wait_for("redis-server", || cli(port, &["PING"]).contains("PONG"));
    let (topology, mut procs) = (RedisTopology::Single(format!("redis://127.0.0.1:{port}")), Procs(vec![child], dir));
    let store = store(&topology);
    worst_wait(&store, 0.5).await;
    let mut sleeper = spawn("redis-cli", &["-p".into(), port.to_string(), "DEBUG".into(), "SLEEP".into(), "0.5".into()]);
    let slept = worst_wait(&store, 1.0).await;
    let _ = sleeper.wait();
    for c in &mut procs.0 {
        let _ = c.kill();
        let _ = c.wait();
    }
    let killed = worst_wait(&store, 2.0).await;
    format!(
        "worst wait with redis.timeout 50 ms: {:.1} ms while Redis sleeps 0.5 s, {:.1} ms after it is killed",
        slept.as_secs_f64() * 1e3,
        killed.as_secs_f64() * 1e3
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    println!(
        "| topology | decision latency (20,000 sequential) | two replicas, one key at {RATE}/s (burst {BURST}), offered 4x for {secs} s |"
    );
    println!("|---|---|---|");
    for (name, make) in [("single", single as fn() -> (RedisTopology, Procs)), ("sentinel", sentinel), ("cluster", cluster)] {
        let (topology, procs) = make();
        let lat = latency(&topology).await;
        let acc = accuracy(&topology, secs).await;
        println!("| {name} | {lat} | {acc} |");
        drop(procs);
    }
    println!();
    println!("{}", outage().await);
}
