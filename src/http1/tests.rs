//! Tests of HTTP/1.x parsing, framing and writing: heads whole or in pieces, what is refused,
//! and the bytes written.

use super::*;

fn parsed(text: &str) -> RequestHead {
    // Every HTTP/1.1 request needs its Host: one is added after the request line when missing.
    let text = match text.split_once("\r\n") {
        Some((line, rest)) if !text.to_ascii_lowercase().contains("\r\nhost:") && line.ends_with("1.1") => {
            format!("{line}\r\nHost: x\r\n{rest}")
        }
        _ => text.to_string(),
    };
    let mut head = RequestHead::default();
    assert_eq!(head.parse(text.as_bytes()), Ok(Some(text.len())), "{text:?}");
    head
}

fn framing(text: &str) -> Result<Framing, HeadError> {
    parsed(text).body()
}

#[test]
fn heads_parse_whole_or_wait_for_more() {
    let text = "GET /api/customers.xml?apikey=k&a=b HTTP/1.1\r\nHost: x\r\nX-Request-Id: r1\r\n\r\nBODY";
    let mut head = RequestHead::default();
    for cut in 0..text.len() - 4 {
        assert_eq!(head.parse(&text.as_bytes()[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(head.parse(text.as_bytes()), Ok(Some(text.len() - 4)));
    assert_eq!((head.method(), head.path(), head.query()), ("GET", "/api/customers.xml", Some("apikey=k&a=b")));
    assert!(!head.http10());
    assert_eq!(head.fields().iter().collect::<Vec<_>>(), [(&b"Host"[..], &b"x"[..]), (&b"X-Request-Id"[..], &b"r1"[..])]);
    // The same head parses the next request over the last one.
    assert_eq!(head.parse(b"POST /b HTTP/1.0\r\n\r\n"), Ok(Some(20)));
    assert_eq!((head.method(), head.path(), head.query(), head.http10()), ("POST", "/b", None, true));
    assert_eq!(head.fields().len(), 0);
}

#[test]
fn bad_heads_are_refused() {
    let mut head = RequestHead::default();
    for bad in [
        "GARBAGE\r\n\r\n",
        "GET /a HTTP/2.0\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
        "GET /a HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "GET /a HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
    ] {
        assert_eq!(head.parse(bad.as_bytes()), Err(HeadError::Malformed), "{bad:?}");
    }
    assert_eq!(head.parse(b"GET /\xff HTTP/1.1\r\n\r\n"), Err(HeadError::Malformed));
    let long = format!("GET /a HTTP/1.1\r\nX: {}\r\n", "v".repeat(MAX_HEAD));
    assert_eq!(head.parse(long.as_bytes()), Err(HeadError::TooLarge));
    let many = format!("GET /a HTTP/1.1\r\n{}\r\n", "X: v\r\n".repeat(129));
    assert_eq!(head.parse(many.as_bytes()), Err(HeadError::TooLarge));
    let enough = format!("GET /a HTTP/1.1\r\nHost: x\r\n{}\r\n", "X: v\r\n".repeat(127));
    assert_eq!(head.parse(enough.as_bytes()), Ok(Some(enough.len())));
}

#[test]
fn host_is_said_once_in_http11() {
    let mut head = RequestHead::default();
    for bad in ["GET /a HTTP/1.1\r\n\r\n", "GET /a HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "GET /a HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"]
    {
        assert_eq!(head.parse(bad.as_bytes()), Err(HeadError::Malformed), "{bad:?}");
    }
    for good in ["GET /a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.1\r\nHOST: a\r\n\r\n", "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n"] {
        assert_eq!(head.parse(good.as_bytes()), Ok(Some(good.len())), "{good:?}");
    }
}

#[test]
fn targets_split_into_path_and_query() {
    for (target, path, query) in [
        ("/a?b=c?d", "/a", Some("b=c?d")),
        ("/a?", "/a", Some("")),
        ("http://h.example/api/x?k=1", "/api/x", Some("k=1")),
        ("http://h.example", "/", None),
        ("http://h.example?q", "/", Some("q")),
        ("/p/http://x/y", "/p/http://x/y", None),
        ("*", "*", None),
    ] {
        let head = parsed(&format!("GET {target} HTTP/1.1\r\n\r\n"));
        assert_eq!((head.path(), head.query()), (path, query), "{target}");
    }
}

#[test]
fn headers_are_found_in_any_case_first_one_first() {
    let head = parsed("GET / HTTP/1.1\r\naccept: a/b\r\nACCEPT: c/d\r\nX-Bin: café\r\n\r\n");
    assert_eq!(head.header("Accept"), Some("a/b"));
    assert_eq!(head.header("x-bin"), None, "not visible ASCII");
    assert_eq!(head.header("missing"), None);
}

#[test]
fn keep_alive_follows_version_and_connection() {
    for (text, keep) in [
        ("GET / HTTP/1.1\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n", false),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
    ] {
        assert_eq!(parsed(text).keep_alive(), keep, "{text:?}");
    }
    assert!(parsed("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expects_continue());
    assert!(!parsed("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
}

#[test]
fn body_framing_refuses_what_could_be_read_two_ways() {
    assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Ok(Framing::Empty));
    assert_eq!(framing("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"), Ok(Framing::Length(12)));
    assert_eq!(framing("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"), Ok(Framing::Length(5)));
    assert_eq!(framing("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"), Ok(Framing::Chunked));
    for bad in [
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(framing(bad), Err(HeadError::Malformed), "{bad:?}");
    }
}

#[test]
fn response_heads_parse_whole_or_wait_for_more() {
    let text = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
    for cut in 0..text.len() - 2 {
        assert!(matches!(ResponseHead::parse(&text[..cut]), Ok(None)), "cut at {cut}");
    }
    let Ok(Some((head, len))) = ResponseHead::parse(text) else { panic!("not parsed") };
    assert_eq!((head.status, head.keep_alive, len, head.fields.get("content-length")), (200, true, text.len() - 2, Some("2")));
    let Ok(Some((head, _))) = ResponseHead::parse(b"HTTP/1.1 503 x\r\nConnection: close\r\n\r\n") else { panic!("not parsed") };
    assert_eq!((head.status, head.keep_alive), (503, false));
    let Ok(Some((head, _))) = ResponseHead::parse(b"HTTP/1.0 200 OK\r\n\r\n") else { panic!("not parsed") };
    assert!(!head.keep_alive, "HTTP/1.0 closes");
    assert_eq!(ResponseHead::parse(b"SSH-2.0-OpenSSH\r\n\r\n").err(), Some(HeadError::Malformed));
    // The same limits as request heads: 64 KiB, 128 fields.
    let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "v".repeat(MAX_HEAD));
    assert_eq!(ResponseHead::parse(long.as_bytes()).err(), Some(HeadError::TooLarge));
    let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X: 1\r\n".repeat(129));
    assert_eq!(ResponseHead::parse(many.as_bytes()).err(), Some(HeadError::TooLarge));
}

#[test]
fn response_pieces() {
    let mut out = Vec::new();
    status_line(&mut out, 200);
    status_line(&mut out, 429);
    status_line(&mut out, 599);
    field(&mut out, b"X-A", b"1");
    field(&mut out, b"X-B", b"bad\r\nX-Injected: 1");
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nHTTP/1.1 429 Too Many Requests\r\nHTTP/1.1 599 \r\nX-A: 1\r\n");
    for (len, hex) in [(0usize, "0"), (15, "f"), (16, "10"), (65536, "10000"), (usize::MAX, "ffffffffffffffff")] {
        let mut out = Vec::new();
        chunk_start(&mut out, len);
        assert_eq!(out, format!("{hex}\r\n").as_bytes());
    }
}

proptest::proptest! {
    /// Whatever a client sends, parsing and every accessor answer without panicking, and a
    /// complete head's length is within the input.
    #[test]
    fn any_bytes_parse_without_panic(prefix in proptest::sample::select(vec!["GET ", "POST http://", "PUT /a?", "GET / HTTP/1.1\r\n", ""]), rest in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let input = [prefix.as_bytes(), &rest].concat();
        let mut head = RequestHead::default();
        if let Ok(Some(len)) = head.parse(&input) {
            proptest::prop_assert!(len <= input.len());
            let _ = (head.method(), head.path(), head.query(), head.keep_alive(), head.expects_continue(), head.body(), head.header("host"));
            proptest::prop_assert!(!head.path().is_empty());
        }
    }
}
