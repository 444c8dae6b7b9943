//! Zero-downtime operations: an upgrade hand-over (`run --upgrade` + SIGQUIT) under continuous
//! load, and a SIGTERM with requests in flight.

use crate::util::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn extra() -> String {
    format!("  apikey: \"{SIM_KEY}\"\nshutdown: {{grace_period: 1s, timeout: 2s}}\nkeys:\n  - {{id: load, key: load-key, limits: {{per_second: 100000, burst: 100000}}}}\n")
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// `clients` loops until `stop`: odd ones open a new connection per request, even ones keep
/// theirs alive.
fn load(gw_url: String, clients: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    let t0 = Instant::now();
    (0..clients)
        .map(|i| {
            let (url, stop, tally, t0) = (gw_url.clone(), stop.clone(), tally.clone(), t0);
            tokio::spawn(async move {
                let idle = if i % 2 == 0 { 1 } else { 0 };
                let client = reqwest::Client::builder().pool_max_idle_per_host(idle).build().unwrap();
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => tally.ok.fetch_add(1, Ordering::Relaxed),
                        Ok(r) => {
                            errors.push(format!("status {}", r.status()));
                            tally.failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            errors.push(format!("at {:?}: {e:?}", t0.elapsed()));
                            tally.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                errors
            })
        })
        .collect()
}

async fn slow_requests(gw: &GatewayProc, n: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let url = gw.url("/api/tags.xml?apikey=load-key");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                client.get(url).header("x-sim-fault", "slow:700").send().await.map_or(0, |r| r.status().as_u16())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_hand_over_under_load_fails_no_request() {
    let sim = sim().await;
    let mut old = gateway(&sim.base_url(), &extra()).await;
    let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
    let load_started = Instant::now();
    let loops = load(old.url("/api/tags?apikey=load-key"), 4, stop.clone(), tally.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let in_flight = slow_requests(&old, 5).await;
    let mut new = old.spawn_upgrade();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_swap = tally.ok.load(Ordering::Relaxed);
    old.signal("QUIT");
    let swap = Instant::now();
    eprintln!("SIGQUIT at {:?} after the load started", swap.duration_since(load_started));
    let exited = old.wait_exit(30).await;
    let old_gone = swap.elapsed();
    // The new process answers alone for a while before the load stops.
    let after_exit = tally.ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for l in loops {
        errors.extend(l.await.unwrap());
    }
    let statuses: Vec<u16> = futures_join(in_flight).await;
    let ok = tally.ok.load(Ordering::Relaxed);
    let served_by_new = ok - after_exit;
    let _ = new.kill();
    let _ = new.wait();
    eprintln!("upgrade: {ok} requests ok, {} failed; {before_swap} before SIGQUIT; old process gone after {old_gone:?}; {served_by_new} served by the new process alone", tally.failed.load(Ordering::Relaxed));
    assert_eq!(exited, Some(0), "the old process exits cleanly: {}", old.logs());
    assert!(errors.is_empty(), "{} failed requests during the hand-over: {:?}", errors.len(), &errors[..errors.len().min(5)]);
    assert_eq!(statuses, vec![200; 5], "requests in flight at SIGQUIT complete");
    assert!(served_by_new > 20, "the new process served {served_by_new}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_requests_in_flight() {
    let sim = sim().await;
    let mut gw = gateway(&sim.base_url(), &extra()).await;
    let in_flight = slow_requests(&gw, 8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = Instant::now();
    gw.signal("TERM");
    let statuses: Vec<u16> = futures_join(in_flight).await;
    assert_eq!(statuses, vec![200; 8], "every request in flight at SIGTERM completes");
    // New connections are no longer accepted once the listeners close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(tokio::net::TcpStream::connect(gw.addr).await.is_err(), "still accepting after SIGTERM");
    let code = gw.wait_exit(15).await;
    eprintln!("sigterm: 8/8 in-flight requests completed; exit after {:?}", sent.elapsed());
    assert_eq!(code, Some(0), "{}", gw.logs());
    assert!(sent.elapsed() < Duration::from_secs(6), "grace 1 s + timeout 2 s, exited after {:?}", sent.elapsed());
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
