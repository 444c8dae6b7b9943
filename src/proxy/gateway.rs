//! Owns the `ProxyHttp` implementation: each phase is short and delegates. The whole request
//! is handled in `request_filter` (see `upstream` for why the gateway calls LiveAgent itself).

use super::state::{Runtime, Shared};
use super::{respond, upstream};
use crate::auth::AuthError;
use crate::config::KeySpec;
use crate::envelope::{Envelope, GatewayError};
use crate::format::Format;
use crate::metrics::{method_label, RequestFacts};
use crate::plan::{self, RequestParts};
use crate::quota::{self, Allowance};
use crate::request_id;
use crate::routes::UNMATCHED;
use crate::shape::UpstreamFault;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::Instant;

pub struct Gateway {
    pub shared: Arc<Shared>,
}

/// Per-request facts for metrics and the access log. Holds no key material.
pub struct Ctx {
    pub request_id: String,
    started: Instant,
    pub endpoint: &'static str,
    method: &'static str,
    pub format: Format,
    pub status: u16,
    pub key_id: Option<String>,
    pub upstream_secs: Option<f64>,
    pub upstream_error: Option<UpstreamFault>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        self.shared.metrics.in_flight.inc();
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            endpoint: UNMATCHED,
            method: "OTHER",
            format: Format::Json,
            status: 0,
            key_id: None,
            upstream_secs: None,
            upstream_error: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        handle(&self.shared, session, ctx).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // Every request is answered in request_filter; pingora's own upstream path is unused.
        Error::e_explain(ErrorType::InternalError, "the gateway does not use the proxy upstream path")
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let error = match e.esource() {
            ErrorSource::Downstream => GatewayError::BadRequest,
            _ => GatewayError::UpstreamUnavailable,
        };
        if session.response_written().is_none() {
            if ctx.request_id.is_empty() {
                ctx.request_id = request_id::generate();
            }
            let _ = refuse(session, ctx, error).await;
        }
        FailToProxy { error_code: ctx.status, can_reuse_downstream: false }
    }

    async fn logging(&self, _session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let facts = RequestFacts {
            request_id: &ctx.request_id,
            endpoint: ctx.endpoint,
            method: ctx.method,
            format: ctx.format.as_str(),
            status: ctx.status,
            key_id: ctx.key_id.as_deref(),
            duration: ctx.started.elapsed().as_secs_f64(),
            upstream_secs: ctx.upstream_secs,
            upstream_error: ctx.upstream_error.map(UpstreamFault::as_str),
        };
        self.shared.metrics.record(&facts);
        self.shared.metrics.in_flight.dec();
        facts.log();
    }

    fn request_summary(&self, session: &Session, ctx: &Ctx) -> String {
        // Never the URI: its query string can hold the key.
        format!("{} {} request_id={}", method_label(session.req_header().method.as_str()), ctx.endpoint, ctx.request_id)
    }
}

fn header<'a>(session: &'a Session, name: &str) -> Option<&'a str> {
    session.req_header().headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request path: route, body, authentication, quota, then LiveAgent.
async fn handle(shared: &Shared, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
    let rt = shared.runtime.load_full();
    ctx.method = method_label(session.req_header().method.as_str());
    ctx.request_id = request_id::from_header(header(session, "x-request-id"));
    let uri = session.req_header().uri.clone();
    let target = match plan::target(uri.path(), uri.query(), header(session, "accept")) {
        Ok(t) => t,
        Err(format) => {
            ctx.format = format;
            return refuse(session, ctx, GatewayError::NotFound).await;
        }
    };
    ctx.endpoint = target.routed.endpoint;
    ctx.format = target.format;
    let Some(body) = read_body(session, rt.config.max_request_bytes).await? else {
        session.set_keepalive(None);
        return refuse(session, ctx, GatewayError::BodyTooLarge).await;
    };
    let method = session.req_header().method.as_str().to_string();
    let content_type = header(session, "content-type").map(str::to_string);
    let apikey_header = header(session, crate::auth::APIKEY).map(str::to_string);
    let parts = RequestParts {
        method: &method,
        query: uri.query(),
        content_type: content_type.as_deref(),
        apikey_header: apikey_header.as_deref(),
        body: &body,
    };
    let admitted = match admit(shared, &rt, session, &target, &parts).await {
        Ok(a) => a,
        Err(refused) => {
            ctx.key_id = refused.key_id;
            return refuse(session, ctx, refused.error).await;
        }
    };
    ctx.key_id = Some(admitted.0.id.clone());
    let rate_headers = admitted.1.headers();
    let up = plan::upstream(&target, &parts, admitted.0, rt.config.upstream.apikey.as_deref(), &rt.config.upstream.base_path);
    upstream::forward(shared, &rt, session, ctx, up, Bytes::from(body), rate_headers).await
}

