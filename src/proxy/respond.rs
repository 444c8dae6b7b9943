//! Owns writing answers: the one place that starts an answer's head and chooses its fields
//! (the rate-limit fields from `answer::rate_fields`), for answers written whole and answers streamed from
//! LiveAgent alike. The bytes go out through `conn`.

use super::client::Response;
use super::conn::{Conn, Fault, Reply};
use crate::admit::quota::Allowance;
use crate::answer::redact::Redactor;
use crate::answer::{self, Shaped};
use crate::forward::{self, UpstreamError};
use crate::http1::Fields;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

/// What every answer to a request carries besides its own fields.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// What the key's quotas allow, once they were asked.
    pub allowance: Option<Allowance>,
    pub request_id: &'a str,
}

/// Why a streamed answer stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Writing to the client failed.
    Client(Fault),
    /// LiveAgent's body broke off or was badly framed.
    Upstream(UpstreamError),
}

/// The fields an answer has of its own.
enum Own<'a> {
    Whole {
        content_type: &'a str,
        len: usize,
        retry_after: Option<&'a str>,
        allow: Option<&'a str>,
    },
    /// LiveAgent's fields, passed on; `sized`: LiveAgent's own framing by length stands;
    /// `redact`: LiveAgent's key, overwritten in their values.
    Upstream {
        redact: Option<&'a Redactor>,
        fields: &'a Fields,
        sized: bool,
    },
}

/// Starts an answer: status line and every field, then the framing.
fn head<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, status: u16, common: Common<'_>, own: Own<'_>) {
    conn.start(status);
    let (reply, retry_after, allow) = match own {
        Own::Whole { content_type, len, retry_after, allow } => {
            conn.header(b"Content-Type", content_type.as_bytes());
            conn.header(b"Content-Length", itoa::Buffer::new().format(len).as_bytes());
            (Reply::Sized, retry_after, allow)
        }
        Own::Upstream { fields, sized, redact } => {
            let hop = forward::HopByHop::of(fields);
            let passed = |name: &[u8]| answer::returned(name, sized) && !hop.names(name);
            for (name, value) in fields.iter().filter(|&(name, _)| passed(name)) {
                match redact.filter(|r| r.found(value)) {
                    Some(r) => {
                        let mut value = value.to_vec();
                        r.whole(&mut value);
                        conn.header(name, &value);
                    }
                    None => conn.header(name, value),
                }
            }
            (if sized { Reply::Sized } else { Reply::Unsized }, None, None)
        }
    };
    // The rate-limit fields once the quotas were asked, then the request id; `Retry-After`
    // follows on refusals.
    if let Some(a) = &common.allowance {
        conn.extend_head(|out| answer::rate_fields(a, out));
    }
    conn.header(b"X-Request-Id", common.request_id.as_bytes());
    if let Some(retry) = retry_after {
        conn.header(b"Retry-After", retry.as_bytes());
    }
    if let Some(allow) = allow {
        conn.header(b"Allow", allow.as_bytes());
    }
    conn.end_head(reply);
}

/// Writes an answer whose body is known whole.
pub async fn whole<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, common: Common<'_>, shaped: &Shaped) -> Result<(), Fault> {
    let own = Own::Whole {
        content_type: shaped.content_type,
        len: shaped.body.len(),
        retry_after: shaped.retry_after.as_deref(),
        allow: shaped.allow,
    };
    head(conn, shaped.status, common, own);
    conn.send(&shaped.body).await?;
    conn.end().await
}

/// Streams LiveAgent's answer to the client as it arrives, all but its last piece when that
/// piece ends the body: the caller then returns LiveAgent's connection to the pool before the
/// client can see the end and send its next request, sends that piece and ends the answer.
/// `redact`: LiveAgent's key, overwritten wherever the answer carries it.
pub async fn stream<S: AsyncRead + AsyncWrite + Unpin, U: AsyncRead + Unpin>(
    conn: &mut Conn<S>,
    common: Common<'_>,
    response: &mut Response<U>,
    mut redact: Option<&mut Redactor>,
) -> Result<Option<Bytes>, Cut> {
    let bodiless = matches!(response.status, 204 | 304) || conn.head.is_head();
    // LiveAgent's own length stands when the body is framed by it (or there is none).
    let sized = bodiless || response.length().is_some();
    head(conn, response.status, common, Own::Upstream { fields: &response.headers, sized, redact: redact.as_deref() });
    let mut scratch = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Cut::Upstream)? {
        let Some(r) = redact.as_deref_mut() else {
            if response.ended() {
                return Ok(Some(chunk));
            }
            conn.send(&chunk).await.map_err(Cut::Client)?;
            continue;
        };
        scratch.clear();
        r.feed(&chunk, &mut scratch);
        if response.ended() {
            break;
        }
        conn.send(&scratch).await.map_err(Cut::Client)?;
    }
    Ok(redact.map(|r| {
        r.finish(&mut scratch);
        Bytes::from(std::mem::take(&mut scratch))
    }))
}
