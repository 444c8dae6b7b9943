//! Owns what an operator is told about a key on the admin listener (`GET /keys`,
//! `GET /keys/{id}`) and in the per-key gauges: its state, limits, validity and how much of
//! each quota it used. Never a key or a digest: a fingerprint (the digest's first 4 bytes)
//! tells the digests of a rotation apart, as `keys list` shows them.

use super::quota::{Allowance, Limit, Window};
use crate::config::{KeySpec, Validity};
use serde_json::{json, Value};

/// A key's state at an instant.
pub fn state(key: &KeySpec, now: i64) -> &'static str {
    if !key.enabled {
        return "disabled";
    }
    let validity: Vec<Validity> = key.digests.iter().map(|d| key.validity(d, now)).collect();
    if validity.contains(&Validity::Valid) {
        "active"
    } else if validity.contains(&Validity::NotYetValid) {
        "not_yet_valid"
    } else {
        "expired"
    }
}

/// The digest's fingerprint: enough to tell digests apart, useless to authenticate.
pub fn fingerprint(sha256: &[u8; 32]) -> String {
    hex::encode(&sha256[..4])
}

/// Where the usage numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Redis: the same numbers on every replica.
    Shared,
    /// This replica's own counters.
    Local,
}

/// The JSON of one key; `usage`: its quotas now, or why they could not be read.
pub fn key_json(key: &KeySpec, now: i64, usage: Result<(Allowance, Source), &str>) -> Value {
    let time = |t: Option<i64>| t.map(|t| key.zone.rfc3339(t));
    let digests: Vec<Value> = key
        .digests
        .iter()
        .map(|d| {
            let validity = match key.validity(d, now) {
                Validity::Valid => "active",
                Validity::NotYetValid => "not_yet_valid",
                Validity::Expired => "expired",
            };
            json!({
                "fingerprint": fingerprint(&d.sha256),
                "state": validity,
                "not_before": time(d.not_before),
                "expires_at": time(d.expires_at),
            })
        })
        .collect();
    let l = key.limits;
    let usage = match usage {
        Ok((a, source)) => {
            let mut windows = serde_json::Map::new();
            for (limit, w) in a.windows() {
                windows.insert(limit.policy().into(), window_json(limit, w, key, now));
            }
            windows.insert("source".into(), json!(if source == Source::Shared { "redis" } else { "local" }));
            Value::Object(windows)
        }
        Err(why) => json!({ "error": why }),
    };
    json!({
        "id": key.id,
        "state": state(key, now),
        "digests": digests,
        "not_before": time(key.not_before),
        "expires_at": time(key.expiry()),
        "expires_in_seconds": key.expiry().map(|e| e - now),
        "quota_timezone": key.zone.name(),
        "limits": {
            "per_second": l.per_second.get(),
            "burst": l.burst.get(),
            "per_day": l.per_day,
            "per_month": l.per_month,
        },
        "usage": usage,
    })
}

fn window_json(limit: Limit, w: Window, key: &KeySpec, now: i64) -> Value {
    let mut v = json!({
        "limit": w.limit,
        "used": w.limit - w.remaining.min(w.limit),
        "remaining": w.remaining,
        "reset_seconds": w.reset,
    });
    // A calendar period also says when it ends, on the key's own calendar.
    if limit != Limit::Rate {
        if let Some(map) = v.as_object_mut() {
            map.insert("resets_at".into(), json!(key.zone.rfc3339(now + i64::from(w.reset))));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admit::quota::window::{span, Period, Zone};
    use crate::admit::quota::Calendar;
    use crate::config::{Allow, KeyDigest, Limits};
    use std::num::NonZeroU32;

    fn key() -> KeySpec {
        let nz = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        let mut old = KeyDigest::new([0xab; 32]);
        old.expires_at = Some(2_000_000_000);
        KeySpec {
            id: "crm".into(),
            digests: vec![old, KeyDigest::new([0xcd; 32])],
            limits: Limits { per_second: nz(10), burst: nz(20), per_day: Some(1000), per_month: None },
            zone: Zone::named("Asia/Tokyo").unwrap_or_else(|e| panic!("{e}")),
            upstream_apikey: Some("never shown".into()),
            enabled: true,
            allow: Allow::default(),
            not_before: None,
            expires_at: None,
        }
    }

    #[test]
    fn usage_of_a_rotating_key() {
        let k = key();
        // 2026-12-02T23:00:00+09:00: an hour left of the Tokyo day.
        let now = 1_796_220_000;
        let cal = Calendar { now, day: Some(span(Period::Day, &k.zone, now)), month: None };
        let a = Allowance::new(k.limits, 17, &cal, (42, 0));
        let v = key_json(&k, now, Ok((a, Source::Shared)));
        assert_eq!(v["state"], "active");
        assert_eq!(v["expires_at"], Value::Null, "the new digest does not expire");
        assert_eq!(v["digests"][0]["fingerprint"], "abababab");
        assert_eq!(v["digests"][0]["expires_at"], "2033-05-18T12:33:20+09:00");
        assert_eq!(v["usage"]["burst"], json!({"limit": 20, "used": 3, "remaining": 17, "reset_seconds": 1}));
        assert_eq!(v["usage"]["day"]["used"], 42);
        assert_eq!(v["usage"]["day"]["reset_seconds"], 3600);
        assert_eq!(v["usage"]["day"]["resets_at"], "2026-12-03T00:00:00+09:00");
        assert_eq!(v["usage"]["source"], "redis");
        assert!(v.get("usage").and_then(|u| u.get("month")).is_none());
        let text = v.to_string();
        assert!(!text.contains("never shown") && !text.contains(&"ab".repeat(32)), "{text}");
    }

    #[test]
    fn states() {
        let mut k = key();
        assert_eq!(state(&k, 0), "active");
        k.expires_at = Some(10);
        assert_eq!(state(&k, 10), "expired");
        k.expires_at = None;
        k.not_before = Some(10);
        assert_eq!(state(&k, 9), "not_yet_valid");
        k.enabled = false;
        assert_eq!(state(&k, 20), "disabled");
        let v = key_json(&k, 20, Err("shared quota store unavailable"));
        assert_eq!(v["usage"]["error"], "shared quota store unavailable");
    }
}
