//! Owns reading and rewriting the fields of query strings and form bodies
//! (`application/x-www-form-urlencoded` and `multipart/form-data`) as bytes, decoded as PHP
//! decodes them. A rewrite keeps everything else in the input byte for byte.

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

    /// `body` with the value of every field whose name `named` matches (decoded, for
    /// urlencoded; as sent, for multipart, files too) replaced by `value`; `None` when it has
    /// no such field (or, for multipart, cannot be read to its end).
    pub fn replace_field(&self, body: &[u8], named: impl Fn(&[u8]) -> bool, value: &str) -> Option<Vec<u8>> {
        match self {
            BodyKind::UrlEncoded => {
                let (out, n) = replace_pairs_in(body, named, value);
                (n > 0).then_some(out)
            }
            BodyKind::Multipart { boundary } => {
                let fields = multipart_fields(body, boundary)?;
                let mut out = Vec::with_capacity(body.len());
                let mut at = 0;
                let mut n = 0;
                for f in fields.iter().filter(|f| named(&f.name)) {
                    out.extend_from_slice(&body[at..f.content.start]);
                    out.extend_from_slice(value.as_bytes());
                    at = f.content.end;
                    n += 1;
                }
                out.extend_from_slice(&body[at..]);
                (n > 0).then_some(out)
            }
            BodyKind::Other => None,
        }
    }
}

/// Replaces the value of every pair whose decoded name `named` matches in a raw
/// `&`-separated query string, keeping the other pairs' bytes as they were. Returns the new
/// string and how many pairs were replaced.
pub fn replace_pairs(raw: &str, named: impl Fn(&[u8]) -> bool, value: &str) -> (String, usize) {
    let (out, n) = replace_pairs_in(raw.as_bytes(), named, value);
    // Text in, text out: only whole pairs of the input and ASCII were put together.
    (String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()), n)
}

/// As [`replace_pairs`], on bytes (a form body need not be UTF-8).
fn replace_pairs_in(raw: &[u8], named: impl Fn(&[u8]) -> bool, value: &str) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(raw.len());
    let mut n = 0;
    for (i, pair) in raw.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        let raw_name = pair.iter().position(|&b| b == b'=').map_or(pair, |eq| &pair[..eq]);
        // A name with nothing to decode is compared as it stands, without a copy.
        let decoded;
        let name = if raw_name.iter().any(|&b| b == b'%' || b == b'+') {
            decoded = percent_decode(raw_name);
            &decoded[..]
        } else {
            raw_name
        };
        if named(name) {
            out.extend_from_slice(raw_name);
            out.push(b'=');
            // The encoder hands out runs of the value, not single bytes.
            for run in form_urlencoded::byte_serialize(value.as_bytes()) {
                out.extend_from_slice(run.as_bytes());
            }
            n += 1;
        } else {
            out.extend_from_slice(pair);
        }
    }
    (out, n)
}

/// Decodes a urlencoded name or value as PHP does: `+` is a space, `%XX` its byte, and a `%`
/// not followed by two hex digits stays as it is.
pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its `name` parameter, as sent (PHP does not decode it).
    pub name: Vec<u8>,
    /// A file upload (`filename` given): PHP puts it in `$_FILES`, not with the fields.
    pub file: bool,
    pub content: std::ops::Range<usize>,
}

/// The parts of a multipart body, or `None` when the body cannot be read to its closing
/// delimiter: a reader that stops early would miss fields another reader sees.
pub fn multipart_fields(body: &[u8], boundary: &str) -> Option<Vec<Field>> {
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut fields = Vec::new();
    let mut pos = memmem::find(body, delim.as_bytes())?;
    loop {
        let after = pos + delim.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Some(fields);
        }
        let line_end = memmem::find(&body[after..], b"\r\n")?;
        let headers_start = after + line_end + 2;
        let h_end = memmem::find(&body[headers_start..], b"\r\n\r\n")?;
        let content_start = headers_start + h_end + 4;
        let c_len = memmem::find(&body[content_start..], next_delim.as_bytes())?;
        let content_end = content_start + c_len;
        let (name, file) = disposition(&body[headers_start..headers_start + h_end])?;
        fields.push(Field { name, file, content: content_start..content_end });
        pos = content_end + 2;
    }
}

