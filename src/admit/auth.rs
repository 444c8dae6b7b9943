//! Owns client authentication: matching the presented `apikey` (found by `apikey`) against
//! the configured SHA-256 digests in constant time, and the key's allow list.

use crate::config::KeySpec;
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
            AuthError::Forbidden => "forbidden",
        }
    }
}

/// The configured keys, indexed by the first 8 bytes of their digest. The index only narrows
/// the candidates; the full digest is always compared in constant time.
#[derive(Debug, Default)]
pub struct KeyStore {
    keys: Vec<KeySpec>,
    index: HashMap<u64, Vec<usize>>,
}

impl KeyStore {
    pub fn new(keys: Vec<KeySpec>) -> Self {
        let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            index.entry(prefix(&k.digest)).or_default().push(i);
        }
        KeyStore { keys, index }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key entry whose digest is the SHA-256 of `presented`, enabled or not.
    pub fn lookup(&self, presented: impl AsRef<[u8]>) -> Option<&KeySpec> {
        let digest: [u8; 32] = Sha256::digest(presented.as_ref()).into();
        let candidates = self.index.get(&prefix(&digest))?;
        candidates.iter().map(|&i| &self.keys[i]).find(|k| bool::from(k.digest.ct_eq(&digest)))
    }

    /// Authenticates and authorises one request.
    pub fn authorize(&self, presented: &Presented, method: &str, endpoint: &str) -> Result<&KeySpec, AuthError> {
        let key = self.lookup(presented).filter(|k| k.enabled).ok_or(AuthError::Invalid)?;
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
    use crate::config::{Allow, Limits};
    use std::num::NonZeroU32;

    fn spec(id: &str, key: &str, enabled: bool, allow: Allow) -> KeySpec {
        let one = NonZeroU32::MIN;
        KeySpec {
            id: id.into(),
            digest: Sha256::digest(key.as_bytes()).into(),
            limits: Limits { per_second: one, burst: one, per_day: None },
            upstream_apikey: None,
            enabled,
            allow,
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
        assert_eq!(s.authorize(&p("nope"), "GET", "/api/tags").map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(&p("gone"), "GET", "/api/tags").map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(&p("reader"), "POST", "/api/tags").map(|k| &k.id), Err(AuthError::Forbidden));
        assert_eq!(s.authorize(&p("reader"), "GET", "/api/tags").map(|k| k.id.as_str()), Ok("ro"));
        assert_eq!(s.authorize(&p("alpha"), "DELETE", "unmatched").map(|k| k.id.as_str()), Ok("a"));
    }

    #[test]
    fn hash_matches_sha256sum() {
        assert_eq!(hash_key("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    }
}
