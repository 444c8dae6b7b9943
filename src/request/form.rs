//! Owns reading and rewriting one named field of query strings and form bodies
//! (`application/x-www-form-urlencoded` and `multipart/form-data`), as PHP's `$_REQUEST` sees
//! them. Everything else in the input is kept byte for byte.

use memchr::memmem;

/// How a request body is encoded, as far as fields are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    UrlEncoded,
    Multipart { boundary: String },
    Other,
}

impl BodyKind {
    pub fn from_content_type(content_type: &str) -> BodyKind {
        let mut parts = content_type.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-www-form-urlencoded" => BodyKind::UrlEncoded,
            "multipart/form-data" => parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .filter(|b| !b.is_empty() && b.len() <= 70)
                .map_or(BodyKind::Other, |boundary| BodyKind::Multipart { boundary }),
            _ => BodyKind::Other,
        }
    }

    pub fn is_form(&self) -> bool {
        !matches!(self, BodyKind::Other)
    }

    /// The first value of field `name` in `body`.
    pub fn field(&self, body: &[u8], name: &str) -> Option<String> {
        match self {
            BodyKind::UrlEncoded => form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()),
            BodyKind::Multipart { boundary } => multipart_parts(body, boundary)
                .into_iter()
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| String::from_utf8_lossy(&body[p.content.clone()]).into_owned()),
            BodyKind::Other => None,
        }
    }

    /// `body` with every value of field `name` replaced by `value`; `None` when it has no such
    /// field.
    pub fn replace_field(&self, body: &[u8], name: &str, value: &str) -> Option<Vec<u8>> {
        match self {
            BodyKind::UrlEncoded => {
                let text = std::str::from_utf8(body).ok()?;
                let (out, n) = replace_pairs(text, name, value);
                (n > 0).then(|| out.into_bytes())
            }
            BodyKind::Multipart { boundary } => {
                let parts = multipart_parts(body, boundary);
                let mut out = Vec::with_capacity(body.len());
                let mut at = 0;
                let mut n = 0;
                for p in parts.iter().filter(|p| p.name.as_deref() == Some(name)) {
                    out.extend_from_slice(&body[at..p.content.start]);
                    out.extend_from_slice(value.as_bytes());
                    at = p.content.end;
                    n += 1;
                }
                out.extend_from_slice(&body[at..]);
                (n > 0).then_some(out)
            }
            BodyKind::Other => None,
        }
    }
}

/// Replaces the value of every `name=` pair in a raw `&`-separated string, keeping the other
/// pairs' bytes as they were. Returns the new string and how many pairs were replaced.
pub fn replace_pairs(raw: &str, name: &str, value: &str) -> (String, usize) {
    let mut out = String::with_capacity(raw.len());
    let mut n = 0;
    for (i, pair) in raw.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let raw_name = pair.split_once('=').map_or(pair, |(k, _)| k);
        let decoded = form_urlencoded::parse(raw_name.as_bytes()).next().map(|(k, _)| k.into_owned());
        if decoded.as_deref() == Some(name) {
            out.push_str(raw_name);
            out.push('=');
            out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
            n += 1;
        } else {
            out.push_str(pair);
        }
    }
    (out, n)
}

struct Part {
    name: Option<String>,
    content: std::ops::Range<usize>,
}

/// The parts of a multipart body. Parse errors end the list early: a part we cannot find is a
/// field we do not see, never a panic.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    let Some(mut pos) = memmem::find(body, delim.as_bytes()) else { return parts };
    loop {
        let after = pos + delim.len();
        if body.get(after..after + 2) == Some(b"--") {
            break;
        }
        let Some(line_end) = memmem::find(&body[after..], b"\r\n") else { break };
        let headers_start = after + line_end + 2;
        let Some(h_end) = memmem::find(&body[headers_start..], b"\r\n\r\n") else { break };
        let content_start = headers_start + h_end + 4;
        let Some(c_len) = memmem::find(&body[content_start..], next_delim.as_bytes()) else { break };
        let content_end = content_start + c_len;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_start + h_end]);
        parts.push(Part { name: field_name(&headers), content: content_start..content_end });
        pos = content_end + 2;
    }
    parts
}

/// The `name` of a form-data part that is not a file upload.
fn field_name(headers: &str) -> Option<String> {
    let disposition = headers.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-disposition").then_some(v)
    })?;
    let mut name = None;
    for param in disposition.split(';').skip(1) {
        let (k, v) = param.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "filename" | "filename*" => return None,
            "name" => name = Some(v.trim().trim_matches('"').to_string()),
            _ => {}
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nVIP\r\n--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nsecret\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"apikey\"\r\n\r\nfile\r\n--XyZ--\r\n";

    #[test]
    fn kinds() {
        assert_eq!(BodyKind::from_content_type("application/x-www-form-urlencoded; charset=utf-8"), BodyKind::UrlEncoded);
        assert_eq!(BodyKind::from_content_type("multipart/form-data; boundary=\"XyZ\""), BodyKind::Multipart { boundary: "XyZ".into() });
        assert_eq!(BodyKind::from_content_type("multipart/form-data"), BodyKind::Other);
        assert_eq!(BodyKind::from_content_type("application/json"), BodyKind::Other);
    }

    #[test]
    fn urlencoded_read_and_replace() {
        let k = BodyKind::UrlEncoded;
        assert_eq!(k.field(b"a=1&apikey=s%20k&b=2", "apikey").as_deref(), Some("s k"));
        assert_eq!(k.replace_field(b"a=%41&apikey=old&b=+", "apikey", "n&w").as_deref(), Some(&b"a=%41&apikey=n%26w&b=+"[..]));
        assert_eq!(k.replace_field(b"a=1", "apikey", "x"), None);
    }

    #[test]
    fn multipart_read_and_replace() {
        let k = BodyKind::Multipart { boundary: "XyZ".into() };
        assert_eq!(k.field(MP.as_bytes(), "apikey").as_deref(), Some("secret"));
        assert_eq!(k.field(MP.as_bytes(), "f"), None);
        let out = k.replace_field(MP.as_bytes(), "apikey", "upstream-key").unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), MP.replace("\r\nsecret\r\n", "\r\nupstream-key\r\n"));
        assert_eq!(k.field(b"--XyZ\r\ngarbage", "apikey"), None);
    }

    #[test]
    fn query_pairs_keep_other_bytes() {
        assert_eq!(replace_pairs("x=%2F&apikey=a&apikey=b&y", "apikey", "k/1"), ("x=%2F&apikey=k%2F1&apikey=k%2F1&y".into(), 2));
    }
}
