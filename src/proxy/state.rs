//! Owns the state shared by all requests: the swappable runtime (config and keys), quotas,
//! metrics and the pool of upstream connections.

use super::client::Pool;
use super::wire::Dialer;
use crate::admit::auth::KeyStore;
use crate::admit::guard::{system_monotonic, AuthGuard};
use crate::admit::quota::redis::{QuotaStoreError, RedisQuota};
use crate::admit::quota::Quotas;
use crate::config::{Config, OnRedisError, Problem};
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use pingora::connectors::ConnectorOptions;
use pingora::upstreams::peer::{HttpPeer, Peer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Why the gateway could not start, or a reload could not take effect.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", problems_text(.0))]
    Config(Vec<Problem>),
    #[error("upstream.url: cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("upstream.url: {host} has no address")]
    NoAddress { host: String },
    #[error("redis.url: {0}")]
    Redis(#[from] QuotaStoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("log.access: {0}")]
    AccessLog(std::io::Error),
}

fn problems_text(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// What a reload replaces as a whole.
pub struct Runtime {
    pub config: Config,
    pub store: KeyStore,
    /// The upstream address, resolved when the configuration loaded.
    pub upstream_addr: SocketAddr,
    /// The pooled-connection identity of LiveAgent, with its timeouts.
    pub peer: HttpPeer,
    /// `peer`'s `reuse_hash`: which pooled connections it may take.
    pub peer_key: u64,
    /// LiveAgent's `Host` field, made once rather than per request.
    pub host_header: String,
    /// The shared quota store and what to do when it fails.
    pub redis: Option<(Arc<RedisQuota>, OnRedisError)>,
    /// The certificate the TLS listener presents: taken per handshake, so a reload that
    /// changes it applies to the next handshake and leaves open connections alone.
    pub tls_key: Option<Arc<rustls::sign::CertifiedKey>>,
}

pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub quotas: Quotas,
    pub metrics: Metrics,
    pub registry: prometheus::Registry,
    pub upstream: Pool<Dialer>,
    /// Seconds from `epoch` to the last upstream answer (any status), plus one; 0 before the
    /// first. For `/readyz`. Counted from an `Instant` the request path has already read.
    upstream_seen: AtomicU64,
    epoch: Instant,
    pub guard: Option<AuthGuard>,
    /// Client connections open now.
    pub open: AtomicUsize,
    /// Client connections allowed when `client.max_connections` is not set: what the
    /// open-files limit leaves room for.
    pub fd_budget: usize,
    /// Unix seconds of the last Redis error logged: at most one line a second.
    redis_logged: AtomicU64,
    pub access: crate::access::AccessLog,
}

impl Shared {
    pub fn redis_failed(&self, e: &QuotaStoreError) {
        self.metrics.redis_errors.inc();
        let now = now_secs();
        if self.redis_logged.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(error = %e, "shared quota store failed; following redis.on_error");
        }
    }

    /// LiveAgent answered a request sent at `at`.
    pub fn mark_upstream_seen(&self, at: Instant) {
        self.upstream_seen.store(at.saturating_duration_since(self.epoch).as_secs() + 1, Ordering::Relaxed);
    }

    /// Whether LiveAgent answered within the last `secs` seconds.
    pub fn upstream_seen_within(&self, secs: u64) -> bool {
        fresh(self.upstream_seen.load(Ordering::Relaxed), self.epoch.elapsed().as_secs(), secs)
    }
}

