//! Owns the gateway's HTTP application on pingora: reading a request, handling it (route,
//! body, key, quota, then LiveAgent via `upstream`), answering, metrics and the access log,
//! and the connection's keep-alive and shutdown behaviour.

use super::conn::{Conn, Fault, Next};
use super::state::{Runtime, Shared};
use super::upstream;
use crate::auth::AuthError;
use crate::config::KeySpec;
use crate::envelope::{Envelope, GatewayError};
use crate::format::Format;
use crate::metrics::{method_label, LastHandles, RequestFacts};
use crate::plan::{self, RequestParts};
use crate::quota::{self, Allowance};
use crate::request_id;
use crate::routes::UNMATCHED;
use crate::shape::UpstreamFault;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// After shutdown starts, how long an idle keep-alive connection still waits for a request
/// that may already be on its way.
const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

#[async_trait]
impl ServerApp for Gateway {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let mut conn = Conn::new(stream);
        let mut idle_since = None;
        let mut down = Some(shutdown_wait(shutdown));
        let mut handles = LastHandles::default();
        loop {
            match next_request(&mut conn, idle_since, &mut down).await {
                Next::Request => {}
                Next::Closed => return None,
                Next::Bad => {
                    let mut ctx = Ctx::new(&self.shared);
                    fail(&mut conn, &mut ctx, Fault::Request).await;
                    let _ = self.serve_end(&mut conn, &ctx, &mut handles).await;
                    return None;
                }
            }
            if *shutdown.borrow() {
                // Answer this request, then close: the process is going away.
                conn.close_after();
            }
            let mut ctx = Ctx::new(&self.shared);
            // Not boxed: the request-handling state is about 2 KB since the rare large parts
            // (a new upstream connection, a Redis round trip) are boxed where they happen.
            if let Err(fault) = handle(&self.shared, &mut conn, &mut ctx).await {
                fail(&mut conn, &mut ctx, fault).await;
            }
            idle_since = Some(self.serve_end(&mut conn, &ctx, &mut handles).await?);
        }
    }
}

impl Gateway {
    /// Records the request; when the connection takes another, the time it went idle.
    async fn serve_end(&self, conn: &mut Conn, ctx: &Ctx, handles: &mut LastHandles) -> Option<Instant> {
        self.shared.metrics.in_flight.dec();
        let ended = ctx.finish(&self.shared, handles);
        conn.finish().await.then_some(ended)
    }
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Ends when shutdown starts. Set up once per connection and kept armed while it serves,
/// instead of a registration per request.
fn shutdown_wait(shutdown: &ShutdownWatch) -> Wait {
    let mut watch = shutdown.clone();
    // The watch's guard is dropped at once: it must not be held.
    Box::pin(async move { drop(watch.wait_for(|down| *down).await) })
}

/// Waits for the next request; `idle_since`: when the previous answer ended (`None` on a
/// fresh connection). A fresh connection always gets its first request read and answered; an
/// idle keep-alive connection still gets `SHUTDOWN_LINGER` after shutdown starts for a request
/// already on its way, then closes. (pingora's proxy service drops both at once, which resets
/// requests that arrive just as an old process hands its sockets over during an upgrade.)
/// `down` is `None` once shutdown has started.
async fn next_request(conn: &mut Conn, idle_since: Option<Instant>, down: &mut Option<Wait>) -> Next {
    let Some(since) = idle_since else {
        return conn.next_request(Instant::now()).await;
    };
    // One read future throughout, so bytes it has buffered are never lost.
    let read = conn.next_request(since);
    tokio::pin!(read);
    if let Some(wait) = down.as_mut() {
        tokio::select! {
            biased;
            r = &mut read => return r,
            () = wait.as_mut() => *down = None,
        }
    }
    // Shutdown is rare: a tokio timer is fine here.
    tokio::time::timeout(SHUTDOWN_LINGER, &mut read).await.unwrap_or(Next::Closed)
}

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

