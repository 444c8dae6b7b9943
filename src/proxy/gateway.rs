//! Owns the gateway's HTTP application on pingora: reading a request, handling it (route,
//! body, key, quota, then LiveAgent via `upstream`), answering, metrics and the access log,
//! and the connection's keep-alive and shutdown behaviour.

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
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession as Session;
use pingora::server::ShutdownWatch;
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

/// Marks a connection that already served a request, so the next one on it may be dropped
/// at shutdown while it is still idle.
struct Reused;

#[async_trait]
impl HttpServerApp for Gateway {
    async fn process_new_http(self: &Arc<Self>, mut session: Session, shutdown: &ShutdownWatch) -> Option<ReusedHttpStream> {
        let reused = session.take_connection_user_context().is_some();
        if !read_request(&mut session, reused, shutdown).await {
            return None;
        }
        if *shutdown.borrow() {
            // Answer this request, then close: the process is going away.
            session.set_keepalive(None);
        }
        let mut ctx = Ctx::new(&self.shared);
        // Boxed: the request-handling state is large, and only a connection that is serving a
        // request should hold it; an idle keep-alive connection then costs a few KB.
        if let Err(e) = Box::pin(handle(&self.shared, &mut session, &mut ctx)).await {
            fail(&mut session, &mut ctx, &e).await;
        }
        self.shared.metrics.in_flight.dec();
        ctx.finish(&self.shared);
        let mut persistent = HttpPersistentSettings::for_session(&session);
        persistent.set_user_context(Box::new(Reused));
        session.finish().await.ok().flatten().map(|s| ReusedHttpStream::from_reusable_stream(s, persistent))
    }
}

/// Reads the request head. A fresh connection always gets its first request read and
/// answered; an idle keep-alive connection still gets `SHUTDOWN_LINGER` after shutdown starts
/// for a request already on its way, then closes. (pingora's proxy service drops both at once,
/// which resets requests that arrive just as an old process hands its sockets over during an
/// upgrade.)
async fn read_request(session: &mut Session, reused: bool, shutdown: &ShutdownWatch) -> bool {
    if !reused {
        // A fresh connection that never sends a request must not hold a task forever.
        session.set_read_timeout(Some(FIRST_REQUEST_TIMEOUT));
        return matches!(session.read_request().await, Ok(true));
    }
    let mut shutdown = shutdown.clone();
    // One read future throughout, so bytes it has buffered are never lost.
    let read = session.read_request();
    tokio::pin!(read);
    let result = tokio::select! {
        biased;
        r = &mut read => r,
        // The watch guard must not live across the linger below.
        _ = async { drop(shutdown.wait_for(|down| *down).await) } => match tokio::time::timeout(SHUTDOWN_LINGER, &mut read).await {
            Ok(r) => r,
            Err(_) => return false,
        },
    };
    matches!(result, Ok(true))
}

const SHUTDOWN_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const FIRST_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Ctx {
    fn new(shared: &Shared) -> Self {
        shared.metrics.in_flight.inc();
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

    /// Records the metrics and writes the access-log line.
    fn finish(&self, shared: &Shared) {
        let facts = RequestFacts {
            request_id: &self.request_id,
            endpoint: self.endpoint,
            method: self.method,
            format: self.format.as_str(),
            status: self.status,
            key_id: self.key_id.as_deref(),
            duration: self.started.elapsed().as_secs_f64(),
            upstream_secs: self.upstream_secs,
            upstream_error: self.upstream_error.map(UpstreamFault::as_str),
        };
        shared.metrics.record(&facts);
        facts.log();
    }
}

/// A request that failed outside the planned paths (the client went away mid-body, a write
/// failed): an envelope if nothing was sent yet, and the connection is not reused.
async fn fail(session: &mut Session, ctx: &mut Ctx, e: &Error) {
    session.set_keepalive(None);
    if session.response_written().is_some() {
        return;
    }
    let error = match e.esource() {
        ErrorSource::Downstream => GatewayError::BadRequest,
        _ => GatewayError::UpstreamUnavailable,
    };
    if ctx.request_id.is_empty() {
        ctx.request_id = request_id::generate();
    }
    let _ = refuse(session, ctx, error).await;
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
    let apikey_header = header(session, crate::auth::APIKEY).map(str::to_string);
    let parts = RequestParts::new(&method, uri.query(), header(session, "content-type"), apikey_header.as_deref(), &body);
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
    let guarded = shared.guard.as_ref().and_then(|guard| Some((guard, client_ip(rt, session)?)));
    if let Some((guard, ip)) = guarded {
        guard.check(ip).map_err(|retry_after| refused(GatewayError::TooManyAuthFailures { retry_after }, None))?;
    }
    let key = match plan::admit(target, parts, &rt.store) {
        Ok(key) => key,
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

fn client_ip(rt: &Runtime, session: &Session) -> Option<std::net::IpAddr> {
    let mode = rt.config.auth_guard?.client_ip;
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
    Ok(Some(Vec::from(body)))
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
