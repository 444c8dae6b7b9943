//! Owns the call to LiveAgent: the request it receives and the answer the client gets.
//!
//! The gateway calls LiveAgent itself instead of using pingora's proxy phases because every
//! transcoded or normalised response must carry an exact `Content-Length` and a status chosen
//! after its body was read (a 200 that is not JSON becomes a 502). JSON successes are still
//! streamed through chunk by chunk.

use super::client::Response;
use super::gateway::{refuse, Ctx};
use super::respond;
use super::state::{Runtime, Shared};
use crate::config;
use crate::plan::{self, HeaderKey};
use crate::shape;
use bytes::Bytes;
use http::header::{self, HeaderName};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession as Session;
use std::net::IpAddr;
use std::time::Instant;

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
    let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    let client_header = session.req_header();
    let head = request_head(client_header, &up, cfg, &ctx.request_id, client_ip, body.len());
    let head_request = client_header.method == http::Method::HEAD;
    let started = Instant::now();
    let exchanged = shared.upstream.exchange(&rt.peer, &head, &body, head_request, cfg.read_timeout).await;
    let mut headers = rate_headers;
    headers.push(("X-Request-Id", ctx.request_id.clone()));
    let mut response = match exchanged {
        Ok(response) => response,
        Err(fault) => {
            ctx.upstream_error = Some(fault);
            ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
            return refuse(session, ctx, fault.gateway_error()).await;
        }
    };
    shared.mark_upstream_seen();
    let status = response.status;
    if shape::passes_through(ctx.format, status) {
        return stream(shared, session, ctx, response, headers, started).await;
    }
    // LiveAgent's Retry-After (on a 429 or 503) is the one header an error response keeps.
    let retry_after = response.header(&header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let read = response.read_all(cfg.max_response_bytes).await;
    ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
    let shaped = match read {
        Ok(buf) => {
            shared.upstream.release(response);
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

/// Streams a JSON success to the client as LiveAgent sends it.
async fn stream(
    shared: &Shared,
    session: &mut Session,
    ctx: &mut Ctx,
    mut response: Response,
    headers: Vec<(&'static str, String)>,
    started: Instant,
) -> Result<()> {
    let status = response.status;
    let mut out = ResponseHeader::build(status, Some(response.headers.len() + headers.len()))?;
    for (name, value) in std::mem::take(&mut response.headers) {
        if !listed(&name, NOT_RETURNED) {
            out.append_header(name, value)?;
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
        match response.chunk().await {
            Ok(Some(chunk)) => session.write_response_body(chunk, false).await?,
            Ok(None) => break,
            Err(fault) => {
                // The status is on the wire already: all that is left is to cut the response.
                ctx.upstream_error = Some(fault);
                ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
                session.set_keepalive(None);
                return Error::e_explain(ErrorType::ReadError, "upstream body cut short");
            }
        }
    }
    ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
    shared.upstream.release(response);
    session.write_response_body(Bytes::new(), true).await
}

/// The request head LiveAgent receives: the client's headers less the per-connection ones,
/// Host of the upstream, `Accept: application/json`, and the body's exact length.
fn request_head(
    client: &RequestHeader,
    up: &plan::Upstream,
    cfg: &config::Upstream,
    request_id: &str,
    client_ip: Option<IpAddr>,
    body_len: usize,
) -> Vec<u8> {
    let replace_key = match &up.header_key {
        HeaderKey::Replace(key) => Some(key.as_str()),
        HeaderKey::Keep => None,
    };
    let mut head = Vec::with_capacity(256 + up.path_and_query.len() + client.headers.len() * 48);
    head.extend_from_slice(client.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(up.path_and_query.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded_for = None;
    for (name, value) in client.headers.iter() {
        if name.as_str() == "x-forwarded-for" {
            forwarded_for = Some(value.as_bytes());
        }
        let replaced = replace_key.is_some() && name.as_str() == crate::auth::APIKEY;
        if !replaced && !listed(name, NOT_FORWARDED) {
            field(&mut head, name.as_str(), value.as_bytes());
        }
    }
    field(&mut head, "Host", cfg.host_header().as_bytes());
    field(&mut head, "Accept", b"application/json");
    if body_len > 0 || matches!(client.method, http::Method::POST | http::Method::PUT | http::Method::PATCH) {
        field(&mut head, "Content-Length", body_len.to_string().as_bytes());
    }
    if let Some(key) = replace_key {
        field(&mut head, crate::auth::APIKEY, key.as_bytes());
    }
    field(&mut head, "X-Request-Id", request_id.as_bytes());
    if let Some(ip) = client_ip {
        let ip = ip.to_string();
        match forwarded_for {
            Some(earlier) => field(&mut head, "X-Forwarded-For", &[earlier, b", ", ip.as_bytes()].concat()),
            None => field(&mut head, "X-Forwarded-For", ip.as_bytes()),
        }
    }
    field(&mut head, "X-Forwarded-Proto", b"http");
    head.extend_from_slice(b"\r\n");
    head
}

/// Appends one header field. A value that could end the field early is left out; every
/// value here already passed a header parser or the config check, so none should be.
fn field(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return;
    }
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}
