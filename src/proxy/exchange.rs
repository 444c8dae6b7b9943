//! Owns one request, from its head to the end of its answer: the steps in their order (what
//! was asked, whether it may pass, the request LiveAgent receives, what the client receives),
//! and the request's facts for metrics and the access log, which only this file writes.
//!
//! The gateway calls LiveAgent itself instead of using pingora's proxy phases because every
//! transcoded or normalised response must carry an exact `Content-Length` and a status chosen
//! after its body was read (a 200 that is not JSON becomes a 502). JSON successes are still
//! streamed through chunk by chunk.

use super::client::{Call, Response};
use super::conn::{Conn, Fault};
use super::respond::{self, Common, Cut};
use super::state::{Runtime, Shared};
use super::wire::Wire;
use crate::admit::auth::AuthError;
use crate::admit::guard::{self, AuthGuard};
use crate::admit::quota::{Allowance, QuotaError};
use crate::admit::{self, Gate, Refusal};
use crate::answer::redact::Redactor;
use crate::answer::{shape, Failure, Shaped};
use crate::forward::{self, HeadFacts, UpstreamError};
use crate::metrics::{method_label, LastHandles, RequestFacts};
use crate::request::format::Format;
use crate::request::routes::UNMATCHED;
use crate::request::{self, request_id, RequestError, RequestParts};
use std::net::IpAddr;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// One request's facts. Holds no key material.
struct Exchange {
    request_id: String,
    /// On tokio's clock, as the connection's idle limit is: the same clock but in tests.
    started: tokio::time::Instant,
    endpoint: &'static str,
    method: &'static str,
    format: Format,
    status: u16,
    key_id: Option<String>,
    /// What the key's quotas allow, once they were asked: every answer from then on carries it.
    allowance: Option<Allowance>,
    upstream_secs: Option<f64>,
    upstream_error: Option<UpstreamError>,
    /// With key substitution, LiveAgent's key, kept out of the answer.
    redactor: Option<Redactor>,
}

/// What the steps arrived at.
enum Outcome {
    /// A JSON success, streamed as LiveAgent sends it; the time it was asked for.
    Stream(Response<Wire>, Instant),
    /// An answer read whole and shaped.
    Whole(Shaped),
    Failed(Failure),
}

/// Why the steps stopped early.
enum Stop {
    Failed(Failure),
    /// The connection failed (the client went away mid-body); no answer may be possible.
    Fault(Fault),
}

impl<E: Into<Failure>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Failed(e.into())
    }
}

/// Serves one request on `conn` (`bad`: its head could not be read) and records it. Returns
/// when it ended, if the connection takes another request.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    conn: &mut Conn<S>,
    bad: bool,
    handles: &mut LastHandles,
) -> Option<tokio::time::Instant> {
    shared.metrics.in_flight.inc();
    let mut ex = Exchange::new();
    let served = if bad { Err(Fault::Request) } else { ex.handle(shared, conn).await };
    if let Err(fault) = served {
        ex.fail(conn, fault).await;
    }
    shared.metrics.in_flight.dec();
    let ended = ex.finish(shared, handles);
    conn.finish().await.then_some(ended)
}

/// Answers a connection over `client.max_connections` with a 503 envelope at once, without
/// reading its request, and closes it.
pub async fn refuse_connection<S: AsyncRead + AsyncWrite + Unpin>(mut conn: Conn<S>) {
    conn.close_after();
    let request_id = request_id::generate();
    let shaped = shape::failure(&RequestError::Overloaded.into(), Format::Json, &request_id);
    let _ = respond::whole(&mut conn, Common { allowance: None, request_id: &request_id }, &shaped).await;
    conn.linger().await;
}

impl Exchange {
    fn new() -> Self {
        Exchange {
            request_id: String::new(),
            started: tokio::time::Instant::now(),
            endpoint: UNMATCHED,
            method: "OTHER",
            format: Format::Json,
            status: 0,
            key_id: None,
            allowance: None,
            upstream_secs: None,
            upstream_error: None,
            redactor: None,
        }
    }

    /// The steps, then the answer.
    async fn handle<S: AsyncRead + AsyncWrite + Unpin>(&mut self, shared: &Shared, conn: &mut Conn<S>) -> Result<(), Fault> {
        let rt = shared.runtime.load_full();
        let outcome = match self.steps(shared, &rt, conn).await {
            Ok(outcome) => outcome,
            Err(Stop::Failed(failure)) => Outcome::Failed(failure),
            Err(Stop::Fault(fault)) => return Err(fault),
        };
        self.answer(shared, &rt, conn, outcome).await
    }

