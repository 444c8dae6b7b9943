//! The upstream client over in-memory streams, with the test playing LiveAgent: heads and
//! bodies split across reads, informational answers, the pool, the retry of a pooled
//! connection found closed, and the limits (time on tokio's paused clock, size).

use super::{Call, Dial, Pool, Response};
use crate::forward::UpstreamError;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// Hands each new connection's far end to the test.
struct Duplexes(mpsc::UnboundedSender<DuplexStream>);

impl Dial for Duplexes {
    type Stream = DuplexStream;
    type Peer = ();

    fn dial(&self, (): &()) -> impl std::future::Future<Output = Result<DuplexStream, UpstreamError>> + Send {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let sent = self.0.send(far);
        async move { sent.map(|()| near).map_err(|_| UpstreamError::Connect) }
    }
}

fn pool() -> (Pool<Duplexes>, mpsc::UnboundedReceiver<DuplexStream>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Pool::new(Duplexes(tx), 4), rx)
}

const GET: &[u8] = b"GET /api/tags HTTP/1.1\r\nHost: la\r\n\r\n";
const POST: &[u8] = b"POST /api/conversations HTTP/1.1\r\nHost: la\r\nContent-Length: 0\r\n\r\n";
const TIMEOUT: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(4);

fn call(head: &[u8]) -> Call<'_> {
    Call { head, body: b"", head_request: false, replayable: head.starts_with(b"GET "), timeout: TIMEOUT }
}

async fn exchange(pool: &Pool<Duplexes>, head: &[u8]) -> Result<Response<DuplexStream>, UpstreamError> {
    pool.exchange(&(), 1, call(head), Instant::now()).await
}

/// Reads one request head off LiveAgent's end.
async fn request(far: &mut DuplexStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if far.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Writes `answer` a few bytes at a time.
async fn dribble(far: &mut DuplexStream, answer: &[u8]) {
    for piece in answer.chunks(7) {
        far.write_all(piece).await.unwrap_or_default();
        tokio::task::yield_now().await;
    }
}

async fn body(response: &mut Response<DuplexStream>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(piece)) = response.chunk().await {
        out.extend_from_slice(&piece);
    }
    out
}

#[tokio::test]
async fn a_chunked_answer_in_pieces_and_the_connection_reused() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut far = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        for _ in 0..2 {
            assert!(request(&mut far).await.starts_with("GET /api/tags HTTP/1.1\r\n"));
            let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n";
            dribble(&mut far, answer).await;
        }
        far_ends.try_recv().is_err()
    });
    for _ in 0..2 {
        let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((response.status, response.header("content-type")), (200, Some("application/json")));
        assert_eq!(response.length(), None);
        assert_eq!(body(&mut response).await, b"{\"a\":1}");
        pool.release(response, Instant::now(), IDLE);
    }
    assert_eq!(liveagent.await.ok(), Some(true), "both requests went over one connection");
}

#[tokio::test]
async fn a_pooled_connection_closed_before_any_answer_is_tried_again_on_a_new_one() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut first = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        request(&mut first).await;
        first.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap_or_default();
        // The second request arrives on the pooled connection, which closes unanswered.
        request(&mut first).await;
        drop(first);
        let mut second = far_ends.recv().await.unwrap_or_else(|| panic!("no second connection"));
        let again = request(&mut second).await;
        second.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap_or_default();
        again
    });
    let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body(&mut response).await, b"ok");
    pool.release(response, Instant::now(), IDLE);
    let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body(&mut response).await, b"ok");
    assert!(liveagent.await.unwrap_or_default().starts_with("GET /api/tags"));
}

#[tokio::test]
async fn a_new_connection_closed_before_any_answer_is_not_tried_again() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut far = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        request(&mut far).await;
        drop(far);
        far_ends.recv().await.is_none()
    });
    assert_eq!(exchange(&pool, GET).await.err(), Some(UpstreamError::Connect));
    drop(pool);
    assert_eq!(liveagent.await.ok(), Some(true), "one connection only");
}

