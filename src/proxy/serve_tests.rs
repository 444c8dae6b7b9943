//! The connection loop over an in-memory stream: keep-alive, pipelining, a broken head, a body
//! over the cap, the idle limit and the shutdown linger. Answers that need no LiveAgent (404,
//! 401, 413, 400) are enough to see the loop; time runs on tokio's paused clock.

use super::{accept, SHUTDOWN_LINGER};
use crate::proxy::state::{shared, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn gateway(extra: &str) -> Arc<Shared> {
    let text = format!("upstream: {{url: \"http://127.0.0.1:9\"}}\nkeys:\n  - {{id: k, key: client-key}}\n{extra}");
    let loaded = crate::config::from_yaml(&text, std::path::Path::new(".")).unwrap_or_else(|p| panic!("{p:?}"));
    shared(loaded.config).unwrap_or_else(|e| panic!("{e}"))
}

/// A client end, the loop serving the other end, and the shutdown switch.
struct Client {
    io: DuplexStream,
    down: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn connect(shared: Arc<Shared>) -> Client {
    let (io, server) = tokio::io::duplex(64 * 1024);
    let (down, watch) = watch::channel(false);
    let task = tokio::spawn(async move { accept(&shared, server, Some([127, 0, 0, 1].into()), &watch).await });
    Client { io, down, task }
}

/// The default client limits (`client:` in the configuration).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// One answer: its status, its head and its body (framed by `Content-Length`).
async fn answer(io: &mut DuplexStream) -> (u16, String, String) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        assert_eq!(io.read(&mut byte).await.unwrap_or(0), 1, "closed mid-head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").and_then(|n| n.trim().parse().ok())).unwrap_or(0);
    let mut body = vec![0; length];
    io.read_exact(&mut body).await.unwrap_or_else(|e| panic!("body: {e}"));
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// Whether the gateway closed its end: a read gives end of stream.
async fn closed(io: &mut DuplexStream) -> bool {
    let mut byte = [0u8];
    matches!(io.read(&mut byte).await, Ok(0))
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let mut c = connect(gateway(""));
    let two =
        "GET /nope.xml HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\nGET /api/tags HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n";
    c.io.write_all(two.as_bytes()).await.unwrap_or_default();
    let (status, head, body) = answer(&mut c.io).await;
    assert_eq!(status, 404, "{head}");
    assert!(head.contains("Content-Type: application/xml") && head.contains("X-Request-Id: one\r\n"), "{head}");
    assert!(body.contains("<statuscode>404</statuscode>"), "{body}");
    let (status, head, body) = answer(&mut c.io).await;
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("X-Request-Id: two\r\n") && !head.contains("Connection: close"), "{head}");
    assert!(body.contains("Api key is not found in request"), "{body}");
    // Still open: a third request on the same connection.
    c.io.write_all(b"GET /api/tags?apikey=wrong HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    assert_eq!(answer(&mut c.io).await.0, 401);
    drop(c.io);
    assert!(c.task.await.is_ok(), "the loop ends when the client closes");
}

#[tokio::test(start_paused = true)]
async fn a_broken_head_gets_a_400_envelope_and_a_close() {
    let mut c = connect(gateway(""));
    c.io.write_all(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").await.unwrap_or_default();
    let (status, head, body) = answer(&mut c.io).await;
    assert_eq!(status, 400, "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    assert!(body.contains(r#""errormessage":"Bad request""#) && body.contains("request_id="), "{body}");
    assert!(closed(&mut c.io).await);
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_cap_is_refused_and_the_connection_closed() {
    let mut c = connect(gateway("max_request_bytes: 16\n"));
    c.io.write_all(b"POST /api/tags.yaml HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789").await.unwrap_or_default();
    let (status, head, body) = answer(&mut c.io).await;
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("Connection: close"), "the unread body could be taken for a request: {head}");
    assert!(body.contains("errormessage: Request body too large"), "{body}");
    assert!(closed(&mut c.io).await);
    // A chunked body that grows over the cap is refused the same way.
    let mut c = connect(gateway("max_request_bytes: 16\n"));
    let chunked = "POST /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n";
    c.io.write_all(chunked.as_bytes()).await.unwrap_or_default();
    assert_eq!(answer(&mut c.io).await.0, 413);
    assert!(closed(&mut c.io).await);
    // A chunk that declares more than the cap is refused before any of its data arrives.
    let mut c = connect(gateway("max_request_bytes: 16\n"));
    let declared = "POST /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n";
    c.io.write_all(declared.as_bytes()).await.unwrap_or_default();
    assert_eq!(answer(&mut c.io).await.0, 413);
    assert!(closed(&mut c.io).await);
    // A chunked body split in pieces across reads, under the cap, is read whole: 401, no key.
    let mut c = connect(gateway("max_request_bytes: 16\n"));
    let split = "POST /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    for piece in split.as_bytes().chunks(3) {
        c.io.write_all(piece).await.unwrap_or_default();
        tokio::task::yield_now().await;
    }
    assert_eq!(answer(&mut c.io).await.0, 401);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_at_the_idle_limit() {
    let mut c = connect(gateway(""));
    c.io.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    assert_eq!(answer(&mut c.io).await.0, 404);
    let idle = tokio::time::Instant::now();
    assert!(closed(&mut c.io).await);
    let waited = idle.elapsed();
    assert!(
        waited >= IDLE_TIMEOUT - Duration::from_millis(50) && waited <= IDLE_TIMEOUT + Duration::from_secs(1),
        "closed after {waited:?}"
    );
    // A fresh connection that never sends a byte gets the same limit.
    let mut c = connect(gateway(""));
    let start = tokio::time::Instant::now();
    assert!(closed(&mut c.io).await);
    assert!(start.elapsed() >= IDLE_TIMEOUT - Duration::from_millis(50), "closed after {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_an_idle_connection_lingers_for_a_request_on_its_way() {
    let shared = gateway("");
    // A request that arrives within the linger is answered, and the connection then closes.
    let mut c = connect(shared.clone());
    c.io.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    assert!(!answer(&mut c.io).await.1.contains("Connection: close"));
    c.down.send_replace(true);
    tokio::time::sleep(SHUTDOWN_LINGER / 2).await;
    c.io.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    let (status, head, _) = answer(&mut c.io).await;
    assert_eq!(status, 404);
    assert!(head.contains("Connection: close"), "{head}");
    assert!(closed(&mut c.io).await);

    // With none on its way, the connection closes when the linger ends, not at the idle limit.
    let mut c = connect(shared);
    c.io.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    assert_eq!(answer(&mut c.io).await.0, 404);
    let down = tokio::time::Instant::now();
    c.down.send_replace(true);
    assert!(closed(&mut c.io).await);
    let waited = down.elapsed();
    assert!(waited >= SHUTDOWN_LINGER && waited < SHUTDOWN_LINGER + Duration::from_millis(100), "closed after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_head_sent_a_byte_at_a_time_ends_at_the_head_limit() {
    let mut c = connect(gateway(""));
    let start = tokio::time::Instant::now();
    c.io.write_all(b"GET /api/tags HTTP/1.1\r\n").await.unwrap_or_default();
    // One byte a second: each read comes in time, but the head as a whole does not.
    let mut sent = 0;
    while c.io.write_all(b"X").await.is_ok() && sent < 30 {
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if c.task.is_finished() {
            break;
        }
    }
    assert!(closed(&mut c.io).await);
    let held = start.elapsed();
    assert!(held >= HEADER_TIMEOUT - Duration::from_secs(1) && held <= HEADER_TIMEOUT + Duration::from_secs(1), "held {held:?}");
}

#[tokio::test(start_paused = true)]
async fn a_body_sent_slowly_ends_at_the_body_limit() {
    let mut c = connect(gateway(""));
    c.io.write_all(b"POST /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").await.unwrap_or_default();
    let start = tokio::time::Instant::now();
    for _ in 0..100 {
        if c.task.is_finished() || c.io.write_all(b"a=1&").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The body was not read whole in time: a 400, and the connection closes.
    let (status, _, _) = answer(&mut c.io).await;
    assert_eq!(status, 400);
    let held = start.elapsed();
    assert!(held >= BODY_TIMEOUT - Duration::from_secs(1) && held <= BODY_TIMEOUT + Duration::from_secs(2), "held {held:?}");
}

#[tokio::test(start_paused = true)]
async fn connections_over_the_limit_are_refused_with_an_answer() {
    let shared = gateway("client: {max_connections: 2}\n");
    let mut first = connect(shared.clone());
    let _second = connect(shared.clone());
    tokio::task::yield_now().await;
    let mut third = connect(shared.clone());
    let (status, head, body) = answer(&mut third.io).await;
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Connection: close") && body.contains("Too many connections"), "{body}");
    assert!(closed(&mut third.io).await);
    drop(third.io);
    assert!(third.task.await.is_ok());
    assert_eq!(shared.metrics.connections_refused.get(), 1);
    // The ones within the limit are served.
    first.io.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap_or_default();
    assert_eq!(answer(&mut first.io).await.0, 404);
    assert_eq!(shared.metrics.open_connections.get(), 2, "the refused one is no longer counted");
}
