//! The gateway's HTTP/1.1 client against a scripted upstream on a real socket: connection
//! reuse, pooled connections the server closed, chunked and informational answers, and
//! answers cut short or not HTTP at all.

use crate::util::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: &str = r#"{"response":{"customers":[{"contactid":"c1","email":"a@b.c","name":"Ann & Bob"}]}}"#;

/// What the scripted upstream does with request `n` (counted from 0) of connection `conn`.
#[derive(Clone, Copy)]
enum Act {
    /// Answer with `BODY` and a Content-Length, keep the connection.
    Answer,
    /// Answer, then close without saying so.
    AnswerThenClose,
    /// Read the request and close without answering.
    Drop,
    /// Answer with `100 Continue` first, then `BODY` in odd-sized chunks with a trailer.
    Chunked,
    /// Promise 100 bytes of body, send 10, close.
    Short,
    /// Answer with bytes that are not HTTP.
    Garbage,
}

/// A loopback upstream that follows `script` and counts the connections it accepted.
async fn upstream(script: fn(conn: usize, n: usize) -> Act) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let conn = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(socket, conn, script));
        }
    });
    (url, accepted)
}

async fn serve(mut socket: TcpStream, conn: usize, script: fn(usize, usize) -> Act) {
    let mut pending = Vec::new();
    for n in 0.. {
        // One request head (the test requests have no body).
        while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut buf = [0u8; 4096];
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(got) => pending.extend_from_slice(&buf[..got]),
            }
        }
        let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head_request = pending.starts_with(b"HEAD ");
        pending.drain(..end);
        let body = if head_request { "" } else { BODY };
        let json = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", BODY.len());
        let reply = match script(conn, n) {
            Act::Answer | Act::AnswerThenClose => json,
            Act::Drop => return,
            Act::Chunked => {
                let mut out =
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        .to_string();
                for piece in BODY.as_bytes().chunks(7) {
                    out.push_str(&format!("{:x};ext=1\r\n{}\r\n", piece.len(), std::str::from_utf8(piece).unwrap()));
                }
                out + "0\r\nX-Trailer: yes\r\n\r\n"
            }
            Act::Short => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"response\"".to_string(),
            Act::Garbage => "SSH-2.0-OpenSSH\r\n\r\n".to_string(),
        };
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        if matches!(script(conn, n), Act::AnswerThenClose | Act::Short | Act::Garbage) {
            return;
        }
    }
}

async fn get(gw: &GatewayProc, path: &str) -> (u16, String) {
    let response = reqwest::get(gw.url(&format!("{path}?apikey={CLIENT_KEY}"))).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn pooled_connections_are_reused_and_a_closed_one_is_retried() {
    // The first connection serves three requests, then takes a fourth and closes on it: the
    // gateway must retry that one on a new connection, which serves everything after.
    let (url, accepted) = upstream(|conn, n| if conn == 0 && n == 3 { Act::Drop } else { Act::Answer }).await;
    let gw = gateway(&url, &default_keys()).await;
    for i in 0..8 {
        assert_eq!(get(&gw, "/api/customers").await, (200, BODY.to_string()), "request {i}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "one connection reused, one opened for the retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn head_answers_end_at_their_head_and_keep_the_connection() {
    let (url, accepted) = upstream(|_, _| Act::Answer).await;
    let gw = gateway(&url, &default_keys()).await;
    let client = reqwest::Client::new();
    let head = client.head(gw.url(&format!("/api/customers?apikey={CLIENT_KEY}"))).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], BODY.len().to_string().as_str(), "LiveAgent's length of the GET body");
    assert_eq!(get(&gw, "/api/customers").await, (200, BODY.to_string()));
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "the HEAD answer left the connection reusable");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_the_server_closed_while_idle_are_not_used() {
    let (url, accepted) = upstream(|_, _| Act::AnswerThenClose).await;
    let gw = gateway(&url, &default_keys()).await;
    for i in 0..6 {
        assert_eq!(get(&gw, "/api/customers").await, (200, BODY.to_string()), "request {i}");
        // Let the server's close arrive before the next request, as it would after idling.
        assert!(eventually(5, || async { accepted.load(Ordering::SeqCst) == i + 1 }).await);
    }
    assert_eq!(gw.metric("liveagent_gateway_upstream_errors_total{endpoint=\"/api/customers\",kind=\"connect\"}").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_answers_after_100_continue_are_read_whole() {
    let (url, accepted) = upstream(|_, _| Act::Chunked).await;
    let gw = gateway(&url, &default_keys()).await;
    assert_eq!(get(&gw, "/api/customers").await, (200, BODY.to_string()));
    let expected = liveagent_gateway::transcode::transcode(BODY.as_bytes(), liveagent_gateway::request::format::Format::Xml).unwrap();
    let (status, xml) = get(&gw, "/api/customers.xml").await;
    assert_eq!((status, xml.as_bytes()), (200, &expected[..]));
    assert!(xml.contains("<name>Ann &amp; Bob</name>"), "{xml}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "a chunked answer read to its end keeps the connection");
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_cut_short_or_not_http_are_502() {
    let (short, _) = upstream(|_, _| Act::Short).await;
    let gw = gateway(&short, &default_keys()).await;
    let (status, body) = get(&gw, "/api/customers.xml").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("<errormessage>Upstream unavailable</errormessage>"), "an error envelope: {body}");
    let cut = reqwest::get(gw.url(&format!("/api/customers?apikey={CLIENT_KEY}"))).await.unwrap();
    assert_eq!(cut.status(), 200, "JSON streams, so its status is sent before the body ends");
    assert!(cut.bytes().await.is_err(), "the client must see the body cut, not a complete one");

    let (garbage, _) = upstream(|_, _| Act::Garbage).await;
    let gw = gateway(&garbage, &default_keys()).await;
    for path in ["/api/customers", "/api/customers.yaml"] {
        let (status, body) = get(&gw, path).await;
        assert_eq!(status, 502, "{path}: {body}");
    }
    // Counted once the answer is written: the last one may still be on its way.
    let counted = eventually(5, || async {
        gw.metric("liveagent_gateway_upstream_errors_total{endpoint=\"/api/customers\",kind=\"invalid_response\"}").await == 2.0
    })
    .await;
    assert!(counted, "{}", gw.metrics().await);
}
