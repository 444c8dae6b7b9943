//! Owns client authentication: finding the presented `apikey` (query, then form body, then
//! header) and matching it against the configured SHA-256 digests in constant time.

use crate::config::KeySpec;
use crate::request::form::BodyKind;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The parameter, form field and header that carry a key.
pub const APIKEY: &str = "apikey";

/// Where the client put its key; key substitution rewrites that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Query,
    Form,
    Header,
}

/// The key a client presented. Deliberately not `Debug`, so it cannot be logged by accident.
pub struct Presented {
    pub key: String,
    pub source: KeySource,
}

/// Why a request is refused before it reaches LiveAgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no apikey in request")]
    Missing,
    #[error("unknown or disabled key")]
    Invalid,
    #[error("key not allowed on this endpoint or method")]
    Forbidden,
}

impl AuthError {
    /// The `reason` label of `liveagent_gateway_auth_failures_total`.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid => "invalid",
            AuthError::Forbidden => "forbidden",
        }
    }
}

/// Finds the key: the query string first, then a form body, then the `apikey` header.
/// An empty value counts as absent.
pub fn find_key(query: Option<&str>, form: Option<(&BodyKind, &[u8])>, header: Option<&str>) -> Option<Presented> {
    let found = |key: Option<String>, source| key.filter(|k| !k.is_empty()).map(|key| Presented { key, source });
    found(query.and_then(|q| crate::request::routes::query_param(q, APIKEY)), KeySource::Query)
        .or_else(|| found(form.and_then(|(kind, body)| kind.field(body, APIKEY)), KeySource::Form))
        .or_else(|| found(header.map(|h| h.trim().to_string()), KeySource::Header))
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
    pub fn lookup(&self, presented: &str) -> Option<&KeySpec> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let candidates = self.index.get(&prefix(&digest))?;
        candidates.iter().map(|&i| &self.keys[i]).find(|k| bool::from(k.digest.ct_eq(&digest)))
    }

    /// Authenticates and authorises one request.
    pub fn authorize(&self, presented: Option<&Presented>, method: &str, endpoint: &str) -> Result<&KeySpec, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?;
        let key = self.lookup(&presented.key).filter(|k| k.enabled).ok_or(AuthError::Invalid)?;
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
    fn find_key_order() {
        let form = BodyKind::UrlEncoded;
        let p = find_key(Some("x=1&apikey=q"), Some((&form, b"apikey=f")), Some("h")).map(|p| (p.key, p.source));
        assert_eq!(p, Some(("q".into(), KeySource::Query)));
        let p = find_key(Some("apikey="), Some((&form, b"apikey=f")), Some("h")).map(|p| (p.key, p.source));
        assert_eq!(p, Some(("f".into(), KeySource::Form)));
        let p = find_key(None, None, Some(" h ")).map(|p| (p.key, p.source));
        assert_eq!(p, Some(("h".into(), KeySource::Header)));
        assert!(find_key(Some("a=b"), None, None).is_none());
    }

    #[test]
    fn authorize_cases() {
        let s = store();
        let p = |k: &str| Presented { key: k.into(), source: KeySource::Query };
        assert_eq!(s.authorize(None, "GET", "/api/tags").map(|k| &k.id), Err(AuthError::Missing));
        assert_eq!(s.authorize(Some(&p("nope")), "GET", "/api/tags").map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(Some(&p("gone")), "GET", "/api/tags").map(|k| &k.id), Err(AuthError::Invalid));
        assert_eq!(s.authorize(Some(&p("reader")), "POST", "/api/tags").map(|k| &k.id), Err(AuthError::Forbidden));
        assert_eq!(s.authorize(Some(&p("reader")), "GET", "/api/tags").map(|k| k.id.as_str()), Ok("ro"));
        assert_eq!(s.authorize(Some(&p("alpha")), "DELETE", "unmatched").map(|k| k.id.as_str()), Ok("a"));
    }

    #[test]
    fn hash_matches_sha256sum() {
        assert_eq!(hash_key("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    }
}
