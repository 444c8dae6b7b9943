//! Owns the call to LiveAgent: the request it receives and the answer the client gets.
//!
//! The gateway calls LiveAgent itself instead of using pingora's proxy phases because every
//! transcoded or normalised response must carry an exact `Content-Length` and a status chosen
//! after its body was read (a 200 that is not JSON becomes a 502). JSON successes are still
//! streamed through chunk by chunk.

use super::client::Response;
use super::conn::{Conn, Fault, Reply};
use super::gateway::{refuse, Ctx};
use super::state::{Runtime, Shared};
use crate::config;
use crate::http1::{self, RequestHead};
use crate::plan::{self, HeaderKey};
use crate::quota::Allowance;
use crate::shape;
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

const RATE_PREFIX: &[u8] = b"x-ratelimit-";

const NOT_RETURNED: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "x-request-id"];

fn listed(name: &[u8], list: &[&str]) -> bool {
    list.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(name))
}

/// Sends the request to LiveAgent and answers the client.
pub async fn forward(
    shared: &Shared,
    rt: &Runtime,
    conn: &mut Conn,
    ctx: &mut Ctx,
    mut up: plan::Upstream,
    body: Vec<u8>,
    allowance: Allowance,
) -> Result<(), Fault> {
    let cfg = &rt.config.upstream;
    let body = up.body.take().unwrap_or(body);
    let head = request_head(&conn.head, &up, cfg, &ctx.request_id, conn.client_ip_text(), body.len());
    let head_request = conn.head.is_head();
    let started = Instant::now();
    let exchanged = shared.upstream.exchange(&rt.peer, rt.peer_key, &head, &body, head_request, cfg.read_timeout, started).await;
    let mut response = match exchanged {
        Ok(response) => response,
        Err(fault) => {
            ctx.upstream_error = Some(fault);
            ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
            return refuse(conn, ctx, fault.gateway_error()).await;
        }
    };
    shared.mark_upstream_seen(started);
    let status = response.status;
    if shape::passes_through(ctx.format, status) {
        return stream(shared, conn, ctx, response, allowance, started).await;
    }
    let mut headers = allowance.headers();
    headers.push(("X-Request-Id", ctx.request_id.clone()));
    // LiveAgent's Retry-After (on a 429 or 503) is the one header an error response keeps.
    let retry_after = response.header("retry-after").map(str::to_string);
    let read = response.read_all(cfg.max_response_bytes).await;
    let done = Instant::now();
    ctx.upstream_secs = Some((done - started).as_secs_f64());
    let shaped = match read {
        Ok(buf) => {
            shared.upstream.release(response, done);
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
    conn.respond(shaped.status, shaped.content_type, &headers, &shaped.body).await
}

/// Streams a JSON success to the client as LiveAgent sends it.
async fn stream(
    shared: &Shared,
    conn: &mut Conn,
    ctx: &mut Ctx,
    mut response: Response,
    allowance: Allowance,
    started: Instant,
) -> Result<(), Fault> {
    let status = response.status;
    let bodiless = matches!(status, 204 | 304) || conn.head.is_head();
    // LiveAgent's own length stands when the body is framed by it (or there is none).
    let sized = bodiless || response.length().is_some();
    conn.start(status);
    for (name, value) in response.headers.iter() {
        let returned = !listed(name, NOT_RETURNED) && (sized || !name.eq_ignore_ascii_case(b"content-length"));
        // The client's limits are the gateway's: none of LiveAgent's X-RateLimit-* pass.
        let rate = name.get(..RATE_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RATE_PREFIX));
        if returned && !rate {
            conn.header(name, value);
        }
    }
    for (name, n) in allowance.fields() {
        conn.header(name.as_bytes(), itoa::Buffer::new().format(n).as_bytes());
    }
    conn.header(b"X-Request-Id", ctx.request_id.as_bytes());
    conn.end_head(if sized { Reply::Sized } else { Reply::Unsized });
    ctx.status = status;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => conn.send(&chunk).await?,
            Ok(None) => break,
            Err(fault) => {
                // The status is on the wire already: all that is left is to cut the response.
                ctx.upstream_error = Some(fault);
                ctx.upstream_secs = Some(started.elapsed().as_secs_f64());
                conn.close_after();
                return Err(Fault::Write);
            }
        }
    }
    let done = Instant::now();
    ctx.upstream_secs = Some((done - started).as_secs_f64());
    shared.upstream.release(response, done);
    conn.end().await
}

/// The request head LiveAgent receives: the client's headers less the per-connection ones,
/// Host of the upstream, `Accept: application/json`, and the body's exact length.
fn request_head(
    client: &RequestHead,
    up: &plan::Upstream,
    cfg: &config::Upstream,
    request_id: &str,
    client_ip: Option<&str>,
    body_len: usize,
) -> Vec<u8> {
    let replace_key = match &up.header_key {
        HeaderKey::Replace(key) => Some(key.as_str()),
        HeaderKey::Keep => None,
    };
    let mut head = Vec::with_capacity(256 + up.path_and_query.len() + client.fields().len() * 48);
    head.extend_from_slice(client.method().as_bytes());
    head.push(b' ');
    head.extend_from_slice(up.path_and_query.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded_for = None;
    for (name, value) in client.fields().iter() {
        if forwarded_for.is_none() && name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = Some(value);
        }
        let replaced = replace_key.is_some() && name.eq_ignore_ascii_case(crate::auth::APIKEY.as_bytes());
        if !replaced && !listed(name, NOT_FORWARDED) {
            http1::field(&mut head, name, value);
        }
    }
    http1::field(&mut head, b"Host", cfg.host_header().as_bytes());
    http1::field(&mut head, b"Accept", b"application/json");
    if body_len > 0 || matches!(client.method(), "POST" | "PUT" | "PATCH") {
        http1::field(&mut head, b"Content-Length", itoa::Buffer::new().format(body_len).as_bytes());
    }
    if let Some(key) = replace_key {
        http1::field(&mut head, crate::auth::APIKEY.as_bytes(), key.as_bytes());
    }
    http1::field(&mut head, b"X-Request-Id", request_id.as_bytes());
    if let Some(ip) = client_ip {
        match forwarded_for {
            Some(earlier) => http1::field(&mut head, b"X-Forwarded-For", &[earlier, b", ", ip.as_bytes()].concat()),
            None => http1::field(&mut head, b"X-Forwarded-For", ip.as_bytes()),
        }
    }
    http1::field(&mut head, b"X-Forwarded-Proto", b"http");
    head.extend_from_slice(b"\r\n");
    head
}
