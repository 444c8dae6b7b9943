//! Owns finding the one `apikey` of a request: every place LiveAgent (PHP) could read one from
//! (each query pair, each form field, urlencoded or multipart, as bytes; each `apikey` header
//! line) and the names PHP folds into `apikey` (`apikey[]`, `apikey%00x`, ` apikey`), so the
//! gateway authenticates the key LiveAgent will act as, and can replace every occurrence.
//!
//! The rule: every occurrence carries the same bytes, and each is a plain `apikey` the gateway
//! can rewrite. Two different values (`?apikey=A&apikey=B`: PHP takes the last, and POST over
//! GET), a name PHP folds into `apikey`, a file part named `apikey` or a multipart body that
//! cannot be read to its end make the key unclear: 400, never forwarded. No occurrence, or only
//! empty ones, is a missing key.

use super::auth::{AuthError, Presented, APIKEY};
use crate::request::form::{self, BodyKind};
use std::borrow::Cow;

/// The one key of a request. `form`: the body, when PHP would read it as a form.
pub fn the_key<'a>(
    query: Option<&str>,
    form: Option<(&BodyKind, &[u8])>,
    headers: impl Iterator<Item = &'a [u8]>,
) -> Result<Presented, AuthError> {
    let mut seen = Seen::default();
    if let Some(q) = query {
        pairs(q.as_bytes(), &mut seen);
    }
    match form {
        Some((BodyKind::UrlEncoded, body)) => pairs(body, &mut seen),
        Some((BodyKind::Multipart { boundary }, body)) => match form::multipart_fields(body, boundary) {
            Some(fields) => {
                for field in fields {
                    let value = &body[field.content.clone()];
                    seen.add(&field.name, value, !field.file);
                }
            }
            None => seen.unclear = true,
        },
        _ => {}
    }
    for value in headers {
        seen.value(value.trim_ascii());
    }
    seen.finish()
}

/// What the occurrences so far say.
#[derive(Default)]
struct Seen {
    value: Option<Vec<u8>>,
    unclear: bool,
}

impl Seen {
    /// One field called `name` (as PHP received it, undecoded for multipart) with `value`;
    /// `plain`: a field PHP puts in its form arrays (not a file).
    fn add(&mut self, name: &[u8], value: &[u8], plain: bool) {
        if folds_to_apikey(name) {
            if name == APIKEY.as_bytes() && plain {
                self.value(value);
            } else {
                self.unclear = true;
            }
        }
    }

    fn value(&mut self, value: &[u8]) {
        match &self.value {
            Some(earlier) if earlier != value => self.unclear = true,
            Some(_) => {}
            None => self.value = Some(value.to_vec()),
        }
    }

    fn finish(self) -> Result<Presented, AuthError> {
        match self.value {
            _ if self.unclear => Err(AuthError::Ambiguous),
            Some(v) if !v.is_empty() => Ok(Presented(v)),
            _ => Err(AuthError::Missing),
        }
    }
}

/// Every `name=value` pair of a query string or urlencoded body, decoded as PHP decodes them.
fn pairs(raw: &[u8], seen: &mut Seen) {
    for pair in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        // Most names need no decoding, and only a key's value is ever looked at.
        let name = if name.iter().any(|&b| b == b'%' || b == b'+') { Cow::Owned(form::percent_decode(name)) } else { Cow::Borrowed(name) };
        if folds_to_apikey(&name) {
            seen.add(&name, &form::percent_decode(value), true);
        }
    }
}

