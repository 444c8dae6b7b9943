//! Owns the access log off the request path: a request formats its line (`line`) into a
//! buffer of its thread and appends it to a shared batch under a lock held for a copy; a
//! writer thread of its own takes the batch every `log.flush` (or when it passes
//! `log.buffer`) and writes it, so no request waits on a write (nginx's `buffer=`/`flush=`).
//!
//! On a crash at most the lines of one flush interval are lost; a graceful stop writes the
//! rest. When the writer cannot keep up (a stalled pipe), the batch stops growing at
//! `MAX_PENDING_BUFFERS` buffers and further lines are dropped and counted
//! (`liveagent_gateway_access_log_dropped_total`), never blocking a request. A file
//! destination is reopened on SIGUSR1, for logrotate.

pub mod line;

use crate::metrics::RequestFacts;
use prometheus::IntCounter;
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// How far the batch may grow past `buffer` while the writer is behind: this many buffers.
pub const MAX_PENDING_BUFFERS: usize = 16;

pub use crate::config::{AccessTo as Destination, Log as Settings};

struct Shared {
    batch: Mutex<Vec<u8>>,
    wake: Condvar,
    sink: Mutex<Sink>,
    reopen: AtomicBool,
    buffer: usize,
    dropped: IntCounter,
    flush: Duration,
    /// The writer thread is started once, by `run_writer`.
    writer: std::sync::Once,
}

/// The open destination.
struct Sink {
    to: Destination,
    file: Option<std::fs::File>,
}

impl Sink {
    fn open(to: Destination) -> std::io::Result<Sink> {
        let file = match &to {
            Destination::File(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
            _ => None,
        };
        Ok(Sink { to, file })
    }

    fn write(&mut self, bytes: &[u8]) {
        // A failed write loses that batch; there is nowhere to report it but the other log.
        let result = match (&self.to, &mut self.file) {
            (Destination::Stdout, _) => std::io::stdout().lock().write_all(bytes),
            (Destination::Stderr, _) => std::io::stderr().lock().write_all(bytes),
            (Destination::File(_), Some(f)) => f.write_all(bytes),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot write the access log");
        }
    }

    /// Opens the file again (logrotate moved it away); the old handle stays on failure.
    fn reopen(&mut self) {
        if let Destination::File(p) = &self.to {
            match std::fs::OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => self.file = Some(f),
                Err(e) => tracing::error!(error = %e, path = %p.display(), "cannot reopen the access log"),
            }
        }
    }
}

thread_local! {
    /// Each thread's line buffer and cached timestamp second.
    static SCRATCH: RefCell<(Vec<u8>, line::SecondCache)> = RefCell::new((Vec::with_capacity(512), (0, [0; 19])));
}

