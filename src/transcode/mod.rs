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

/// Transcodes a JSON body to `format`. For JSON the body is only validated and returned as is.
pub fn transcode(body: &[u8], format: Format) -> Result<Vec<u8>, TranscodeError> {
    let value = parse(body)?;
    Ok(match format {
        Format::Json => body.to_vec(),
        other => render(&value, other),
    })
}
