//! HTTP/1.x as clients send it, over a raw socket: pipelining, request framing (chunked
//! bodies, `Expect: 100-continue`, ambiguous or broken heads), and keep-alive per version.

use crate::util::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(gw: &GatewayProc) -> TcpStream {
    TcpStream::connect(gw.addr).await.unwrap()
}

/// Everything the gateway sends until it closes the connection.
async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut all)).await.expect("the gateway closes the connection").unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads until `all` holds `marker`.
async fn read_until(socket: &mut TcpStream, marker: &str) -> String {
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains(marker) {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut chunk)).await.expect("an answer").unwrap();
        assert!(n > 0, "closed before {marker:?}: {}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_are_answered_in_order() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let mut socket = connect(&gw).await;
    let requests = format!(
        "GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: a\r\n\r\nGET /api/tags.xml?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: a\r\n\r\nGET /not-api HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(requests.as_bytes()).await.unwrap();
    let all = read_to_close(&mut socket).await;
    let statuses: Vec<&str> = all.match_indices("HTTP/1.1 ").map(|(i, _)| &all[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["200", "200", "404"], "{all}");
    let (json, xml) = (all.find("\"response\"").unwrap(), all.find("<?xml").unwrap());
    assert!(json < xml, "answers in request order: {all}");
    assert!(all.rsplit("HTTP/1.1 ").next().unwrap().contains("Connection: close\r\n"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_or_ambiguous_heads_get_a_400_envelope_and_a_close() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let long = format!("GET /api/tags HTTP/1.1\r\nX-Big: {}\r\n\r\n", "v".repeat(70_000));
    for request in [
        "GARBAGE\r\n\r\n",
        "POST /api/tags HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /api/tags HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST /api/tags HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /api/tags HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        &long,
    ] {
        let mut socket = connect(&gw).await;
        socket.write_all(request.as_bytes()).await.unwrap();
        let all = read_to_close(&mut socket).await;
        assert!(all.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{:.80}: {all}", request);
        assert!(all.contains("Connection: close\r\n") && all.contains("\"statuscode\":400"), "{all}");
    }
    // A broken head after a HEAD request still gets its envelope's body.
    let mut socket = connect(&gw).await;
    socket.write_all(format!("HEAD /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\n\r\nGARBAGE\r\n\r\n").as_bytes()).await.unwrap();
    let all = read_to_close(&mut socket).await;
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n") && all.contains("HTTP/1.1 400 Bad Request\r\n"), "{all}");
    assert!(all.ends_with("}"), "the 400 carries its envelope: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_bodies_after_100_continue_reach_liveagent_whole() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &format!("keys:\n  - {{id: direct, key: \"{SIM_KEY}\"}}\n")).await;
    let mut socket = connect(&gw).await;
    let head = "POST /api/customers/cid00002/groups HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    socket.write_all(head.as_bytes()).await.unwrap();
    let interim = read_until(&mut socket, "\r\n\r\n").await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    let body = format!("name=Chun&apikey={SIM_KEY}");
    let (a, b) = body.split_at(6);
    let chunked = format!("{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nX-Trailer: t\r\n\r\n", a.len(), b.len());
    socket.write_all(chunked.as_bytes()).await.unwrap();
    let answer = read_until(&mut socket, "}").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let groups = reqwest::get(gw.url(&format!("/api/customers/cid00002/groups?apikey={SIM_KEY}"))).await.unwrap().text().await.unwrap();
    assert!(groups.contains("Chun"), "the decoded body reached LiveAgent: {groups}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http10_closes_unless_asked_to_keep_alive() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let mut socket = connect(&gw).await;
    socket.write_all(format!("GET /api/tags?apikey={CLIENT_KEY} HTTP/1.0\r\n\r\n").as_bytes()).await.unwrap();
    let all = read_to_close(&mut socket).await;
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n") && all.contains("Connection: close\r\n"), "{all}");

    let mut socket = connect(&gw).await;
    let kept = format!("GET /api/tags?apikey={CLIENT_KEY} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    socket.write_all(kept.as_bytes()).await.unwrap();
    let first = read_until(&mut socket, "]").await;
    assert!(first.contains("Connection: keep-alive\r\n"), "{first}");
    // Still open: a second request on it is answered.
    socket
        .write_all(format!("GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert!(read_to_close(&mut socket).await.contains("HTTP/1.1 200 OK\r\n"));
}
