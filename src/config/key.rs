//! Owns the runtime model of a client key: its digests and their validity, its limits, zone
//! and allow list, as the rest of the gateway reads them.

use super::{Limits, Zone};

/// One client key (an integration): its secrets, held only as SHA-256 digests, and what they
/// may do. Several digests share the id, and so its quota, while a key is being rotated.
#[derive(Clone)]
pub struct KeySpec {
    pub id: String,
    pub digests: Vec<KeyDigest>,
    pub limits: Limits,
    /// The zone whose midnights and month starts bound the daily and monthly quotas.
    pub zone: Zone,
    pub upstream_apikey: Option<String>,
    pub enabled: bool,
    pub allow: Allow,
    /// Unix seconds before which no digest is accepted.
    pub not_before: Option<i64>,
    /// Unix seconds from which no digest is accepted.
    pub expires_at: Option<i64>,
}

/// One secret of a key, with its own validity (the old secret of a rotation expires).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest {
    pub sha256: [u8; 32],
    pub not_before: Option<i64>,
    pub expires_at: Option<i64>,
}

impl KeyDigest {
    pub fn new(sha256: [u8; 32]) -> Self {
        KeyDigest { sha256, not_before: None, expires_at: None }
    }
}

/// Whether a secret may be used at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    NotYetValid,
    Expired,
}

impl KeySpec {
    /// An enabled key with one digest, no bounds, UTC quotas and no allow list.
    pub fn new(id: impl Into<String>, sha256: [u8; 32], limits: Limits) -> KeySpec {
        KeySpec {
            id: id.into(),
            digests: vec![KeyDigest::new(sha256)],
            limits,
            zone: Zone::utc(),
            upstream_apikey: None,
            enabled: true,
            allow: Allow::default(),
            not_before: None,
            expires_at: None,
        }
    }

    /// Whether the digest `d` of this key may be used at `now` (Unix seconds): the key's
    /// bounds and the digest's both apply.
    pub fn validity(&self, d: &KeyDigest, now: i64) -> Validity {
        let from = self.not_before.into_iter().chain(d.not_before).max();
        let until = self.expires_at.into_iter().chain(d.expires_at).min();
        if until.is_some_and(|u| now >= u) {
            Validity::Expired
        } else if from.is_some_and(|f| now < f) {
            Validity::NotYetValid
        } else {
            Validity::Valid
        }
    }

    /// Whether any bound applies: keys without one never read the clock.
    pub fn timed(&self) -> bool {
        self.not_before.is_some()
            || self.expires_at.is_some()
            || self.digests.iter().any(|d| d.not_before.is_some() || d.expires_at.is_some())
    }

    /// When the key stops admitting anyone (Unix seconds): its own expiry, or the last of its
    /// digests' when every digest has one. A rotation's old digest expiring is not the key
    /// expiring: the new digest keeps it working.
    pub fn expiry(&self) -> Option<i64> {
        let digests = self.digests.iter().map(|d| d.expires_at).collect::<Option<Vec<i64>>>().and_then(|e| e.into_iter().max());
        self.expires_at.into_iter().chain(digests).min()
    }
}

impl std::fmt::Debug for KeySpec {
    // Digest and upstream key stay out of debug output, which can end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec").field("id", &self.id).field("enabled", &self.enabled).finish_non_exhaustive()
    }
}

/// Which methods and endpoint templates a key may call; `None` allows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    pub methods: Option<Vec<String>>,
    /// Catalog templates, or prefixes ending in `*`.
    pub endpoints: Option<Vec<String>>,
}

impl Allow {
    pub fn permits(&self, method: &str, endpoint: &str) -> bool {
        let method_ok = self.methods.as_ref().is_none_or(|m| m.iter().any(|x| x == method));
        let endpoint_ok = self.endpoints.as_ref().is_none_or(|e| {
            e.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => endpoint.starts_with(prefix),
                None => p == endpoint,
            })
        });
        method_ok && endpoint_ok
    }
}
