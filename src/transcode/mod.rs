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
mod singular;
pub mod xml;
pub mod yaml;

use crate::request::format::Format;

/// Why a body could not be transcoded. Only ever reaches a client as a 502 envelope.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("upstream body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("body nests deeper, or grows larger once written, than the writers allow")]
    TooLarge,
}

/// Parses a JSON body. serde_json stops at 128 levels of nesting; the streaming writers read
/// deeper bodies (see `lex::MAX_DEPTH`) without it.
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
    stream(&text, format).map_err(|_| TranscodeError::TooLarge)
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

/// Most output a body may grow to: `max(OUTPUT_FLOOR, OUTPUT_GROWTH × input)`. Indentation
/// grows with depth, so a deep body written out can be hundreds of times its size; LiveAgent's
/// own data grows about threefold. Past the bound the writers give up (a 502), rather than
/// let one answer hold gigabytes.
const OUTPUT_GROWTH: usize = 16;
const OUTPUT_FLOOR: usize = 64 << 20;

fn output_budget(input: usize) -> usize {
    OUTPUT_FLOOR.max(input.saturating_mul(OUTPUT_GROWTH))
}

/// Whether the JSON number `token` is written as a float (it has a fraction or an exponent).
fn is_float(token: &str) -> bool {
    token.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// Whether two values hold the same data, numbers compared by value: YAML has one integer
/// type where JSON keeps `i64` and `u64` apart, and serde_json reads integers past 64 bits as
/// floats. Used by the round-trip tests and fuzz targets.
pub fn same_data(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        // Both floats: the same bits, so `-0.0` stays negative. One an integer: serde_json reads
        // the integer `-0` as the float `-0.0`, which a YAML reader reads as the integer 0.
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits),
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => x.as_f64() == y.as_f64(),
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
    // A whole body checked thirty-two bytes at a time (std's check takes a word or two): for a
    // 256 KB list it was 8% of the transcoding.
    match simdutf8::basic::from_utf8(body).ok().map(|text| stream(text, format)) {
        Some(Ok(out)) => Ok(out),
        _ => render(&parse(body)?, format),
    }
}

#[cfg(test)]
mod fidelity;
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
