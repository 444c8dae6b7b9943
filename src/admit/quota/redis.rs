//! Owns shared quotas in Redis: the per-second GCRA and the daily counter of a key, decided
//! atomically by one Lua script in one round trip, so N replicas admit together what one
//! would. Time comes from Redis (`TIME`), so replicas' clocks do not matter.
//!
//! One server (plain or TLS), a master found through Sentinel, or a Redis Cluster. Every key
//! the script touches is passed in `KEYS` and carries the client key's id as a hash tag
//! (`lagw:{crm-sync}:gcra`), so one client's keys share a hash slot on a Cluster and stores
//! that refuse undeclared keys (DragonflyDB) run the script as it is.
//!
//! A request never waits for a connection longer than `redis.timeout`, reconnects included:
//! the connection sits behind a plain mutex held for a clone; a new one is made by a task of
//! its own, with `CONNECT_TIMEOUT` (a TLS handshake or a Sentinel lookup can take longer than
//! one request may wait), while requests wait for it on a signal within their own deadline;
//! after a failure a new connection is tried at most every `RETRY_AFTER_FAILURE`, with calls
//! failing at once in between.

use super::local::{system_wall_clock, WallClock};
use super::{Allowance, Calendar, Exceeded, Limit};
use crate::config::{KeySpec, Redis, RedisTopology};
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, TlsCertificates, TlsMode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);
/// Longest a new connection may take, at least `redis.timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// KEYS: the key's GCRA state (its theoretical arrival time, in µs), its daily and its monthly
/// counter (hashes of the period's start and the count). ARGV: emission interval (µs), burst,
/// then per quota its limit (0 = none), the current period's start and the seconds its counter
/// is kept (the gateway knows the operator's calendar; Redis knows the time), and
/// last whether to count (`1`) or only look (`0`). Returns {code, retry_after_s, remaining,
/// day_used, month_used}; code 1 = admitted (or looked at), 0 = rate limited, 2 = daily quota,
/// 3 = monthly quota exceeded (`remaining`: the burst left, not spent). A refusal counts
/// nothing.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local function used(key, limit, start)
  if tonumber(limit) == 0 then return 0 end
  local h = redis.call('HMGET', key, 'start', 'used')
  if h[1] == start then return tonumber(h[2]) or 0 end
  return 0
end
local day_used = used(KEYS[2], ARGV[3], ARGV[4])
local month_used = used(KEYS[3], ARGV[6], ARGV[7])
local remaining = math.floor((now + interval * burst - tat) / interval)
if ARGV[9] ~= '1' then return {1, 0, remaining, day_used, month_used} end
local allow_at = tat + interval - interval * burst
if now < allow_at then
  return {0, math.ceil((allow_at - now) / 1000000), 0, day_used, month_used}
end
local function full(limit, n) return tonumber(limit) > 0 and n >= tonumber(limit) end
if full(ARGV[3], day_used) then return {2, 0, remaining, day_used, month_used} end
if full(ARGV[6], month_used) then return {3, 0, remaining, day_used, month_used} end
if tonumber(ARGV[3]) > 0 then
  day_used = day_used + 1
  redis.call('HSET', KEYS[2], 'start', ARGV[4], 'used', day_used)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
if tonumber(ARGV[6]) > 0 then
  month_used = month_used + 1
  redis.call('HSET', KEYS[3], 'start', ARGV[7], 'used', month_used)
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0, math.floor((now + interval * burst - new_tat) / interval), day_used, month_used}
";

/// A period's counter outlives its end by this much, so a replica whose clock is behind still
/// finds it.
const COUNTER_GRACE_SECS: i64 = 3600;

/// The keys of client key `id`: one hash slot, named in `KEYS`. (The daily counter was
/// `lagw:{id}:day`, counted in UTC days; it is not read any more.)
pub fn script_keys(id: &str) -> [String; 3] {
    [format!("lagw:{{{id}}}:gcra"), format!("lagw:{{{id}}}:daily"), format!("lagw:{{{id}}}:monthly")]
}

/// Why Redis gave no decision. The request then follows `on_error`.
#[derive(Debug, thiserror::Error)]
pub enum QuotaStoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis is down; next connection attempt in under {0:?}")]
    Backoff(Duration),
    #[error("unexpected reply from the quota script")]
    Reply,
}

/// Redis's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit(Allowance),
    Refuse(Exceeded),
}

/// How connections are made, by topology.
enum Target {
    Single(redis::Client),
    /// `get_async_connection` needs the client exclusively; only the one connecting request
    /// takes it.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(redis::cluster::ClusterClient),
}

