//! Owns step 2 of a request, whether it may pass: the one [`admit`] that asks, in this order,
//! the brute-force guard (`guard`), the key (`auth`) and the quotas (`quota`). Every refusal
//! says why, with the key id once the key is known.

pub mod apikey;
pub mod auth;
pub mod guard;
pub mod quota;
pub mod usage;

use crate::config::{KeySpec, OnRedisError};
use crate::request::{RequestParts, Target};
use auth::{AuthError, KeyStore};
use guard::AuthGuard;
use quota::redis::{QuotaStoreError, RedisQuota};
use quota::{Allowance, QuotaError, Quotas};
use std::net::IpAddr;

/// What admission consults: the running keys and quota stores.
pub struct Gate<'a> {
    /// The brute-force guard and the address it counts, when both are known.
    pub guard: Option<(&'a AuthGuard, IpAddr)>,
    pub store: &'a KeyStore,
    pub quotas: &'a Quotas,
    /// The shared quota store and what to do when it fails.
    pub shared: Option<(&'a RedisQuota, OnRedisError)>,
}

/// An admitted request: its key, the key as the client presented it, and what its quotas
/// still allow.
pub struct Admitted<'k> {
    pub key: &'k KeySpec,
    pub presented: auth::Presented,
    pub allowance: Allowance,
}

/// Why a request may not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Too many failed authentications from the request's address.
    #[error("address refused by the brute-force guard for {retry_after} s")]
    Guarded { retry_after: u64 },
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Boxed: an allowance is about 100 bytes, and every `Result` of admission would carry
    /// room for it; a refusal by a quota is the rare case.
    #[error("key {key_id}: {error}")]
    Quota { key_id: String, error: Box<QuotaError> },
}

impl Refusal {
    /// The id of the refused key, once it authenticated.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Refusal::Quota { key_id, .. } => Some(key_id),
            _ => None,
        }
    }

    /// What the quotas allow, for the rate-limit fields, when they were asked.
    pub fn allowance(&self) -> Option<Allowance> {
        match self {
            Refusal::Quota { error, .. } => Some(error.allowance()),
            _ => None,
        }
    }
}

/// Authentication and authorisation, the guard for the failures, then the quotas. A key that
/// authenticates is never refused by the guard: it slows down guessing, not the working
/// integrations that share an address (a NAT) with a misconfigured one. A missing or unknown
/// key counts against the request's address; once the address is tripped, such requests get
/// the guard's 429 instead of the 401, so a guesser is told nothing but to wait.
/// `redis_failed` hears of every failure of the shared quota store (for logs and metrics).
pub async fn admit<'k>(
    gate: &Gate<'k>,
    target: &Target,
    req: &RequestParts<'_>,
    redis_failed: impl FnOnce(&QuotaStoreError),
) -> Result<Admitted<'k>, Refusal> {
    let form_body = req.form().map(|kind| (kind, req.body));
    let found = apikey::the_key(req.query, form_body, req.apikey_headers.iter().copied());
    let now = || gate.quotas.now();
    let authorized =
        found.and_then(|presented| Ok((gate.store.authorize(&presented, req.method, target.routed.endpoint, now)?, presented)));
    let (key, presented) = match authorized {
        Ok(found) => found,
        // A known key (out of scope, expired, not valid yet) is not a guess: the guard does
        // not count it.
        Err(e @ (AuthError::Forbidden | AuthError::Expired | AuthError::NotYetValid)) => return Err(e.into()),
        Err(e) => return Err(guarded(gate, e)),
    };
    match quota::check(key, gate.shared, gate.quotas, redis_failed).await {
        Ok(allowance) => Ok(Admitted { key, presented, allowance }),
        Err(error) => Err(Refusal::Quota { key_id: key.id.clone(), error: Box::new(error) }),
    }
}

