//! Owns what unit tests of several steps build alike: a configured key, and request parts.

use crate::config::{Allow, KeyDigest, KeySpec, Limits, Zone};
use crate::request::RequestParts;
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;

/// Key `k` for the client secret `client`, one request a second, with `upstream` as its own
/// LiveAgent key.
pub fn key(upstream: Option<&str>) -> KeySpec {
    KeySpec {
        id: "k".into(),
        digests: vec![KeyDigest::new(Sha256::digest(b"client").into())],
        limits: Limits::rate(NonZeroU32::MIN, NonZeroU32::MIN),
        zone: Zone::utc(),
        upstream_apikey: upstream.map(str::to_string),
        enabled: true,
        allow: Allow::default(),
        not_before: None,
        expires_at: None,
    }
}

pub fn parts<'a>(
    method: &'a str,
    query: Option<&'a str>,
    ct: Option<&'a str>,
    header: Option<&'a str>,
    body: &'a [u8],
) -> RequestParts<'a> {
    RequestParts::new(method, query, ct, header.map(str::as_bytes).into_iter().collect(), body)
}
