//! Owns the admin listener: `/metrics`, `/healthz` and `/readyz`.

use super::state::Shared;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// How long an upstream answer counts as proof that LiveAgent is reachable.
const UPSTREAM_FRESH_SECS: u64 = 30;

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

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => reply(200, "text/plain; version=0.0.4; charset=utf-8", crate::metrics::encode(&self.shared.registry)),
            "/healthz" => reply(200, "text/plain; charset=utf-8", b"ok\n".to_vec()),
            "/readyz" => {
                let problems = self.readiness().await;
                if problems.is_empty() {
                    reply(200, "text/plain; charset=utf-8", b"ready\n".to_vec())
                } else {
                    reply(503, "text/plain; charset=utf-8", format!("not ready: {}\n", problems.join("; ")).into_bytes())
                }
            }
            _ => reply(404, "text/plain; charset=utf-8", b"not found\n".to_vec()),
        }
    }
}

impl Admin {
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