/// A connection of either kind; both are cheap clones of a shared multiplexed connection.
#[derive(Clone)]
enum Conn {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Where the connection stands.
enum Slot {
    Ready(Conn),
    /// A request is connecting; the others wait for `changed`, within their deadline.
    Connecting,
    /// No connection; `since` the last failure (`None`: none yet).
    Down(Option<Instant>),
}

/// The shared quota store.
pub struct RedisQuota {
    script: redis::Script,
    link: Arc<Link>,
    /// The calendar's clock (the rate's is Redis's own `TIME`).
    wall: WallClock,
}

/// The connection, shared with the task that makes a new one.
struct Link {
    target: Target,
    timeout: Duration,
    slot: Mutex<Slot>,
    /// Signalled whenever `slot` leaves `Connecting`.
    changed: tokio::sync::Notify,
    /// Whether a connection attempt has finished, either way.
    tried: std::sync::atomic::AtomicBool,
}

impl RedisQuota {
    /// Builds the client without connecting: everything the configuration gets wrong fails
    /// here, so `check` reports it.
    pub fn new(cfg: &Redis) -> Result<Self, QuotaStoreError> {
        Self::with_wall_clock(cfg, system_wall_clock())
    }

    /// As `new`, with the clock that places requests on the calendar.
    pub fn with_wall_clock(cfg: &Redis, wall: WallClock) -> Result<Self, QuotaStoreError> {
        let certs = || TlsCertificates {
            client_tls: cfg
                .client_pem
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
            root_cert: cfg.ca_pem.clone(),
        };
        let timeout = cfg.timeout;
        let target = match &cfg.topology {
            RedisTopology::Single(url) => {
                let mut info = redis::IntoConnectionInfo::into_connection_info(url.as_str())?;
                info = with_auth(info, cfg);
                Target::Single(if cfg.tls { redis::Client::build_with_tls(info, certs())? } else { redis::Client::open(info)? })
            }
            RedisTopology::Sentinel { sentinels, master } => {
                let addrs = sentinels.iter().map(|node| addr(node, cfg.tls)).collect::<Result<Vec<_>, _>>()?;
                let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?;
                if cfg.tls {
                    b = b
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_redis_certificates(certs())
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_certificates(certs());
                }
                if let Some(user) = &cfg.username {
                    b = b.set_client_to_redis_username(user);
                }
                if let Some(password) = &cfg.password {
                    b = b.set_client_to_redis_password(password);
                }
                Target::Sentinel(tokio::sync::Mutex::new(b.build()?))
            }
            RedisTopology::Cluster(nodes) => {
                let scheme = if cfg.tls { "rediss" } else { "redis" };
                let urls: Vec<String> = nodes.iter().map(|n| format!("{scheme}://{n}")).collect();
                // Connections to the nodes are made by the cluster client itself, also after a
                // MOVED: they get the connecting budget, the calls the request's.
                let mut b = redis::cluster::ClusterClientBuilder::new(urls)
                    .connection_timeout(CONNECT_TIMEOUT.max(timeout))
                    .response_timeout(timeout);
                if cfg.tls {
                    b = b.tls(TlsMode::Secure).certs(certs());
                }
                if let Some(user) = &cfg.username {
                    b = b.username(user);
                }
                if let Some(password) = &cfg.password {
                    b = b.password(password);
                }
                Target::Cluster(b.build()?)
            }
        };
        let link =
            Link { target, timeout, slot: Mutex::new(Slot::Down(None)), changed: tokio::sync::Notify::new(), tried: Default::default() };
        Ok(RedisQuota { script: redis::Script::new(SCRIPT), link: Arc::new(link), wall })
    }

    /// Starts connecting, when a runtime is running and no connection is made or being
    /// made: the first requests then find one instead of following `on_error`.
    pub fn warm(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut slot = self.link.slot();
        if matches!(*slot, Slot::Down(None)) {
            Link::start(&self.link, &mut slot);
        }
    }

