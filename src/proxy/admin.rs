//! Owns the admin listener: `/metrics`, `/healthz`, `/readyz`, and each key's usage at
//! `/keys` and `/keys/{id}`. With `admin.token` set, everything but the two probes asks for it
//! as a bearer token.

use super::state::{Runtime, Shared};
use crate::admit::usage::{self, Source};
use crate::config::KeySpec;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// How long an upstream answer counts as proof that LiveAgent is reachable.
const UPSTREAM_FRESH_SECS: u64 = 30;

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

pub struct Admin {
    pub shared: Arc<Shared>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = resp.body().len();
    resp.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

/// Whether the request carries the admin token (`Authorization: Bearer …`), compared in
/// constant time; with no token configured, every request does.
fn authorized(token: Option<&str>, authorization: Option<&[u8]>) -> bool {
    let Some(token) = token else { return true };
    let presented = authorization.and_then(|v| v.get(..7).filter(|p| p.eq_ignore_ascii_case(b"bearer ")).and(v.get(7..)));
    presented.is_some_and(|p| bool::from(p.trim_ascii().ct_eq(token.as_bytes())))
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/healthz" => return reply(200, TEXT, b"ok\n".to_vec()),
            "/readyz" => {
                let problems = self.readiness().await;
                return if problems.is_empty() {
                    reply(200, TEXT, b"ready\n".to_vec())
                } else {
                    reply(503, TEXT, format!("not ready: {}\n", problems.join("; ")).into_bytes())
                };
            }
            _ => {}
        }
        let rt = self.shared.runtime.load_full();
        let authorization = session.req_header().headers.get(http::header::AUTHORIZATION).map(http::HeaderValue::as_bytes);
        if !authorized(rt.config.admin_token.as_ref().map(|t| t.0.as_str()), authorization) {
            let mut resp = reply(401, TEXT, b"admin token required (Authorization: Bearer ...)\n".to_vec());
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            return resp;
        }
        match path.as_str() {
            "/metrics" => {
                self.refresh_key_gauges(&rt).await;
                reply(200, "text/plain; version=0.0.4; charset=utf-8", crate::metrics::encode(&self.shared.registry))
            }
            "/keys" => {
                let mut keys = Vec::with_capacity(rt.store.len());
                let mut redis_failed = false;
                for key in rt.store.keys() {
                    keys.push(self.key_json(&rt, key, &mut redis_failed).await);
                }
                reply(200, JSON, serde_json::json!({ "keys": keys }).to_string().into_bytes())
            }
            p => match p.strip_prefix("/keys/").map(|id| rt.store.get(id)) {
                Some(Some(key)) => reply(200, JSON, self.key_json(&rt, key, &mut false).await.to_string().into_bytes()),
                Some(None) => reply(404, JSON, br#"{"error":"no such key id"}"#.to_vec()),
                None => reply(404, TEXT, b"not found\n".to_vec()),
            },
        }
    }
}

impl Admin {
    /// Where `key`'s quotas stand: from Redis when quotas are shared (so every replica tells
    /// the same), else from this replica's counters. `failed` is shared by the keys of one
    /// listing or scrape: once Redis failed (each failure waits up to `redis.timeout`), the
    /// remaining keys are not asked, so an unreachable Redis costs a scrape one wait and one
    /// warning, not one per key (a scrape of 100 keys would outlast Prometheus' timeout).
    async fn usage(
        &self,
        rt: &Runtime,
        key: &KeySpec,
        failed: &mut bool,
    ) -> Result<(crate::admit::quota::Allowance, Source), &'static str> {
        const UNAVAILABLE: &str = "shared quota store unavailable";
        match &rt.redis {
            Some(_) if *failed => Err(UNAVAILABLE),
            Some((store, _)) => store.peek(key).await.map(|a| (a, Source::Shared)).map_err(|e| {
                *failed = true;
                tracing::warn!(error = %e, key_id = %key.id, "cannot read keys' usage from redis; the keys after this one are not asked this time");
                UNAVAILABLE
            }),
            None => Ok((self.shared.quotas.peek(key), Source::Local)),
        }
    }

    async fn key_json(&self, rt: &Runtime, key: &KeySpec, redis_failed: &mut bool) -> serde_json::Value {
        let usage = self.usage(rt, key, redis_failed).await;
        usage::key_json(key, self.shared.quotas.now(), usage)
    }

    /// Sets the per-key gauges for this scrape: the configured keys only, so a removed key's
    /// series go with it.
    async fn refresh_key_gauges(&self, rt: &Runtime) {
        let m = &self.shared.metrics;
        let now = self.shared.quotas.now();
        m.key_expiry.reset();
        for key in rt.store.keys() {
            if let Some(at) = key.expiry() {
                m.key_expiry.with_label_values(&[&key.id]).set(at - now);
            }
        }
        let mut counted = Vec::new();
        let mut redis_failed = false;
        for key in rt.store.keys().iter().filter(|k| k.limits.per_day.is_some() || k.limits.per_month.is_some()) {
            // A key whose usage cannot be read now keeps no stale series.
            if let Ok((a, _)) = self.usage(rt, key, &mut redis_failed).await {
                counted.push((key.id.as_str(), a));
            }
        }
        m.quota_used.reset();
        m.quota_limit.reset();
        for (id, a) in counted {
            for (limit, w) in a.windows().skip(1) {
                let labels = [id, limit.policy()];
                m.quota_used.with_label_values(&labels).set(i64::try_from(w.limit - w.remaining.min(w.limit)).unwrap_or(i64::MAX));
                m.quota_limit.with_label_values(&labels).set(i64::try_from(w.limit).unwrap_or(i64::MAX));
            }
        }
    }

    /// Ready when keys are loaded, the first connection to Redis (if any) was tried, and
    /// LiveAgent answered recently or accepts a connection now.
    async fn readiness(&self) -> Vec<&'static str> {
        let rt = self.shared.runtime.load_full();
        let mut problems = Vec::new();
        if rt.store.is_empty() {
            problems.push("no keys loaded");
        }
        if rt.redis.as_ref().is_some_and(|(store, _)| !store.settled()) {
            problems.push("connecting to redis");
        }
        if !self.shared.upstream_seen_within(UPSTREAM_FRESH_SECS) {
            let connect = tokio::net::TcpStream::connect(rt.upstream_addr);
            match tokio::time::timeout(rt.config.upstream.connect_timeout, connect).await {
                Ok(Ok(_)) => self.shared.mark_upstream_seen(std::time::Instant::now()),
                _ => problems.push("upstream unreachable"),
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::authorized;

    #[test]
    fn bearer_token() {
        let t = Some("0123456789abcdef0123456789abcdef");
        assert!(authorized(None, None));
        assert!(!authorized(t, None));
        assert!(authorized(t, Some(b"Bearer 0123456789abcdef0123456789abcdef")));
        assert!(authorized(t, Some(b"bearer 0123456789abcdef0123456789abcdef ")));
        assert!(!authorized(t, Some(b"Bearer 0123456789abcdef0123456789abcde")));
        assert!(!authorized(t, Some(b"Basic 0123456789abcdef0123456789abcdef")));
        assert!(!authorized(t, Some(b"Bearer")));
        assert!(!authorized(t, Some(b"")));
    }
}
