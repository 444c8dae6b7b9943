//! Owns JSON → XML and JSON → YAML transcoding of LiveAgent response bodies.
//!
//! Both directions parse the body once into a `serde_json::Value` (with `preserve_order`, so
//! elements follow JSON key order) and walk it with a hand-written writer: the output must match
//! LiveAgent's documented examples byte for byte, which a generic serializer cannot promise.

mod singular;
pub mod xml;
pub mod yaml;

use crate::format::Format;

/// Why a body could not be transcoded. Only ever reaches a client as a 502 envelope.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("upstream body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// Parses a JSON body. serde_json stops at 128 levels of nesting, which also bounds the
/// recursion depth of both writers.
pub fn parse(body: &[u8]) -> Result<serde_json::Value, TranscodeError> {
    Ok(serde_json::from_slice(body)?)
}

/// Renders an already parsed value in `format`. JSON is written compactly.
pub fn render(value: &serde_json::Value, format: Format) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(value).unwrap_or_default(),
        Format::Xml => xml::to_xml(value).into_bytes(),
        Format::Yaml => yaml::to_yaml(value).into_bytes(),
    }
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
    let value = parse(body)?;
    Ok(match format {
        Format::Json => body.to_vec(),
        other => render(&value, other),
    })
}

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