/// Whether `seen` (a stamp of `mark_upstream_seen`) is at most `secs` old, `now` seconds after
/// the epoch.
fn fresh(seen: u64, now: u64, secs: u64) -> bool {
    seen != 0 && (now + 1).saturating_sub(seen) <= secs
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Resolves the upstream host once; a name that does not resolve is a configuration error.
pub fn resolve(config: &Config) -> Result<SocketAddr, StartError> {
    use std::net::ToSocketAddrs;
    let host = || config.upstream.host.clone();
    (config.upstream.host.as_str(), config.upstream.port)
        .to_socket_addrs()
        .map_err(|source| StartError::Resolve { host: host(), source })?
        // IPv4 first: `localhost` often lists ::1 first while servers listen on 127.0.0.1.
        .min_by_key(SocketAddr::is_ipv6)
        .ok_or_else(|| StartError::NoAddress { host: host() })
}

/// Builds the runtime for `config`, reusing the Redis store of `previous` when its settings
/// did not change (so a reload keeps the connection).
pub fn runtime(config: Config, previous: Option<&Runtime>) -> Result<Runtime, StartError> {
    let kept = previous.and_then(|p| p.redis.as_ref().filter(|_| p.config.redis == config.redis)).map(|(s, _)| s.clone());
    let redis = match (&config.redis, kept) {
        (Some(r), Some(store)) => Some((store, r.on_error)),
        (Some(r), None) => {
            let store = Arc::new(RedisQuota::new(r)?);
            // On a reload, connect before the new runtime takes requests.
            store.warm();
            Some((store, r.on_error))
        }
        (None, _) => None,
    };
    let upstream_addr = resolve(&config)?;
    let store = KeyStore::new(config.keys.clone());
    let u = &config.upstream;
    let mut peer = HttpPeer::new(upstream_addr, u.tls, u.host.clone());
    peer.options.connection_timeout = Some(u.connect_timeout);
    // The TLS handshake gets the same budget again on top of the TCP connect.
    peer.options.total_connection_timeout = Some(u.connect_timeout * 2);
    let peer_key = peer.reuse_hash();
    let tls_key = config.tls.as_ref().map(|t| t.certified_key().map_err(StartError::Tls)).transpose()?;
    let host_header = config.upstream.host_header();
    Ok(Runtime { config, store, upstream_addr, peer, peer_key, host_header, redis, tls_key })
}

/// What the metrics say of a runtime about to run: its keys and its certificate's expiry.
pub fn publish(metrics: &Metrics, rt: &Runtime) {
    metrics.keys_loaded.set(i64::try_from(rt.store.len()).unwrap_or(i64::MAX));
    match &rt.config.tls {
        Some(t) => metrics.tls_cert_expiry.with_label_values(&["client"]).set(t.not_after),
        None => metrics.tls_cert_expiry.reset(),
    }
}

/// Files kept free for everything but client connections (the LiveAgent pool, Redis, the
/// admin listener, reloads, logs): this many, or a quarter of a smaller limit.
const FD_RESERVE: usize = 512;
/// Client connections at most when nothing else says: about 200 MB of state at the most.
const MAX_CONNECTIONS: usize = 10_000;

/// Raises the soft open-files limit to the hard one (as nginx's `worker_rlimit_nofile` and Go
/// do), and returns how many client connections fit under it, each with a connection to
/// LiveAgent, with `FD_RESERVE` to spare. A
/// gateway that runs out of descriptors stops accepting (pingora then retries once a second),
/// so it refuses connections over this number instead, with an answer.
fn fd_budget() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() => hard,
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    // Each client connection may hold a connection to LiveAgent while its request is in
    // flight (as nginx counts worker_connections for a proxy); a small limit keeps a quarter
    // for the rest rather than nothing for the clients.
    (soft.saturating_sub(FD_RESERVE.min(soft / 4)) / 2).clamp(1, MAX_CONNECTIONS)
}

/// Idle keep-alive connections to LiveAgent kept at most.
const MAX_IDLE: usize = 128;

pub fn shared(config: Config) -> Result<Arc<Shared>, StartError> {
    let registry = prometheus::Registry::new();
    let metrics = Metrics::new(&registry)?;
    let mut options = ConnectorOptions::new(MAX_IDLE);
    // The CA file is read once here: changing it takes a restart or upgrade.
    options.ca_file = config.upstream.ca_file.as_ref().map(|p| p.display().to_string());
    let guard = config.auth_guard.map(|g| AuthGuard::new(g, system_monotonic()));
    // Access lines are INFO of target `access`: a level (or RUST_LOG) above that keeps them out,
    // as it always did.
    let mut log = config.log.clone();
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        log.access = crate::config::AccessTo::Off;
    }
    let access = crate::access::AccessLog::start(&log, metrics.access_log_dropped.clone()).map_err(StartError::AccessLog)?;
    let rt = runtime(config, None)?;
    publish(&metrics, &rt);
    Ok(Arc::new(Shared {
        runtime: ArcSwap::from_pointee(rt),
        quotas: Quotas::new(),
        metrics,
        registry,
        upstream: Pool::new(Dialer::new(options), MAX_IDLE),
        upstream_seen: AtomicU64::new(0),
        epoch: Instant::now(),
        guard,
        open: AtomicUsize::new(0),
        fd_budget: fd_budget(),
        redis_logged: AtomicU64::new(0),
        access,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn upstream_freshness() {
        assert!(!super::fresh(0, 0, 30), "never seen");
        // Seen in second 0 of the process (stamp 1): fresh through second 30, stale after.
        assert!(super::fresh(1, 0, 30) && super::fresh(1, 30, 30));
        assert!(!super::fresh(1, 31, 30));
        assert!(super::fresh(100, 99, 30), "seen in the second being counted");
    }
}
