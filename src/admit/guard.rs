//! Owns the brute-force guard: authentication failures from one client address drain a
//! token bucket; while it is empty every request from that address is refused before its key
//! is looked at, so guessing keys is slow and says nothing about a guess.
//!
//! Memory is bounded by `max_clients` entries of ~48 bytes. When the table is full, entries
//! whose bucket has refilled are dropped (at most once a second, so a flood cannot make every
//! request scan the table); if it is still full, new addresses are not tracked until it frees.

use crate::config::{Cidr, ClientIp, GuardSettings};
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
/// `forwarded_for`: every `X-Forwarded-For` line, in order. As nginx's `set_real_ip_from` with
/// `real_ip_recursive on`: the entries of all lines joined, then the peer, are read from the
/// right; the first that is not a trusted proxy is the client (all trusted: the left-most). An
/// entry that is not an address stops the walk at the hop before it, which put it there. With
/// no trusted proxies, one hop is trusted: the right-most entry, which the balancer in front
/// added (a client can write any entry to the left of it).
pub fn client_ip<'a>(
    mode: ClientIp,
    trusted: &[Cidr],
    peer: Option<IpAddr>,
    forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> Option<IpAddr> {
    if mode == ClientIp::Peer {
        return peer;
    }
    let mut entries = forwarded_for.rev().flat_map(|line| line.rsplit(|&b| b == b',')).map(parse_ip);
    if trusted.is_empty() {
        return entries.next().flatten().or(peer);
    }
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = peer?;
    for entry in entries {
        if !is_trusted(client) {
            break;
        }
        match entry {
            Some(ip) => client = ip,
            None => break,
        }
    }
    Some(client)
}

fn parse_ip(entry: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(entry).ok()?.trim().parse().ok()
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
        let xff = |lines: &'static [&'static str]| lines.iter().map(|l| l.as_bytes());
        assert_eq!(client_ip(ClientIp::Peer, &[], peer, xff(&["1.2.3.4"])), peer);
        assert_eq!(client_ip(ClientIp::ForwardedFor, &[], peer, xff(&["6.6.6.6, 1.2.3.4"])), "1.2.3.4".parse().ok());
        assert_eq!(client_ip(ClientIp::ForwardedFor, &[], peer, xff(&["garbage"])), peer);
        // A forged first line does not beat the balancer's own, added as a second line.
        assert_eq!(client_ip(ClientIp::ForwardedFor, &[], peer, xff(&["6.6.6.6", "1.2.3.4"])), "1.2.3.4".parse().ok());
    }

    #[test]
    fn trusted_proxies_are_walked_from_the_right() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap_or_else(|e| panic!("{e}")), Cidr::parse("::1").unwrap_or_else(|e| panic!("{e}"))];
        let lb: Option<IpAddr> = "10.1.1.1".parse().ok();
        let xff = |lines: &'static [&'static str]| lines.iter().map(|l| l.as_bytes());
        let walk = |peer, lines| client_ip(ClientIp::ForwardedFor, &trusted, peer, xff(lines));
        assert_eq!(walk(lb, &["6.6.6.6, 203.0.113.7, 10.2.2.2"]), "203.0.113.7".parse().ok(), "forged entries left of the client");
        assert_eq!(walk(lb, &["6.6.6.6", "203.0.113.7"]), "203.0.113.7".parse().ok(), "lines are joined in order");
        assert_eq!(walk("198.51.100.1".parse().ok(), &["203.0.113.7"]), "198.51.100.1".parse().ok(), "an untrusted peer is the client");
        assert_eq!(walk(lb, &["10.3.3.3"]), "10.3.3.3".parse().ok(), "all trusted: the left-most");
        assert_eq!(walk(lb, &["203.0.113.7, junk, 10.2.2.2"]), "10.2.2.2".parse().ok(), "the walk stops at a bad entry");
        assert_eq!(walk("::1".parse().ok(), &["2001:db8::5"]), "2001:db8::5".parse().ok());
        assert_eq!(walk("::ffff:10.0.0.1".parse().ok(), &["192.0.2.1"]), "192.0.2.1".parse().ok(), "IPv4 seen through IPv6");
    }
}