/// The brute-force guard, authentication, authorisation and quotas, in that order; every
/// refusal is counted.
async fn admit<'r>(
    shared: &Shared,
    rt: &'r Runtime,
    session: &Session,
    target: &plan::Target,
    parts: &RequestParts<'_>,
) -> std::result::Result<(&'r KeySpec, Allowance), plan::Refused> {
    let refused = |error, key_id: Option<&str>| plan::Refused { error, key_id: key_id.map(str::to_string), auth: None };
    let guarded = shared.guard.as_ref().zip(client_ip(shared, session));
    if let Some((guard, ip)) = guarded {
        guard.check(ip).map_err(|retry_after| refused(GatewayError::TooManyAuthFailures { retry_after }, None))?;
    }
    let key = match plan::admit(target, parts, &rt.store) {
        Ok(a) => a.key,
        Err(r) => {
            count_refusal(shared, &r);
            if let (Some((guard, ip)), Some(AuthError::Missing | AuthError::Invalid)) = (guarded, r.auth) {
                guard.failure(ip);
            }
            return Err(r);
        }
    };
    let store = rt.redis.as_ref().map(|(store, on_error)| (store.as_ref(), *on_error));
    match quota::check(key, store, &shared.quotas, |e| shared.redis_failed(e)).await {
        Ok(allowance) => Ok((key, allowance)),
        Err(error) => {
            let r = refused(error, Some(&key.id));
            count_refusal(shared, &r);
            Err(r)
        }
    }
}

fn client_ip(shared: &Shared, session: &Session) -> Option<std::net::IpAddr> {
    let mode = shared.runtime.load().config.auth_guard?.client_ip;
    let peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    quota::guard::client_ip(mode, peer, header(session, "x-forwarded-for"))
}

/// Counts an authentication failure or a quota refusal.
fn count_refusal(shared: &Shared, refused: &plan::Refused) {
    if let Some(reason) = refused.auth {
        shared.metrics.auth_failures.with_label_values(&[reason.reason()]).inc();
    }
    let limit = match refused.error {
        GatewayError::RateLimited { .. } => "rate",
        GatewayError::DailyQuotaExceeded { .. } => "daily",
        _ => return,
    };
    let id = refused.key_id.as_deref().unwrap_or("");
    shared.metrics.rate_limited.with_label_values(&[id, limit]).inc();
}

/// Reads the whole request body; `None` when it is larger than `cap`.
async fn read_body(session: &mut Session, cap: usize) -> Result<Option<Vec<u8>>> {
    let declared = header(session, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.to_vec()))
}

/// Answers with the error envelope for `e` in the request's format.
pub async fn refuse(session: &mut Session, ctx: &mut Ctx, e: GatewayError) -> Result<()> {
    let envelope = Envelope::for_error(e, &ctx.request_id);
    let mut headers = vec![("X-Request-Id", ctx.request_id.clone())];
    if let Some(secs) = e.retry_after() {
        headers.push(("Retry-After", secs.to_string()));
    }
    ctx.status = envelope.status;
    respond::write(session, envelope.status, ctx.format.content_type(), &headers, envelope.render(ctx.format)).await
}
