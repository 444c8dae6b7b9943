//! Trust at the edge, over raw sockets: the bytes a client sends, what it gets back, and what
//! LiveAgent (a recording upstream that echoes each request) receives. One test per class of
//! attack: methods that echo or tunnel, writes sent twice, keys that cross the gateway, framing.

use crate::util::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The LiveAgent key the gateway substitutes in these tests.
const LA_KEY: &str = "la-secret-7f3e9a";

/// A LiveAgent stand-in that records every request (head and body, as bytes) and answers each
/// with a JSON success echoing the request head, as an upstream with TRACE or a debug echo
/// turned on would.
struct Echo {
    url: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Echo {
    async fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(echo(socket, record.clone()));
            }
        });
        Echo { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect()
    }
}

async fn echo(mut socket: TcpStream, seen: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request: Vec<u8> = buf.drain(..end + 4 + length).collect();
        seen.lock().unwrap().push(request.clone());
        let body = serde_json::json!({"response": {"echo": String::from_utf8_lossy(&request)}}).to_string();
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Echo-Apikey: {}\r\nContent-Length: {}\r\n\r\n{body}",
            head.lines().find_map(|l| l.strip_prefix("apikey: ")).unwrap_or("-"),
            body.len()
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The gateway with key substitution in front of `upstream`.
async fn substituting(upstream: &str) -> GatewayProc {
    gateway(upstream, &format!("  apikey: \"{LA_KEY}\"\n{}", default_keys())).await
}

/// A raw POST with its path replaced.
trait WithPath {
    fn replacen_path(self, path: &str) -> Vec<u8>;
}

impl WithPath for Vec<u8> {
    fn replacen_path(self, path: &str) -> Vec<u8> {
        let text = String::from_utf8(self).unwrap();
        text.replacen("/api/customers", path, 1).into_bytes()
    }
}

/// Sends `bytes` on a new connection and reads until the gateway closes it or 5 s pass.
async fn exchange(gw: &GatewayProc, bytes: &[u8]) -> String {
    let mut socket = TcpStream::connect(gw.addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    let mut all = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_that_echo_or_tunnel_are_refused_with_405() {
    let up = Echo::start().await;
    let gw = substituting(&up.url).await;
    for request in [
        format!("TRACE /api/customers?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        format!("CONNECT /api/customers?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        "CONNECT liveagent.example:443 HTTP/1.1\r\nHost: liveagent.example:443\r\nConnection: close\r\n\r\n".to_string(),
        format!("PATCH /api/customers.xml?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        format!("PROPFIND /api/tags HTTP/1.1\r\nHost: gw\r\napikey: {CLIENT_KEY}\r\nConnection: close\r\n\r\n"),
    ] {
        let answer = exchange(&gw, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{request}\n{answer}");
        assert!(answer.contains("\r\nAllow: GET, HEAD, POST, PUT, DELETE\r\n"), "{answer}");
        assert!(answer.contains("Method not allowed"), "{answer}");
        assert!(!answer.contains(LA_KEY), "{answer}");
    }
    assert_eq!(up.requests(), Vec::<String>::new(), "LiveAgent saw none of them");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_is_never_sent_to_liveagent_twice() {
    let sim = sim().await;
    let gw = gateway(&sim.base_url(), &substituted_keys()).await;
    let client = reqwest::Client::new();
    // One GET pools a connection to LiveAgent.
    let pooled = client.get(gw.url(&format!("/api/tags?apikey={CLIENT_KEY}"))).send().await.unwrap();
    assert_eq!(pooled.status(), 200);
    // LiveAgent will read the next request and close without answering.
    let cut = client.post(format!("{}/_sim/faults", sim.base_url())).body(r#"{"fault":"cut","count":1}"#).send().await.unwrap();
    assert!(cut.status().is_success());
    let form = format!("apikey={CLIENT_KEY}&message=hello&useridentifier=john%40example.com");
    let resp = post_form(gw.url("/api/conversations"), form).await;
    assert_eq!(resp.status().as_u16(), 502, "the write failed once and was not repeated");
    let posts = sim.requests().iter().filter(|r| r.method == "POST" && r.uri.starts_with("/api/conversations")).count();
    assert_eq!(posts, 1, "{:?}", sim.requests().iter().map(|r| (&r.method, &r.uri)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_forwarded_for_line_does_not_beat_the_balancers() {
    let up = Echo::start().await;
    let extra = format!(
        "{}auth_guard: {{per_minute: 1, burst: 3, client_ip: x-forwarded-for}}\ntrusted_proxies: [\"127.0.0.0/8\"]\n",
        default_keys()
    );
    let gw = gateway(&up.url, &extra).await;
    // Each guess forges a new first line; the balancer (the loopback peer, trusted) adds its
    // own line with the real client. The guard counts the real client and trips after three.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let request = format!(
            "GET /api/tags?apikey=guess-{i} HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 198.51.100.{i}\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n"
        );
        statuses.push(exchange(&gw, request.as_bytes()).await.get(9..12).unwrap_or("").to_string());
    }
    assert_eq!(statuses, ["401", "401", "401", "429", "429"]);
    // A working key from the same client is served, and LiveAgent gets every line, joined.
    let request = format!(
        "GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n"
    );
    assert!(exchange(&gw, request.as_bytes()).await.starts_with("HTTP/1.1 200 OK"));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("\r\nX-Forwarded-For: 198.51.100.9, 203.0.113.7, 127.0.0.1\r\n"), "{}", seen[0]);
    assert_eq!(seen[0].matches("X-Forwarded-For").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_underscores_and_connection_fields() {
    let up = Echo::start().await;
    let gw = substituting(&up.url).await;
    for bad in [
        format!("GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nConnection: close\r\n\r\n"),
        format!("GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"),
    ] {
        let answer = exchange(&gw, bad.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}\n{answer}");
    }
    let request = format!(
        "GET /api/tags?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nTransfer_Encoding: chunked\r\nX_Api_Key: x\r\nX-Kept: 1\r\n\r\n"
    );
    assert!(exchange(&gw, request.as_bytes()).await.starts_with("HTTP/1.1 200 OK"));
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "the two bad heads never reached LiveAgent");
    assert!(seen[0].contains("\r\nX-Kept: 1\r\n"), "{}", seen[0]);
    for dropped in ["X-Secret-Hop", "Transfer_Encoding", "X_Api_Key"] {
        assert!(!seen[0].contains(dropped), "{dropped} reached LiveAgent: {}", seen[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_said_once_or_refused() {
    let up = Echo::start().await;
    let gw = substituting(&up.url).await;
    let k = CLIENT_KEY;
    let form = |body: &[u8]| {
        let mut raw = format!(
            "POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    };
    // Two identities, names PHP folds into `apikey`, an empty first value: 400, never forwarded.
    for request in [
        format!("GET /api/tags?apikey={k}&apikey={READER_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET /api/tags?apikey=&apikey={k} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET /api/tags?apikey={k} HTTP/1.1\r\nHost: gw\r\napikey: {k}\r\napikey: {READER_KEY}\r\nConnection: close\r\n\r\n")
            .into_bytes(),
        format!("GET /api/tags?apikey[]={k} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET /api/tags?apikey={k}&apikey%00x={READER_KEY} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes(),
        format!("GET /api/tags?+apikey={k} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes(),
        form(format!("apikey={k}&apikey={READER_KEY}").as_bytes()),
        // POST over GET: PHP reads the form's key, the gateway the query's.
        form(format!("name=x&apikey={READER_KEY}").as_bytes()).replacen_path(&format!("/api/customers?apikey={k}")),
    ] {
        let answer = exchange(&gw, &request).await;
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{}\n{answer}", String::from_utf8_lossy(&request));
        assert!(answer.contains("Ambiguous API key"), "{answer}");
    }
    assert_eq!(up.requests(), Vec::<String>::new(), "none reached LiveAgent");
    // A Latin-1 form body (not UTF-8) and a non-ASCII first header line: the key is read as
    // bytes, replaced, and LiveAgent gets its own key and nothing else.
    let latin1 = [format!("apikey={k}&name=Jos").as_bytes(), b"\xe9"].concat();
    let answer = exchange(&gw, &form(&latin1)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let header = format!("GET /api/tags HTTP/1.1\r\nHost: gw\r\napikey: {k}\r\nConnection: close\r\n\r\n");
    assert!(exchange(&gw, header.as_bytes()).await.starts_with("HTTP/1.1 200 OK\r\n"));
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert!(!request.contains(k), "the client's key reached LiveAgent: {request}");
        assert!(request.contains(LA_KEY), "{request}");
    }
    assert!(seen[0].contains(&format!("apikey={LA_KEY}&name=Jos")), "{}", seen[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn liveagents_key_never_comes_back() {
    let up = Echo::start().await;
    let gw = substituting(&up.url).await;
    // The upstream echoes each request, LiveAgent's key with it, in a header and in the body.
    for path in ["/api/tags", "/api/tags.xml", "/api/tags.yaml"] {
        let request = format!("GET {path}?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\napikey: {CLIENT_KEY}\r\nConnection: close\r\n\r\n");
        let answer = exchange(&gw, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(!answer.contains(LA_KEY), "{path}: LiveAgent's key reached the client:\n{answer}");
        assert!(answer.contains("*".repeat(LA_KEY.len()).as_str()), "{answer}");
    }
    assert_eq!(up.requests().len(), 3);
    assert!(up.requests().iter().all(|r| r.contains(LA_KEY)), "LiveAgent did get its key");
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_bodies_exactly_as_the_rfc_writes_them() {
    let up = Echo::start().await;
    let gw = substituting(&up.url).await;
    let post = |body: &str| {
        format!(
            "POST /api/customers?apikey={CLIENT_KEY} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        )
    };
    for lenient in [
        "2;\nxx\r\n0\r\n\r\n",
        "\r\nxx\r\n0\r\n\r\n",
        "0x2\r\nxx\r\n0\r\n\r\n",
        "2\r\nxx\r\n0\r\nX-T: 1\nGET /smuggled HTTP/1.1\r\n\r\n",
        "2\r\nxx\r\n0\r\nnot a field\r\n\r\n",
    ] {
        let answer = exchange(&gw, post(lenient).as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{lenient:?}\n{answer}");
        assert!(answer.contains("Connection: close"), "{answer}");
    }
    // A chunk that declares more than the cap is refused at once, not after 64 KiB.
    let start = std::time::Instant::now();
    let answer = exchange(&gw, post("FFFFFFFFFFFFFFFF\r\n").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(up.requests(), Vec::<String>::new());
    // Strict is not stingy: extensions, quoted strings and trailers as the grammar allows.
    let body = "4;a=b;c=\"d;e\"\r\nname\r\n2\r\n=x\r\n0\r\nX-Checksum: 1\r\n\r\n";
    assert!(exchange(&gw, post(body).as_bytes()).await.starts_with("HTTP/1.1 200 OK\r\n"));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("Content-Length: 6\r\n") && seen[0].ends_with("\r\n\r\nname=x"), "{}", seen[0]);
    assert!(!seen[0].to_ascii_lowercase().contains("transfer-encoding"), "{}", seen[0]);
}