    /// Whether the first connection attempt has finished, either way: until then requests
    /// would follow `on_error` for no reason but the start, so the gateway is not ready.
    pub fn settled(&self) -> bool {
        self.link.tried.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One quota decision for `key`, within the timeout whatever happens.
    pub async fn check(&self, key: &KeySpec) -> Result<Verdict, QuotaStoreError> {
        self.bounded(self.run(key, true)).await
    }

    /// Where `key`'s quotas stand in Redis, nothing counted (for `/keys`): every replica
    /// reports the same numbers.
    pub async fn peek(&self, key: &KeySpec) -> Result<Allowance, QuotaStoreError> {
        match self.bounded(self.run(key, false)).await? {
            Verdict::Admit(allowance) => Ok(allowance),
            Verdict::Refuse(_) => Err(QuotaStoreError::Reply),
        }
    }

    async fn bounded(&self, call: impl std::future::Future<Output = Result<Verdict, QuotaStoreError>>) -> Result<Verdict, QuotaStoreError> {
        let timeout = self.link.timeout;
        let result = tokio::time::timeout(timeout, call).await.unwrap_or(Err(QuotaStoreError::Timeout(timeout)));
        if matches!(result, Err(QuotaStoreError::Redis(_) | QuotaStoreError::Timeout(_) | QuotaStoreError::Reply)) {
            self.link.failed();
        }
        result
    }

    async fn run(&self, key: &KeySpec, count: bool) -> Result<Verdict, QuotaStoreError> {
        let conn = Link::connection(&self.link).await?;
        let limits = key.limits;
        let interval_us = 1_000_000 / u64::from(limits.per_second.get()).max(1);
        let cal = Calendar::of(key, (self.wall)());
        let [gcra, day, month] = script_keys(&key.id);
        let mut call = self.script.key(gcra);
        call.key(day).key(month).arg(interval_us.max(1)).arg(limits.burst.get());
        for (limit, span) in [(limits.per_day, cal.day), (limits.per_month, cal.month)] {
            // Kept for the rest of the period and a grace, counted from now: an absolute time
            // would be read on Redis's clock, not ours.
            let (start, keep) = span.map_or((0, 0), |s| (s.start, (s.end - cal.now).max(0) + COUNTER_GRACE_SECS));
            call.arg(limit.unwrap_or(0)).arg(start).arg(keep);
        }
        call.arg(u8::from(count));
        let reply: Vec<i64> = match conn {
            Conn::Node(mut c) => call.invoke_async(&mut c).await?,
            Conn::Cluster(mut c) => call.invoke_async(&mut c).await?,
        };
        let [code, retry, remaining, day_used, month_used] = reply[..] else { return Err(QuotaStoreError::Reply) };
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let allowance = Allowance::new(limits, n(remaining), &cal, (n(day_used), n(month_used)));
        Ok(match code {
            1 => Verdict::Admit(allowance),
            0 => Verdict::Refuse(Exceeded::rate(allowance, n(retry))),
            2 if limits.per_day.is_some() => Verdict::Refuse(Exceeded::calendar(Limit::Daily, allowance)),
            3 if limits.per_month.is_some() => Verdict::Refuse(Exceeded::calendar(Limit::Monthly, allowance)),
            _ => return Err(QuotaStoreError::Reply),
        })
    }
}

impl Link {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the connection after a failure; the next attempt waits out the back-off.
    fn failed(&self) {
        let mut slot = self.slot();
        if !matches!(*slot, Slot::Connecting) {
            *slot = Slot::Down(Some(Instant::now()));
        }
    }

    /// The connection; if there is none, one is started unless the back-off forbids it, and
    /// awaited (the caller's deadline bounds the wait, not the connecting).
    async fn connection(link: &Arc<Link>) -> Result<Conn, QuotaStoreError> {
        loop {
            // Registered before the slot is looked at, so no signal is missed.
            let notified = link.changed.notified();
            {
                let mut slot = link.slot();
                match &*slot {
                    Slot::Ready(c) => return Ok(c.clone()),
                    Slot::Down(Some(at)) if at.elapsed() < RETRY_AFTER_FAILURE => {
                        return Err(QuotaStoreError::Backoff(RETRY_AFTER_FAILURE.saturating_sub(at.elapsed())))
                    }
                    Slot::Down(_) => Link::start(link, &mut slot),
                    Slot::Connecting => {}
                }
            }
            notified.await;
        }
    }

    /// Marks the slot `Connecting` and starts the task that connects.
    fn start(link: &Arc<Link>, slot: &mut Slot) {
        *slot = Slot::Connecting;
        tokio::spawn(Link::connect(Arc::clone(link)));
    }

    /// Makes a new connection and leaves it in the slot, or leaves the slot `Down` (also when
    /// the task is dropped half way, with its runtime).
    async fn connect(link: Arc<Link>) {
        struct Done(Arc<Link>);
        impl Drop for Done {
            fn drop(&mut self) {
                let mut slot = self.0.slot();
                if matches!(*slot, Slot::Connecting) {
                    *slot = Slot::Down(Some(Instant::now()));
                }
                drop(slot);
                self.0.tried.store(true, std::sync::atomic::Ordering::Relaxed);
                self.0.changed.notify_waiters();
            }
        }
        let done = Done(Arc::clone(&link));
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT.max(link.timeout)))
            .set_response_timeout(Some(link.timeout));
        let made = async {
            Ok::<_, redis::RedisError>(match &link.target {
                Target::Single(client) => Conn::Node(client.get_multiplexed_async_connection_with_config(&config).await?),
                Target::Sentinel(client) => Conn::Node(client.lock().await.get_async_connection_with_config(&config).await?),
                Target::Cluster(client) => Conn::Cluster(client.get_async_connection().await?),
            })
        };
        let made = tokio::time::timeout(CONNECT_TIMEOUT.max(link.timeout), made).await;
        *link.slot() = match made {
            Ok(Ok(conn)) => Slot::Ready(conn),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot connect to redis");
                Slot::Down(Some(Instant::now()))
            }
            Err(_) => Slot::Down(Some(Instant::now())),
        };
        drop(done);
    }
}

/// `redis.username` and `redis.password` over what the URL says.
fn with_auth(info: redis::ConnectionInfo, cfg: &Redis) -> redis::ConnectionInfo {
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &cfg.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &cfg.password {
        redis = redis.set_password(password);
    }
    info.set_redis_settings(redis)
}

/// A sentinel's address.
fn addr(node: &str, tls: bool) -> Result<ConnectionAddr, QuotaStoreError> {
    let (host, port) = node.rsplit_once(':').and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?))).ok_or(QuotaStoreError::Reply)?;
    Ok(if tls { ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None } } else { ConnectionAddr::Tcp(host, port) })
}
