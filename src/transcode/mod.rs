//! Owns JSON → XML and JSON → YAML transcoding of LiveAgent response bodies.
//!
//! The writers read the body with a pull lexer and write each item as it is read: no tree of
//! the body is built and strings without escapes are not copied. They are hand-written because
//! the output must match LiveAgent's documented examples byte for byte, which a generic
//! serializer cannot promise. What the lexer leaves to serde_json (invalid JSON, duplicate
//! keys) goes through `serde_json::Value` and is then written by the same writers.

mod bail;
mod keys;
mod lex;
mod piece;
mod scan;
mod singular;
pub mod xml;
pub mod yaml;

use crate::request::format::Format;

/// Why a body could not be transcoded. Only ever reaches a client as a 502 envelope.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("upstream body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("value nests deeper than JSON parsers accept")]
    TooDeep,
}

/// Parses a JSON body. serde_json stops at 128 levels of nesting, which also bounds the
/// recursion depth of both writers.
pub fn parse(body: &[u8]) -> Result<serde_json::Value, TranscodeError> {
    Ok(serde_json::from_slice(body)?)
}

/// Writes JSON `text` in `format` straight from the lexer.
fn stream(text: &str, format: Format) -> bail::Lexed<Vec<u8>> {
    match format {
        Format::Json => Ok(text.as_bytes().to_vec()),
        Format::Xml => xml::document(text),
        Format::Yaml => yaml::document(text).map(String::into_bytes),
    }
}

/// Renders an already parsed value in `format`. JSON is written compactly. Serialising it
/// first settles duplicate keys the way serde_json does (the last value, at the first key's
/// place), so the lexer always takes the result.
pub fn render(value: &serde_json::Value, format: Format) -> Result<Vec<u8>, TranscodeError> {
    let text = serde_json::to_string(value)?;
    stream(&text, format).map_err(|_| TranscodeError::TooDeep)
}

/// [`render`] as a `String`. The writers only ever write whole UTF-8 characters, so nothing
/// is replaced here.
fn render_text(value: &serde_json::Value, format: Format) -> Result<String, TranscodeError> {
    render(value, format).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Appends `n` spaces of indentation, a run at a time.
fn spaces(out: &mut String, mut n: usize) {
    const RUN: &str = "                                                                ";
    while n > 0 {
        let run = n.min(RUN.len());
        out.push_str(RUN.get(..run).unwrap_or_default());
        n -= run;
    }
}

/// Whether serde_json writes the number `token` back exactly as it reads: an integer without
/// a leading zero that fits in `i64` whatever its sign.
fn verbatim_integer(token: &str) -> bool {
    let digits = token.strip_prefix('-').unwrap_or(token);
    (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && (!digits.starts_with('0') || token == "0")
}

/// The number `token` as serde_json reads it (`u64`, `i64` or `f64`), so it is written exactly
/// as a `serde_json::Value` would write it.
fn number(token: &str) -> bail::Lexed<serde_json::Number> {
    serde_json::from_str(token).map_err(|_| bail::Bail)
}

/// Whether two values hold the same data, numbers compared by value: YAML has one integer
/// type where JSON keeps `i64` and `u64` apart. Used by the round-trip tests and fuzz targets.
pub fn same_data(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits),
        (Value::Number(x), Value::Number(y)) => x.to_string() == y.to_string(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_data(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same_data(vx, vy))
        }
        (x, y) => x == y,
    }
}

/// Transcodes a JSON body to `format`. For JSON the body is only validated and returned as is.
pub fn transcode(body: &[u8], format: Format) -> Result<Vec<u8>, TranscodeError> {
    if format == Format::Json {
        parse(body)?;
        return Ok(body.to_vec());
    }
    match std::str::from_utf8(body).ok().map(|text| stream(text, format)) {
        Some(Ok(out)) => Ok(out),
        _ => render(&parse(body)?, format),
    }
}

#[cfg(test)]
mod lex_tests;
#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! seed {
        ($name:literal) => {
            (
                $name,
                &include_bytes!(concat!("../../tests/fixtures/seed/", $name, ".json"))[..],
                &include_bytes!(concat!("../../tests/fixtures/seed/", $name, ".xml"))[..],
            )
        };
    }

    #[test]
    fn documented_pairs_byte_for_byte() {
        for (name, json, xml) in [seed!("customers-list"), seed!("customer"), seed!("customer-groups"), seed!("ok"), seed!("error")] {
            let out = transcode(json, Format::Xml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(xml), "{name}");
        }
    }

    #[test]
    fn json_is_validated_not_rewritten() {
        let body = b"{ \"response\" : {\"a\":1} }";
        assert_eq!(transcode(body, Format::Json).ok().as_deref(), Some(&body[..]));
        assert!(transcode(b"<html>", Format::Json).is_err());
        assert!(transcode(&[b'['; 200], Format::Yaml).is_err(), "nesting deeper than 128 is refused, not overflowed");
    }
}