/// The access log; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    shared: Option<Arc<Shared>>,
    json: bool,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl AccessLog {
    /// Opens the destination; `Off` writes nothing. Lines wait until `run_writer` starts the
    /// writer: a thread started before the process daemonizes would not survive the fork.
    pub fn start(settings: &Settings, dropped: IntCounter) -> std::io::Result<AccessLog> {
        if settings.access == Destination::Off {
            return Ok(AccessLog { shared: None, json: settings.json });
        }
        let shared = Arc::new(Shared {
            batch: Mutex::new(Vec::with_capacity(settings.buffer * 2)),
            wake: Condvar::new(),
            sink: Mutex::new(Sink::open(settings.access.clone())?),
            reopen: AtomicBool::new(false),
            buffer: settings.buffer.max(1),
            dropped,
            flush: settings.flush,
            writer: std::sync::Once::new(),
        });
        Ok(AccessLog { shared: Some(shared), json: settings.json })
    }

    /// Starts the writer thread, once (from the running server, after it daemonized).
    pub fn run_writer(&self) {
        let Some(shared) = &self.shared else { return };
        shared.writer.call_once(|| {
            let writer = Arc::clone(shared);
            let started = std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&writer, writer.flush));
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start the access-log writer; lines are written at the stop only");
            }
        });
    }

    /// Adds the line of one finished request.
    pub fn request(&self, facts: &RequestFacts<'_>) {
        let Some(shared) = &self.shared else { return };
        SCRATCH.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else { return };
            let (buf, cache) = &mut *s;
            buf.clear();
            let style = if self.json { line::Style::Json } else { line::Style::Text };
            line::write(style, buf, facts, SystemTime::now(), cache);
            shared.push(buf);
        });
    }

    /// Writes what is pending now, from the calling thread (at a graceful stop).
    pub fn flush(&self) {
        if let Some(shared) = &self.shared {
            let pending = std::mem::take(&mut *lock(&shared.batch));
            lock(&shared.sink).write(&pending);
        }
    }

    /// The file is reopened before the next write (SIGUSR1).
    pub fn reopen(&self) {
        if let Some(shared) = &self.shared {
            shared.reopen.store(true, Ordering::Relaxed);
            shared.wake.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn push(&self, line: &[u8]) {
        let mut batch = lock(&self.batch);
        if batch.len() + line.len() > self.buffer * MAX_PENDING_BUFFERS {
            drop(batch);
            self.dropped.inc();
            return;
        }
        let was_below = batch.len() < self.buffer;
        batch.extend_from_slice(line);
        let full = was_below && batch.len() >= self.buffer;
        drop(batch);
        // The writer is woken once per buffer filled, not per line.
        if full {
            self.wake.notify_one();
        }
    }
}

/// The writer thread: takes the batch when it fills or the flush interval passes (leaving an
/// empty buffer of the same capacity in its place), writes it, and reopens on request.
fn write_loop(shared: &Shared, flush: Duration) {
    let mut spare: Vec<u8> = Vec::with_capacity(shared.buffer * 2);
    loop {
        let mut batch = {
            let mut pending = lock(&shared.batch);
            if pending.len() < shared.buffer && !shared.reopen.load(Ordering::Relaxed) {
                pending = shared.wake.wait_timeout(pending, flush).map_or_else(|p| p.into_inner().0, |(g, _)| g);
            }
            std::mem::replace(&mut *pending, std::mem::take(&mut spare))
        };
        let mut sink = lock(&shared.sink);
        // After a rotation every line written goes to the new file.
        if shared.reopen.swap(false, Ordering::Relaxed) {
            sink.reopen();
        }
        if !batch.is_empty() {
            sink.write(&batch);
        }
        drop(sink);
        batch.clear();
        spare = batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(request_id: &str) -> RequestFacts<'_> {
        RequestFacts {
            request_id,
            endpoint: "/api/tags",
            method: "GET",
            format: "json",
            status: 200,
            key_id: None,
            duration: 0.001,
            upstream_secs: None,
            upstream_error: None,
        }
    }

    fn counter() -> IntCounter {
        IntCounter::new("dropped", "test").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn lines_reach_the_file_by_the_flush_and_at_a_stop() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("access.log");
        let settings = Settings {
            level: "info".into(),
            json: true,
            access: Destination::File(path.clone()),
            buffer: 1 << 20,
            flush: Duration::from_millis(50),
        };
        let log = AccessLog::start(&settings, counter()).unwrap_or_else(|e| panic!("{e}"));
        log.request(&facts("one"));
        log.run_writer();
        log.run_writer();
        let read = || std::fs::read_to_string(&path).unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !read().contains("\"one\"") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(read().contains("\"request_id\":\"one\""), "written within the flush interval");
        // Logrotate moves the file away; after SIGUSR1's reopen the lines go to a new file.
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap_or_else(|e| panic!("{e}"));
        log.reopen();
        while !path.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        log.request(&facts("two"));
        log.flush();
        assert!(read().contains("\"two\"") && !read().contains("\"one\""), "{}", read());
    }

    #[test]
    fn a_writer_that_cannot_keep_up_drops_and_counts() {
        let dropped = counter();
        // A flush far away and a small buffer: the batch fills to its cap, then lines drop.
        let shared = Shared {
            batch: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            sink: Mutex::new(Sink { to: Destination::Off, file: None }),
            reopen: AtomicBool::new(false),
            buffer: 1000,
            dropped: dropped.clone(),
            flush: Duration::from_secs(60),
            writer: std::sync::Once::new(),
        };
        let line = [b'x'; 100];
        for _ in 0..200 {
            shared.push(&line);
        }
        assert_eq!(lock(&shared.batch).len(), 1000 * MAX_PENDING_BUFFERS);
        assert_eq!(dropped.get(), 200 - 160);
    }
}
