//! Owns shared quotas in Redis: the per-second GCRA and the daily counter of a key, decided
//! atomically by one Lua script in one round trip, so N replicas admit together what one
//! would. Time comes from Redis (`TIME`), so replicas' clocks do not matter.
//!
//! The connection is made lazily and replaced after any failure; while Redis is down, a new
//! connection is tried at most every `RETRY_AFTER_FAILURE`, and calls fail at once in between
//! so the request path never waits on a dead Redis. Every call is bounded by the timeout.

use super::{Allowance, Daily, Exceeded};
use crate::config::{KeySpec, Redis};
use redis::aio::MultiplexedConnection;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// KEYS[1]: the key's GCRA state (its theoretical arrival time, in µs); KEYS[2]: prefix of
/// its daily counters. ARGV: emission interval (µs), burst, daily limit (0 = none).
/// Returns {code, retry_after_s, remaining, day_remaining, day_reset_s}; code 1 = admitted,
/// 0 = rate limited, 2 = daily quota exceeded (`remaining`: the burst left, not spent).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local per_day = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - interval * burst
if now < allow_at then
  return {0, math.ceil((allow_at - now) / 1000000), 0, 0, 0}
end
local day_reset = 86400 - (tonumber(t[1]) % 86400)
local day_left = 0
if per_day > 0 then
  local day_key = KEYS[2] .. ':' .. math.floor(tonumber(t[1]) / 86400)
  local used = tonumber(redis.call('GET', day_key) or 0)
  if used >= per_day then
    return {2, day_reset, math.floor((now + interval * burst - tat) / interval), 0, day_reset}
  end
  used = redis.call('INCR', day_key)
  if used == 1 then redis.call('EXPIRE', day_key, 90000) end
  day_left = per_day - used
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0, math.floor((now + interval * burst - new_tat) / interval), day_left, day_reset}
";

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

/// The shared quota store.
pub struct RedisQuota {
    client: redis::Client,
    timeout: Duration,
    script: redis::Script,
    state: tokio::sync::Mutex<Conn>,
    /// Reconnect attempts are rate-limited: the time of the last failure.
    failed_at: Mutex<Option<Instant>>,
}

enum Conn {
    Idle,
    Ready(MultiplexedConnection),
}

impl RedisQuota {
    pub fn new(cfg: &Redis) -> Result<Self, QuotaStoreError> {
        let client = redis::Client::open(cfg.url.as_str())?;
        Ok(RedisQuota {
            client,
            timeout: cfg.timeout,
            script: redis::Script::new(SCRIPT),
            state: tokio::sync::Mutex::new(Conn::Idle),
            failed_at: Mutex::new(None),
        })
    }

    /// One quota decision for `key`.
    pub async fn check(&self, key: &KeySpec) -> Result<Verdict, QuotaStoreError> {
        let result = tokio::time::timeout(self.timeout, self.run(key)).await.unwrap_or(Err(QuotaStoreError::Timeout(self.timeout)));
        if result.is_err() && !matches!(result, Err(QuotaStoreError::Backoff(_))) {
            *self.state.lock().await = Conn::Idle;
            *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        result
    }

    async fn run(&self, key: &KeySpec) -> Result<Verdict, QuotaStoreError> {
        let mut conn = self.connection().await?;
        let limits = key.limits;
        let interval_us = 1_000_000 / u64::from(limits.per_second.get()).max(1);
        let reply: Vec<i64> = self
            .script
            .key(format!("lagw:{}:gcra", key.id))
            .key(format!("lagw:{}:day", key.id))
            .arg(interval_us.max(1))
            .arg(limits.burst.get())
            .arg(limits.per_day.unwrap_or(0))
            .invoke_async(&mut conn)
            .await?;
        let [code, retry, remaining, day_left, day_reset] = reply[..] else { return Err(QuotaStoreError::Reply) };
        let secs = |v: i64| u64::try_from(v).unwrap_or(0);
        let remaining = u32::try_from(remaining).unwrap_or(0);
        Ok(match (code, limits.per_day) {
            (1, per_day) => {
                let daily = per_day.map(|limit| Daily { limit, remaining: secs(day_left), reset: secs(day_reset) });
                Verdict::Admit(Allowance::from_burst(limits, remaining, daily))
            }
            (0, _) => Verdict::Refuse(Exceeded::rate(limits, secs(retry).max(1))),
            (2, Some(per_day)) => Verdict::Refuse(Exceeded::daily(limits, per_day, remaining, secs(retry).max(1))),
            _ => return Err(QuotaStoreError::Reply),
        })
    }

    async fn connection(&self) -> Result<MultiplexedConnection, QuotaStoreError> {
        let mut state = self.state.lock().await;
        if let Conn::Ready(c) = &*state {
            return Ok(c.clone());
        }
        let failed_at = *self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = failed_at.and_then(|t| RETRY_AFTER_FAILURE.checked_sub(t.elapsed())) {
            return Err(QuotaStoreError::Backoff(wait));
        }
        let config =
            redis::AsyncConnectionConfig::new().set_connection_timeout(Some(self.timeout)).set_response_timeout(Some(self.timeout));
        let conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *state = Conn::Ready(conn.clone());
        Ok(conn)
    }
}
