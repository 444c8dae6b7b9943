//! A fixed-rate (open-loop) HTTP/1.1 load generator for latency at a given rate: each
//! connection sends on a schedule, and latency is measured from the scheduled send time, so a
//! slow answer is not hidden by delaying the next request (no coordinated omission).
//!
//! cargo run --release --example loadgen -- URL RATE SECONDS CONNECTIONS
//! prints: p50_us p99_us p999_us achieved_rps errors late_events worst_us
//!
//! A late event is a run of requests answered 1 ms or more after their scheduled time, less
//! than 5 ms apart: one stall (of the server, or of the whole machine) and the backlog it
//! leaves. Stalls of the machine show up against every target, direct access included, so
//! comparing the counts separates them from a target's own. `LOADGEN_EVENTS=1` lists them
//! on stderr.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn one(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        if !head.starts_with("http/1.1 200") {
            return Err(std::io::Error::other(head.lines().next().unwrap_or("").to_string()));
        }
        if buf.len() >= end + 4 + len {
            return Ok(());
        }
    }
}

/// Waits until `at` to the microsecond. tokio's timer fires on a 1 ms wheel, which would
/// release the requests of each millisecond together and add up to 1 ms to every latency;
/// the last stretch is spent yielding (the generator has a core of its own).
async fn wait_until(at: Instant) {
    const COARSE: Duration = Duration::from_millis(2);
    if let Some(early) = at.checked_sub(COARSE) {
        if early > Instant::now() {
            tokio::time::sleep_until(early.into()).await;
        }
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Requests answered 1 ms or more late, grouped into runs.
struct LateEvent {
    from: u64,
    to: u64,
    requests: usize,
    worst: u64,
}

/// Groups `(scheduled_us, latency_us)` pairs into events: a gap of 5 ms starts a new one.
fn late_events(mut late: Vec<(u64, u64)>) -> Vec<LateEvent> {
    late.sort_unstable();
    let mut events: Vec<LateEvent> = Vec::new();
    for (at, latency) in late {
        match events.last_mut() {
            Some(e) if at <= e.to + 5000 => {
                e.to = at;
                e.requests += 1;
                e.worst = e.worst.max(latency);
            }
            _ => events.push(LateEvent { from: at, to: at, requests: 1, worst: latency }),
        }
    }
    events
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, secs, conns] = &args[..] else {
        eprintln!("usage: loadgen URL RATE SECONDS CONNECTIONS");
        std::process::exit(2);
    };
    let (rate, secs, conns): (f64, f64, usize) = (rate.parse().unwrap_or(1000.0), secs.parse().unwrap_or(5.0), conns.parse().unwrap_or(16));
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let interval = Duration::from_secs_f64(conns as f64 / rate);
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (host, request) = (host.to_string(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut stream = TcpStream::connect(&host).await.ok();
            if let Some(s) = &stream {
                let _ = s.set_nodelay(true);
            }
            let mut buf = Vec::with_capacity(65536);
            // Stagger connections evenly over one interval.
            let mut next = start + interval.mul_f64(c as f64 / conns as f64);
            while next < end {
                wait_until(next).await;
                let ok = match stream.as_mut() {
                    Some(s) => one(s, &request, &mut buf).await.is_ok(),
                    None => false,
                };
                if ok {
                    latencies.push((next.elapsed().as_micros() as u64, next.duration_since(start).as_micros() as u64));
                } else {
                    errors += 1;
                    stream = TcpStream::connect(&host).await.ok();
                }
                next += interval;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut late = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l.iter().map(|&(lat, _)| lat));
            late.extend(l.into_iter().filter(|&(lat, _)| lat >= 1000).map(|(lat, at)| (at, lat)));
            errors += e;
        }
    }
    let events = late_events(late);
    if std::env::var_os("LOADGEN_EVENTS").is_some() {
        for e in &events {
            eprintln!(
                "late at {:.3} s for {} us: {} requests >= 1 ms, worst {} us",
                e.from as f64 / 1e6,
                e.to - e.from,
                e.requests,
                e.worst
            );
        }
    }
    all.sort_unstable();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    let worst = events.iter().map(|e| e.worst).max().unwrap_or(0);
    println!("{} {} {} {:.0} {} {} {}", at(0.5), at(0.99), at(0.999), all.len() as f64 / secs, errors, events.len(), worst);
}
