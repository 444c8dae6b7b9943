//! Owns client authentication: matching the presented `apikey` (found by `apikey`) against
//! the configured SHA-256 digests in constant time, and the key's allow list.

use crate::config::{KeyDigest, KeySpec, Validity};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The parameter, form field and header that carry a key.
pub const APIKEY: &str = "apikey";

/// The key a client presented, as bytes. Deliberately not `Debug`, so it cannot be logged.
pub struct Presented(pub Vec<u8>);

impl AsRef<[u8]> for Presented {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Why a request is refused before it reaches LiveAgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no apikey in request")]
    Missing,
    /// Given twice with different values, or where the gateway cannot rewrite it (`apikey`).
    #[error("apikey given twice with different values, or where it cannot be rewritten")]
    Ambiguous,
    #[error("unknown or disabled key")]
    Invalid,
    /// A known key past its `expires_at` (or its digest's).
    #[error("expired key")]
    Expired,
    /// A known key before its `not_before` (or its digest's).
    #[error("key not valid yet")]
    NotYetValid,
    #[error("key not allowed on this endpoint or method")]
    Forbidden,
}

impl AuthError {
    /// The `reason` label of `liveagent_gateway_auth_failures_total`; each is one of
    /// `metrics::AUTH_FAILURE_REASONS`, whose series start at 0.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Ambiguous => "ambiguous",
            AuthError::Invalid => "invalid",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::Forbidden => "forbidden",
        }
    }
}

/// The configured keys, indexed by the first 8 bytes of each of their digests. The index only
/// narrows the candidates; the full digest is always compared in constant time.
#[derive(Debug, Default)]
pub struct KeyStore {
    keys: Vec<KeySpec>,
    /// (key, digest of the key) by digest prefix.
    index: HashMap<u64, Vec<(usize, usize)>>,
}

impl KeyStore {
    pub fn new(keys: Vec<KeySpec>) -> Self {
        let mut index: HashMap<u64, Vec<(usize, usize)>> = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            for (j, d) in k.digests.iter().enumerate() {
                index.entry(prefix(&d.sha256)).or_default().push((i, j));
            }
        }
        KeyStore { keys, index }
    }

    /// Every configured key, in configuration order.
    pub fn keys(&self) -> &[KeySpec] {
        &self.keys
    }

    pub fn get(&self, id: &str) -> Option<&KeySpec> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key entry, and its digest, whose digest is the SHA-256 of `presented`, enabled or
    /// not, valid or not.
    pub fn lookup(&self, presented: impl AsRef<[u8]>) -> Option<(&KeySpec, &KeyDigest)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_ref()).into();
        let candidates = self.index.get(&prefix(&digest))?;
        candidates
            .iter()
            .filter_map(|&(i, j)| {
                let key = self.keys.get(i)?;
                Some((key, key.digests.get(j)?))
            })
            .find(|(_, d)| bool::from(d.sha256.ct_eq(&digest)))
    }

    /// Authenticates and authorises one request; `now` (Unix seconds) is read only for a key
    /// with a validity bound.
    pub fn authorize(&self, presented: &Presented, method: &str, endpoint: &str, now: impl FnOnce() -> i64) -> Result<&KeySpec, AuthError> {
        let (key, digest) = self.lookup(presented).filter(|(k, _)| k.enabled).ok_or(AuthError::Invalid)?;
        if key.timed() {
            match key.validity(digest, now()) {
                Validity::Valid => {}
                Validity::Expired => return Err(AuthError::Expired),
                Validity::NotYetValid => return Err(AuthError::NotYetValid),
            }
        }
        if key.allow.permits(method, endpoint) {
            Ok(key)
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

fn prefix(d: &[u8; 32]) -> u64 {
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The hex SHA-256 of a key, as `key_sha256` wants it.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Allow, Limits, Zone};
    use std::num::NonZeroU32;

    fn spec(id: &str, key: &str, enabled: bool, allow: Allow) -> KeySpec {
        let one = NonZeroU32::MIN;
        KeySpec {
            id: id.into(),
            digests: vec![KeyDigest::new(Sha256::digest(key.as_bytes()).into())],
            limits: Limits::rate(one, one),
            zone: Zone::utc(),
            upstream_apikey: None,
            enabled,
            allow,
            not_before: None,
            expires_at: None,
        }
    }

    fn store() -> KeyStore {
        let read_only = Allow { methods: Some(vec!["GET".into()]), endpoints: None };
        KeyStore::new(vec![
            spec("a", "alpha", true, Allow::default()),
            spec("off", "gone", false, Allow::default()),
            spec("ro", "reader", true, read_only),
        ])
    }

    #[test]
    fn authorize_cases() {
        let s = store();
        let p = |k: &str| Presented(k.as_bytes().to_vec());
        let never = || panic!("a key without bounds reads no clock");
        assert_eq!(s.authorize(&p("nope"), "GET", "/api/tags", never).map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(&p("gone"), "GET", "/api/tags", never).map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(&p("reader"), "POST", "/api/tags", never).map(|k| &k.id), Err(AuthError::Forbidden));
        assert_eq!(s.authorize(&p("reader"), "GET", "/api/tags", never).map(|k| k.id.as_str()), Ok("ro"));
        assert_eq!(s.authorize(&p("alpha"), "DELETE", "unmatched", never).map(|k| k.id.as_str()), Ok("a"));
    }

    #[test]
    fn rotation_and_validity() {
        // A key being rotated: the old secret expires at 100, the new one is valid from 50;
        // the key itself ends at 1000.
        let mut k = spec("rot", "old", true, Allow::default());
        k.digests[0].expires_at = Some(100);
        let mut new = KeyDigest::new(Sha256::digest(b"new").into());
        new.not_before = Some(50);
        k.digests.push(new);
        k.expires_at = Some(1000);
        let s = KeyStore::new(vec![k]);
        let p = |k: &str| Presented(k.as_bytes().to_vec());
        let at = |secret: &str, now: i64| s.authorize(&p(secret), "GET", "/api/tags", || now).map(|k| k.id.as_str());
        assert_eq!(at("old", 10), Ok("rot"));
        assert_eq!(at("new", 10), Err(AuthError::NotYetValid));
        assert_eq!((at("old", 60), at("new", 60)), (Ok("rot"), Ok("rot")), "both work during the overlap");
        assert_eq!((at("old", 100), at("new", 100)), (Err(AuthError::Expired), Ok("rot")));
        assert_eq!(at("new", 1000), Err(AuthError::Expired), "the key's own expiry bounds every digest");
        assert_eq!(s.keys()[0].expiry(), Some(1000));
    }

    #[test]
    fn a_key_expires_when_its_last_digest_does() {
        let mut k = spec("k", "a", true, Allow::default());
        assert_eq!(k.expiry(), None);
        k.digests[0].expires_at = Some(100);
        assert_eq!(k.expiry(), Some(100));
        k.digests.push(KeyDigest::new([1; 32]));
        assert_eq!(k.expiry(), None, "the second digest keeps it working");
        k.digests[1].expires_at = Some(300);
        assert_eq!(k.expiry(), Some(300));
        k.expires_at = Some(200);
        assert_eq!(k.expiry(), Some(200));
    }

    #[test]
    fn hash_matches_sha256sum() {
        assert_eq!(hash_key("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    }
}
