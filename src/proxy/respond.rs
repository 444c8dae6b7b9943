//! Owns writing a complete response (exact `Content-Length`) to the client.

use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession as Session;
use pingora::Result;

/// Writes `status`, the headers and the whole body in one go.
pub async fn write(
    session: &mut Session,
    status: u16,
    content_type: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4 + headers.len()))?;
    resp.insert_header("Content-Type", content_type)?;
    resp.insert_header("Content-Length", body.len().to_string())?;
    for (name, value) in headers {
        resp.insert_header(*name, value.as_str())?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(resp)).await?;
    if !body.is_empty() && !head_only {
        session.write_response_body(body.into(), true).await?;
    }
    Ok(())
}