/// Whether PHP registers a variable of this (decoded) name as `apikey` or an array of it:
/// leading spaces are skipped, the name ends at a NUL byte, and at `[` an array begins
/// (`php_register_variable_ex`). Stricter than PHP where that costs nothing: `apikey[` is
/// taken too, though PHP 8 reads it as `apikey_`.
pub fn folds_to_apikey(name: &[u8]) -> bool {
    let start = name.iter().position(|&b| b != b' ').unwrap_or(name.len());
    let name = &name[start..];
    let end = name.iter().position(|&b| b == 0 || b == b'[').unwrap_or(name.len());
    &name[..end] == APIKEY.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: Option<&str>, form: Option<(&BodyKind, &[u8])>, headers: &[&str]) -> Result<Vec<u8>, AuthError> {
        the_key(query, form, headers.iter().map(|h| h.as_bytes())).map(|p| p.0)
    }

    fn key_in_headers(headers: &[&[u8]]) -> Result<Vec<u8>, AuthError> {
        the_key(None, None, headers.iter().copied()).map(|p| p.0)
    }

    #[test]
    fn one_value_anywhere_is_the_key() {
        let form = BodyKind::UrlEncoded;
        assert_eq!(key(Some("x=1&apikey=q"), None, &[]), Ok(b"q".to_vec()));
        assert_eq!(key(None, Some((&form, b"apikey=f%20g")), &[]), Ok(b"f g".to_vec()));
        assert_eq!(key(None, None, &[" h "]), Ok(b"h".to_vec()));
        assert_eq!(key(Some("apikey=k"), Some((&form, b"apikey=k")), &["k", "k"]), Ok(b"k".to_vec()), "the same key everywhere");
        // A form body that is not UTF-8 (an honest Latin-1 form) is read as bytes.
        assert_eq!(key(None, Some((&form, b"apikey=k&name=\xff")), &[]), Ok(b"k".to_vec()));
        assert_eq!(key_in_headers(&[b"k\xe9"]), Ok(b"k\xe9".to_vec()), "a header that is not ASCII is still read");
        assert_eq!(key_in_headers(&[b"k\xe9", b"k"]), Err(AuthError::Ambiguous));
    }

    #[test]
    fn no_key_or_only_empty_ones_is_missing() {
        assert_eq!(key(None, None, &[]), Err(AuthError::Missing));
        assert_eq!(key(Some("a=b&apikey="), None, &[]), Err(AuthError::Missing));
        assert_eq!(key(Some("APIKEY=k&api_key=k&api.key=k"), None, &[]), Err(AuthError::Missing), "other names PHP keeps apart");
    }

    #[test]
    fn two_values_or_a_folded_name_are_unclear() {
        let form = BodyKind::UrlEncoded;
        for (query, body, headers) in [
            (Some("apikey=A&apikey=B"), None, &[][..]),
            (Some("apikey=&apikey=K"), None, &[]),
            (Some("apikey=A"), Some(&b"apikey=B"[..]), &[]),
            (Some("apikey=A"), None, &["B"]),
            (None, None, &["A", "B"]),
            (Some("apikey[]=A"), None, &[]),
            (Some("apikey%5B%5D=A"), None, &[]),
            (Some("apikey%00junk=A"), None, &[]),
            (Some("+apikey=A"), None, &[]),
            (Some("%20apikey=A"), None, &[]),
            (Some("apikey[x]=A&apikey=A"), None, &[]),
            (None, Some(&b"apikey=K&apikey%00=K"[..]), &[]),
        ] {
            let form = body.map(|b| (&form, b));
            assert_eq!(key(query, form, headers), Err(AuthError::Ambiguous), "{query:?} {body:?} {headers:?}");
        }
    }

    #[test]
    fn multipart_fields_are_read_as_php_reads_them() {
        let kind = BodyKind::Multipart { boundary: "XyZ".into() };
        let part = |name: &str, extra: &str, value: &str| {
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n{value}\r\n")
        };
        let body = |parts: &[String]| format!("{}--XyZ--\r\n", parts.concat()).into_bytes();
        let ok = body(&[part("name", "", "VIP"), part("apikey", "", "k")]);
        assert_eq!(key(None, Some((&kind, &ok)), &[]), Ok(b"k".to_vec()));
        for unclear in [
            body(&[part("apikey", "", "a"), part("apikey", "", "b")]),
            body(&[part("apikey[]", "", "a")]),
            body(&[part("apikey", "; filename=\"k.txt\"", "a")]),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk\r\n--XyZ\r\nbroken".to_vec(),
        ] {
            assert_eq!(key(None, Some((&kind, &unclear)), &[]), Err(AuthError::Ambiguous), "{}", String::from_utf8_lossy(&unclear));
        }
    }
}
