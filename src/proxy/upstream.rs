//! Owns the call to LiveAgent through pingora's pooled connector.
//!
//! The gateway calls LiveAgent itself instead of using pingora's proxy phases because every
//! transcoded or normalised response must carry an exact `Content-Length` and a status chosen
//! after its body was read (a 200 that is not JSON becomes a 502). JSON successes are still
//! streamed through chunk by chunk.

use super::gateway::{refuse, Ctx};
use super::respond;
use super::state::{Runtime, Shared};
use crate::config;
use crate::envelope::GatewayError;
use crate::plan::{self, HeaderKey};
use crate::shape::{self, UpstreamFault};
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::ServerSession as Session;
use std::time::{Duration, Instant};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the
/// gateway sets itself.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "accept",
    "accept-encoding",
    "content-length",
    "expect",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
];

const NOT_RETURNED: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "x-request-id"];

fn listed(name: &HeaderName, list: &[&str]) -> bool {
    list.contains(&name.as_str())
}

/// Sends the request to LiveAgent and answers the client.
pub async fn forward(
    shared: &Shared,
    rt: &Runtime,
    session: &mut Session,
    ctx: &mut Ctx,
    mut up: plan::Upstream,
    body: Bytes,
    rate_headers: Vec<(&'static str, String)>,
) -> Result<()> {
    let cfg = &rt.config.upstream;
    let body = up.body.take().map_or(body, Bytes::from);
    let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
    let client_header = session.req_header();
    let request = || build_request(client_header, &up, cfg, &ctx.request_id, client_ip.as_deref(), body.len());
    let first = request()?;
    let started = Instant::now();
    let exchanged = exchange(shared, rt, first, request, &body, cfg.read_timeout).await;
    let mut headers = rate_headers;
    headers.push(("X-Request-Id", ctx.request_id.clone()));
    let mut client = match exchanged {
        Ok(client) => client,
        Err(fault) => {
            ctx.upstream_error = Some(fault);
            ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
            return refuse(session, ctx, fault.gateway_error()).await;
        }
    };
    shared.mark_upstream_seen();
    let Some(status) = client.response_header().map(|r| r.status.as_u16()) else {
        return refuse(session, ctx, GatewayError::InvalidUpstreamResponse).await;
    };
    if shape::passes_through(ctx.format, status) {
        return stream(shared, rt, session, ctx, client, headers, started).await;
    }
    // LiveAgent's Retry-After (on a 429 or 503) is the one header an error response keeps.
    let retry_after =
        client.response_header().and_then(|r| r.headers.get(header::RETRY_AFTER)).and_then(|v| v.to_str().ok()).map(str::to_string);
    let read = read_all(&mut client, cfg.max_response_bytes).await;
    ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
    let shaped = match read {
        Ok(buf) => {
            release(shared, rt, client).await;
            let t = Instant::now();
            let shaped = shape::shape(ctx.format, status, &buf, &ctx.request_id);
            if (200..300).contains(&status) {
                shared.metrics.transcode_duration.with_label_values(&[ctx.format.as_str()]).observe(t.elapsed().as_secs_f64());
            }
            shaped
        }
        Err(fault) => shape::fault(fault, ctx.format, &ctx.request_id),
    };
    ctx.upstream_error = shaped.upstream_error;
    ctx.status = shaped.status;
    if let Some(retry) = retry_after {
        headers.push(("Retry-After", retry));
    }
    respond::write(session, shaped.status, shaped.content_type, &headers, shaped.body).await
}

/// Writes the request and reads the response header. A pooled connection that the server
/// closed while idle fails before any answer; that case is retried once on a new connection.
/// The write consumes the request header, so a retry builds it again (`rebuild` gives what
/// built `first`, so it cannot fail where `first` succeeded).
async fn exchange(
    shared: &Shared,
    rt: &Runtime,
    first: RequestHeader,
    rebuild: impl Fn() -> Result<RequestHeader>,
    body: &Bytes,
    timeout: Duration,
) -> Result<HttpSession, UpstreamFault> {
    let mut next = Some(first);
    for attempt in 0..2 {
        let header = match next.take() {
            Some(h) => h,
            None => rebuild().map_err(|e| classify(&e))?,
        };
        let (mut client, reused) = shared.connector.get_http_session(&rt.peer).await.map_err(|e| classify(&e))?;
        client.set_read_timeout(Some(timeout));
        client.set_write_timeout(Some(timeout));
        match send(&mut client, header, body).await {
            Ok(()) => return Ok(client),
            Err(e) if reused && attempt == 0 && classify(&e) != UpstreamFault::Timeout => continue,
            Err(e) => return Err(classify(&e)),
        }
    }
    Err(UpstreamFault::Connect)
}

async fn send(client: &mut HttpSession, request: RequestHeader, body: &Bytes) -> Result<()> {
    client.write_request_header(Box::new(request)).await?;
    if !body.is_empty() {
        client.write_request_body(body.clone(), true).await?;
    }
    client.finish_request_body().await?;
    // Skip informational answers such as `100 Continue`.
    for _ in 0..4 {
        client.read_response_header().await?;
        match client.response_header().map(|r| r.status.as_u16()) {
            Some(100..=199) => continue,
            _ => return Ok(()),
        }
    }
    Error::e_explain(ErrorType::InvalidHTTPHeader, "too many informational responses")
}

fn classify(e: &Error) -> UpstreamFault {
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => UpstreamFault::Timeout,
        _ => UpstreamFault::Connect,
    }
}

