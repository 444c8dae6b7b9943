//! Owns the brute-force guard: authentication failures from one client address drain a
//! token bucket; while it is empty every request from that address is refused before its key
//! is looked at, so guessing keys is slow and says nothing about a guess.
//!
//! Memory is bounded by `max_clients` entries of ~48 bytes. When the table is full, entries
//! whose bucket has refilled are dropped (at most once a second, so a flood cannot make every
//! request scan the table); if it is still full, new addresses are not tracked until it frees.

use crate::config::{ClientIp, GuardSettings};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Time since an arbitrary start, from a monotonic clock. Injected so tests use a fake one.
pub type Monotonic = Arc<dyn Fn() -> Duration + Send + Sync>;

pub fn system_monotonic() -> Monotonic {
    let start = std::time::Instant::now();
    Arc::new(move || start.elapsed())
}

/// The address the guard counts for a request.
pub fn client_ip(mode: ClientIp, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
    match mode {
        ClientIp::Peer => peer,
        ClientIp::ForwardedFor => forwarded_for.and_then(|h| h.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok()).or(peer),
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Duration,
}

pub struct AuthGuard {
    settings: GuardSettings,
    now: Monotonic,
    table: Mutex<Table>,
}

struct Table {
    clients: HashMap<IpAddr, Bucket>,
    pruned_at: Option<Duration>,
}

impl AuthGuard {
    pub fn new(settings: GuardSettings, now: Monotonic) -> Self {
        AuthGuard { settings, now, table: Mutex::new(Table { clients: HashMap::new(), pruned_at: None }) }
    }

    fn rate(&self) -> f64 {
        f64::from(self.settings.per_minute.max(1)) / 60.0
    }

    fn refill(&self, b: Bucket, now: Duration) -> f64 {
        (b.tokens + (now.saturating_sub(b.at)).as_secs_f64() * self.rate()).min(f64::from(self.settings.burst))
    }

    /// `Err(seconds)` while `ip` must wait before it may try again.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = (self.now)();
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = table.clients.get(&ip) else { return Ok(()) };
        let tokens = self.refill(*b, now);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - tokens) / self.rate()).ceil().max(1.0) as u64)
        }
    }

    /// Counts one failed authentication from `ip`.
    pub fn failure(&self, ip: IpAddr) {
        let now = (self.now)();
        let burst = f64::from(self.settings.burst);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = table.clients.get(&ip).copied() {
            let tokens = (self.refill(b, now) - 1.0).max(0.0);
            table.clients.insert(ip, Bucket { tokens, at: now });
            return;
        }
        if table.clients.len() >= self.settings.max_clients {
            let may_prune = table.pruned_at.is_none_or(|t| now.saturating_sub(t) >= Duration::from_secs(1));
            if may_prune {
                table.pruned_at = Some(now);
                table.clients.retain(|_, b| self.refill(*b, now) < burst);
            }
            if table.clients.len() >= self.settings.max_clients {
                return;
            }
        }
        table.clients.insert(ip, Bucket { tokens: burst - 1.0, at: now });
    }

    pub fn len(&self) -> usize {
        self.table.lock().map_or(0, |t| t.clients.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn guard(burst: u32, per_minute: u32, max_clients: usize) -> (AuthGuard, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(0));
        let m = ms.clone();
        let settings = GuardSettings { per_minute, burst, max_clients, client_ip: ClientIp::Peer };
        (AuthGuard::new(settings, Arc::new(move || Duration::from_millis(m.load(Ordering::SeqCst)))), ms)
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn failures_then_refusal_then_forgiveness() {
        let (g, ms) = guard(3, 60, 10);
        for _ in 0..3 {
            assert_eq!(g.check(ip(1)), Ok(()));
            g.failure(ip(1));
        }
        assert_eq!(g.check(ip(1)), Err(1), "one failure forgiven per second");
        assert_eq!(g.check(ip(2)), Ok(()), "other addresses are not affected");
        ms.store(1000, Ordering::SeqCst);
        assert_eq!(g.check(ip(1)), Ok(()));
        g.failure(ip(1));
        assert_eq!(g.check(ip(1)), Err(1));
    }

    #[test]
    fn a_flood_of_addresses_stays_bounded() {
        let (g, ms) = guard(5, 60, 1000);
        for n in 0..200_000 {
            g.failure(ip(n));
            if n % 10_000 == 0 {
                ms.fetch_add(2000, Ordering::SeqCst);
            }
        }
        assert!(g.len() <= 1000, "{} entries", g.len());
        // Addresses that have refilled are dropped to make room for new ones.
        ms.fetch_add(60_000, Ordering::SeqCst);
        g.failure(ip(999_999));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn forwarded_for_uses_the_last_hop() {
        let peer = Some(ip(9));
        assert_eq!(client_ip(ClientIp::Peer, peer, Some("1.2.3.4")), peer);
        assert_eq!(client_ip(ClientIp::ForwardedFor, peer, Some("6.6.6.6, 1.2.3.4")), "1.2.3.4".parse().ok());
        assert_eq!(client_ip(ClientIp::ForwardedFor, peer, Some("garbage")), peer);
    }
}
