//! Owns reading a v1 request as LiveAgent's PHP front controller does: the resource path from
//! `/api/<path>` or `/api/index.php?handler=<path>`, and parameters merged from the query string
//! and a urlencoded or multipart body (like `$_REQUEST`).

use bytes::Bytes;
use std::collections::HashMap;

/// A parsed v1 call.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub method: String,
    /// Path segments after `/api/`, without a trailing empty segment.
    pub segments: Vec<String>,
    /// Query parameters, then body fields (body fields win, as in PHP's default order).
    pub params: HashMap<String, String>,
    pub header_key: Option<String>,
    pub query_key: Option<String>,
    pub body_key: Option<String>,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The key the call presents: query, then body, then header.
    pub fn apikey(&self) -> Option<&str> {
        [&self.query_key, &self.body_key, &self.header_key].into_iter().flatten().map(String::as_str).find(|k| !k.is_empty())
    }
}

/// Parses method, URI parts and body. `None` when the path is not under `/api/`.
pub async fn parse(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_type: Option<&str>,
    header_key: Option<&str>,
    body: Bytes,
) -> Option<Call> {
    let query_pairs: Vec<(String, String)> = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let resource = if path == "/api/index.php" || path == "/api/index.php/" {
        query_pairs.iter().find(|(k, _)| k == "handler").map(|(_, v)| v.clone())?
    } else {
        path.strip_prefix("/api/")?.to_string()
    };
    let segments: Vec<String> = resource.trim_matches('/').split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let mut call = Call { method: method.to_string(), segments, header_key: header_key.map(str::to_string), ..Call::default() };
    for (k, v) in query_pairs {
        if k == "apikey" {
            call.query_key.get_or_insert(v.clone());
        }
        call.params.insert(k, v);
    }
    if matches!(method, "POST" | "PUT" | "DELETE" | "PATCH") {
        for (k, v) in body_fields(content_type, body).await {
            if k == "apikey" {
                call.body_key.get_or_insert(v.clone());
            }
            call.params.insert(k, v);
        }
    }
    Some(call)
}

fn percent_decode(seg: &str) -> String {
    // `+` is a literal plus in a path (emails such as a+b@x.com), unlike in a query string.
    let protected = seg.replace('+', "%2B");
    form_urlencoded::parse(format!("x={protected}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn body_fields(content_type: Option<&str>, body: Bytes) -> Vec<(String, String)> {
    let Some(ct) = content_type else { return Vec::new() };
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" {
        return form_urlencoded::parse(&body).into_owned().collect();
    }
    if media != "multipart/form-data" {
        return Vec::new();
    }
    let Ok(boundary) = multer::parse_boundary(ct) else { return Vec::new() };
    let mut fields = Vec::new();
    let mut multipart = multer::Multipart::with_reader(std::io::Cursor::new(body), boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.file_name().is_some() {
            continue;
        }
        let Some(name) = field.name().map(str::to_string) else { continue };
        if let Ok(text) = field.text().await {
            fields.push((name, text));
        }
    }
    fields
}