/// Streams a JSON success to the client as LiveAgent sends it.
#[allow(clippy::too_many_arguments)]
async fn stream(
    shared: &Shared,
    rt: &Runtime,
    session: &mut Session,
    ctx: &mut Ctx,
    mut client: HttpSession,
    headers: Vec<(&'static str, String)>,
    started: Instant,
) -> Result<()> {
    let Some(resp) = client.response_header() else {
        return Error::e_explain(ErrorType::InvalidHTTPHeader, "no upstream response header");
    };
    let status = resp.status.as_u16();
    let mut out = ResponseHeader::build(status, Some(resp.headers.len() + headers.len()))?;
    for (name, value) in resp.headers.iter() {
        if !listed(name, NOT_RETURNED) {
            out.append_header(name.clone(), value.clone())?;
        }
    }
    let bodiless = matches!(status, 204 | 304) || session.req_header().method == http::Method::HEAD;
    if !bodiless && !out.headers.contains_key(header::CONTENT_LENGTH) {
        out.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    for (name, value) in &headers {
        out.insert_header(*name, value.as_str())?;
    }
    ctx.status = status;
    session.write_response_header(Box::new(out)).await?;
    loop {
        match client.read_response_body().await {
            Ok(Some(chunk)) => session.write_response_body(chunk, false).await?,
            Ok(None) => break,
            Err(e) => {
                // The status is on the wire already: all that is left is to cut the response.
                ctx.upstream_error = Some(classify(&e));
                ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
                session.set_keepalive(None);
                return Err(e);
            }
        }
    }
    ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
    release(shared, rt, client).await;
    session.write_response_body(Bytes::new(), true).await
}

/// Reads the whole body, up to `max` bytes.
async fn read_all(client: &mut HttpSession, max: usize) -> Result<Vec<u8>, UpstreamFault> {
    let mut buf = BytesMut::new();
    loop {
        match client.read_response_body().await {
            Ok(Some(chunk)) if buf.len() + chunk.len() > max => return Err(UpstreamFault::TooLarge),
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return Ok(Vec::from(buf)),
            Err(e) => return Err(classify(&e)),
        }
    }
}

async fn release(shared: &Shared, rt: &Runtime, client: HttpSession) {
    shared.connector.release_http_session(client, &rt.peer, Some(Duration::from_secs(60))).await;
}

/// The request LiveAgent receives: the client's headers less the per-connection ones, Host
/// of the upstream, `Accept: application/json`, and the body's exact length.
fn build_request(
    client: &RequestHeader,
    up: &plan::Upstream,
    cfg: &config::Upstream,
    request_id: &str,
    client_ip: Option<&str>,
    body_len: usize,
) -> Result<RequestHeader> {
    let mut req = RequestHeader::build(client.method.clone(), up.path_and_query.as_bytes(), Some(client.headers.len() + 6))?;
    for (name, value) in client.headers.iter() {
        if !listed(name, NOT_FORWARDED) {
            req.append_header(name.clone(), value.clone())?;
        }
    }
    req.insert_header(header::HOST, cfg.host_header())?;
    req.insert_header(header::ACCEPT, "application/json")?;
    if body_len > 0 || matches!(client.method, http::Method::POST | http::Method::PUT | http::Method::PATCH) {
        req.insert_header(header::CONTENT_LENGTH, body_len.to_string())?;
    }
    if let HeaderKey::Replace(key) = &up.header_key {
        req.insert_header(crate::auth::APIKEY, key.as_str())?;
    }
    req.insert_header("X-Request-Id", request_id)?;
    let forwarded = client.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if let Some(ip) = client_ip {
        let chain = forwarded.map_or_else(|| ip.to_string(), |f| format!("{f}, {ip}"));
        req.insert_header("X-Forwarded-For", chain)?;
    }
    req.insert_header("X-Forwarded-Proto", "http")?;
    Ok(req)
}
