//! Owns the checks of client keys in the configuration and the keys file: ids, digests, limits
//! and allow lists, each problem named by its field path.

use super::check::Check;
use super::file::KeyFile;
use super::{Allow, KeySpec, Limits};
use crate::request::routes::{CATALOG, UNMATCHED};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

#[derive(Default)]
pub(super) struct Seen {
    ids: HashSet<String>,
    digests: HashSet<[u8; 32]>,
}

pub(super) fn validate_keys(c: &mut Check, entries: &[KeyFile], defaults: Limits, prefix: &str, seen: &mut Seen) -> Vec<KeySpec> {
    entries.iter().enumerate().filter_map(|(i, k)| validate_key(c, k, defaults, &format!("{prefix}[{i}]"), seen)).collect()
}

fn validate_key(c: &mut Check, k: &KeyFile, defaults: Limits, at: &str, seen: &mut Seen) -> Option<KeySpec> {
    let id_ok = !k.id.is_empty() && k.id.len() <= 64 && k.id.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if !id_ok {
        c.fail(format!("{at}.id"), "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    } else if !seen.ids.insert(k.id.clone()) {
        c.fail(format!("{at}.id"), format!("{:?} is used by another key", k.id));
    }
    let digest = match (&k.key_sha256, &k.key) {
        (Some(_), Some(_)) => {
            c.fail(at, "has both key and key_sha256: give one");
            None
        }
        (None, None) => {
            c.fail(at, "needs key_sha256 (or key, for development)");
            None
        }
        (Some(hex_digest), None) => parse_digest(hex_digest).map_err(|m| c.fail(format!("{at}.key_sha256"), m)).ok(),
        (None, Some(plain)) if plain.is_empty() => {
            c.fail(format!("{at}.key"), "must not be empty");
            None
        }
        (None, Some(plain)) => {
            c.warn(format!("{at}.key"), "plain-text key: use key_sha256 outside development (hash-key prints it)");
            Some(Sha256::digest(plain.as_bytes()).into())
        }
    };
    if let Some(d) = digest {
        if !seen.digests.insert(d) {
            c.fail(at, "has the same key as another entry");
        }
    }
    let limits = key_limits(c, k, defaults, at);
    let allow = allow(c, k, at);
    if k.upstream_apikey.as_deref() == Some("") {
        c.fail(format!("{at}.upstream_apikey"), "must not be empty (use null)");
    }
    Some(KeySpec {
        id: k.id.clone(),
        digest: digest?,
        limits: limits?,
        upstream_apikey: k.upstream_apikey.clone(),
        enabled: k.enabled,
        allow,
    })
    .filter(|_| id_ok)
}

fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| "must be 64 hexadecimal characters (a SHA-256 digest)".to_string())?;
    Ok(out)
}

fn key_limits(c: &mut Check, k: &KeyFile, d: Limits, at: &str) -> Option<Limits> {
    let Some(l) = &k.limits else { return Some(d) };
    let per_second = l.per_second.map_or(Some(d.per_second), |v| c.nonzero(&format!("{at}.limits.per_second"), v));
    let burst = l.burst.map_or(Some(d.burst), |v| c.nonzero(&format!("{at}.limits.burst"), v));
    if l.per_day == Some(0) {
        c.fail(format!("{at}.limits.per_day"), "must be at least 1");
    }
    Some(Limits { per_second: per_second?, burst: burst?, per_day: l.per_day.or(d.per_day) })
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

fn allow(c: &mut Check, k: &KeyFile, at: &str) -> Allow {
    let Some(a) = &k.allow else { return Allow::default() };
    for (i, m) in a.methods.iter().flatten().enumerate() {
        if !METHODS.contains(&m.as_str()) {
            c.fail(format!("{at}.allow.methods[{i}]"), format!("{m:?} is not one of {}", METHODS.join(", ")));
        }
    }
    for (i, e) in a.endpoints.iter().flatten().enumerate() {
        let known = e.ends_with('*') || e == UNMATCHED || CATALOG.iter().any(|r| r.template == e);
        if !known {
            c.fail(format!("{at}.allow.endpoints[{i}]"), format!("{e:?} is not a route template of the catalog (or a prefix ending in *)"));
        }
    }
    Allow { methods: a.methods.clone(), endpoints: a.endpoints.clone() }
}