    /// Records the metrics and writes the access-log line; returns when the request ended.
    fn finish(&self, shared: &Shared, handles: &mut LastHandles) -> Instant {
        let ended = Instant::now();
        let facts = RequestFacts {
            request_id: &self.request_id,
            endpoint: self.endpoint,
            method: self.method,
            format: self.format.as_str(),
            status: self.status,
            key_id: self.key_id.as_deref(),
            duration: (ended - self.started).as_secs_f64(),
            upstream_secs: self.upstream_secs,
            upstream_error: self.upstream_error.map(UpstreamFault::as_str),
        };
        shared.metrics.record(&facts, handles);
        facts.log();
        ended
    }
}

/// A request that failed outside the planned paths (the client went away mid-body, a write
/// failed): an envelope if nothing was sent yet, and the connection is not reused.
async fn fail(conn: &mut Conn, ctx: &mut Ctx, fault: Fault) {
    conn.close_after();
    if conn.answered() || fault == Fault::Write {
        return;
    }
    if ctx.request_id.is_empty() {
        ctx.request_id = request_id::generate();
    }
    let _ = refuse(conn, ctx, GatewayError::BadRequest).await;
}

/// The request path: route, body, authentication, quota, then LiveAgent.
async fn handle(shared: &Shared, conn: &mut Conn, ctx: &mut Ctx) -> Result<(), Fault> {
    let rt = shared.runtime.load_full();
    let head = &conn.head;
    ctx.method = method_label(head.method());
    ctx.request_id = request_id::from_header(head.header("x-request-id"));
    let target = match plan::target(head.path(), head.query(), head.header("accept")) {
        Ok(t) => t,
        Err(format) => {
            ctx.format = format;
            return refuse(conn, ctx, GatewayError::NotFound).await;
        }
    };
    ctx.endpoint = target.routed.endpoint;
    ctx.format = target.format;
    let Some(body) = conn.read_body(rt.config.max_request_bytes).await? else {
        return refuse(conn, ctx, GatewayError::BodyTooLarge).await;
    };
    let head = &conn.head;
    let parts = RequestParts::new(head.method(), head.query(), head.header("content-type"), head.header(crate::auth::APIKEY), &body);
    let admitted = match admit(shared, &rt, conn, &target, &parts).await {
        Ok(a) => a,
        Err(refused) => {
            ctx.key_id = refused.key_id;
            return refuse(conn, ctx, refused.error).await;
        }
    };
    ctx.key_id = Some(admitted.0.id.clone());
    let up = plan::upstream(&target, &parts, admitted.0, rt.config.upstream.apikey.as_deref(), &rt.config.upstream.base_path);
    upstream::forward(shared, &rt, conn, ctx, up, body, admitted.1).await
}

/// The brute-force guard, authentication, authorisation and quotas, in that order; every
/// refusal is counted.
async fn admit<'r>(
    shared: &Shared,
    rt: &'r Runtime,
    conn: &Conn,
    target: &plan::Target,
    parts: &RequestParts<'_>,
) -> std::result::Result<(&'r KeySpec, Allowance), plan::Refused> {
    let refused = |error, key_id: Option<&str>| plan::Refused { error, key_id: key_id.map(str::to_string), auth: None };
    let guarded = shared.guard.as_ref().and_then(|guard| Some((guard, client_ip(rt, conn)?)));
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

fn client_ip(rt: &Runtime, conn: &Conn) -> Option<std::net::IpAddr> {
    let mode = rt.config.auth_guard?.client_ip;
    quota::guard::client_ip(mode, conn.client_ip(), conn.head.header("x-forwarded-for"))
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

/// Answers with the error envelope for `e` in the request's format.
pub async fn refuse(conn: &mut Conn, ctx: &mut Ctx, e: GatewayError) -> Result<(), Fault> {
    let envelope = Envelope::for_error(e, &ctx.request_id);
    let mut headers = vec![("X-Request-Id", ctx.request_id.clone())];
    if let Some(secs) = e.retry_after() {
        headers.push(("Retry-After", secs.to_string()));
    }
    ctx.status = envelope.status;
    if envelope.status == 413 {
        // The body was not read: what follows it on the connection is unknown.
        conn.close_after();
    }
    conn.respond(envelope.status, ctx.format.content_type(), &headers, &envelope.render(ctx.format)).await
}