#[tokio::test]
async fn bad_answers_are_invalid() {
    for answer in [
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ] {
        let (pool, mut far_ends) = pool();
        let liveagent = tokio::spawn(async move {
            let mut far = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
            request(&mut far).await;
            far.write_all(answer).await.unwrap_or_default();
            far
        });
        assert_eq!(exchange(&pool, GET).await.err(), Some(UpstreamError::InvalidResponse), "{}", String::from_utf8_lossy(answer));
        drop(liveagent.await);
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut far = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        request(&mut far).await;
        far.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n")
            .await
            .unwrap_or_default();
        // The unread rest of an answer leaves its connection out of the pool: a new one.
        let mut second = far_ends.recv().await.unwrap_or_else(|| panic!("no second connection"));
        request(&mut second).await;
        second.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n").await.unwrap_or_default();
        (far, second)
    });
    let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.read_all(10).await.err(), Some(UpstreamError::TooLarge));
    drop(response);
    let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.read_all(16).await.err(), Some(UpstreamError::TooLarge), "a declared length over the cap");
    drop(liveagent.await);
}

#[tokio::test(start_paused = true)]
async fn silence_ends_at_the_read_timeout() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut far = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        request(&mut far).await;
        far
    });
    let start = tokio::time::Instant::now();
    assert_eq!(exchange(&pool, GET).await.err(), Some(UpstreamError::Timeout));
    let waited = start.elapsed();
    assert!(waited >= TIMEOUT && waited < TIMEOUT + Duration::from_millis(100), "{waited:?}");
    drop(liveagent.await);
}

#[tokio::test]
async fn a_post_whose_pooled_connection_closes_unanswered_is_sent_once() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut first = far_ends.recv().await.unwrap_or_else(|| panic!("no connection"));
        request(&mut first).await;
        first.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap_or_default();
        // The POST arrives on the pooled connection, which closes without an answer.
        let post = request(&mut first).await;
        drop(first);
        (post, far_ends.recv().await.is_none())
    });
    let mut response = exchange(&pool, GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body(&mut response).await, b"ok");
    pool.release(response, Instant::now(), IDLE);
    assert_eq!(exchange(&pool, POST).await.err(), Some(UpstreamError::Connect));
    drop(pool);
    let (post, no_second) = liveagent.await.unwrap_or_default();
    assert!(post.starts_with("POST /api/conversations"), "{post}");
    assert!(no_second, "the POST was not sent again on a new connection");
}

#[tokio::test]
async fn pooled_connections_expire_before_liveagents_keep_alive_limit() {
    let (pool, mut far_ends) = pool();
    let liveagent = tokio::spawn(async move {
        let mut served = 0;
        while let Some(mut far) = far_ends.recv().await {
            served += 1;
            tokio::spawn(async move {
                while !request(&mut far).await.is_empty() {
                    let answer = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3, max=100\r\nContent-Length: 2\r\n\r\nok";
                    if far.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
        served
    });
    let start = Instant::now();
    let at = |secs: f64| {
        let when = start + Duration::from_secs_f64(secs);
        let pool = &pool;
        async move {
            let mut response = pool.exchange(&(), 1, call(GET), when).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body(&mut response).await, b"ok");
            pool.release(response, when, IDLE);
        }
    };
    at(0.0).await;
    // LiveAgent keeps it 3 s: the pool keeps it 2 s, less than its own 4 s.
    at(1.5).await;
    at(3.6).await;
    at(3.7).await;
    drop(pool);
    assert_eq!(liveagent.await.ok(), Some(2), "reused within 2 s of idling, a new connection after");
}

#[test]
fn keep_alive_timeouts_are_read() {
    use crate::http1::keep_alive_timeout;
    assert_eq!(keep_alive_timeout(b"timeout=5, max=100"), Some(Duration::from_secs(5)));
    assert_eq!(keep_alive_timeout(b"max=9, Timeout = 7"), Some(Duration::from_secs(7)));
    assert_eq!(keep_alive_timeout(b"max=9"), None);
    assert_eq!(keep_alive_timeout(b"timeout=-1"), None);
}