/// A failed authentication: counted by the guard, and its 429 once the address is tripped.
fn guarded(gate: &Gate<'_>, e: AuthError) -> Refusal {
    let Some((guard, ip)) = gate.guard else { return e.into() };
    let refused = guard.check(ip);
    guard.failure(ip);
    match refused {
        Ok(()) => e.into(),
        Err(retry_after) => Refusal::Guarded { retry_after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientIp, GuardSettings};
    use crate::request::target;
    use crate::testkit::parts;
    use quota::{Exceeded, Limit};
    use std::sync::Arc;
    use std::time::Duration;

    /// Admits one request through a fresh quota store and no guard.
    fn run(store: &KeyStore, req: RequestParts<'_>) -> Result<String, Refusal> {
        let quotas = Quotas::new();
        let gate = Gate { guard: None, store, quotas: &quotas, shared: None };
        let tg = target("/api/tags", None, None).unwrap_or_else(|_| panic!("not routed"));
        let admitted = block_on(admit(&gate, &tg, &req, |_| {}));
        admitted.map(|a| a.key.id.clone())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().map(|rt| rt.block_on(f)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn admit_refusals() {
        let store = KeyStore::new(vec![crate::testkit::key(None)]);
        let refuse = |req: RequestParts<'_>| run(&store, req).err();
        assert_eq!(refuse(parts("GET", None, None, None, b"")), Some(Refusal::Auth(AuthError::Missing)));
        assert_eq!(refuse(parts("GET", Some("apikey=bad"), None, None, b"")), Some(Refusal::Auth(AuthError::Invalid)));
        // A form key on a GET is not read, as PHP would not read it.
        assert_eq!(
            refuse(parts("GET", None, Some("application/x-www-form-urlencoded"), None, b"apikey=client")),
            Some(Refusal::Auth(AuthError::Missing))
        );
        assert_eq!(refuse(parts("POST", None, Some("application/x-www-form-urlencoded"), None, b"apikey=client")), None);
        assert_eq!(refuse(parts("GET", None, None, Some("client"), b"")), None);
    }

    #[test]
    fn key_then_guard_then_quota() {
        let store = KeyStore::new(vec![crate::testkit::key(None)]);
        let quotas = Quotas::new();
        let settings = GuardSettings { per_minute: 1, burst: 1, max_clients: 10, client_ip: ClientIp::Peer };
        let guard = AuthGuard::new(settings, Arc::new(|| Duration::ZERO));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let gate = Gate { guard: Some((&guard, ip)), store: &store, quotas: &quotas, shared: None };
        let tg = target("/api/tags", None, None).unwrap_or_else(|_| panic!("not routed"));
        let good = parts("GET", Some("apikey=client"), None, None, b"");
        let ok = block_on(admit(&gate, &tg, &good, |_| {}));
        assert_eq!(ok.map(|a| a.allowance.burst.remaining), Ok(0));
        // The key's burst of one is spent: the quota refuses, with the key id and nothing left.
        let refused = block_on(admit(&gate, &tg, &good, |_| {})).err();
        let Some(Refusal::Quota { key_id, error }) = refused else { panic!("{refused:?}") };
        let QuotaError::Exceeded(Exceeded { limit: Limit::Rate, allowance, .. }) = *error else { panic!("{error:?}") };
        assert_eq!((key_id.as_str(), allowance.burst.remaining), ("k", 0));
        // A wrong key trips the guard (burst 1); then the address's failures get the 429.
        let bad = parts("GET", Some("apikey=guess"), None, None, b"");
        assert_eq!(block_on(admit(&gate, &tg, &bad, |_| {})).err(), Some(Refusal::Auth(AuthError::Invalid)));
        assert_eq!(block_on(admit(&gate, &tg, &bad, |_| {})).err(), Some(Refusal::Guarded { retry_after: 60 }));
        let none = parts("GET", None, None, None, b"");
        assert_eq!(block_on(admit(&gate, &tg, &none, |_| {})).err(), Some(Refusal::Guarded { retry_after: 60 }));
        // A working key from the same address is still served (its quota refuses it here).
        let again = block_on(admit(&gate, &tg, &good, |_| {})).err();
        assert!(matches!(again, Some(Refusal::Quota { .. })), "{again:?}");
    }
}
