//! Owns the checks of client keys in the configuration and the keys file: ids, digests, limits
//! and allow lists, each problem named by its field path.

use super::check::{parse_time, Check};
use super::file::{DigestFile, DigestsFile, KeyFile};
use super::{Allow, KeyDigest, KeySpec, Limits, Zone};
use crate::request::routes::{CATALOG, UNMATCHED};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

#[derive(Default)]
pub(super) struct Seen {
    ids: HashSet<String>,
    digests: HashSet<[u8; 32]>,
}

/// What a key takes from the top level when it does not say.
#[derive(Clone, Copy)]
pub(super) struct Defaults<'a> {
    pub limits: Limits,
    pub zone: &'a Zone,
}

pub(super) fn validate_keys(c: &mut Check, entries: &[KeyFile], defaults: Defaults<'_>, prefix: &str, seen: &mut Seen) -> Vec<KeySpec> {
    entries.iter().enumerate().filter_map(|(i, k)| validate_key(c, k, defaults, &format!("{prefix}[{i}]"), seen)).collect()
}

fn validate_key(c: &mut Check, k: &KeyFile, defaults: Defaults<'_>, at: &str, seen: &mut Seen) -> Option<KeySpec> {
    let id_ok = !k.id.is_empty() && k.id.len() <= 64 && k.id.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if !id_ok {
        c.fail(format!("{at}.id"), "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    } else if !seen.ids.insert(k.id.clone()) {
        c.fail(format!("{at}.id"), format!("{:?} is used by another key", k.id));
    }
    let digests = match (&k.key_sha256, &k.key) {
        (Some(_), Some(_)) => {
            c.fail(at, "has both key and key_sha256: give one");
            None
        }
        (None, None) => {
            c.fail(at, "needs key_sha256 (or key, for development)");
            None
        }
        (Some(given), None) => digests(c, given, &format!("{at}.key_sha256")),
        (None, Some(plain)) if plain.is_empty() => {
            c.fail(format!("{at}.key"), "must not be empty");
            None
        }
        (None, Some(plain)) => {
            c.warn(format!("{at}.key"), "plain-text key: use key_sha256 outside development (hash-key prints it)");
            Some(vec![KeyDigest::new(Sha256::digest(plain.as_bytes()).into())])
        }
    };
    for d in digests.iter().flatten() {
        if !seen.digests.insert(d.sha256) {
            c.fail(at, "has the same key as another entry");
        }
    }
    let not_before = time(c, k.not_before.as_deref(), &format!("{at}.not_before"));
    let expires_at = time(c, k.expires_at.as_deref(), &format!("{at}.expires_at"));
    if let (Some(Some(from)), Some(Some(until))) = (not_before, expires_at) {
        if from >= until {
            c.fail(format!("{at}.expires_at"), "must be later than not_before");
        }
    }
    let zone = match &k.quota_timezone {
        Some(name) => Zone::named(name).map_err(|m| c.fail(format!("{at}.quota_timezone"), m)).ok(),
        None => Some(defaults.zone.clone()),
    };
    let limits = key_limits(c, k, defaults.limits, at);
    let allow = allow(c, k, at);
    if k.upstream_apikey.as_deref() == Some("") {
        c.fail(format!("{at}.upstream_apikey"), "must not be empty (use null)");
    }
    Some(KeySpec {
        id: k.id.clone(),
        digests: digests?,
        limits: limits?,
        zone: zone?,
        upstream_apikey: k.upstream_apikey.clone(),
        enabled: k.enabled,
        allow,
        not_before: not_before?,
        expires_at: expires_at?,
    })
    .filter(|_| id_ok)
}

/// An optional RFC 3339 field: `Some(None)` when absent, `None` when wrong.
fn time(c: &mut Check, text: Option<&str>, at: &str) -> Option<Option<i64>> {
    match text {
        None => Some(None),
        Some(t) => parse_time(t).map(Some).map_err(|m| c.fail(at, m)).ok(),
    }
}

/// The digests of `key_sha256`, each checked at its own path.
fn digests(c: &mut Check, given: &DigestsFile, at: &str) -> Option<Vec<KeyDigest>> {
    let entries: Vec<(String, &DigestFile)> = match given {
        DigestsFile::One(hex_digest) => return parse_digest(hex_digest).map_err(|m| c.fail(at, m)).ok().map(|d| vec![KeyDigest::new(d)]),
        DigestsFile::Many(list) => list.iter().enumerate().map(|(i, d)| (format!("{at}[{i}]"), d)).collect(),
    };
    if entries.is_empty() {
        c.fail(at, "must list at least one digest");
        return None;
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (path, entry) in entries {
        let (hex_digest, from, until, digest_path) = match entry {
            DigestFile::Plain(h) => (h, None, None, path.clone()),
            DigestFile::Timed(t) => (&t.sha256, t.not_before.as_deref(), t.expires_at.as_deref(), format!("{path}.sha256")),
        };
        let sha256 = parse_digest(hex_digest).map_err(|m| c.fail(digest_path, m)).ok();
        let not_before = time(c, from, &format!("{path}.not_before"));
        let expires_at = time(c, until, &format!("{path}.expires_at"));
        match (sha256, not_before, expires_at) {
            (Some(sha256), Some(not_before), Some(expires_at)) => out.push(KeyDigest { sha256, not_before, expires_at }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
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
    for (name, value) in [("per_day", l.per_day), ("per_month", l.per_month)] {
        if value == Some(0) {
            c.fail(format!("{at}.limits.{name}"), "must be at least 1");
        }
    }
    Some(Limits { per_second: per_second?, burst: burst?, per_day: l.per_day.or(d.per_day), per_month: l.per_month.or(d.per_month) })
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

#[cfg(test)]
mod tests {
    use crate::config::{from_yaml, Loaded, Problem};
    use std::path::Path;

    fn load(keys: &str) -> Result<Loaded, Vec<Problem>> {
        from_yaml(&format!("upstream: {{url: \"http://x\"}}\nquota_timezone: Asia/Tokyo\n{keys}"), Path::new("."))
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn digests_validity_and_zones() {
        let yaml = format!(
            "keys:\n  - id: rot\n    key_sha256:\n      - {{sha256: {A}, expires_at: \"2027-01-01T09:00:00+09:00\"}}\n      - {B}\n    not_before: \"2026-01-01T00:00:00Z\"\n    limits: {{per_month: 30000}}\n  - {{id: ny, key: k, quota_timezone: America/New_York}}\n"
        );
        let c = load(&yaml).unwrap_or_else(|p| panic!("{p:?}")).config;
        let rot = &c.keys[0];
        assert_eq!(rot.digests.len(), 2);
        assert_eq!(rot.digests[0].expires_at, Some(1_798_761_600), "2027-01-01T00:00:00Z");
        assert_eq!((rot.digests[1].expires_at, rot.not_before), (None, Some(1_767_225_600)));
        assert_eq!((rot.limits.per_month, rot.limits.per_day, rot.zone.name()), (Some(30000), None, "Asia/Tokyo"));
        assert_eq!(c.keys[1].zone.name(), "America/New_York");
    }

    #[test]
    fn each_problem_names_its_field() {
        let yaml = format!(
            "quota_timezone: Nowhere/City\nlimits: {{per_month: 0}}\nkeys:\n  - id: a\n    key_sha256: [{A}, {{sha256: zz, expires_at: tomorrow}}]\n  - {{id: b, key_sha256: [], quota_timezone: Mars/Base}}\n  - {{id: c, key: k, not_before: \"2027-01-01T00:00:00Z\", expires_at: \"2026-01-01T00:00:00Z\"}}\n  - {{id: d, key: k}}\n"
        );
        let text = yaml.replacen("quota_timezone: Asia/Tokyo\n", "", 1);
        let problems = from_yaml(&format!("upstream: {{url: \"http://x\"}}\n{text}"), Path::new(".")).err().unwrap_or_default();
        let joined: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let joined = joined.join("\n");
        for want in [
            "quota_timezone: \"Nowhere/City\" is not an IANA time zone",
            "limits.per_month: must be at least 1",
            "keys[0].key_sha256[1].sha256:",
            "keys[0].key_sha256[1].expires_at: \"tomorrow\" is not an RFC 3339 time",
            "keys[1].key_sha256: must list at least one digest",
            "keys[1].quota_timezone:",
            "keys[2].expires_at: must be later than not_before",
            "keys[3]: has the same key as another entry",
        ] {
            assert!(joined.contains(want), "missing {want:?} in\n{joined}");
        }
    }
}