    /// Route, body, admission, then LiveAgent.
    async fn steps<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        shared: &Shared,
        rt: &Runtime,
        conn: &mut Conn<S>,
    ) -> Result<Outcome, Stop> {
        let head = &conn.head;
        self.method = method_label(head.method());
        self.request_id = request_id::from_header(head.header("x-request-id"));
        let target = request::target(head.path(), head.query(), head.header("accept"));
        self.format = target.as_ref().map_or_else(|u| u.format, |t| t.format);
        // Before the route: a CONNECT's target is not a path at all.
        request::method(head.method())?;
        let target = target?;
        self.endpoint = target.routed.endpoint;
        let body = conn.read_body(rt.config.max_request_bytes).await.map_err(Stop::Fault)?.ok_or(RequestError::BodyTooLarge)?;
        let head = &conn.head;
        let apikeys = head.fields().all(admit::auth::APIKEY).collect();
        let parts = RequestParts::new(head.method(), head.query(), head.header("content-type"), apikeys, &body);
        let gate = Gate {
            guard: guarded(shared, rt, conn),
            store: &rt.store,
            quotas: &shared.quotas,
            shared: rt.redis.as_ref().map(|(store, on_error)| (store.as_ref(), *on_error)),
        };
        let admitted = match admit::admit(&gate, &target, &parts, |e| shared.redis_failed(e)).await {
            Ok(admitted) => admitted,
            Err(refusal) => return Err(self.refused(shared, refusal)),
        };
        self.key_id = Some(admitted.key.id.clone());
        self.allowance = Some(admitted.allowance);
        let cfg = &rt.config.upstream;
        let mut up = forward::upstream(&target, &parts, admitted.key, cfg.apikey.as_deref(), &cfg.base_path);
        let body = up.body.take().unwrap_or(body);
        let facts =
            HeadFacts { host: &rt.host_header, request_id: &self.request_id, client_ip: conn.client_ip_text(), body_len: body.len() };
        let upstream_head = forward::request_head(&conn.head, &up, facts);
        let substitute = admitted.key.upstream_apikey.as_deref().or(cfg.apikey.as_deref());
        if substitute.is_some() && forward::carries_key(&upstream_head, &body, admitted.presented.as_ref()) {
            return Err(self.refused(shared, AuthError::Ambiguous.into()));
        }
        self.redactor = substitute.and_then(Redactor::new);
        let call = Call {
            head: &upstream_head,
            body: &body,
            head_request: conn.head.is_head(),
            replayable: forward::replayable(conn.head.method()),
            timeout: cfg.read_timeout,
        };
        let started = Instant::now();
        let exchanged = shared.upstream.exchange(&rt.peer, rt.peer_key, call, started).await;
        let mut response = exchanged.inspect_err(|_| self.upstream_secs = Some(started.elapsed().as_secs_f64()))?;
        shared.mark_upstream_seen(started);
        let status = response.status;
        if shape::passes_through(self.format, status) {
            return Ok(Outcome::Stream(response, started));
        }
        // LiveAgent's Retry-After (on a 429 or 503) is the one header an error response keeps.
        let retry_after =
            response.header("retry-after").filter(|v| !self.redactor.as_ref().is_some_and(|r| r.found(v.as_bytes()))).map(str::to_string);
        let read = response.read_all(cfg.max_response_bytes).await;
        let done = Instant::now();
        self.upstream_secs = Some((done - started).as_secs_f64());
        let mut body = read?;
        shared.upstream.release(response, done, cfg.idle_timeout);
        if let Some(r) = self.redactor.as_ref().filter(|r| r.found(&body)) {
            let mut copy = body.to_vec();
            r.whole(&mut copy);
            body = copy.into();
        }
        let transcoding = Instant::now();
        let mut shaped = shape::shape(self.format, status, &body, &self.request_id);
        if (200..300).contains(&status) {
            shared.metrics.transcode_duration.with_label_values(&[self.format.as_str()]).observe(transcoding.elapsed().as_secs_f64());
        }
        if retry_after.is_some() {
            shaped.retry_after = retry_after;
        }
        Ok(Outcome::Whole(shaped))
    }

    /// Notes and counts a refusal.
    fn refused(&mut self, shared: &Shared, refusal: Refusal) -> Stop {
        if let Some(id) = refusal.key_id() {
            self.key_id = Some(id.to_string());
        }
        if let Some(allowance) = refusal.allowance() {
            self.allowance = Some(allowance);
        }
        match &refusal {
            Refusal::Auth(e) => shared.metrics.auth_failures.with_label_values(&[e.reason()]).inc(),
            Refusal::Quota { key_id, error } => {
                if let QuotaError::Exceeded(e) = &**error {
                    shared.metrics.rate_limited.with_label_values(&[key_id, e.limit.as_str()]).inc();
                }
            }
            Refusal::Guarded { .. } => {}
        }
        Stop::Failed(refusal.into())
    }

    /// Writes the answer the steps arrived at.
    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        shared: &Shared,
        rt: &Runtime,
        conn: &mut Conn<S>,
        outcome: Outcome,
    ) -> Result<(), Fault> {
        let common = Common { allowance: self.allowance, request_id: &self.request_id };
        let shaped = match outcome {
            Outcome::Whole(shaped) => shaped,
            Outcome::Failed(failure) => shape::failure(&failure, self.format, &self.request_id),
            Outcome::Stream(mut response, started) => {
                self.status = response.status;
                let streamed = respond::stream(conn, common, &mut response, self.redactor.as_mut()).await;
                let done = Instant::now();
                match streamed {
                    Ok(last) => {
                        self.upstream_secs = Some((done - started).as_secs_f64());
                        shared.upstream.release(response, done, rt.config.upstream.idle_timeout);
                        if let Some(last) = last {
                            conn.send(&last).await?;
                        }
                        return conn.end().await;
                    }
                    Err(Cut::Upstream(e)) => {
                        // The status is on the wire already: all that is left is to cut the response.
                        self.upstream_error = Some(e);
                        self.upstream_secs = Some((done - started).as_secs_f64());
                        conn.close_after();
                        return Err(Fault::Write);
                    }
                    Err(Cut::Client(fault)) => return Err(fault),
                }
            }
        };
        self.status = shaped.status;
        self.upstream_error = shaped.upstream_error;
        respond::whole(conn, common, &shaped).await
    }

    /// A request that failed outside the planned paths (a head or body that cannot be read,
    /// a write that failed): an envelope if nothing was sent yet, and the connection is not
    /// reused.
    async fn fail<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Conn<S>, fault: Fault) {
        conn.close_after();
        if conn.answered() || fault == Fault::Write {
            return;
        }
        if self.request_id.is_empty() {
            self.request_id = request_id::generate();
        }
        let shaped = shape::failure(&RequestError::Unreadable.into(), self.format, &self.request_id);
        self.status = shaped.status;
        let common = Common { allowance: self.allowance, request_id: &self.request_id };
        let _ = respond::whole(conn, common, &shaped).await;
    }

    /// Records the metrics and writes the access-log line; returns when the request ended.
    fn finish(&self, shared: &Shared, handles: &mut LastHandles) -> tokio::time::Instant {
        let ended = tokio::time::Instant::now();
        let facts = RequestFacts {
            request_id: &self.request_id,
            endpoint: self.endpoint,
            method: self.method,
            format: self.format.as_str(),
            status: self.status,
            key_id: self.key_id.as_deref(),
            duration: (ended - self.started).as_secs_f64(),
            upstream_secs: self.upstream_secs,
            upstream_error: self.upstream_error.map(UpstreamError::as_str),
        };
        shared.metrics.record(&facts, handles);
        shared.access.request(&facts);
        ended
    }
}

/// The brute-force guard and the address it counts for this request, when it is on.
fn guarded<'a, S: AsyncRead + AsyncWrite + Unpin>(shared: &'a Shared, rt: &Runtime, conn: &Conn<S>) -> Option<(&'a AuthGuard, IpAddr)> {
    let guard = shared.guard.as_ref()?;
    let mode = rt.config.auth_guard?.client_ip;
    let forwarded_for = conn.head.fields().all("x-forwarded-for");
    Some((guard, guard::client_ip(mode, &rt.config.trusted_proxies, conn.client_ip(), forwarded_for)?))
}