/// The `name` of a part's `Content-Disposition: form-data`, and whether it is a file.
fn disposition(headers: &[u8]) -> Option<(Vec<u8>, bool)> {
    let value = headers.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon].trim_ascii().eq_ignore_ascii_case(b"content-disposition").then(|| &line[colon + 1..])
    })?;
    let (mut name, mut file) = (None, false);
    for param in value.split(|&b| b == b';').skip(1) {
        let eq = param.iter().position(|&b| b == b'=')?;
        let key = param[..eq].trim_ascii().to_ascii_lowercase();
        let v = param[eq + 1..].trim_ascii();
        let v = v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(v);
        match key.as_slice() {
            b"filename" | b"filename*" => file = true,
            b"name" => name = Some(v.to_vec()),
            _ => {}
        }
    }
    Some((name?, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_apikey(name: &[u8]) -> bool {
        name == b"apikey"
    }

    const MP: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nVIP\r\n--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nsecret\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"apikey\"\r\n\r\nfile\r\n--XyZ--\r\n";

    #[test]
    fn kinds() {
        assert_eq!(BodyKind::from_content_type("application/x-www-form-urlencoded; charset=utf-8"), BodyKind::UrlEncoded);
        assert_eq!(BodyKind::from_content_type("multipart/form-data; boundary=\"XyZ\""), BodyKind::Multipart { boundary: "XyZ".into() });
        assert_eq!(BodyKind::from_content_type("multipart/form-data"), BodyKind::Other);
        assert_eq!(BodyKind::from_content_type("application/json"), BodyKind::Other);
    }

    #[test]
    fn urlencoded_replace_on_bytes() {
        let k = BodyKind::UrlEncoded;
        assert_eq!(k.replace_field(b"a=%41&apikey=old&b=+", is_apikey, "n&w").as_deref(), Some(&b"a=%41&apikey=n%26w&b=+"[..]));
        assert_eq!(k.replace_field(b"a=1", is_apikey, "x"), None);
        assert_eq!(k.replace_field(b"apikey=old&name=\xff", is_apikey, "x").as_deref(), Some(&b"apikey=x&name=\xff"[..]), "not UTF-8");
        assert_eq!(k.replace_field(b"api%6Bey=old", is_apikey, "x").as_deref(), Some(&b"api%6Bey=x"[..]), "an encoded name");
    }

    #[test]
    fn multipart_read_and_replace() {
        let k = BodyKind::Multipart { boundary: "XyZ".into() };
        let fields = multipart_fields(MP.as_bytes(), "XyZ").unwrap_or_default();
        let names: Vec<_> = fields.iter().map(|f| (String::from_utf8_lossy(&f.name).into_owned(), f.file)).collect();
        assert_eq!(names, [("name".to_string(), false), ("apikey".to_string(), false), ("f".to_string(), true)]);
        assert_eq!(&MP.as_bytes()[fields[1].content.clone()], b"secret");
        let out = k.replace_field(MP.as_bytes(), is_apikey, "upstream-key").unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), MP.replace("\r\nsecret\r\n", "\r\nupstream-key\r\n"));
        assert_eq!(multipart_fields(b"--XyZ\r\ngarbage", "XyZ"), None);
        assert_eq!(multipart_fields(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ", "XyZ").map(|f| f.len()), None);
    }

    #[test]
    fn decoding_as_php_does() {
        assert_eq!(percent_decode(b"a+b%20c%2"), b"a b c%2");
        assert_eq!(percent_decode(b"%00%ff%zz%"), b"\x00\xff%zz%");
    }

    #[test]
    fn query_pairs_keep_other_bytes() {
        assert_eq!(replace_pairs("x=%2F&apikey=a&apikey=b&y", is_apikey, "k/1"), ("x=%2F&apikey=k%2F1&apikey=k%2F1&y".into(), 2));
    }
}
